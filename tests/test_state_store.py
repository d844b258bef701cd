"""The state database: file safety, SQLite settings, schema revisions and the query helpers."""

from __future__ import annotations

import os
import sqlite3
import stat
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import select
from sqlalchemy.exc import IntegrityError

from boardsync.errors import StateError
from boardsync.reconcile import record
from boardsync.state import (
    ApplicantSample,
    AuditEntry,
    Binding,
    BoardCall,
    BoardState,
    Drift,
    Intent,
    KeptView,
    Run,
    VisitSample,
    migrations,
    open_store,
)
from boardsync.state import series
from boardsync.state import history
from boardsync.state.history import runs_since
from boardsync.state.tables import CounterLatest, OutboxDelivery, OutboxEvent, as_read, utc_as_read

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
from tests.schema_helpers import step_back, without_counters_latest, without_views_apart


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A SQLite file, for what is particular to SQLite."""
    return f"sqlite:///{tmp_path / 'state.db'}"


@pytest.fixture
def db_url(state_url: str) -> str:
    """A state database on each engine in turn: SQLite, then PostgreSQL."""
    return state_url


def test_new_database_file_is_private_to_its_owner(tmp_path: Path, sqlite_url: str) -> None:
    """A state database created by boardsync has mode 0600, and so do its WAL files."""
    store = open_store(sqlite_url)
    with store.write() as session:
        session.add(Binding(posting_key="a", provider="sorce"))
    for name in ("state.db", "state.db-wal", "state.db-shm"):
        path = tmp_path / name
        if path.exists():
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, name
    store.close()


def test_sqlite_runs_in_wal_mode_with_full_sync_and_a_busy_timeout(sqlite_url: str) -> None:
    """Every connection gets WAL, synchronous=FULL and a busy timeout."""
    store = open_store(sqlite_url)
    with store.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 1000
    store.close()


def test_write_transaction_takes_the_write_lock_as_it_begins(tmp_path: Path, sqlite_url: str) -> None:
    """Inside `write()`, even after a read only, another writer cannot start (BEGIN IMMEDIATE)."""
    store = open_store(sqlite_url)
    other = sqlite3.connect(tmp_path / "state.db", timeout=0, isolation_level=None)
    with store.write() as session:
        session.exec(sa.select(Binding))  # type: ignore[call-overload]
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute("BEGIN IMMEDIATE")
    other.execute("BEGIN IMMEDIATE")
    other.execute("ROLLBACK")
    other.close()
    store.close()


def test_read_session_does_not_block_a_writer(tmp_path: Path, sqlite_url: str) -> None:
    """A read session holds no write lock, so a writer can proceed meanwhile."""
    store = open_store(sqlite_url)
    other = sqlite3.connect(tmp_path / "state.db", timeout=0, isolation_level=None)
    with store.session() as session:
        session.exec(sa.select(Binding))  # type: ignore[call-overload]
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
    other.close()
    store.close()


def test_write_rolls_back_on_error(db_url: str) -> None:
    """An exception inside `write()` leaves nothing behind."""
    store = open_store(db_url)
    with pytest.raises(RuntimeError), store.write() as session:
        session.add(Binding(posting_key="a", provider="sorce"))
        session.flush()
        raise RuntimeError("boom")
    assert store.status_rows() == []
    store.close()


def test_binding_is_unique_per_posting_and_provider(db_url: str) -> None:
    """Two bindings for the same pair cannot exist."""
    store = open_store(db_url)
    with store.write() as session:
        session.add(Binding(posting_key="a", provider="sorce"))
    with pytest.raises(IntegrityError), store.write() as session:
        session.add(Binding(posting_key="a", provider="sorce"))
    store.close()


def test_only_one_open_drift_row_per_field(db_url: str) -> None:
    """A second open row for the same field is refused; a resolved one may coexist."""
    store = open_store(db_url)
    with store.write() as session:
        session.add(Drift(posting_key="a", provider="sorce", field="title", resolved_at=T0, resolution="corrected"))
        session.add(Drift(posting_key="a", provider="sorce", field="title"))
    with pytest.raises(IntegrityError), store.write() as session:
        session.add(Drift(posting_key="a", provider="sorce", field="title"))
    store.close()


def test_times_come_back_aware_in_utc(db_url: str) -> None:
    """A timestamp written in another zone reads back as the same instant, in UTC."""
    store = open_store(db_url)
    local = T0.astimezone(__import__("datetime").timezone(timedelta(hours=5)))
    with store.write() as session:
        session.add(Binding(posting_key="a", provider="sorce", synced_at=local))
    (row,) = store.status_rows()
    assert row.last_sync == T0 and row.last_sync.tzinfo is UTC
    store.close()


def test_new_database_is_created_at_the_current_revision(db_url: str) -> None:
    """Opening a database that does not exist creates it, stamped with the current revision."""
    store = open_store(db_url)
    assert store.revision == migrations.head()
    assert migrations.standing(store.engine, store.url) == migrations.Standing(migrations.head())
    store.close()


def test_newer_database_is_refused_even_by_migrate(db_url: str) -> None:
    """A database written by a newer boardsync is never opened, not even to migrate it."""
    open_store(db_url).close()
    engine = sa.create_engine(db_url)
    with engine.begin() as connection:
        connection.exec_driver_sql("UPDATE alembic_version SET version_num = '0999'")
    engine.dispose()
    for migrate in (False, True):
        with pytest.raises(StateError, match="revision 0999, which this boardsync does not know"):
            open_store(db_url, migrate=migrate)


def test_older_database_is_refused_with_the_command_to_run(db_url: str) -> None:
    """A database at an older revision is refused, and the message says to run migrate."""
    with open_store(db_url) as store, store.write() as session:
        session.add(Binding(posting_key="kept", provider="sorce"))
    previous = step_back(db_url)
    with pytest.raises(StateError, match=rf"is at revision {previous}, this boardsync needs revision .*: run `boardsync migrate`"):
        open_store(db_url)
    with open_store(db_url, migrate=True) as store:
        assert store.revision == migrations.head()
        assert [r.posting for r in store.status_rows()] == ["kept"]
    with open_store(db_url) as store:  # up to date now: no refusal
        assert store.revision == migrations.head()


def test_a_database_that_is_not_boardsyncs_is_refused(tmp_path: Path) -> None:
    """A SQLite file holding other tables is not taken over."""
    path = tmp_path / "other.db"
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE customers (id INTEGER)")
    connection.close()
    with pytest.raises(StateError, match="not a boardsync state database"):
        open_store(f"sqlite:///{path}", migrate=True)


def test_missing_folder_is_reported_plainly(tmp_path: Path) -> None:
    """A database path whose folder does not exist is a StateError naming the path."""
    with pytest.raises(StateError, match="folder does not exist"):
        open_store(f"sqlite:///{tmp_path / 'nope' / 'state.db'}")


def test_in_memory_database_works_for_tests_and_demos() -> None:
    """sqlite:// (memory) opens, writes and reads back across sessions."""
    with open_store("sqlite://") as store:
        with store.write() as session:
            session.add(Binding(posting_key="a", provider="sorce", observed_status="active"))
        assert [r.state for r in store.status_rows()] == ["active"]


