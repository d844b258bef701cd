"""Reconcile N postings against the sandbox boards with latency on every request.

    python benchmarks/reconcile_bench.py [--sizes 100,1000,10000] [--latency-ms 20] [--quick]

For each N: start the sandbox as its own process (`boardsync sandbox` on free ports), raise
its rate limits so that latency and boardsync bound the run, put `--latency-ms` on every
request to every board, write a config repository of N postings (each on all three boards),
then run `boardsync reconcile` three times, each time as a fresh process, exactly as a shell
or a CI job runs it: the first sync; the next cycle, which still records every new job's first
visit and applicant counts, once; then the steady state, a cycle in which nothing changed
since the one before, as a daemon runs every cycle after that. Each cycle reports requests per board
(reads and writes, from the simulators' own counts), wall time, and the reconcile process's
CPU time and peak resident memory (its own, so the sandbox's work is not counted).

The cycles after the first must cost what DESIGN section 9 says: ceil(N / page) Sorce reads, one
Hirempire read, one RecruitiFi token request (no link request while the signed links are
still valid), no writes.
The script exits 1 when it does not, or when a cycle fails.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import pstats
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import httpx
import sqlalchemy as sa
from ruamel.yaml import YAML
from sqlmodel import select

from boardsync.config import load
from boardsync.config.parsed import CACHE_DIR_ENV
from boardsync.connectors import build_connectors
from boardsync.connectors.decided import SORCE_PAGE_SIZE
from boardsync.reconcile.planner import LINK_REFRESH_MARGIN
from boardsync.state import SignedLink, Store, open_store

BOARDS = ("sorce", "hirempire", "recruitifi")
RAISED = 10_000_000
"""Rate limits, both the boards' and boardsync's own, set out of the way."""
NON_WRITING_POSTS = {("recruitifi", "/v1/auth/token")}
"""POSTs that change nothing on the board: trading the partner secret for a token."""
LATENCY_BOUND_SHARE = 0.5
"""Above this share of the wall time spent in injected latency, a cycle is latency-bound."""
BOOT_TIMEOUT_S = 30.0
CYCLE_TIMEOUT_S = 4 * 3600.0


# ------------------------------------------------------------------------------ the sandbox process


@dataclass
class SandboxProcess:
    """`boardsync sandbox` running in a child process, reached over HTTP."""

    process: subprocess.Popen[str]
    urls: dict[str, str]
    """board → the server's http://host:port (controls live under /_sandbox there)."""
    providers: dict[str, Any]
    """The `providers:` block the sandbox printed, as data."""
    credentials: dict[str, str]
    """Environment variable → sandbox secret, for the block's ${ENV} references."""
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=30.0))

    def control(self, board: str, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        response = self.http.request(method, f"{self.urls[board]}/_sandbox/{path}", json=body)
        response.raise_for_status()
        return response.json()

    def raise_rate_limits(self, active_jobs: int) -> None:
        self.control("sorce", "POST", "rate-limit", {"per_minute": RAISED})
        self.control("hirempire", "POST", "limits", {"requests_per_hour": RAISED, "active_jobs": active_jobs})
        self.control("recruitifi", "POST", "limits", {"requests_per_second": RAISED})

    def add_latency(self, latency_ms: int) -> None:
        for board in BOARDS:
            self.control(board, "POST", "faults", {"kind": "latency", "latency_ms": latency_ms, "times": None})

    def refused(self) -> dict[str, int]:
        """board → requests it refused for its rate limit (429) since it was started."""
        return {board: int(self.control(board, "GET", "state").get("rate_limited", 0)) for board in BOARDS}

    def take_request_counts(self) -> dict[str, dict[str, int]]:
        """board → "METHOD /path" → requests since the last call (the counts are cleared).
        Read, then cleared: the DELETE answers the counts as they are after clearing."""
        counts = {board: self.control(board, "GET", "requests")["requests"] for board in BOARDS}
        for board in BOARDS:
            self.control(board, "DELETE", "requests")
        return counts

    def stop(self) -> None:
        self.http.close()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()


@contextmanager
def sandbox_process(log: IO[str]) -> Iterator[SandboxProcess]:
    """Start `boardsync sandbox` on free ports and read back what its banner says."""
    ports = ["--sorce-port", "0", "--hirempire-port", "0", "--recruitifi-port", "0"]
    process = subprocess.Popen(
        [sys.executable, "-m", "boardsync", "sandbox", *ports],
        stdout=subprocess.PIPE, stderr=log, text=True,
    )
    try:
        banner = _read_banner(process)
        sandbox = SandboxProcess(process, *_parse_banner(banner))
    except BaseException:
        process.kill()
        process.wait()
        raise
    try:
        yield sandbox
    finally:
        sandbox.stop()


def _read_banner(process: subprocess.Popen[str]) -> str:
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + BOOT_TIMEOUT_S
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            raise RuntimeError("boardsync sandbox exited before it was ready:\n" + "".join(lines))
        lines.append(line)
        if line.startswith("Press Ctrl-C"):
            return "".join(lines)
    raise RuntimeError("boardsync sandbox did not print its banner in time")


def _parse_banner(banner: str) -> tuple[dict[str, str], dict[str, Any], dict[str, str]]:
    urls = {
        board: re.search(rf"^\s+{board}\s+(http://[^/\s]+)", banner, re.MULTILINE).group(1)  # type: ignore[union-attr]
        for board in BOARDS
    }
    credentials = dict(re.findall(r"^export (\w+)=(\S+)$", banner, re.MULTILINE))
    block = banner.split("# In boardsync.yaml:\n", 1)[1].split("\n\n", 1)[0]
    providers = YAML(typ="safe").load(block)["providers"]
    return urls, providers, credentials


# ------------------------------------------------------------------------------ the repository


def write_repository(workdir: Path, n: int, sandbox: SandboxProcess, state: str = "sqlite:///state.db") -> Path:
    """A config repository of `n` postings, one file each, pointing at the sandbox with
    boardsync's own client-side limits raised too, its state at `state`."""
    providers = {name: dict(settings) for name, settings in sandbox.providers.items()}
    providers["sorce"]["requests_per_minute"] = RAISED
    providers["hirempire"]["requests_per_hour"] = RAISED
    providers["recruitifi"]["requests_per_second"] = RAISED
    root = {"version": 1, "state": state, "postings": "postings/", "providers": providers}
    yaml = YAML()
    with (workdir / "boardsync.yaml").open("w") as out:
        yaml.dump(root, out)
    postings = workdir / "postings"
    postings.mkdir()
    for i in range(n):
        (postings / f"bench-{i:05d}.yaml").write_text(posting_yaml(i))
    return workdir / "boardsync.yaml"


def posting_yaml(i: int) -> str:
    """One remote posting on all three boards, with two tracked channels."""
    return f"""\
key: bench-{i:05d}
title: Benchmark Engineer {i}
status: active
description: Posting {i} of the reconcile benchmark. Builds and runs services.
workplace: remote
remote_country: United States
employment_type: full_time
level: mid
department: Engineering
salary: {{min: {90_000 + i}, max: {120_000 + i}, period: year, currency: USD}}
qualifications:
  - text: Three years of building services
channels: [linkedin, careers-page]
boards:
  sorce: {{bid_cents: 500}}
  hirempire: {{}}
  recruitifi: {{}}
"""


# ------------------------------------------------------------------------------ one cycle


@dataclass(frozen=True)
class BoardRequests:
    reads: int
    writes: int

    @property
    def total(self) -> int:
        return self.reads + self.writes

    def __str__(self) -> str:
        return f"{self.reads}/{self.writes}"


@dataclass(frozen=True)
class Cycle:
    n: int
    name: str
    exit_code: int
    requests: dict[str, BoardRequests]
    wall_s: float
    cpu_s: float
    peak_mib: float
    latency_ms: int
    refused: int = 0
    """Requests the boards refused for their rate limits during the cycle (429s)."""

    @property
    def latency_share(self) -> float:
        """How much of the wall time the injected latency alone accounts for, were every
        request made one after another."""
        waited = sum(r.total for r in self.requests.values()) * self.latency_ms / 1000
        return waited / self.wall_s if self.wall_s else 0.0


def run_cycle(name: str, n: int, config: Path, sandbox: SandboxProcess, latency_ms: int, log: IO[str]) -> Cycle:
    """One `boardsync reconcile` process; its requests, wall time, CPU time and peak memory."""
    sandbox.take_request_counts()  # start from zero
    refused = sum(sandbox.refused().values())
    log.write(f"\n--- N={n} {name}\n")
    log.flush()
    started = time.perf_counter()
    run = run_boardsync(["reconcile", "-c", str(config)], env=sandbox.credentials, output=log)
    wall = time.perf_counter() - started
    if (ended := sandbox.process.poll()) is not None:
        raise RuntimeError(f"N={n} {name}: the sandbox process ended (exit {ended}) before the cycle did")
    counts = sandbox.take_request_counts()
    return Cycle(
        n=n, name=name, exit_code=run.exit_code,
        requests={board: classify(board, counts[board]) for board in BOARDS},
        wall_s=wall, cpu_s=run.cpu_s, peak_mib=run.peak_mib, latency_ms=latency_ms,
        refused=sum(sandbox.refused().values()) - refused,
    )


def startup_cost() -> Measured:
    """`boardsync reconcile` that stops at a missing config: the interpreter and every import,
    before any work (a floor under each cycle's numbers)."""
    missing = Path(tempfile.gettempdir()) / "boardsync-bench-no-such-dir" / "boardsync.yaml"
    return run_boardsync(["reconcile", "-c", str(missing)], env={}, output=subprocess.DEVNULL)


@dataclass(frozen=True)
class Measured:
    exit_code: int
    cpu_s: float
    peak_mib: float


PEAK_FILE_VARIABLE = "BOARDSYNC_BENCH_PEAK_FILE"

# The command line's own `main`, run by a child that writes its peak resident memory (VmHWM)
# on the way out. Not wait4's ru_maxrss: on Linux a child's maxrss starts at its parent's
# resident size when it forks, which would count this script's memory as boardsync's.
MEASURED_MAIN = f"""
import atexit, os, sys

def report_peak():
    try:
        with open("/proc/self/status") as status:
            peak = next(line.split()[1] for line in status if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        return
    with open(os.environ["{PEAK_FILE_VARIABLE}"], "w") as out:
        out.write(peak)

atexit.register(report_peak)
from boardsync.cli import run
run()  # as the `boardsync` command runs, the collector tuned
"""


def run_boardsync(argv: Sequence[str], *, env: Mapping[str, str], output: IO[str] | int) -> Measured:
    """Run the `boardsync` command line in a child process, as `python -m boardsync` does, and
    measure the child alone: CPU time from wait4, peak memory from the child itself."""
    with tempfile.NamedTemporaryFile("r", prefix="boardsync-bench-peak-") as peak_file:
        process = subprocess.Popen(
            [sys.executable, "-c", MEASURED_MAIN, *argv],
            stdout=output, stderr=subprocess.STDOUT, env={**os.environ, **env, PEAK_FILE_VARIABLE: peak_file.name},
        )
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        peak_kib = peak_file.read().strip()
    # Without /proc (macOS) fall back to ru_maxrss, in bytes there.
    peak_mib = int(peak_kib) / 1024 if peak_kib else usage.ru_maxrss / (1024 * 1024)
    return Measured(process.returncode, usage.ru_utime + usage.ru_stime, peak_mib)


def classify(board: str, counts: Mapping[str, int]) -> BoardRequests:
    """Reads are GETs (and POSTs that change nothing on the board); the rest are writes."""
    reads = writes = 0
    for route, count in counts.items():
        method, _, path = route.partition(" ")
        if method == "GET" or (board, path) in NON_WRITING_POSTS:
            reads += count
        else:
            writes += count
    return BoardRequests(reads, writes)


# ------------------------------------------------------------------------------ the budget


def link_expiries(config: Path) -> list[datetime]:
    """When each signed link kept in the state expires (read before the steady state replaces any)."""
    with _store(config) as store, store.session() as session:
        return [link.expires_at for link in session.exec(select(SignedLink)).all() if link.expires_at]


def last_run_start(config: Path) -> datetime:
    """The `now` the last reconcile run planned with: it decides which links are due."""
    with _store(config) as store:
        started = store.last_runs(limit=1, kind="reconcile")[0].started_at
    assert started is not None
    return started


def links_due(expiries: Sequence[datetime], now: datetime) -> int:
    """Signed links a run planning at `now` fetches again: inside the refresh margin, or gone."""
    return sum(1 for expires in expiries if expires - now <= LINK_REFRESH_MARGIN)


def _store(config: Path) -> Store:
    state = str(YAML(typ="safe").load(config.read_text())["state"])
    if state.startswith("sqlite:///") and not state.startswith("sqlite:////"):
        state = f"sqlite:///{config.parent / state.removeprefix('sqlite:///')}"
    return open_store(state)


def budget_violations(steady: Cycle, due: int) -> list[str]:
    """Where a cycle after the first costs more than DESIGN section 9 allows a steady one."""
    want = {
        "sorce": BoardRequests(math.ceil(steady.n / SORCE_PAGE_SIZE), 0),
        "hirempire": BoardRequests(1, 0),
        # A fresh process trades its secret for a token every run (which proves the secret
        # still works); a pair's later links are fetched when asked for, never by a run.
        "recruitifi": BoardRequests(1, 0),
    }
    problems = [
        f"N={steady.n} {steady.name}: {board} made {got} reads/writes, the budget is {want[board]}"
        for board, got in steady.requests.items()
        if got != want[board]
    ]
    if steady.exit_code != 0:
        problems.append(f"N={steady.n} {steady.name}: boardsync reconcile exited {steady.exit_code}")
    return problems


def refusals(cycles: Sequence[Cycle]) -> list[str]:
    """Every 429 a cycle met: with boardsync keeping to the limits, there must be none."""
    return [f"N={c.n} {c.name}: the boards answered {c.refused} requests with 429" for c in cycles if c.refused]


# ------------------------------------------------------------------------------ the run


@dataclass
class SizeResult:
    first: Cycle
    after_first: Cycle
    """The cycle right after the first: it still records each new job's first visit and
    applicant counts (zero, or what an adopted job had), once."""
    steady: Cycle
    links_due: int
    problems: list[str]
    bound_s: float = 0.0
    """The first sync's lower bound from the configured limits and the latency."""
    steady_cpu: tuple[float, ...] = ()
    """The CPU time of each steady cycle run (`--repeat`); `steady` is the median one."""


def seed_boards(config: Path, sandbox: SandboxProcess) -> None:
    """Put every posting's job on Sorce and Hirempire directly, through the sandbox's seed
    controls: each body is what the board's connector sends in its create (the spec its
    `render` gives, as `create` completes it), so the jobs are the ones a first sync makes.
    RecruitiFi holds no jobs: the first run links every posting there, as in a first sync."""
    os.environ.update(sandbox.credentials)
    desired = load(config)
    connectors = build_connectors(desired.root.providers)
    try:
        sorce, hirempire = connectors["sorce"], connectors["hirempire"]
        company = getattr(hirempire.settings, "company_id")
        key = getattr(sorce.settings, "api_key").get_secret_value()
        sorce_jobs, hirempire_jobs = [], []
        for posting in desired.postings:
            sorce_spec = sorce.render(posting.on_board("sorce"))
            sorce_jobs.append({**{k: v for k, v in sorce_spec.items() if v is not None}, "publish": True})
            hirempire_spec = hirempire.render(posting.on_board("hirempire"))
            hirempire_jobs.append({**{k: v for k, v in hirempire_spec.items() if v is not None},
                                   "company_id": company, "job_sources": list(posting.channels), "status": "Active"})
    finally:
        for connector in connectors.values():
            connector.close()
    for start in range(0, len(sorce_jobs), SEED_BATCH):
        sandbox.control("sorce", "POST", "seed", {"key": key, "jobs": sorce_jobs[start:start + SEED_BATCH]})
        sandbox.control("hirempire", "POST", "seed", {"jobs": hirempire_jobs[start:start + SEED_BATCH]})


SEED_BATCH = 2_000
"""Jobs per seed request."""


def bench_size(
    n: int, latency_ms: int, workdir: Path, log: IO[str], *, profile: bool = False, memory: bool = False,
    steps: bool = False, seed: bool = False, state: str = "sqlite:///state.db", repeat: int = 1,
) -> SizeResult:
    # A state in PostgreSQL keeps its parsed posting files in a cache folder: this size's own,
    # so that nothing is left in the home folder of whoever runs the benchmark.
    os.environ[CACHE_DIR_ENV] = str(workdir / "cache")
    with sandbox_process(log) as sandbox:
        sandbox.raise_rate_limits(active_jobs=n + 1)
        sandbox.add_latency(latency_ms)
        config = write_repository(workdir, n, sandbox, state)
        if seed:
            seed_boards(config, sandbox)
        first = run_cycle("adoption" if seed else "first sync", n, config, sandbox, latency_ms, log)
        expiries = link_expiries(config)
        after_first = run_cycle("next cycle", n, config, sandbox, latency_ms, log)
        steadies = [run_cycle("steady state", n, config, sandbox, latency_ms, log) for _ in range(repeat)]
        steady = median_cycle(steadies)
        if profile:
            print(profile_steady_cycle(n, config, sandbox, workdir, log), file=sys.stderr, flush=True)
        if memory:
            print(memory_of_steady_cycle(n, config, sandbox, workdir, log), file=sys.stderr, flush=True)
        if steps:
            print(steps_of_steady_cycle(n, config, sandbox, log), file=sys.stderr, flush=True)
    due = links_due(expiries, last_run_start(config))
    problems = [f"N={n} {first.name}: boardsync reconcile exited {first.exit_code}"] if first.exit_code else []
    problems += budget_violations(after_first, due) + [v for cycle in steadies for v in budget_violations(cycle, due)]
    return SizeResult(first, after_first, steady, due, problems + refusals((first, after_first, *steadies)),
                      bound_s=first_sync_bound(first, configured_limits(config)),
                      steady_cpu=tuple(cycle.cpu_s for cycle in steadies))


def median_cycle(cycles: Sequence[Cycle]) -> Cycle:
    """The cycle of median CPU time (the lower middle one of an even number): on shared cores
    one steady cycle's CPU varies by a few percent from the next."""
    return sorted(cycles, key=lambda cycle: cycle.cpu_s)[(len(cycles) - 1) // 2]


PROFILE_TOP = 25

STEPS = (
    ("boardsync.session", "load", "config: read the posting files, validate, digest"),
    ("boardsync.reconcile.observe", "_observe_board", "boards: read, parse and check (a thread each)"),
    ("boardsync.reconcile.engine", "look_up_unlisted", "boards: bound jobs missing from a list"),
    ("boardsync.reconcile.record", "load_known", "state: what is known of each pair"),
    ("boardsync.reconcile.engine", "plan_changes", "plan: render and compare each pair"),
    ("boardsync.reconcile.engine", "upcoming", "plan: what is coming"),
    ("boardsync.reconcile.engine", "check_safety", "plan: the safety check"),
    ("boardsync.reconcile.record", "record_observation", "state: record what was read"),
)
"""The steps of a run timed by `--steps`: module, function (as the caller looks it up), what it is."""

STEPS_MAIN = """
import functools, importlib, json, sys, time

spent = {}

def timed(module, name):
    target = importlib.import_module(module)
    step = getattr(target, name)

    @functools.wraps(step)
    def wrapper(*args, **kwargs):
        started = time.thread_time()  # the calling thread's CPU: a board's read runs in a thread of its own
        try:
            return step(*args, **kwargs)
        finally:
            spent[name] = spent.get(name, 0.0) + time.thread_time() - started

    setattr(target, name, wrapper)

out, steps, argv = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3:]
from boardsync.cli import run
for module, name in steps:
    timed(module, name)
sys.argv = ["boardsync", *argv]
try:
    run()
finally:
    spent["(process)"] = time.process_time()
    with open(out, "w") as file:
        json.dump(spent, file)
"""


def steps_of_steady_cycle(n: int, config: Path, sandbox: SandboxProcess, log: IO[str]) -> str:
    """One more steady `boardsync reconcile`, with each step's CPU time taken as it runs (the
    calling thread's), as a table: where the time a posting costs goes."""
    with tempfile.NamedTemporaryFile("r", prefix="boardsync-bench-steps-") as out:
        subprocess.run(
            [sys.executable, "-c", STEPS_MAIN, out.name, json.dumps([step[:2] for step in STEPS]),
             "reconcile", "-c", str(config)],
            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **sandbox.credentials}, check=False,
        )
        spent = json.loads(out.read() or "{}")
    if not spent:
        return f"N={n:,}: the timed steady cycle wrote nothing (see the log)"
    rows = [("step", "cpu s", "ms/posting")]
    for _, name, what in STEPS:
        if name in spent:
            rows.append((what, f"{spent[name]:.3f}", f"{spent[name] * 1000 / n:.4f}"))
    rest = spent["(process)"] - sum(spent.get(name, 0.0) for _, name, _ in STEPS)
    rows.append(("the rest: start-up and imports, the lock, the run's rows", f"{rest:.3f}", ""))
    rows.append(("the process", f"{spent['(process)']:.3f}", f"{spent['(process)'] * 1000 / n:.4f}"))
    return f"N={n:,} steady state, CPU by step:\n{render(rows, left=1)}"



def profile_steady_cycle(n: int, config: Path, sandbox: SandboxProcess, workdir: Path, log: IO[str]) -> str:
    """One more steady `boardsync reconcile` under cProfile: its top entries by own time, and
    by cumulative time, as text."""
    out = workdir / "steady.prof"
    subprocess.run(
        [sys.executable, "-m", "cProfile", "-o", str(out), "-m", "boardsync", "reconcile", "-c", str(config)],
        stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **sandbox.credentials}, check=False,
    )
    text = io.StringIO()
    stats = pstats.Stats(str(out), stream=text).strip_dirs()
    print(f"N={n:,} steady state under cProfile, by own time:", file=text)
    stats.sort_stats("tottime").print_stats(PROFILE_TOP)
    print(f"N={n:,} steady state under cProfile, by cumulative time:", file=text)
    stats.sort_stats("cumulative").print_stats(PROFILE_TOP)
    return text.getvalue()


