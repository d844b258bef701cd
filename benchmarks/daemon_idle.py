"""What an idle daemon costs: CPU time and wake-ups between its cycles.

    python benchmarks/daemon_idle.py [--postings 100] [--seconds 30]

Starts the sandbox and `boardsync daemon` on a config repository of N postings (each on all
three boards) with an hour between reconciles, waits for the first reconcile to converge and
the signed links to be fetched, then watches the daemon process for `--seconds` while nothing
is due: its CPU time (user + system, from /proc) and its context switches (each one a thread
that woke up). Linux only.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from reconcile_bench import sandbox_process, write_repository  # noqa: E402

READY_TIMEOUT_S = 600.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User + system time of every thread of `pid`."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wakeups(pid: int) -> int:
    """Context switches of every thread of `pid` so far."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            status = (task / "status").read_text()
        except FileNotFoundError:  # a thread that ended meanwhile
            continue
        for line in status.splitlines():
            if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                total += int(line.split()[1])
    return total


def wait_ready(port: int, daemon: subprocess.Popen[bytes]) -> None:
    """Until /readyz says a reconcile succeeded."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if daemon.poll() is not None:
            raise RuntimeError(f"the daemon exited {daemon.returncode} before it was ready")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise RuntimeError("the daemon was not ready in time")


@contextmanager
def running_daemon(scratch: Path, postings: int, every: str, log: IO[str]) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """The sandbox and a `boardsync daemon` over `postings` postings reconciling `every`
    (a duration), in `scratch`; ready (its first run done), and stopped on leaving."""
    with sandbox_process(log) as sandbox:
        sandbox.raise_rate_limits(active_jobs=postings + 1)
        config = write_repository(scratch, postings, sandbox)
        port = free_port()
        with config.open("a") as root:
            root.write(f"schedule: {{reconcile: {every}, metrics: 1h}}\ndaemon: {{listen: '127.0.0.1:{port}'}}\n")
        daemon = subprocess.Popen(
            [sys.executable, "-m", "boardsync", "daemon", "-c", str(config)],
            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **sandbox.credentials}, cwd=scratch,
        )
        try:
            wait_ready(port, daemon)
            yield daemon, port
        finally:
            daemon.terminate()
            daemon.wait(timeout=30)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postings", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="boardsync-idle-") as scratch, \
            open(Path(scratch) / "bench.log", "w") as log, \
            running_daemon(Path(scratch), args.postings, "1h", log) as (daemon, _):
        time.sleep(5.0)  # let the first run finish settling
        cpu, woken = cpu_seconds(daemon.pid), wakeups(daemon.pid)
        time.sleep(args.seconds)
        cpu, woken = cpu_seconds(daemon.pid) - cpu, wakeups(daemon.pid) - woken
    print(f"idle daemon, {args.postings} postings, {args.seconds:.0f} s with nothing due:")
    print(f"  CPU      {cpu:.2f} s ({cpu / args.seconds:.2%} of one core)")
    print(f"  wake-ups {woken} ({woken / args.seconds:.1f} a second, every thread together)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
