"""Two daemons on one PostgreSQL database: one active, one standing by; the active one killed
mid-run, the standby takes over, settles what the dead one left, and no job is duplicated.

The daemons are real processes on a pair of copies of the example repository (as two hosts
each have their checkout), with the same state URL and each its own listen port.
"""

from __future__ import annotations

import os
import shutil
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from boardsync.sandbox.core import Fault
from boardsync.sandbox.server import Sandbox
from boardsync.state import IntentState
from boardsync.state.store import open_store
from tests.pg_helpers import PgServer, end_lock_sessions
from tests.test_daemon_service import (
    EXAMPLES,
    DaemonProcess,
    NotifySocket,
    Workspace,
    expected_jobs,
    hirempire_jobs,
    sorce_jobs,
    wait_for,
)

pytestmark = pytest.mark.slow

LEASE = 3.0
"""A short lease, so a takeover is quick; the keepalives and the standby's polls follow it."""
TRIALS = int(os.environ.get("BOARDSYNC_FAILOVER_TRIALS", "2"))
"""Kill-and-take-over trials in the loop (20 to run it as the closing check does)."""


class PgWorkspace(Workspace):
    """A copy of the examples whose state is a PostgreSQL database, with a short lease."""

    url: str = ""

    @property
    def state_url(self) -> str:
        return self.url

    def write_config(self, *, reconcile: str = "1s", metrics: str = "1h", token: bool = False) -> None:
        self.config.write_text(
            "version: 1\n"
            f"state: {self.url}\n"
            "postings: postings/\n"
            f"{self.sandbox.providers_yaml()}"
            f"schedule: {{reconcile: {reconcile}, metrics: {metrics}}}\n"
            f"daemon: {{listen: '127.0.0.1:{self.port}', lease: {LEASE:g}s}}\n"
        )


Start = Callable[[str, str], DaemonProcess]


@pytest.fixture
def pair(tmp_path: Path, sandbox: Sandbox) -> Iterator[Start]:
    """`start(name, url)`: a daemon on host `name` (a fresh copy of the examples of its own)
    with its state at `url`; every daemon started is killed at the end."""
    started: list[DaemonProcess] = []
    sockets: list[NotifySocket] = []

    def start(name: str, url: str) -> DaemonProcess:
        root = tmp_path / f"{name}{len(started)}"  # a fresh copy for every daemon
        shutil.copytree(EXAMPLES / "postings", root / "postings")
        ws = PgWorkspace(root, sandbox)
        ws.url = url
        ws.write_config()
        sockets.append(NotifySocket(root / f"notify{len(sockets)}.sock"))
        daemon = DaemonProcess(ws, sockets[-1])
        started.append(daemon)
        return daemon

    yield start
    for daemon in started:
        daemon.finish()
    for sock in sockets:
        sock.close()
    sandbox.clock.reset()


def _standing_by(daemon: DaemonProcess) -> bool:
    daemon.assert_alive()
    return bool(daemon.events("daemon_standby"))


@pytest.mark.timeout(60 + 45 * TRIALS)
def test_standby_takes_over_a_daemon_killed_mid_run_and_no_job_is_duplicated(
    pair: Start, sandbox: Sandbox, pg_server: PgServer
) -> None:
    """In each trial, a fresh database and empty boards: the second daemon stands by and says
    so (/readyz 503 "standby" naming the first, /metrics boardsync_active 0, /healthz 200,
    READY=1, nothing written); the active daemon is killed (-9) while its creates are in
    flight on a slow Sorce; the standby takes over within the lease, settles the intents the
    dead one left (none stays in flight or unknown), and every posting is exactly one job on
    Sorce and on Hirempire."""
    settled: list[str] = []
    for trial in range(TRIALS):
        sandbox.reset()
        settled += _one_failover(pair, sandbox, pg_server.create_database(), answer_lost=trial % 2 == 0)
    assert "adopted" in settled  # a create the board carried out was found there, not sent again
    if TRIALS > 1:
        assert "not_created" in settled  # a create the board never took was sent again, once