def memory_of_steady_cycle(n: int, config: Path, sandbox: SandboxProcess, workdir: Path, log: IO[str]) -> str:
    """One more steady `boardsync reconcile` under memray (installed apart: ``pip install
    memray``), every Python allocation traced: what was still held when the process was at
    its largest, summed by the first boardsync function on each allocation's stack."""
    out = workdir / "steady.memray"
    subprocess.run(
        [sys.executable, "-m", "memray", "run", "-q", "-f", "--trace-python-allocators", "-o", str(out),
         "-m", "boardsync", "reconcile", "-c", str(config)],
        stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **sandbox.credentials}, check=False,
    )
    report = subprocess.run([sys.executable, "-c", PEAK_REPORT, str(out), str(PROFILE_TOP)],
                            capture_output=True, text=True, check=False)
    return f"N={n:,} steady state under memray, held at its peak:\n{report.stdout}{report.stderr}"


PEAK_REPORT = """
import collections, sys
from memray import FileReader

reader = FileReader(sys.argv[1])
held = collections.Counter()
for record in reader.get_high_watermark_allocation_records(merge_threads=True):
    ours = [f"{file.split('/boardsync/')[-1]}:{line} {function}" for function, file, line in record.stack_trace()
            if "/boardsync/" in file]
    held[ours[0] if ours else "(outside boardsync: the interpreter, imports of other packages)"] += record.size
print(f"peak {reader.metadata.peak_memory / 2**20:.1f} MiB (traced), by the first boardsync frame:")
for where, size in held.most_common(int(sys.argv[2])):
    print(f"  {size / 2**20:8.2f} MiB  {where}")
"""


