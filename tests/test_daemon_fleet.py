"""A fleet: `boardsync daemon --workspaces DIR` on several hosts (real processes), six
workspaces in one PostgreSQL database, each workspace with boards of its own (a sandbox each).

Three daemons share the six, two each; one killed with -9, the other two take its share; a
fourth joins, and the shares are two each again. Who writes a workspace is read from the
database (the holder of its writer lock) and, at the end, from the boards' own access logs:
no two processes ever wrote one workspace's boards in the same interval, and every posting is
exactly one job on each of its boards.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from boardsync import config
from boardsync.sandbox.server import Sandbox
from tests.pg_helpers import PgServer
from tests.test_daemon_service import EXAMPLES, hirempire_jobs, sorce_jobs, wait_for

pytestmark = pytest.mark.slow

NAMES = ("acme", "globex", "initech", "hooli", "umbrella", "wonka")
LATER = "stark"
"""A seventh workspace, added to the folder while the fleet runs."""
CHECK_EVERY = 0.5


class FleetProcess:
    """`python -m boardsync daemon --workspaces DIR`, its log lines (and its workspace
    processes', which share its stdout) collected as they come."""

    def __init__(self, folder: Path, env: dict[str, str]) -> None:
        self.lines: list[dict[str, Any]] = []
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "boardsync", "daemon", "--workspaces", str(folder),
             "--check-every", str(CHECK_EVERY)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                self.lines.append(json.loads(line))
            except ValueError:
                self.lines.append({"event": "text", "text": line})

    def events(self, name: str) -> list[dict[str, Any]]:
        return [e for e in list(self.lines) if e.get("event") == name]

    def tail(self) -> str:
        return "\n".join(json.dumps(line) for line in self.lines[-40:])

    def assert_alive(self) -> None:
        if self.proc.poll() is not None:
            raise AssertionError(f"fleet daemon exited {self.proc.returncode}:\n{self.tail()}")


def _parent(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


class Fleet:
    def __init__(self, folder: Path, url: str, env: dict[str, str]) -> None:
        self.folder, self.url, self.env = folder, url, env
        self.daemons: list[FleetProcess] = []
        self.names = list(NAMES)
        self._engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))

    def start(self) -> FleetProcess:
        daemon = FleetProcess(self.folder, self.env)
        self.daemons.append(daemon)
        return daemon

    def writers(self) -> dict[str, int]:
        """Workspace → the pid of the fleet daemon whose workspace process holds its lock."""
        found: dict[str, int] = {}
        with self._engine.connect() as connection:
            for name in self.names:
                try:
                    pid = connection.execute(sa.text(
                        f"SELECT w.pid FROM ws_{name}.writer_lock w JOIN pg_locks l ON l.pid = w.session "
                        "WHERE l.locktype = 'advisory' AND l.granted")).scalar()
                except sa.exc.ProgrammingError:  # not created yet
                    connection.rollback()
                    continue
                parent = _parent(pid) if pid is not None else None
                if parent is not None:
                    found[name] = parent
        return found

    def shares(self) -> Counter[int]:
        return Counter(self.writers().values())

    def wait_shares(self, what: str, live: list[FleetProcess], each: list[int], timeout: float = 90.0) -> None:
        pids = {d.proc.pid for d in live}
        seen: list[dict[str, int]] = [{}]

        def balanced() -> bool:
            for daemon in live:
                daemon.assert_alive()
            seen[0] = writers = self.writers()
            counts = Counter(writers.values())
            return (len(writers) == len(self.names) and set(counts) <= pids
                    and sorted(counts.values()) == sorted(each))
        try:
            wait_for(what, balanced, timeout=timeout)
        except AssertionError:
            logs = "\n".join(d.tail() for d in live)
            raise AssertionError(f"{what}: last seen writers {seen[0]} of daemons {sorted(pids)}\n{logs}") from None

    def close(self) -> None:
        for daemon in self.daemons:
            if daemon.proc.poll() is None:
                daemon.proc.kill()
                daemon.proc.wait()
        self._engine.dispose()


@pytest.fixture
def boards() -> Iterator[dict[str, Sandbox]]:
    """Boards of its own for every workspace: one sandbox each."""
    started = {name: Sandbox().start() for name in (*NAMES, LATER)}
    yield started
    for sandbox in started.values():
        sandbox.stop()