def test_status_rows_merge_bindings_drift_and_unseen_pairs(db_url: str) -> None:
    """status_rows counts open drift per pair and lists expected pairs never synced."""
    with open_store(db_url) as store:
        with store.write() as session:
            session.add(Binding(posting_key="a", provider="sorce", remote_id="j1", observed_status="active",
                                synced_at=T0))
            session.add(Binding(posting_key="b", provider="sorce", blocked_reason="terms not accepted",
                                blocked_gate="terms"))
            session.add(Drift(posting_key="a", provider="sorce", field="title"))
            session.add(Drift(posting_key="a", provider="sorce", field="salary"))
            session.add(Drift(posting_key="a", provider="sorce", field="old", resolved_at=T0))
        rows = store.status_rows(expected=[("a", "sorce"), ("c", "hirempire"), ("d", "sorce")],
                                 never_posted=[("d", "sorce")])
    by_pair = {(r.posting, r.provider): r for r in rows}
    assert [(r.posting, r.provider) for r in rows] == [("a", "sorce"), ("b", "sorce"), ("c", "hirempire"),
                                                        ("d", "sorce")]
    assert by_pair["d", "sorce"].state == "not posted"  # written as closed: nothing to create
    assert by_pair["a", "sorce"].open_drift == 2 and by_pair["a", "sorce"].last_sync == T0
    assert by_pair["b", "sorce"].blocked_reason == "terms not accepted"
    assert by_pair["c", "hirempire"].state == "not synced"


