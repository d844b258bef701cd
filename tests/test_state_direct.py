"""The state read through its driver alone (`boardsync.state.direct`), as `status` reads it:
the same rows as the `Store`, and only from a database at this boardsync's revision."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from boardsync.errors import StateError
from boardsync.state import Binding, BoardState, Drift, Intent, IntentState, Run, Store, open_store
from boardsync.state.direct import open_direct
from boardsync.state.status import BoardWait, SourceCommits, StatusReads, StatusRow
from tests.reconcile_helpers import Workspace
from tests.schema_helpers import step_back

T0 = datetime(2026, 3, 1, 12, 0, 30, 250_000, tzinfo=UTC)
NOW = T0 + timedelta(hours=1)
EXPECTED = [("a", "sorce"), ("c", "hirempire"), ("d", "sorce"), ("e", "sorce")]
NEVER_POSTED = [("d", "sorce")]


def _fill(store: Store) -> None:
    """A state with something in every column `status` reads."""
    with store.write() as session:
        session.add(Binding(posting_key="a", provider="sorce", remote_id="j1", observed_status="active",
                            applied_status="active", synced_at=T0, in_sync=True))
        session.add(Binding(posting_key="a", provider="hirempire", remote_id="h1", observed_status="active",
                            applied_status="paused", synced_at=T0 + timedelta(hours=2), in_sync=True))
        session.add(Binding(posting_key="b", provider="sorce", blocked_reason="terms not accepted",
                            blocked_gate="terms", blocked_fields={"salary.max": "above the plan's cap"}))
        session.add(Binding(posting_key="b", provider="hirempire", remote_id="h2", attempts=3,
                            quarantine_until=NOW + timedelta(minutes=5), last_error="503 from the board"))
        session.add(Drift(posting_key="a", provider="sorce", field="title", first_seen=T0))
        session.add(Drift(posting_key="a", provider="sorce", field="salary", first_seen=T0))
        session.add(Drift(posting_key="a", provider="sorce", field="old", first_seen=T0, resolved_at=T0))
        session.add(Intent(posting_key="c", provider="hirempire", action="create", state=IntentState.IN_FLIGHT))
        session.add(Intent(posting_key="e", provider="sorce", action="create", state=IntentState.SUCCEEDED))
        session.add(BoardState(provider="sorce", wait_until=NOW + timedelta(minutes=30), wait_reason="429",
                               compared_at=T0 + timedelta(minutes=10)))
        session.add(BoardState(provider="hirempire", wait_until=NOW - timedelta(minutes=1), wait_reason="over",
                               compared_at=T0 + timedelta(minutes=10)))
        session.add(Run(kind="reconcile", trigger="command", started_at=T0, finished_at=T0, outcome="converged",
                        counts={"create": 2}, boards={"sorce": "converged"}))
    store.record_source_commit("c0ffee1", "live", trigger="poll", started=T0, finished=T0 + timedelta(seconds=1))
    store.record_source_commit("badbad2", "refused", trigger="poll", started=NOW, finished=NOW,
                               error="postings/a.yaml:3:1: title: required")


def _read(reads: StatusReads) -> tuple[list[StatusRow], list[BoardWait], SourceCommits]:
    return (reads.status_rows(EXPECTED, never_posted=NEVER_POSTED, now=NOW), reads.board_waits(NOW),
            reads.source_commits())


def test_the_driver_reads_what_the_store_reads(state_url: str) -> None:
    """Every status row, board wait and source commit comes out of the driver exactly as out
    of the Store, times aware and JSON decoded, on both engines."""
    with open_store(state_url) as store:
        _fill(store)
        through_store = _read(store)
    direct = open_direct(state_url)
    assert direct is not None
    with direct:
        through_driver = _read(direct)
    assert through_driver == through_store
    rows, waits, source = through_driver
    by_pair = {(r.posting, r.provider): r for r in rows}
    assert by_pair["a", "sorce"].open_drift == 2
    assert by_pair["a", "sorce"].last_sync == T0 + timedelta(minutes=10)  # compared in full since
    assert by_pair["b", "sorce"].blocked_fields == {"salary.max": "above the plan's cap"}
    assert by_pair["b", "hirempire"].health == "backing_off"
    assert by_pair["c", "hirempire"].health == "pending"
    assert [w.provider for w in waits] == ["sorce"]
    assert source.live is not None and source.live.config_commit == "c0ffee1"
    assert source.refused is not None and source.refused.started_at == NOW


def test_a_workspace_is_read_in_its_own_schema(pg_url: str) -> None:
    """A PostgreSQL URL naming a workspace is read in that workspace's schema only."""
    acme = f"{pg_url}?workspace=acme"
    with open_store(pg_url) as store:
        _fill(store)
    with open_store(acme) as store, store.write() as session:
        session.add(Binding(posting_key="acme-only", provider="sorce", remote_id="j9", observed_status="active"))
    direct = open_direct(acme)
    assert direct is not None
    with direct:
        assert [r.posting for r in direct.status_rows()] == ["acme-only"]


def test_a_database_at_another_revision_is_left_to_the_ordinary_path(state_url: str) -> None:
    """One revision back (or from a later boardsync), the driver does not read it: `open_store`
    refuses it as it always did."""
    with open_store(state_url):
        pass
    step_back(state_url)
    assert open_direct(state_url) is None


def test_a_missing_or_empty_database_is_left_to_the_ordinary_path(tmp_path: Path, pg_url: str) -> None:
    """No file, an empty file, an empty PostgreSQL database: nothing is read or created here."""
    missing = tmp_path / "missing.db"
    assert open_direct(f"sqlite:///{missing}") is None
    assert not missing.exists()
    empty = tmp_path / "empty.db"
    empty.touch()
    assert open_direct(f"sqlite:///{empty}") is None
    assert empty.stat().st_size == 0
    assert open_direct(pg_url) is None


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:", "mysql://db/state",
                                 "postgresql://127.0.0.1:1/x?workspace=Not-A-Name"])
def test_urls_the_driver_does_not_take_are_left_to_the_ordinary_path(url: str) -> None:
    assert open_direct(url) is None


@pytest.mark.both_engines
def test_status_refuses_a_database_one_revision_back_as_every_command_does(ws: Workspace) -> None:
    """`status` of a database one revision back fails with exit 1 and the very message
    `open_store` gives, on both engines, and leaves the database as it was."""
    assert ws.run("migrate").code == 0
    url = ws.desired().state_url
    step_back(url)
    with pytest.raises(StateError) as refused:
        open_store(url, create=False)
    ran = ws.run("status")
    assert ran.code == 1
    assert ran.err == f"boardsync status: {refused.value}\n"
    assert open_direct(url) is None  # still one revision back


def test_reading_a_sqlite_file_leaves_no_wal_files_behind(tmp_path: Path) -> None:
    """Closing the reading connection removes the WAL files as a closed engine does, so a
    `status` leaves the folder as it found it."""
    path = tmp_path / "state.db"
    with open_store(f"sqlite:///{path}") as store:
        _fill(store)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.db"]
    direct = open_direct(f"sqlite:///{path}")
    assert direct is not None
    with direct:
        assert direct.status_rows()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.db"]