def _write_workspaces(folder: Path, url: str, boards: dict[str, Sandbox]) -> None:
    folder.mkdir(exist_ok=True)
    for name, sandbox in boards.items():
        shutil.copytree(EXAMPLES / "postings", folder / name)
        (folder / f"{name}.yaml").write_text(
            "version: 1\n"
            f"state: {url}\n"
            f"postings: {name}/\n"
            f"{sandbox.providers_yaml()}"
            "schedule: {reconcile: 1s, metrics: 1h}\n"
            "daemon: {lease: 3s}\n"
        )


def _no_two_writers_at_once(sandbox: Sandbox) -> set[str]:
    """The boardsync processes in the boards' access logs; fails when two wrote in one interval."""
    spans: dict[str, list[float]] = {}
    for sim in (sandbox.sorce, sandbox.hirempire, sandbox.recruitifi):
        for request in sim.request_log():
            assert request.agent.startswith("boardsync/"), request
            span = spans.setdefault(request.agent, [request.at, request.at])
            span[0], span[1] = min(span[0], request.at), max(span[1], request.at)
    ordered = sorted(spans.items(), key=lambda item: item[1][0])
    for (before, (_, ended)), (after, (began, _)) in zip(ordered, ordered[1:]):
        assert ended < began, f"{before} and {after} wrote the same boards at once"
    return set(spans)


@pytest.mark.timeout(400)
def test_daemons_share_workspaces_take_over_a_dead_ones_and_rebalance_when_one_joins(
    tmp_path: Path, boards: dict[str, Sandbox], pg_server: PgServer
) -> None:
    url = pg_server.create_database()
    folder = tmp_path / "workspaces"
    _write_workspaces(folder, url, {name: boards[name] for name in NAMES})
    any_board = next(iter(boards.values()))
    env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC")}
    env |= any_board.credentials()  # the sandboxes share their fixed keys
    fleet = Fleet(folder, url, env)
    try:
        first = [fleet.start() for _ in range(3)]
        fleet.wait_shares("three daemons serving two workspaces each", first, [2, 2, 2])

        doomed, *rest = first
        doomed.proc.send_signal(signal.SIGKILL)
        doomed.proc.wait()
        fleet.wait_shares("the dead daemon's workspaces taken over", rest, [3, 3])

        fourth = fleet.start()
        fleet.wait_shares("the shares rebalanced for a fourth daemon", [*rest, fourth], [2, 2, 2])

        listed = subprocess.run(
            [sys.executable, "-m", "boardsync", "workspaces", "--json", "-c", str(folder / "acme.yaml")],
            capture_output=True, text=True, env=env, timeout=60, check=True)
        rows = {row["workspace"]: row for row in json.loads(listed.stdout)}
        assert {name for name in NAMES if rows[name]["writer"]} == set(NAMES)  # each written by its process
        assert {_parent(rows[name]["writer"]["pid"]) for name in NAMES} == {d.proc.pid for d in [*rest, fourth]}

        _write_workspaces(folder, url, {LATER: boards[LATER]})
        fleet.names.append(LATER)
        for daemon in [*rest, fourth]:
            daemon.proc.send_signal(signal.SIGHUP)  # `systemctl reload`: read the folder again
        fleet.wait_shares("a workspace added to the folder taken up", [*rest, fourth], [3, 2, 2])

        def jobs_and_expected() -> Iterator[tuple[str, str, int, int]]:
            for name, sandbox in boards.items():
                desired = config.load(folder / f"{name}.yaml", env=env)
                for board, jobs in (("sorce", sorce_jobs(sandbox)), ("hirempire", hirempire_jobs(sandbox))):
                    expected = sum(1 for p in desired.postings
                                   if board in p.boards.names() and p.status.value != "closed")
                    yield name, board, len(jobs), expected

        wait_for("every workspace synced", lambda: all(n == e for _, _, n, e in jobs_and_expected()), timeout=60)
        for daemon in [*rest, fourth]:
            daemon.proc.send_signal(signal.SIGTERM)
        for daemon in [*rest, fourth]:
            assert daemon.proc.wait(60) == 0, daemon.tail()
        assert fleet.writers() == {}  # every lock given back
        # Each workspace process's log lines say which workspace they are about.
        runs = [e for d in fleet.daemons for e in d.events("run_finished")]
        assert {e.get("workspace") for e in runs} == {*NAMES, LATER}

        writers_seen = [_no_two_writers_at_once(sandbox) for sandbox in boards.values()]
        assert max(len(seen) for seen in writers_seen) >= 2  # some workspace did change hands
        for name, board, jobs, expected in jobs_and_expected():  # exactly one job per posting and board
            assert jobs == expected, (name, board)
    finally:
        fleet.close()
