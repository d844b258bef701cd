"""Boards are worked concurrently: one that hangs holds up no other, and the state database
takes the writes of every board's thread.

RecruitiFi "hangs" through a sandbox latency fault longer than the client's whole-request
deadline (kept small here), so each of its calls ends at the deadline; nothing sleeps.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from boardsync.connectors.http import RetryPolicy
from boardsync.reconcile import reconcile
from boardsync.sandbox.core import Fault
from boardsync.sandbox.server import Sandbox
from boardsync.state import Binding, open_store
from tests.reconcile_helpers import Workspace

DEADLINE = 1.5
HANG_MS = 6_000


@pytest.fixture
def ws(tmp_path: Path, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    workspace = Workspace(tmp_path, sandbox, monkeypatch).copy_examples()
    workspace.write_config()
    # One try per call, ended by a short deadline: a hanging call costs DEADLINE seconds.
    monkeypatch.setattr("boardsync.connectors.RetryPolicy",
                        functools.partial(RetryPolicy, sleep=lambda s: None, attempts=1, deadline=DEADLINE))
    return workspace


def _timed(method: Callable[..., Any], finished: list[float]) -> Callable[..., Any]:
    """`method`, noting when each call returned (successfully or not)."""

    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        finally:
            finished.append(time.monotonic())

    return call


@pytest.mark.slow
def test_a_hanging_board_holds_up_no_other(ws: Workspace) -> None:
    """RecruitiFi's link calls hanging: every Sorce and Hirempire change is done before
    RecruitiFi's first call has even reached its deadline, and they converge; RecruitiFi's
    changes end at the deadline (not the hang) and are reported as failed. (Its token call,
    made while the boards are read, answers: a board that hangs while being read holds the
    run up by one deadline at most, as the README says.)"""
    ws.sandbox.recruitifi.faults.add(Fault("latency", method="GET", path=r"/v1/links/job",
                                           latency_ms=HANG_MS, times=None))
    sorce_done: list[float] = []
    recruitifi_done: list[float] = []
    with ws.opened() as (desired, store, connectors):
        connectors["sorce"].create = _timed(connectors["sorce"].create, sorce_done)  # type: ignore[method-assign]
        connectors["sorce"].transition = _timed(connectors["sorce"].transition, sorce_done)  # type: ignore[method-assign]
        connectors["recruitifi"].link = _timed(connectors["recruitifi"].link, recruitifi_done)  # type: ignore[method-assign]
        started = time.monotonic()
        result = reconcile(desired, store, connectors)
        took = time.monotonic() - started
    assert result.boards == {"sorce": "converged", "hirempire": "converged", "recruitifi": "partial"}, result.summary()
    assert len(sorce_done) == 7 and len(recruitifi_done) == 3
    assert max(sorce_done) < min(recruitifi_done), "a Sorce change waited behind RecruitiFi"
    assert min(recruitifi_done) - started >= DEADLINE
    # Three RecruitiFi changes one after another, each ended by its deadline, not by the hang.
    assert took < 3 * HANG_MS / 1000, took
    assert result.counts["failed"] == 3 and len(ws.sorce_jobs()) == 6


@pytest.mark.slow  # a stress test: sixteen hundred transactions
@pytest.mark.parametrize("database", ["state.db", ":memory:"])
def test_writers_on_many_threads_queue_instead_of_failing(tmp_path: Path, database: str) -> None:
    """Eight threads each writing two hundred short transactions to one SQLite state
    database, a file or in memory (one connection for all): none fails ("database is
    locked", "cannot start a transaction within a transaction"), and every row is there."""
    store = open_store(f"sqlite:///{database if database == ':memory:' else tmp_path / database}")
    errors: list[BaseException] = []
    now = datetime.now(UTC)

    def writer(n: int) -> None:
        try:
            for i in range(200):
                with store.write() as session:
                    session.add(Binding(posting_key=f"p{n}-{i}", provider="sorce", updated_at=now))
        except BaseException as exc:  # collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with store.session() as session:
        count = len(session.exec(select(Binding)).all())
    store.close()
    assert errors == [] and count == 1600