def test_drift_rows_can_be_limited_to_open_ones(db_url: str) -> None:
    """drift_rows(open_only=True) leaves out resolved drift."""
    with open_store(db_url) as store:
        with store.write() as session:
            session.add(Drift(posting_key="a", provider="sorce", field="title", first_seen=T0))
            session.add(Drift(posting_key="a", provider="sorce", field="salary", first_seen=T0,
                              resolved_at=T0, resolution="corrected"))
        assert {d.field for d in store.drift_rows()} == {"title", "salary"}
        assert [d.field for d in store.drift_rows(open_only=True)] == ["title"]


def test_visit_rows_compute_growth_since_a_moment(db_url: str) -> None:
    """Growth is the latest value minus the last sample at or before `since`; a series first
    seen later counts from zero."""
    with open_store(db_url) as store:
        with store.write() as session:  # as runs write them: each sample kept as its counter's latest
            for days, visits in ((0, 10), (5, 14), (9, 30)):
                record.record_counters(session, "hirempire", visits={("a", "linkedin"): visits}, applicants={},
                                       now=T0 + timedelta(days=days))
            record.record_counters(session, "hirempire", visits={("a", "x"): 3}, applicants={},
                                   now=T0 + timedelta(days=8))
            record.record_counters(session, "hirempire", visits={}, applicants={("a", "linkedin"): 2},
                                   now=T0 + timedelta(days=1))
        rows = {r.channel: r for r in store.visit_rows(since=T0 + timedelta(days=6))}
        latest = {r.channel: r for r in store.visit_rows(since=None)}
    assert (rows["linkedin"].visits, rows["linkedin"].visits_change) == (30, 16)
    assert (rows["linkedin"].applicants, rows["linkedin"].applicants_change) == (2, 0)
    assert (rows["x"].visits, rows["x"].visits_change) == (3, 3)
    assert rows["x"].applicants is None
    assert {channel: (r.visits, r.visits_change, r.applicants) for channel, r in latest.items()} == {
        "linkedin": (30, None, 2), "x": (3, None, None),
    }


def test_visit_rows_read_a_row_a_counter_however_long_the_history(db_url: str) -> None:
    """The daemon's metrics ask for the latest counts at every scrape, and `visits` and the
    dashboard for their growth: the counts come from each counter's latest value, without a
    look at the samples, and the value a counter grew from is found through the index of its
    series, never by reading every sample (which took seconds at a year of samples)."""
    with open_store(db_url) as store:
        with store.write() as session:
            for day in range(5):
                record.record_counters(session, "hirempire", visits={("a", "linkedin"): day, ("b", "web"): 2 * day},
                                       applicants={("a", ""): day}, now=T0 + timedelta(days=day))
        statements: list[str] = []
        sa.event.listen(store.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
        latest = store.visit_rows(since=None)
        assert not [s for s in statements if "_sample" in s]
        assert [(r.posting, r.channel, r.visits, r.applicants) for r in latest] == [
            ("a", "", None, 4), ("a", "linkedin", 4, None), ("b", "web", 8, None),
        ]
        grown = {(r.posting, r.channel): (r.visits_change, r.applicants_change)
                 for r in store.visit_rows(since=T0 + timedelta(days=2, hours=1))}
        assert grown == {("a", ""): (None, 2), ("a", "linkedin"): (2, None), ("b", "web"): (4, None)}
        if not db_url.startswith("sqlite"):
            return  # the plans below are SQLite's
        plan = "\n".join(row[-1] for statement in statements[-2:] for row in
                         store.engine.connect().exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}",
                                                                (T0 + timedelta(days=2),) * statement.count("?")))
    assert "USING INDEX ix_visit_series" in plan or "USING COVERING INDEX ix_visit_series" in plan, plan
    assert "SCAN visit_sample" not in plan and "SCAN applicant_sample" not in plan, plan


