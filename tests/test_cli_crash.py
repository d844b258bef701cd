"""A `boardsync reconcile` process killed in the middle of a create.

The process is real and is killed with SIGKILL, so nothing of it runs afterwards: the journal
holds an intent still ``in_flight``. The next run must look the posting up on the board
before anything is sent again, and in the end exactly one job exists for it — whether the
board had created the job (it is adopted) or not (it is created once).
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from boardsync.sandbox.core import Fault
from boardsync.sandbox.server import Sandbox
from tests.reconcile_helpers import Workspace

pytestmark = pytest.mark.slow

DEADLINE = 30.0
POSTING = "warehouse-associate"
TITLE = "Warehouse Associate (Part-time, Evenings)"


def _wait_for(condition: Callable[[], bool], what: str) -> None:
    """Poll another process's progress (not a backoff: nothing is retried here)."""
    deadline = time.monotonic() + DEADLINE
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def _intent_states(db: Path) -> list[str]:
    if not db.exists():
        return []
    connection = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        return [row[0] for row in connection.execute("SELECT state FROM intent ORDER BY id")]
    except sqlite3.OperationalError:
        return []
    finally:
        connection.close()


@contextmanager
def _reconcile_process(ws: Workspace, config: Path) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "boardsync", "reconcile", "-c", str(config), "--provider", "sorce", "--posting", POSTING],
        env={**os.environ, **ws.sandbox.credentials()},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        yield process
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)


def _workspace(tmp_path: Path, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> tuple[Workspace, Path]:
    ws = Workspace(tmp_path, sandbox, monkeypatch).copy_examples()
    return ws, ws.write_config()


def _next_run_converges_with_one_job(ws: Workspace) -> list[str]:
    ran = ws.run("reconcile", "--provider", "sorce", "--posting", POSTING)
    assert ran.code == 0, ran.out + ran.err
    assert [j["title"] for j in ws.sorce_jobs()].count(TITLE) == 1
    states = _intent_states(ws.root / "state.db")
    assert "in_flight" not in states and "unknown" not in states
    return states


def test_killed_before_the_board_created_the_job_is_looked_up_then_created_once(
    tmp_path: Path, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGKILL while the create is held on the wire (the board never acts on it): the next
    run looks the posting up, finds nothing, marks the intent failed and creates it once."""
    ws, config = _workspace(tmp_path, sandbox, monkeypatch)
    sandbox.sorce.faults.add(Fault("latency", method="POST", path=r".*/jobs", latency_ms=1500, times=1))
    with _reconcile_process(ws, config):
        _wait_for(lambda: _intent_states(tmp_path / "state.db") == ["in_flight"], "the create to be in flight")
        _wait_for(lambda: sandbox.sorce.request_counts().get("POST /api/external/v1/jobs", 0) == 1,
                  "the create to reach Sorce")
    assert _intent_states(tmp_path / "state.db") == ["in_flight"]
    assert _next_run_converges_with_one_job(ws) == ["failed", "succeeded"]


def test_killed_after_the_board_created_the_job_is_adopted(
    tmp_path: Path, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGKILL after Sorce created the job but before the process wrote down the answer (it
    is held on the database's write lock): the next run finds the job and adopts it."""
    ws, config = _workspace(tmp_path, sandbox, monkeypatch)
    sandbox.sorce.faults.add(Fault("latency", method="POST", path=r".*/jobs", latency_ms=2000, times=1))
    db = tmp_path / "state.db"
    with _reconcile_process(ws, config):
        _wait_for(lambda: _intent_states(db) == ["in_flight"], "the create to be in flight")
        # Hold the write lock, so the answer cannot be recorded; the board still creates the job.
        # (The latency leaves this test ample time to take the lock before the answer comes.)
        blocker = sqlite3.connect(db, timeout=5, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        _wait_for(lambda: [j["title"] for j in ws.sorce_jobs()] == [TITLE], "Sorce to create the job")
    blocker.execute("ROLLBACK")
    blocker.close()
    assert _intent_states(db) == ["in_flight"]
    assert _next_run_converges_with_one_job(ws) == ["succeeded"]
    with ws.store() as store:
        (row,) = [r for r in store.status_rows() if r.provider == "sorce"]
    assert row.remote_id == ws.sorce_jobs()[0]["id"] and row.state == "active"


def _run_rows(db: Path) -> list[tuple[str | None, str | None, str]]:
    connection = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        return list(connection.execute("SELECT outcome, finished_at, counts FROM run ORDER BY id"))
    finally:
        connection.close()


def test_sigterm_mid_run_finishes_the_call_in_flight_records_it_and_exits_with_an_outcome(
    tmp_path: Path, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGTERM while a Sorce create is on the wire, as the daemon is stopped: the create is
    finished and recorded, nothing more is sent, no intent is left pending or in flight, the
    run has an outcome (partial, the rest skipped) and the exit code says the boards do not
    match yet (2)."""
    ws, config = _workspace(tmp_path, sandbox, monkeypatch)
    sandbox.sorce.faults.add(Fault("latency", method="POST", path=r".*/jobs", latency_ms=1500, times=1))
    db = tmp_path / "state.db"
    process = subprocess.Popen(
        [sys.executable, "-m", "boardsync", "reconcile", "-c", str(config), "--provider", "sorce"],
        env={**os.environ, **ws.sandbox.credentials()}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        _wait_for(lambda: "in_flight" in _intent_states(db), "the create to be in flight")
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=DEADLINE)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 2, err
    assert b"stopped by SIGTERM" in err
    assert len(ws.sorce_jobs()) == 1 and sandbox.sorce.request_counts()["POST /api/external/v1/jobs"] == 1
    states = _intent_states(db)
    assert states.count("succeeded") == 1 and set(states) == {"succeeded", "failed"}, states
    ((outcome, finished, counts),) = _run_rows(db)
    assert outcome == "partial" and finished is not None
    # the other five creates and a pause
    assert out.rstrip().endswith(": 1 create; 6 skipped — not in sync: 6 changes left for the next run".encode()), out
