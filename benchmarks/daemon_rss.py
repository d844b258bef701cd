"""Whether the daemon's memory stays flat: its resident size after each of many cycles.

    python benchmarks/daemon_rss.py [--postings 1000] [--cycles 50] [--every 2s]

Starts the sandbox and `boardsync daemon` on a config repository of N postings (each on all
three boards) with a reconcile every `--every`, and reads the daemon's resident memory
(VmRSS, from /proc) half a second after each reconcile run is recorded as finished in the state database,
until `--cycles` runs after the first sync. Prints the size after the first sync, after the
first steady cycle and at the end, and the growth per cycle over the steady cycles (a least
squares slope), over their second half too (whether the growth slows once the daemon has
settled in: its first cycles warm the caches it keeps), and the CPU it spent from one reading
to the next. Linux only.
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from daemon_idle import cpu_seconds, running_daemon  # noqa: E402

CYCLE_TIMEOUT_S = 600.0
SETTLE_S = 0.5
"""How long after a run is recorded its size is read: the daemon frees what the run read and
gives it back to the system once the run returns, a moment after its row is written."""


def resident_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        return int(next(line.split()[1] for line in status if line.startswith("VmRSS:")))


def finished_reconciles(state: Path) -> int:
    """Reconcile runs the daemon has finished so far (read-only: the daemon writes the file)."""
    if not state.exists():
        return 0
    with sqlite3.connect(f"file:{state}?mode=ro", uri=True, timeout=10) as db:
        try:
            row = db.execute("SELECT count(*) FROM run WHERE kind = 'reconcile' AND finished_at IS NOT NULL").fetchone()
        except sqlite3.OperationalError:  # not created yet, or busy
            return 0
    return int(row[0])


def slope(values: Sequence[float]) -> float:
    """Least squares growth per step of `values`."""
    n = len(values)
    if n < 2:
        return 0.0
    mean_x, mean_y = (n - 1) / 2, sum(values) / n
    num = sum((i - mean_x) * (v - mean_y) for i, v in enumerate(values))
    return num / sum((i - mean_x) ** 2 for i in range(n))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postings", type=int, default=1000)
    parser.add_argument("--cycles", type=int, default=50)
    parser.add_argument("--every", default="2s", help="the daemon's reconcile schedule")
    args = parser.parse_args(argv)
    samples: list[int] = []
    cpu: list[float] = []
    with tempfile.TemporaryDirectory(prefix="boardsync-rss-") as scratch, \
            open(Path(scratch) / "bench.log", "w") as log, \
            running_daemon(Path(scratch), args.postings, args.every, log) as (daemon, _):
        state = Path(scratch) / "state.db"
        seen = 0
        while len(samples) < args.cycles + 1:  # the first sync, then the cycles
            deadline = time.monotonic() + CYCLE_TIMEOUT_S
            while (done := finished_reconciles(state)) <= seen:
                if daemon.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the daemon stopped reconciling after {seen} runs")
                time.sleep(0.05)
            seen = done
            time.sleep(SETTLE_S)  # the run's row is written just before the daemon tidies up after it
            samples.append(resident_kib(daemon.pid))
            cpu.append(cpu_seconds(daemon.pid))
    steady = samples[1:]
    print(f"daemon, {args.postings} postings, a reconcile every {args.every}: resident memory per cycle")
    print(f"  after the first sync     {samples[0] / 1024:.1f} MiB")
    for cycle in (1, 10, 25, 50, 100, 200, 500):
        if cycle < len(steady):
            print(f"  after steady cycle {cycle:<5} {steady[cycle - 1] / 1024:.1f} MiB")
    print(f"  after steady cycle {len(steady):<5} {steady[-1] / 1024:.1f} MiB")
    print(f"  highest, lowest          {max(steady) / 1024:.1f}, {min(steady) / 1024:.1f} MiB")
    print(f"  growth over the steady cycles: {slope(steady):+.1f} KiB a cycle (least squares)")
    half = steady[len(steady) // 2:]
    print(f"  over their second half ({len(half)} cycles): {slope(half):+.1f} KiB a cycle")
    spent = sorted(after - before for before, after in zip(cpu, cpu[1:]))
    print(f"  CPU a steady cycle       {statistics.median(spent):.2f} s median ({spent[0]:.2f} to {spent[-1]:.2f};"
          " what the daemon spent between two readings)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
