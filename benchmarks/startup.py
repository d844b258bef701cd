"""How long the short commands take, start-up included: `validate` and `status` of the examples.

    python benchmarks/startup.py [--runs 10] [--workdir DIR] [--imports]

Times, each as a process of its own, exactly as a shell runs it:

- `boardsync validate -c examples/boardsync.yaml`, as a pull request's check runs it in a
  fresh clone (no state database beside it, so no parsed postings kept from a run before;
  the secrets are the example values the tests use);
- `boardsync validate` and `boardsync status` of the config `boardsync demo` leaves: the
  example postings synced to the sandbox boards, with the state database kept.

Each figure is the best of `--runs` (the least disturbed by whatever else the machine does)
and the median, of the wall time from start to exit and of the CPU time the process used.
`python -c pass` is timed the same way: the interpreter's own start-up, which no change to
boardsync can remove.

With `--imports`, each command also runs once under ``python -X importtime``, and the time its
imports took (their own time, added up by package: ``sqlalchemy``, ``boardsync.config`` …) is
printed, largest first: where the rest of the start-up goes. ``-X importtime`` slows imports
down itself; read the shares, not the sums, against the wall times. Modules loaded through
`importlib.import_module` are not timed by it: the boards' own modules, which the config loads
by entry point (about 20 ms of pydantic models), are missing from the list.

The first run of each command is not counted: it writes the bytecode (the benchmark unsets
``PYTHONDONTWRITEBYTECODE`` for its processes, as an installed boardsync has its bytecode),
so every counted run loads compiled modules.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
EXAMPLE_SECRETS = {"SORCE_API_KEY": "sk_ext_example", "HIREMPIRE_TOKEN": "sk-example",
                   "RECRUITIFI_CLIENT_SECRET": "rf-example"}
BOARDSYNC = (sys.executable, "-m", "boardsync")
TARGET_S = 0.3
"""What each command should take at most, wall time."""


def environment() -> dict[str, str]:
    """This checkout's boardsync first (its processes also start in it: `python -m` looks in
    the working directory before the path), the example secrets where none are set, and
    bytecode written."""
    env = {**EXAMPLE_SECRETS, **{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])
    return env


@dataclass(frozen=True)
class Run:
    wall: float
    """Seconds from start to exit."""
    cpu: float
    """Seconds of CPU the process used (user + system): less swayed than `wall` by other work
    on a shared machine, though not immune to it."""


def timed_runs(argv: Sequence[str], runs: int, env: dict[str, str]) -> list[Run]:
    """`runs` runs of `argv`, after one uncounted run; each must exit 0."""
    counted = []
    for attempt in range(runs + 1):
        started = time.perf_counter()
        process = subprocess.Popen(argv, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        assert process.stderr is not None
        errors = process.stderr.read()  # the command's own stderr: read to its end, or it could block
        _, status, usage = os.wait4(process.pid, 0)
        elapsed = time.perf_counter() - started
        code = os.waitstatus_to_exitcode(status)
        if code != 0:
            raise SystemExit(f"{' '.join(argv)} exited {code}:\n{errors.decode(errors='replace')}")
        if attempt:
            counted.append(Run(elapsed, usage.ru_utime + usage.ru_stime))
    return counted


def import_times(argv: Sequence[str], env: dict[str, str]) -> Counter[str]:
    """Milliseconds `argv` (a Python command) spent importing, by package: each module's own
    time, under its top-level package (boardsync's under its subpackage)."""
    done = subprocess.run([argv[0], "-X", "importtime", *argv[1:]], env=env, cwd=REPO, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True)
    spent: Counter[str] = Counter()
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        own, _, name = line.removeprefix("import time:").split("|")
        parts = name.strip().split(".")
        spent[".".join(parts[:2] if parts[0] == "boardsync" else parts[:1])] += int(own) / 1000
    return spent


def print_imports(name: str, spent: Counter[str], shown: int = 12) -> None:
    print(f"\n{name}: {sum(spent.values()):.0f} ms of imports (-X importtime), by package")
    for package, ms in spent.most_common(shown):
        print(f"  {package:<28} {ms:>6.1f} ms")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=10, help="counted runs of each command (default: 10)")
    parser.add_argument("--imports", action="store_true",
                        help="also print where each command's import time goes, by package")
    parser.add_argument("--workdir", type=Path,
                        help="where the demo keeps its files (default: a temporary folder, removed after)")
    args = parser.parse_args(argv)
    env = environment()
    with tempfile.TemporaryDirectory(prefix="boardsync-startup-") as scratch:
        workdir = args.workdir or Path(scratch) / "demo"
        demo = subprocess.run([*BOARDSYNC, "demo", "--workdir", str(workdir)], cwd=REPO,
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if demo.returncode != 0:
            raise SystemExit(f"boardsync demo exited {demo.returncode}:\n{demo.stderr}")
        demo_config = str(workdir / "boardsync.yaml")
        commands = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "validate (examples)": [*BOARDSYNC, "validate", "-c", str(REPO / "examples" / "boardsync.yaml")],
            "validate (demo)": [*BOARDSYNC, "validate", "-c", demo_config],
            "status (demo)": [*BOARDSYNC, "status", "-c", demo_config],
        }
        rows = [(name, timed_runs(command, args.runs, env)) for name, command in commands.items()]
        spent = {name: import_times(command, env) for name, command in commands.items() if args.imports}
    print(f"{'command':<20} {'wall best':>9} {'median':>7} {'cpu best':>9} {'median':>7}   (s, {args.runs} runs each)")
    for name, runs in rows:
        wall, cpu = [run.wall for run in runs], [run.cpu for run in runs]
        print(f"{name:<20} {min(wall):>9.3f} {statistics.median(wall):>7.3f} {min(cpu):>9.3f} {statistics.median(cpu):>7.3f}")
    for name, packages in spent.items():
        print_imports(name, packages)
    over = [name for name, runs in rows[1:] if min(run.wall for run in runs) > TARGET_S]
    if over:
        print(f"over {TARGET_S} s at best: {', '.join(over)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