def _one_failover(pair: Start, sandbox: Sandbox, url: str, *, answer_lost: bool) -> list[str]:
    """One trial; how the intents the dead daemon left were settled. Once the examples are
    synced and the standby is up, new postings are added (on both hosts) and the active
    daemon, reconciling them, is killed with a Sorce create in flight: carried out by the
    board, its answer still on the way (`answer_lost`), or not yet read by the board."""
    active = pair("a", url)
    active.wait_converged()
    standby = pair("b", url)
    wait_for("the second daemon standing by", lambda: _standing_by(standby))
    _says_it_stands_by(standby, active)
    slow = Fault("trickle", method="POST", path=r".*/jobs$", latency_ms=2, times=None) if answer_lost \
        else Fault("latency", method="POST", path=r".*/jobs$", latency_ms=1500, times=None)
    sandbox.sorce.faults.add(slow)
    sandbox.hirempire.faults.add(Fault("latency", method="POST", latency_ms=300, times=None))
    create = "POST /api/external/v1/jobs"
    sent, made = sandbox.sorce.request_counts().get(create, 0), len(sorce_jobs(sandbox))
    for host in (standby, active):  # the standby's copy first: it must have them when it takes over
        _add_postings(host.workspace.root / "postings", NEW_POSTINGS)
    if answer_lost:
        wait_for("a job made, its answer on the way", lambda: len(sorce_jobs(sandbox)) > made)
    else:
        wait_for("a create sent", lambda: sandbox.sorce.request_counts().get(create, 0) > sent)
    active.proc.kill()
    active.proc.wait()
    wait_for("the takeover", lambda: standby.events("daemon_taking_over"), timeout=LEASE + 10)
    sandbox.sorce.faults.clear()
    sandbox.hirempire.faults.clear()
    standby.wait_converged(timeout=40)
    assert "boardsync_active 1.0" in standby.http("/metrics").text

    workspace = standby.workspace
    for board, jobs in (("sorce", sorce_jobs(sandbox)), ("hirempire", hirempire_jobs(sandbox))):
        titles = [j.get("title") or j.get("job_title") for j in jobs]
        assert len(titles) == len(set(titles)) == expected_jobs(workspace, board), (board, titles)
    with open_store(workspace.state_url) as store:
        states = store.metrics().intents_by_state
    assert states[IntentState.IN_FLIGHT] == 0 and states[IntentState.UNKNOWN] == 0, states
    outcomes = [e["outcome"] for e in standby.events("intent_settled")]
    assert outcomes, "the create the dead daemon had in flight was not settled by the standby"
    standby.signal(signal.SIGTERM)
    assert standby.wait_exit() == 0
    return outcomes


NEW_POSTINGS = 3


def _says_it_stands_by(standby: DaemonProcess, active: DaemonProcess) -> None:
    readyz = standby.http("/readyz")
    assert readyz.status_code == 503
    assert "standby" in readyz.text and f"pid {active.proc.pid}" in readyz.text
    assert "boardsync_active 0.0" in standby.http("/metrics").text
    assert "boardsync_active 1.0" in active.http("/metrics").text
    assert standby.http("/healthz").status_code == 200
    assert standby.http("/snapshot").status_code == 503
    standby.notify.wait("READY", "1")
    assert standby.events("run_started") == []  # it wrote nothing while standing by


def _add_postings(folder: Path, count: int) -> None:
    """`count` more postings like backend-engineer (live on every board), each its own key
    and title."""
    text = (EXAMPLES / "postings" / "backend-engineer.yaml").read_text()
    assert "key: backend-engineer\n" in text and "title: Senior Backend Engineer (Python)\n" in text
    for i in range(1, count + 1):
        (folder / f"backend-engineer-{i}.yaml").write_text(
            text.replace("key: backend-engineer\n", f"key: backend-engineer-{i}\n")
            .replace("title: Senior Backend Engineer (Python)\n", f"title: Senior Backend Engineer (Python) {i}\n"))


def test_an_active_daemon_whose_lock_session_ends_stops_writing_and_exits_1(pair: Start, pg_url: str) -> None:
    """When the server ends the session holding the lock (as a network cut does), the daemon
    notices within the lease, starts no run after that, and exits 1 for its service manager
    to start it again (as a standby, were another daemon active by then)."""
    daemon = pair("a", pg_url)
    daemon.wait_converged()
    assert end_lock_sessions(pg_url) == [True]
    assert daemon.wait_exit(timeout=LEASE + 15) == 1
    lost = [i for i, e in enumerate(daemon.lines) if e.get("event") == "writer_lock_lost"]
    assert lost, daemon.finish()
    assert not [e for e in daemon.lines[lost[0]:] if e.get("event") == "run_started"]