def test_visit_samples_are_the_periods_with_each_series_baseline_found_by_its_index(
    db_url: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The dashboard's chart reads a period's samples and, for each series, its last sample
    before the period: oldest first, of the postings asked for (many as well as few), each
    found through the index of its series, never by reading every sample of the history."""
    with open_store(db_url) as store:
        with store.write() as session:  # in time order, as runs write them
            for day, board, key, visits in ((0, "sorce", "c", 2), (0, "hirempire", "a", 1), (3, "hirempire", "a", 5),
                                            (6, "hirempire", "a", 9), (7, "hirempire", "b", 7),
                                            (8, "hirempire", "a", 12)):
                record.record_counters(session, board, visits={(key, "web"): visits}, applicants={},
                                       now=T0 + timedelta(days=day))
        since = T0 + timedelta(days=4)
        statements: list[str] = []
        sa.event.listen(store.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
        found = [(x.posting, x.provider, (x.at - T0).days, x.value) for x in series.visit_samples(store, since)]
        assert found == [("c", "sorce", 0, 2), ("a", "hirempire", 3, 5), ("a", "hirempire", 6, 9),
                         ("b", "hirempire", 7, 7), ("a", "hirempire", 8, 12)]
        selects = [statement for statement in statements if statement.startswith("SELECT")]
        assert len(selects) == 2  # the baselines, then the period
        if db_url.startswith("sqlite"):  # SQLite's plans
            plans = "\n".join(row[-1] for statement in selects for row in store.engine.connect().exec_driver_sql(
                f"EXPLAIN QUERY PLAN {statement}", (since,) * statement.count("?")))
            assert "SCAN visit_sample" not in plans and "SCAN earlier" not in plans, plans
        assert [x.posting for x in series.visit_samples(store, since, {"b", "c"})] == ["c", "b"]
        monkeypatch.setattr(series, "IN_LIST", 1)  # more postings than the query names: picked from the rows
        assert [x.posting for x in series.visit_samples(store, since, {"b", "c"})] == ["c", "b"]


def test_a_postings_story_reads_its_own_audit_rows_through_an_index(sqlite_url: str) -> None:
    """`boardsync log KEY` (and a rename) finds a posting's rows of the audit log, which holds
    every call ever made, through its index by posting, not by reading the whole log."""
    with open_store(sqlite_url) as store:
        with store.write() as session:
            for key in ("a", "b", "a"):
                session.add(AuditEntry(posting_key=key, provider="sorce", action="create", ok=True, at=T0))
        statements: list[str] = []
        sa.event.listen(store.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
        story = history.posting_story(store, "a")
        audits = [statement for statement in statements if "FROM action" in statement]
        with store.engine.connect() as connection:
            plan = "\n".join(row[-1] for statement in audits for row in connection.exec_driver_sql(
                f"EXPLAIN QUERY PLAN {statement}", ("a",) * statement.count("?")))
    assert len([e for e in story.events if e.provider == "sorce"]) == 2
    assert "INDEX ix_action_posting_key (posting_key=?)" in plan and "SCAN action" not in plan, plan


def test_metrics_counts_intents_drift_blocks_and_last_success(db_url: str) -> None:
    """The metrics snapshot reads intents by state, open drift, blocked pairs and, per board,
    the end of the last converged run."""
    with open_store(db_url) as store:
        with store.write() as session:
            session.add(Intent(posting_key="a", provider="sorce", action="create", state="unknown"))
            session.add(Intent(posting_key="b", provider="sorce", action="create", state="succeeded"))
            session.add(Drift(posting_key="a", provider="sorce", field="title"))
            session.add(Binding(posting_key="a", provider="sorce", blocked_reason="terms"))
            session.add(Run(kind="reconcile", trigger="cli", started_at=T0, finished_at=T0,
                            boards={"sorce": "converged", "hirempire": "failed"}))
            session.add(Run(kind="reconcile", trigger="cli", started_at=T0, finished_at=T0 + timedelta(hours=1),
                            boards={"sorce": "partial"}))
        snapshot = store.metrics()
        assert snapshot.intents_by_state["unknown"] == 1 and snapshot.intents_by_state["in_flight"] == 0
        assert snapshot.open_drift == {"sorce": 1}
        assert snapshot.blocked_pairs == {"sorce": 1}
        assert snapshot.last_success == {"sorce": T0}
        assert [r.id for r in store.last_runs()] == [2, 1]


def test_a_database_whose_driver_is_missing_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    """A PostgreSQL URL without its driver is a StateError naming the package, not a traceback,
    and the message hides the password."""
    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if the extra were not installed
    with pytest.raises(StateError) as raised:
        open_store("postgresql+psycopg://boardsync:hunter2@127.0.0.1:5432/boardsync")
    message = str(raised.value)
    assert "'psycopg' is not installed" in message and "boardsync[postgres]" in message
    assert "hunter2" not in message


def test_a_version_1_database_is_upgraded_to_hold_removal_grace_and_board_waits(sqlite_url: str) -> None:
    """A database written by the first release (schema 1) is refused until `migrate`, which
    adds the removal grace columns and the board_state table and keeps every binding."""
    with open_store(sqlite_url) as store, store.write() as session:
        session.add(Binding(posting_key="kept", provider="sorce", remote_id="job_1"))
    engine = sa.create_engine(sqlite_url)
    with engine.begin() as connection:  # take it back to what schema 1 had
        _back_to_schema_4(connection)
        connection.exec_driver_sql("ALTER TABLE binding DROP COLUMN absent_since")
        connection.exec_driver_sql("ALTER TABLE binding DROP COLUMN absent_reads")
        connection.exec_driver_sql("DROP TABLE board_state")
        connection.exec_driver_sql("DROP TABLE board_call")
        connection.exec_driver_sql("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    engine.dispose()
    with pytest.raises(StateError, match=r"run `boardsync migrate`"):
        open_store(sqlite_url)
    with open_store(sqlite_url, migrate=True) as store:
        assert store.revision == migrations.head()
        with store.engine.connect() as connection:
            inspector = sa.inspect(connection)
            columns = {c["name"] for c in inspector.get_columns("binding")}
            assert {"absent_since", "absent_reads"} <= columns
            assert "board_state" in inspector.get_table_names()
        with store.session() as session:
            (row,) = session.exec(select(Binding)).all()
        assert (row.posting_key, row.remote_id, row.absent_reads, row.absent_since) == ("kept", "job_1", 0, None)


def test_a_version_2_database_is_upgraded_to_keep_each_boards_last_read(sqlite_url: str) -> None:
    """A database of schema 2 is refused until `migrate`, which adds board_state's columns for
    a board's last observed state and keeps the wait a board asked for."""
    until = datetime(2031, 1, 1, tzinfo=UTC)
    with open_store(sqlite_url) as store, store.write() as session:
        session.add(BoardState(provider="sorce", wait_until=until, wait_reason="asked"))
    engine = sa.create_engine(sqlite_url)
    with engine.begin() as connection:  # take it back to what schema 2 had
        _back_to_schema_4(connection)
        for column in ("observed_at", "observed", "observed_digest"):
            connection.exec_driver_sql(f"ALTER TABLE board_state DROP COLUMN {column}")
        connection.exec_driver_sql("DROP TABLE board_call")
        connection.exec_driver_sql("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    engine.dispose()
    needs = migrations.head()
    with pytest.raises(StateError, match=rf"schema version 2 \(from before revisions\), this boardsync needs revision {needs}: run `boardsync migrate`"):
        open_store(sqlite_url)
    with open_store(sqlite_url, migrate=True) as store:
        assert store.revision == migrations.head()
        with store.write() as session:
            row = session.get(BoardState, "sorce")
            assert row is not None and (row.wait_until, row.wait_reason, row.observed_at) == (until, "asked", None)
            assert session.get(KeptView, "sorce") is None
            row.observed_at = until
            session.add(KeptView(provider="sorce", observed={"format": 1, "jobs": []}, digest="d"))
        with store.session() as session:
            kept, view = session.get(BoardState, "sorce"), session.get(KeptView, "sorce")
        assert kept is not None and kept.observed_at == until
        assert view is not None and view.observed == {"format": 1, "jobs": []}


def test_a_version_3_database_is_upgraded_to_keep_each_runs_board_calls(sqlite_url: str) -> None:
    """A database of schema 3 is refused until `migrate`, which adds board_call (every request
    a run sent) and keeps the runs; a call can then be written and read back by its run."""
    with open_store(sqlite_url) as store, store.write() as session:
        session.add(Run(id=7, kind="reconcile", trigger="cli", started_at=T0))
    engine = sa.create_engine(sqlite_url)
    with engine.begin() as connection:  # take it back to what schema 3 had
        _back_to_schema_4(connection)
        connection.exec_driver_sql("DROP TABLE board_call")
        connection.exec_driver_sql("UPDATE meta SET value = '3' WHERE key = 'schema_version'")
    engine.dispose()
    with pytest.raises(StateError, match=r"schema version 3 .*run `boardsync migrate`"):
        open_store(sqlite_url)
    with open_store(sqlite_url, migrate=True) as store:
        assert store.revision == migrations.head()
        with store.write() as session:
            session.add(BoardCall(run_id=7, seq=1, provider="sorce", method="GET", path="/jobs", status=200))
        (history,) = runs_since(store, T0)
        assert (history.run.id, history.run.trigger, history.calls) == (7, "cli", {"sorce": 1})


def _without_compared_state(connection: sa.Connection) -> None:
    """Undo what revision 0008 adds: binding.in_sync, board_state.compared_at and the
    counters' latest-sample indexes."""
    connection.exec_driver_sql("DROP INDEX ix_visit_latest")
    connection.exec_driver_sql("DROP INDEX ix_applicant_latest")
    connection.exec_driver_sql("ALTER TABLE binding DROP COLUMN in_sync")
    connection.exec_driver_sql("ALTER TABLE board_state DROP COLUMN compared_at")


def _refused_at(db_url: str, revision: str, *undo: Callable[[sa.Connection], None]) -> None:
    """Take the database at `db_url` back to `revision` (`undo` each later revision's change,
    newest first), and check that every command refuses it until `migrate`."""
    engine = sa.create_engine(db_url)
    with engine.begin() as connection:
        for step in undo:
            step(connection)
        connection.exec_driver_sql(f"UPDATE alembic_version SET version_num = '{revision}'")
    engine.dispose()
    needs = migrations.head()
    with pytest.raises(StateError, match=rf"revision {revision}, this boardsync needs revision {needs}: run `boardsync migrate`"):
        open_store(db_url)


def _without_request_log(connection: sa.Connection) -> None:
    """Undo what revision 0007 adds: each board's kept requests."""
    connection.exec_driver_sql("ALTER TABLE board_state DROP COLUMN request_log")


def test_a_database_at_0006_is_upgraded_to_keep_each_boards_recent_requests(db_url: str) -> None:
    """A database at revision 0006 is refused until `migrate`, which adds
    board_state.request_log and keeps what the row held; the log then keeps one entry per
    process."""
    until = datetime(2031, 1, 1, tzinfo=UTC)
    with open_store(db_url) as store, store.write() as session:
        session.add(BoardState(provider="sorce", wait_until=until, wait_reason="asked"))
    _refused_at(db_url, "0006", without_counters_latest, without_views_apart, _without_compared_state,
                _without_request_log)
    with open_store(db_url, migrate=True) as store:
        assert store.revision == migrations.head()
        entry = {"kept_at": 100.0, "open": False, "lost_at_most": 10, "times": [50.0, 90.0]}
        store.keep_request_log("sorce", "a", entry, since=40.0)
        store.keep_request_log("sorce", "b", {**entry, "times": [95.0]}, since=60.0)
        assert store.request_logs() == {"sorce": {"a": {**entry, "times": [90.0]}, "b": {**entry, "times": [95.0]}}}
        store.keep_request_log("sorce", "b", {**entry, "times": [99.0]}, since=95.0)
        assert store.request_logs() == {"sorce": {"b": {**entry, "times": [99.0]}}}
        with store.session() as session:
            row = session.get(BoardState, "sorce")
            assert row is not None and (row.wait_until, row.wait_reason) == (until, "asked")


def _back_to_schema_4(connection: sa.Connection) -> None:
    """Undo what the revisions after schema 4 add: the notification outbox, the board outage
    columns, and the revision table (a database from before revisions has none)."""
    connection.exec_driver_sql("DROP TABLE alembic_version")
    without_counters_latest(connection)
    without_views_apart(connection)
    _without_compared_state(connection)
    _without_request_log(connection)
    connection.exec_driver_sql("DROP TABLE outbox")
    connection.exec_driver_sql("DROP TABLE outbox_delivery")
    for column in ("down_since", "down_told"):
        connection.exec_driver_sql(f"ALTER TABLE board_state DROP COLUMN {column}")


def test_a_version_4_database_is_upgraded_to_hold_the_notification_outbox(sqlite_url: str) -> None:
    """A database of schema 4 is refused until `migrate`, which adds the outbox, its
    deliveries and each board's outage, and keeps what board_state held."""
    until = datetime(2031, 1, 1, tzinfo=UTC)
    with open_store(sqlite_url) as store, store.write() as session:
        session.add(BoardState(provider="sorce", wait_until=until, wait_reason="asked"))
    engine = sa.create_engine(sqlite_url)
    with engine.begin() as connection:
        _back_to_schema_4(connection)
        connection.exec_driver_sql("UPDATE meta SET value = '4' WHERE key = 'schema_version'")
    engine.dispose()
    with pytest.raises(StateError, match=r"schema version 4 \(from before revisions\), this boardsync needs .*run `boardsync migrate`"):
        open_store(sqlite_url)
    with open_store(sqlite_url, migrate=True) as store:
        assert store.revision == migrations.head()
        with store.write() as session:
            row = session.get(BoardState, "sorce")
            assert row is not None and (row.wait_until, row.down_since, row.down_told) == (until, None, False)
            event = OutboxEvent(event="drift", title="t", body="b", created_at=until)
            session.add(event)
            session.flush()
            assert event.id is not None
            session.add(OutboxDelivery(outbox_id=event.id, target="abc", delivered_at=until))
        with store.session() as session:
            (delivery,) = session.exec(select(OutboxDelivery)).all()
        assert (delivery.target, delivery.attempts, delivery.delivered_at) == ("abc", 0, until)


def test_a_database_at_0007_is_upgraded_to_keep_sync_without_rewriting_bindings(db_url: str) -> None:
    """A database at revision 0007 is refused until `migrate`, which adds binding.in_sync (false:
    the next full run finds what is in sync) and board_state.compared_at (the indexes 0008 adds
    to find each counter's latest sample, 0010 takes away again); bindings and board state are
    kept."""
    with open_store(db_url) as store, store.write() as session:
        session.add(Binding(posting_key="kept", provider="sorce", remote_id="job_1", synced_at=T0))
        session.add(BoardState(provider="sorce", observed_at=T0))
    _refused_at(db_url, "0007", without_counters_latest, without_views_apart, _without_compared_state)
    with open_store(db_url, migrate=True) as store:
        assert store.revision == migrations.head()
        with store.engine.connect() as connection:
            inspector = sa.inspect(connection)
            indexes = {i["name"] for t in ("visit_sample", "applicant_sample") for i in inspector.get_indexes(t)}
            assert indexes == {"ix_visit_series", "ix_applicant_series"}
        with store.session() as session:
            (row,) = session.exec(select(Binding)).all()
            board = session.get(BoardState, "sorce")
        assert (row.remote_id, row.in_sync, row.synced_at) == ("job_1", False, T0)
        assert board is not None and (board.observed_at, board.compared_at) == (T0, None)
        (status,) = store.status_rows()
        assert status.last_sync == T0


def test_a_plain_postgresql_url_is_opened_through_psycopg(pg_url: str) -> None:
    """``postgresql://`` (no driver named) means psycopg 3, the driver of the postgres extra."""
    plain = pg_url.replace("postgresql+psycopg://", "postgresql://")
    with open_store(plain) as store:
        assert store.engine.dialect.driver == "psycopg"
        with store.write() as session:
            session.add(Binding(posting_key="a", provider="sorce"))
        assert [r.posting for r in store.status_rows()] == ["a"]


def test_a_read_only_postgresql_store_cannot_write_even_past_write(pg_url: str) -> None:
    """A plan's store on PostgreSQL opens every transaction read-only: the server itself
    refuses a write, whatever path it takes."""
    open_store(pg_url).close()
    with open_store(pg_url, read_only=True) as store:
        with pytest.raises(StateError, match="read-only"):
            with store.write():
                pass
        with store.engine.connect() as connection:
            with pytest.raises(sa.exc.DBAPIError, match="read-only transaction"):
                connection.exec_driver_sql("INSERT INTO meta (key, value) VALUES ('x', 'y')")


def test_a_database_at_0008_is_upgraded_to_keep_each_boards_view_apart(db_url: str) -> None:
    """A database at revision 0008 keeps each board's last view in its board_state row; it is
    refused until `migrate`, which moves every view, with its digest, into board_view and keeps
    the rest of the row."""
    view = {"format": 1, "jobs": [{"id": "job_1", "status": "live", "spec": {"title": "Designer"}}]}
    with open_store(db_url) as store, store.write() as session:
        session.add(BoardState(provider="sorce", observed_at=T0, wait_reason="asked"))
        session.add(BoardState(provider="hirempire"))  # never read: no view
        session.add(KeptView(provider="sorce", observed=view, digest="d1"))
    _refused_at(db_url, "0008", without_counters_latest, without_views_apart)
    with open_store(db_url, migrate=True) as store:
        assert store.revision == migrations.head()
        with store.engine.connect() as connection:
            columns = {c["name"] for c in sa.inspect(connection).get_columns("board_state")}
        assert not {"observed", "observed_digest"} & columns
        with store.session() as session:
            kept = session.exec(select(KeptView)).all()
            board = session.get(BoardState, "sorce")
        assert [(v.provider, v.observed, v.digest) for v in kept] == [("sorce", view, "d1")]
        assert board is not None and (board.observed_at, board.wait_reason) == (T0, "asked")


def test_a_database_at_0009_is_upgraded_to_keep_each_counters_latest_value(db_url: str) -> None:
    """A database at revision 0009 finds each counter's latest value among all its samples; it
    is refused until `migrate`, which keeps the newest sample of every counter, board and
    channel in counter_latest (the highest id, whatever its time says), and every sample stays."""
    with open_store(db_url) as store, store.write() as session:
        for visits in (3, 8, 5):  # written in this order: the last is the latest, though lower
            session.add(VisitSample(posting_key="eng", provider="hirempire", channel="linkedin", visits=visits,
                                    observed_at=T0))
        session.add(VisitSample(posting_key="eng", provider="hirempire", channel="careers", visits=1, observed_at=T0))
        session.add(VisitSample(posting_key="eng", provider="sorce", channel="linkedin", visits=40, observed_at=T0))
        for applicants in (1, 2):
            session.add(ApplicantSample(posting_key="eng", provider="sorce", channel="", applicants=applicants,
                                        observed_at=T0))
    _refused_at(db_url, "0009", without_counters_latest)
    with open_store(db_url, migrate=True) as store:
        assert store.revision == migrations.head()
        with store.session() as session:
            latest = {(r.provider, r.counter, r.posting_key, r.channel): r.value
                      for r in session.exec(select(CounterLatest)).all()}
            samples = len(session.exec(select(VisitSample)).all()) + len(session.exec(select(ApplicantSample)).all())
        assert latest == {
            ("hirempire", "visits", "eng", "linkedin"): 5, ("hirempire", "visits", "eng", "careers"): 1,
            ("sorce", "visits", "eng", "linkedin"): 40, ("sorce", "applicants", "eng", ""): 2,
        }
        assert samples == 7
        with store.write() as session:  # a run then compares with them: only a change is written
            written = record.record_counters(session, "hirempire", visits={("eng", "linkedin"): 5,
                                             ("eng", "careers"): 2}, applicants={}, now=T0 + timedelta(hours=1))
        assert written == 1


def test_a_runs_small_writes_to_a_board_leave_its_view_unwritten(sqlite_url: str) -> None:
    """A board of thousands of jobs keeps a view of megabytes, and every run writes its board's
    row several times (when it was read, its request log). Each such write is a page or two of
    the database, never the view again."""
    jobs = [{"id": f"job_{i}", "status": "live", "spec": {"description": "A long description. " * 20}}
            for i in range(2_000)]
    path = sqlite_url.removeprefix("sqlite:///")
    with open_store(sqlite_url) as store:
        with store.write() as session:
            session.add(BoardState(provider="sorce", observed_at=T0))
            session.add(KeptView(provider="sorce", observed={"format": 1, "jobs": jobs}, digest="d1"))
        def read_and_logged() -> None:
            with store.write() as session:
                record.board_state(session, "sorce").observed_at = T0 + timedelta(minutes=15)
            store.keep_request_log("sorce", "a", {"kept_at": 1.0, "open": False, "times": [1.0]}, since=0.0)

        written = _wal_frames(path, after=read_and_logged)
        with store.session() as session:
            view = session.get(KeptView, "sorce")
        assert view is not None and len(view.observed["jobs"]) == 2_000
        size = os.path.getsize(path) // 4096
        assert size > 250  # the view fills hundreds of pages ...
        assert written <= 8  # ... of which none is written again


def _wal_frames(path: str, after: Callable[[], None]) -> int:
    """The pages written to the database (its write-ahead log) by `after`, from an empty log."""
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    after()
    with sqlite3.connect(path) as connection:
        _, frames, _ = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    return int(frames)


def test_a_timestamp_read_as_the_driver_hands_it_over_is_the_time_written(db_url: str) -> None:
    """The reads of every binding a run makes skip the timestamps' type processing (`as_read`);
    `utc_as_read` makes what each driver hands over (SQLite's text, PostgreSQL's naive
    datetime) the aware time that was written, to the microsecond, and NULL stays None."""
    written = datetime(2026, 3, 1, 12, 30, 5, 42, tzinfo=UTC)
    whole_second = datetime(2026, 3, 1, 12, 30, 5, tzinfo=UTC)
    b = record.BINDINGS.c
    with open_store(db_url) as store:
        with store.write() as session:
            session.add(Binding(posting_key="a", provider="sorce", synced_at=written, absent_since=None, in_sync=True))
            session.add(Binding(posting_key="b", provider="sorce", synced_at=whole_second, in_sync=False))
        with store.session() as session:
            rows = session.execute(sa.select(b.posting_key, as_read(b.synced_at), as_read(b.absent_since),
                                             as_read(b.in_sync)).order_by(b.posting_key)).all()
    assert [(key, utc_as_read(synced), utc_as_read(absent), bool(flag)) for key, synced, absent, flag in rows] == [
        ("a", written, None, True), ("b", whole_second, None, False),
    ]
    assert utc_as_read(written) == written  # an aware time is the time it is