HEADER = ("N", "cycle", "sorce r/w", "hirempire r/w", "recruitifi r/w", "wall s", "cpu s", "peak MiB", "latency share")


def table(results: Sequence[SizeResult]) -> str:
    rows: list[tuple[str, ...]] = [HEADER]
    for result in results:
        for cycle in (result.first, result.after_first, result.steady):
            rows.append((
                f"{cycle.n:,}", cycle.name, *(str(cycle.requests[b]) for b in BOARDS),
                f"{cycle.wall_s:.1f}", f"{cycle.cpu_s:.1f}", f"{cycle.peak_mib:.0f}",
                f"{cycle.latency_share:.0%}",
            ))
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADER))]
    lines = ["  ".join(cell.rjust(w) if i != 1 else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths)))
             for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def render(rows: Sequence[Sequence[str]], *, left: int = 0) -> str:
    """Rows as aligned columns under a rule; the first `left` columns flush left."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) if i < left else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths)))
             for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


NAIVE_READS_PER_POSTING = len(BOARDS)
"""A poller that reads each posting on each board it is on: one read per posting per board."""


def scale_table(results: Sequence[SizeResult], startup: Measured) -> str:
    """The steady state as N grows: requests per board against a naive poller's, CPU and peak
    memory per posting beyond the fixed start-up, and the marginal cost between sizes."""
    rows: list[tuple[str, ...]] = [(
        "N", "sorce", "hirempire", "recruitifi", "naive", "naive/ours",
        "cpu ms/posting", "marginal", "peak MiB", "KiB/posting", "marginal",
    )]
    previous: Cycle | None = None
    for result in results:
        steady = result.steady
        ours = sum(r.total for r in steady.requests.values())
        naive = NAIVE_READS_PER_POSTING * steady.n
        cpu_each = (steady.cpu_s - startup.cpu_s) * 1000 / steady.n
        kib_each = (steady.peak_mib - startup.peak_mib) * 1024 / steady.n
        if previous is not None and steady.n > previous.n:
            grown = steady.n - previous.n
            cpu_marginal = f"{(steady.cpu_s - previous.cpu_s) * 1000 / grown:.3f}"
            kib_marginal = f"{(steady.peak_mib - previous.peak_mib) * 1024 / grown:.1f}"
        else:
            cpu_marginal = kib_marginal = "-"
        rows.append((
            f"{steady.n:,}", *(str(steady.requests[b].total) for b in BOARDS), f"{naive:,}",
            f"{naive / ours:,.0f}x" if ours else "-", f"{cpu_each:.3f}", cpu_marginal,
            f"{steady.peak_mib:.0f}", f"{kib_each:.1f}", kib_marginal,
        ))
        previous = steady
    return render(rows, left=1 if rows[0][1] == "cycle" else 0)


LIMIT_SETTINGS = {"sorce": ("requests_per_minute", 60.0), "hirempire": ("requests_per_hour", 3600.0),
                  "recruitifi": ("requests_per_second", 1.0)}
"""board → the setting of its client-side limit in `providers:`, and that limit's window in seconds."""


