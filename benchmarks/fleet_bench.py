"""A fleet: several `boardsync daemon --workspaces DIR` sharing many workspaces in one
PostgreSQL database, each workspace with boards of its own.

    python benchmarks/fleet_bench.py [--daemons 3] [--workspaces 30] [--postings 300]
                                     [--every 30] [--measure-s 180] [--postgres URL]

Every workspace gets its own `boardsync sandbox` process (its own board accounts, so a
workspace's reads cover its own jobs only), with the boards' rate limits raised, and a root
file of `--postings` postings on all three boards, reconciled every `--every` seconds. The
daemons start together; once every workspace has converged (its first sync done), the
benchmark measures `--measure-s` seconds of the steady state and prints:

- how the workspaces were shared among the daemons;
- the first sync of the whole fleet: wall time until the last workspace converged;
- steady cycles per minute (all workspaces, and per workspace against its schedule);
- the fleet's CPU per posting per cycle (every daemon and workspace process, from /proc);
- requests per board per workspace cycle, against one workspace's steady-state cost
  (ceil(N / 100) Sorce reads, one Hirempire read, one RecruitiFi token request).

Without `--postgres`, a throwaway PostgreSQL server is started (as the tests do). Exits 1 when
a workspace does not converge or the steady state costs more requests than it should.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from ruamel.yaml import YAML

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.reconcile_bench import (  # noqa: E402
    NON_WRITING_POSTS,
    RAISED,
    SandboxProcess,
    posting_yaml,
    sandbox_process,
)
from boardsync.connectors.decided import SORCE_PAGE_SIZE  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--daemons", type=int, default=3)
    parser.add_argument("--workspaces", type=int, default=30)
    parser.add_argument("--postings", type=int, default=300, help="postings per workspace")
    parser.add_argument("--every", type=int, default=30, help="seconds between two reconciles of a workspace")
    parser.add_argument("--measure-s", type=float, default=180.0, help="seconds of steady state measured")
    parser.add_argument("--converge-timeout-s", type=float, default=1800.0)
    parser.add_argument("--postgres", metavar="URL", help="a PostgreSQL server to create the database on")
    parser.add_argument("--keep", type=Path, help="keep the workspaces and the logs here")
    return parser.parse_args(argv)


@contextmanager
def postgres(server: str | None) -> Iterator[str]:
    """A new database on `server`, or on a throwaway server of its own; dropped afterwards."""
    with ExitStack() as stack:
        if server is None:
            from tests import pg_helpers

            pg = pg_helpers.start_server()
            stack.callback(pg.close)
            yield pg.create_database()
            return
        url = sa.engine.make_url(server).set(drivername="postgresql+psycopg")
        name = f"boardsync_fleet_{os.getpid()}"
        admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
        stack.callback(admin.dispose)
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
        try:
            yield url.set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as connection:
                connection.exec_driver_sql(f'DROP DATABASE "{name}" WITH (FORCE)')


def write_workspace(folder: Path, name: str, n: int, sandbox: SandboxProcess, state: str, every: int) -> None:
    providers = {board: dict(settings) for board, settings in sandbox.providers.items()}
    providers["sorce"]["requests_per_minute"] = RAISED
    providers["hirempire"]["requests_per_hour"] = RAISED
    providers["recruitifi"]["requests_per_second"] = RAISED
    root = {
        "version": 1, "state": state, "postings": f"{name}/", "providers": providers,
        "schedule": {"reconcile": f"{every}s", "metrics": "1h"},
    }
    with (folder / f"{name}.yaml").open("w") as out:
        YAML().dump(root, out)
    postings = folder / name
    postings.mkdir()
    for i in range(n):
        (postings / f"bench-{i:05d}.yaml").write_text(posting_yaml(i))


def tree_usage(roots: Sequence[int]) -> tuple[float, float]:
    """CPU seconds and resident MiB of `roots` and of their children, as /proc has them now."""
    ticks = pages = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            resident = int((entry / "statm").read_text().split()[1])
        except OSError:
            continue
        if int(entry.name) in roots or int(fields[1]) in roots:
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
            pages += resident
    return ticks / TICKS, pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def log_events(logs: Sequence[Path], event: str) -> list[dict[str, Any]]:
    found = []
    for path in logs:
        for line in path.read_text(errors="replace").splitlines():
            if f'"{event}"' not in line:
                continue
            try:
                record = json.loads(line.lstrip("<0123456789>"))
            except ValueError:
                continue
            if record.get("event") == event:
                found.append(record)
    return found


def database_sessions(url: str) -> int:
    """Sessions open on the fleet's database now, this one's apart."""
    engine = sa.create_engine(sa.engine.make_url(url).set(drivername="postgresql+psycopg"))
    try:
        with engine.connect() as connection:
            return int(connection.execute(sa.text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid()")).scalar_one())
    finally:
        engine.dispose()


def holding(log: Path) -> int:
    """How many workspaces the fleet daemon writing `log` runs at the end."""
    last: dict[str, str] = {}
    for line in log.read_text(errors="replace").splitlines():
        try:
            record = json.loads(line.lstrip("<0123456789>"))
        except ValueError:
            continue
        if record.get("event") in ("workspace_started", "workspace_stopped", "workspace_exited"):
            last[record["workspace"]] = record["event"]
    return sum(1 for event in last.values() if event == "workspace_started")


def reconciles(logs: Sequence[Path]) -> list[dict[str, Any]]:
    return [e for e in log_events(logs, "run_finished") if e.get("kind") == "reconcile"]


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    names = [f"w{i:02d}" for i in range(args.workspaces)]
    with ExitStack() as stack:
        base = args.keep or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="boardsync-fleet-")))
        folder = base / "workspaces"
        folder.mkdir(parents=True)
        url = stack.enter_context(postgres(args.postgres))
        print(f"{args.workspaces} sandboxes, {args.workspaces} × {args.postings} postings ...", file=sys.stderr)
        sandbox_log = stack.enter_context((base / "sandboxes.log").open("w"))
        sandboxes = {name: stack.enter_context(sandbox_process(sandbox_log)) for name in names}
        for name, sandbox in sandboxes.items():
            sandbox.raise_rate_limits(active_jobs=args.postings * 2)
            write_workspace(folder, name, args.postings, sandbox, url, args.every)
        env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC")}
        env["BOARDSYNC_CACHE_DIR"] = str(base / "cache")  # the parsed postings: kept with the rest, not in a home
        env |= next(iter(sandboxes.values())).credentials

        logs = [base / f"daemon{i}.log" for i in range(args.daemons)]
        daemons = []
        started = time.monotonic()
        for path in logs:
            out = stack.enter_context(path.open("w"))
            daemons.append(subprocess.Popen(
                [sys.executable, "-m", "boardsync", "daemon", "--workspaces", str(folder), "--check-every", "1"],
                stdout=out, stderr=subprocess.STDOUT, env=env))

        def stop_daemons() -> None:
            for daemon in daemons:
                if daemon.poll() is None:
                    daemon.send_signal(signal.SIGTERM)
            for daemon in daemons:
                try:
                    daemon.wait(120)
                except subprocess.TimeoutExpired:
                    daemon.kill()
        stack.callback(stop_daemons)

        print(f"{args.daemons} daemons started; waiting for every workspace's first sync ...", file=sys.stderr)
        deadline = started + args.converge_timeout_s
        while True:
            converged = {e.get("workspace") for e in reconciles(logs) if e.get("outcome") == "converged"}
            if converged >= set(names):
                break
            if time.monotonic() > deadline or any(d.poll() is not None for d in daemons):
                print(f"FAILED: {len(set(names) - converged)} workspaces did not converge", file=sys.stderr)
                return 1
            time.sleep(2)
        first_sync = time.monotonic() - started
        pids = [d.pid for d in daemons]

        for sandbox in sandboxes.values():
            sandbox.take_request_counts()
        window_start = datetime.now(UTC)
        before_cpu, _ = tree_usage(pids)
        began = time.monotonic()
        print(f"all converged after {first_sync:.0f} s; measuring {args.measure_s:.0f} s of steady state ...",
              file=sys.stderr)
        time.sleep(args.measure_s)
        after_cpu, rss = tree_usage(pids)
        cpu = after_cpu - before_cpu
        elapsed = time.monotonic() - began
        window_end = datetime.now(UTC)
        runs = [e for e in reconciles(logs) if window_start <= datetime.fromisoformat(e["timestamp"]) < window_end]
        counts = {name: sandbox.take_request_counts() for name, sandbox in sandboxes.items()}
        per_workspace = Counter(e.get("workspace") for e in runs)
        served = {path.name: holding(path) for path in logs}
        connections = database_sessions(url)

    cycles = len(runs)
    if cycles == 0:
        print("FAILED: no steady cycle in the window", file=sys.stderr)
        return 1
    requests: dict[str, Counter[str]] = {"sorce": Counter(), "hirempire": Counter(), "recruitifi": Counter()}
    for board_counts in counts.values():
        for board, by_route in board_counts.items():
            for route, count in by_route.items():
                reads = route.startswith("GET ") or (board, route.split(" ", 1)[1]) in NON_WRITING_POSTS
                requests[board]["reads" if reads else "writes"] += count
    expected = {"sorce": math.ceil(args.postings / SORCE_PAGE_SIZE), "hirempire": 1, "recruitifi": 1}
    print(f"fleet: {args.daemons} daemons, {args.workspaces} workspaces × {args.postings} postings, "
          f"reconcile every {args.every} s")
    print(f"workspaces each daemon serves at the end: {', '.join(str(served[p.name]) for p in logs)}")
    print(f"first sync of the whole fleet: {first_sync:.0f} s wall")
    print(f"steady state over {elapsed:.0f} s: {cycles} cycles, {cycles / elapsed * 60:.1f} cycles/min "
          f"({min(per_workspace.values())}–{max(per_workspace.values())} per workspace; the schedule allows "
          f"{elapsed / args.every:.1f})")
    print(f"database sessions open: {connections}: one for each daemon, "
          f"{(connections - args.daemons) / args.workspaces:.1f} for each workspace")
    print(f"fleet CPU: {cpu:.1f} s, {cpu / (cycles * args.postings) * 1000:.2f} ms per posting per cycle; "
          f"resident memory of every daemon and workspace process: {rss:.0f} MiB")
    problems = []
    print("requests per workspace cycle (reads / writes; RecruitiFi's token request counts as a read), "
          "against one workspace's steady-state cost at most:")
    for board, seen in requests.items():
        reads, writes = seen["reads"] / cycles, seen["writes"] / cycles
        print(f"  {board:<11} {reads:6.2f} / {writes:4.2f}   (at most {expected[board]} / 0)")
        if reads > expected[board] + 0.01 or writes > 0.01:
            problems.append(f"{board}: {reads:.2f} reads and {writes:.2f} writes per cycle")
    for problem in problems:
        print(f"FAILED: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