def configured_limits(config: Path) -> dict[str, tuple[int, float]]:
    """board → (requests, per seconds), as the config's `providers:` sets boardsync's limits."""
    providers = YAML(typ="safe").load(config.read_text())["providers"]
    return {board: (int(providers[board][key]), per) for board, (key, per) in LIMIT_SETTINGS.items()}


def bound_seconds(requests: int, limit: int, per: float) -> float:
    """The earliest moment the last of `requests` can start under `limit` per `per` seconds."""
    return math.floor(max(requests - 1, 0) / limit) * per


def first_sync_bound(cycle: Cycle, limits: Mapping[str, tuple[int, float]]) -> float:
    """How fast the first sync could be at all: each board's requests, one after another at
    the injected latency and within its configured limit; the boards worked at once, so the
    slowest board's time, not the sum."""
    return max(
        max(bound_seconds(cycle.requests[b].total, *limits[b]), cycle.requests[b].total * cycle.latency_ms / 1000)
        for b in BOARDS
    )


def first_sync_table(results: Sequence[SizeResult]) -> str:
    rows: list[tuple[str, ...]] = [("N", "cycle", "requests", "wall s", "bound s", "ratio", "cpu ms/request", "429s")]
    for result in results:
        first = result.first
        made = sum(r.total for r in first.requests.values())
        rows.append((
            f"{first.n:,}", first.name, f"{made:,}", f"{first.wall_s:.1f}", f"{result.bound_s:.1f}",
            f"{first.wall_s / result.bound_s:.2f}" if result.bound_s else "-",
            f"{first.cpu_s * 1000 / made:.2f}" if made else "-", f"{first.refused}",
        ))
    return render(rows, left=1 if rows[0][1] == "cycle" else 0)


def notes(results: Sequence[SizeResult], latency_ms: int, startup: Measured) -> list[str]:
    lines = [
        f"r/w: reads/writes the board received in that cycle; {latency_ms} ms of latency on each.",
        "latency share: requests x latency / wall time (100% = the run only waited on the boards,"
        " one request after another).",
        "cpu s and peak MiB are the `boardsync reconcile` process's own, interpreter start included"
        f" (start-up and imports alone: {startup.cpu_s:.1f} s CPU, {startup.peak_mib:.0f} MiB).",
    ]
    for result in results:
        first = result.first
        if len(result.steady_cpu) > 1:
            each = ", ".join(f"{cpu:.2f}" for cpu in result.steady_cpu)
            lines.append(
                f"N={first.n:,}: {len(result.steady_cpu)} steady cycles, CPU s {each}; the tables show the median."
            )
        if first.latency_share >= LATENCY_BOUND_SHARE:
            lines.append(
                f"N={first.n:,}: the first sync is bounded by per-request latency: "
                f"{sum(r.total for r in first.requests.values()):,} requests x {latency_ms} ms "
                f"= {first.latency_share:.0%} of its wall time."
            )
        if result.links_due:
            lines.append(
                f"N={first.n:,}: {result.links_due:,} signed links from the first sync were within "
                f"{LINK_REFRESH_MARGIN} of expiring when the steady state planned; it left them to be fetched "
                "when asked for."
            )
    return lines


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,10000", help="posting counts, comma-separated")
    parser.add_argument("--latency-ms", type=int, default=20, help="injected latency per request")
    parser.add_argument("--quick", action="store_true", help="N=100 only (what the test suite runs)")
    parser.add_argument("--keep", type=Path, help="keep each size's repository, state and logs here")
    parser.add_argument("--postgres", metavar="URL",
                        help="keep the state on this PostgreSQL server (e.g. postgresql://me@127.0.0.1/postgres): "
                        "each size in a new database, dropped afterwards")
    parser.add_argument("--seed-from", type=int, default=50_000,
                        help="from this N on, put the jobs on the boards through the sandbox's seed controls and "
                             "let the first run adopt them, instead of a first sync")
    parser.add_argument("--repeat", type=int, default=1, metavar="K",
                        help="run the steady state K times and report the cycle of median CPU time (each checked "
                             "against the request budget)")
    parser.add_argument("--profile", action="store_true",
                        help="after the steady state, run one more steady cycle under cProfile and print its top entries")
    parser.add_argument("--steps", action="store_true",
                        help="after the steady state, run one more steady cycle and print the CPU time of each of "
                             "its steps")
    parser.add_argument("--memray", action="store_true",
                        help="after the steady state, run one more steady cycle under memray (installed apart) "
                             "and print what it held at its peak")
    args = parser.parse_args(argv)
    args.sizes = [100] if args.quick else [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    return args


@contextmanager
def state_database(server: str | None, n: int) -> Iterator[str]:
    """The state URL for size `n`: a SQLite file beside the config, or a new database on the
    PostgreSQL `server`, dropped on the way out."""
    if server is None:
        yield "sqlite:///state.db"
        return
    url = sa.engine.make_url(server)
    name = f"boardsync_bench_n{n}_{os.getpid()}"
    admin = sa.create_engine(url.set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
        try:
            yield url.set(drivername="postgresql+psycopg", database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as connection:
                connection.exec_driver_sql(f'DROP DATABASE "{name}" WITH (FORCE)')
    finally:
        admin.dispose()


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    results: list[SizeResult] = []
    with tempfile.TemporaryDirectory(prefix="boardsync-bench-") as scratch:
        base = args.keep or Path(scratch)
        for n in args.sizes:
            workdir = base / f"n{n}"
            workdir.mkdir(parents=True, exist_ok=False)
            with (workdir / "bench.log").open("w") as log, state_database(args.postgres, n) as state:
                print(f"N={n:,}: reconciling against the sandbox, state {state.split('@')[-1]} ...",
                      file=sys.stderr, flush=True)
                results.append(bench_size(n, args.latency_ms, workdir, log, profile=args.profile, memory=args.memray,
                                          steps=args.steps, seed=n >= args.seed_from, state=state,
                                          repeat=max(args.repeat, 1)))
            if len(args.sizes) > 1:  # the rows so far, in case a later size does not finish
                print(table(results[-1:]), file=sys.stderr, flush=True)
            if results[-1].problems and args.keep is None:
                print((workdir / "bench.log").read_text()[-4000:], file=sys.stderr)
    startup = startup_cost()
    print(table(results))
    print()
    print("The steady state as N grows (requests per cycle; cpu and memory beyond start-up, per posting):")
    print(scale_table(results, startup))
    print()
    print("The first sync against the fastest the configured limits and the latency allow:")
    print(first_sync_table(results))
    if any(r.first.name == "adoption" for r in results):
        print("adoption: the jobs were put on Sorce and Hirempire through the sandbox's seed controls; this first"
              " run adopted them (and linked every posting on RecruitiFi) instead of creating them.")
    print()
    for line in notes(results, args.latency_ms, startup):
        print(line)
    problems = [p for r in results for p in r.problems]
    if problems:
        print("\nFAILED:", file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    print("\nThe steady state meets DESIGN section 9 at every N: ceil(N/page) Sorce reads, "
          "1 Hirempire read, 1 RecruitiFi token request and no link request, no writes.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
