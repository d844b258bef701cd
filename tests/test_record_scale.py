"""The state's reads and writes hold at any number of postings and any length of history:
nothing sends one bound parameter per posting, run or event, which SQLite refuses past 32,766
and PostgreSQL's protocol past 65,535; nothing a run does reads the whole history."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa
from sqlmodel import select

from boardsync.config.model import Status
from boardsync.connectors.base import Remote
from boardsync.reconcile import record
from boardsync.reconcile.model import Plan, Renamed
from boardsync.state import BoardCall, Binding, Run, SignedLink, VisitSample, open_store
from boardsync.state import history, outbox
from boardsync.state.tables import OutboxDelivery, OutboxEvent

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
MANY = 40_000
"""More postings than SQLite takes bound parameters in one statement."""
SQLITE_DEFAULT_VARIABLES = 32_766
MANY_PG = 70_000
"""More postings than one PostgreSQL statement takes bound parameters (65,535)."""


@dataclass(frozen=True)
class _Posting:
    """What forgetting links reads of a posting: its key, boards and status."""

    key: str
    status: Status = Status.ACTIVE

    @property
    def boards(self) -> SimpleNamespace:
        return SimpleNamespace(names=lambda: ["recruitifi"])


def test_links_of_postings_gone_or_closed_are_forgotten_among_many_postings(state_url: str) -> None:
    """With more postings on the board than the engine takes bound parameters in one statement
    (40,000 on SQLite, 70,000 on PostgreSQL), the signed link and binding of a posting removed
    from the source and of a closed one go; the others stay."""
    sqlite = state_url.startswith("sqlite")
    many = MANY if sqlite else MANY_PG
    postings = [_Posting(f"p{i:05d}") for i in range(many)] + [_Posting("closed", Status.CLOSED)]
    kept, removed = "p00007", "removed"
    board = SimpleNamespace(connector=SimpleNamespace(SUPPORTS_LINKS=True))
    seen = record._Seen(Plan(), postings, NOW, None)  # type: ignore[arg-type]
    with open_store(state_url) as store:
        with store.write() as session:
            for key in (kept, removed, "closed"):
                session.add(SignedLink(posting_key=key, provider="recruitifi", url=f"https://x/{key}",
                                       expires_at=NOW + timedelta(minutes=10)))
                session.add(Binding(posting_key=key, provider="recruitifi", remote_id=key))
        with store.write() as session:
            if sqlite:
                # SQLite's own default, which builds such as Debian's raise: as a stock build refuses.
                raw = session.connection().connection.driver_connection
                raw.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, SQLITE_DEFAULT_VARIABLES)
            record._forget_links(session, {"recruitifi": board}, seen)  # type: ignore[dict-item]
        with store.session() as session:
            assert sorted(session.exec(select(SignedLink.posting_key)).all()) == [kept]
            assert sorted(session.exec(select(Binding.posting_key)).all()) == [kept]


def test_a_boards_counters_are_compared_a_row_each_however_long_their_history(tmp_path: Path) -> None:
    """Each run compares every counter a board shows with its latest value. The database's
    work for it is a row per counter: the same after three hundred samples of each counter
    as after one (the newest sample of each had been looked for among all of them)."""
    counters = {(f"p{i:02d}", channel): 0 for i in range(20) for channel in ("linkedin", "careers")}
    with open_store(f"sqlite:///{tmp_path / 'state.db'}") as store:
        with store.write() as session:
            record.record_counters(session, "hirempire", visits=counters, applicants={}, now=NOW)
        first = _steps_to_compare(store, counters)
        for day in range(1, 300):
            counters = {counter: day for counter in counters}
            with store.write() as session:
                written = record.record_counters(session, "hirempire", visits=counters, applicants={},
                                                 now=NOW + timedelta(days=day))
            assert written == 40
        with store.session() as session:
            assert len(session.exec(select(VisitSample)).all()) == 300 * 40
        assert _steps_to_compare(store, counters) == first


def _steps_to_compare(store: Any, counters: dict[tuple[str, str], int]) -> int:
    """The SQLite virtual machine's steps (in tens) that finding which of `counters` changed
    takes; none of them has."""
    steps = 0

    def count() -> int:
        nonlocal steps
        steps += 1
        return 0  # go on

    with store.session() as session:
        raw = session.connection().connection.driver_connection
        raw.set_progress_handler(count, 10)
        try:
            changed, _ = record._changed(session, "visits", "hirempire", counters)
        finally:
            raw.set_progress_handler(None, 0)
    assert changed == {}
    return steps


def test_a_counters_latest_value_is_the_last_written_and_moves_with_a_rename(tmp_path: Path) -> None:
    """A counter's value is compared with the last one written for it, on its board: an older
    value again is a change, another board's counter of the same name is not this one; and a
    renamed posting's counters are compared under its new key with the old key's values."""
    with open_store(f"sqlite:///{tmp_path / 'state.db'}") as store:
        with store.write() as session:
            for day, visits in enumerate((1, 4, 9)):
                record.record_counters(session, "hirempire", visits={("a", "linkedin"): visits},
                                       applicants={("a", ""): day}, now=NOW + timedelta(days=day))
            record.record_counters(session, "sorce", visits={("a", "linkedin"): 50}, applicants={}, now=NOW)
            record.record_counters(session, "hirempire", visits={("b", "linkedin"): 7}, applicants={}, now=NOW)
        with store.session() as session:
            counters = {("a", "linkedin"): 9, ("a", "careers"): 2, ("c", "linkedin"): 4}
            assert record._changed(session, "visits", "hirempire", counters) == (
                {("a", "careers"): 2, ("c", "linkedin"): 4}, set(),
            )
            moved = {("a", "linkedin"): 4}  # an older sample's value is a change from the latest
            assert record._changed(session, "visits", "hirempire", moved) == (moved, {("a", "linkedin")})
            assert record._changed(session, "applicants", "hirempire", {("a", ""): 2}) == ({}, set())
        record.renamed(store, 1, [Renamed("a", "b", ("hirempire", "sorce"))], NOW)
        with store.session() as session:
            assert record._changed(session, "visits", "hirempire", {("b", "linkedin"): 9}) == ({}, set())
            assert record._changed(session, "visits", "sorce", {("b", "linkedin"): 50}) == ({}, set())
            assert record._changed(session, "visits", "hirempire", {("a", "linkedin"): 9}) == (
                {("a", "linkedin"): 9}, set(),
            )


def test_history_counts_the_calls_of_more_runs_than_a_statement_takes_parameters(state_url: str) -> None:
    """`boardsync history --since 365d` of a daemon that runs every few minutes lists more runs
    than one statement takes bound parameters (40,000 on SQLite, with SQLite's stock limit;
    70,000 on PostgreSQL): every run is listed, each with its own calls counted."""
    sqlite = state_url.startswith("sqlite")
    many = MANY if sqlite else MANY_PG
    with open_store(state_url) as store:
        with store.engine.begin() as connection:
            connection.execute(sa.insert(Run.__table__), [  # type: ignore[attr-defined]
                {"kind": "reconcile", "trigger": "schedule", "started_at": NOW + timedelta(minutes=5 * i)}
                for i in range(many)
            ])
            first, last = connection.execute(sa.select(sa.func.min(Run.id), sa.func.max(Run.id))).one()
            connection.execute(sa.insert(BoardCall.__table__), [  # type: ignore[attr-defined]
                {"run_id": first, "seq": 1, "provider": "sorce", "method": "GET", "path": "/jobs", "status": 200},
                {"run_id": first, "seq": 2, "provider": "sorce", "method": "GET", "path": "/jobs", "status": 200},
                {"run_id": last, "seq": 1, "provider": "hirempire", "method": "GET", "path": "/jobs", "status": 200},
            ])
        if sqlite:
            _stock_limit(store)
        found = history.runs_since(store, NOW)
    assert len(found) == many
    assert (found[0].run.id, found[0].calls) == (last, {"hirempire": 1})
    assert (found[-1].run.id, found[-1].calls) == (first, {"sorce": 2})
    assert all(not r.calls for r in found[1:-1])


def test_the_outbox_drops_more_settled_events_than_a_statement_takes_parameters(state_url: str) -> None:
    """At tens of thousands of postings tens of thousands of events settle together (a job's
    expiry is told once per job): dropping those settled before the cut drops them all, with
    their deliveries, and keeps an event settled since and one not settled yet."""
    sqlite = state_url.startswith("sqlite")
    many = MANY if sqlite else MANY_PG
    cut = NOW + timedelta(days=7)
    with open_store(state_url) as store:
        with store.engine.begin() as connection:
            events = OutboxEvent.__table__  # type: ignore[attr-defined]
            connection.execute(sa.insert(events), [
                {"event": "expiring", "title": f"t{i}", "body": "b", "created_at": NOW, "settled_at": NOW}
                for i in range(many)
            ] + [{"event": "drift", "title": "kept", "body": "b", "created_at": NOW, "settled_at": cut},
                 {"event": "drift", "title": "open", "body": "b", "created_at": NOW, "settled_at": None}])
            ids = connection.execute(sa.select(events.c.id).order_by(events.c.id)).scalars().all()
            connection.execute(sa.insert(OutboxDelivery.__table__), [  # type: ignore[attr-defined]
                {"outbox_id": ids[0], "target": "t", "attempts": 1},
                {"outbox_id": ids[-1], "target": "t", "attempts": 0},
            ])
        if sqlite:
            _stock_limit(store)
        assert outbox.forget_settled(store, cut) == many
        with store.session() as session:
            assert sorted(session.exec(select(OutboxEvent.title)).all()) == ["kept", "open"]
            assert session.exec(select(OutboxDelivery.outbox_id)).all() == [ids[-1]]


def test_jobs_about_to_expire_are_told_once_with_the_outbox_read_once_a_board(tmp_path: Path) -> None:
    """Each run tells every live job expiring within the days asked of a new date: the outbox,
    which keeps three months of events, is read once for the board (it was searched once a
    job, every run, without an index); each job is told once, a later run tells none again,
    and a job whose expiry moved (a repost) is told again."""
    jobs = 300
    postings = [_Posting(f"p{i:03d}") for i in range(jobs)]
    expires = NOW + timedelta(days=2)
    remotes = {f"job_{i}": Remote(f"job_{i}", "active", {}, expires_at=expires) for i in range(jobs)}
    board = SimpleNamespace(name="sorce", remotes=remotes)
    by_remote = {("sorce", f"job_{i}"): SimpleNamespace(posting_key=f"p{i:03d}") for i in range(jobs)}
    seen = record._Seen(Plan(), postings, NOW, None, expiring_within=timedelta(days=3))  # type: ignore[arg-type]
    reads: list[str] = []
    with open_store(f"sqlite:///{tmp_path / 'state.db'}") as store:
        sa.event.listen(store.engine, "before_cursor_execute",
                        lambda *args: reads.append(args[2]) if args[2].startswith("SELECT") else None)
        for _ in range(2):
            with store.write() as session:
                record._record_expiring(session, board, by_remote, seen)  # type: ignore[arg-type]
        later = replace(remotes["job_7"], expires_at=expires + timedelta(hours=20))  # the next day
        with store.write() as session:
            moved = SimpleNamespace(name="sorce", remotes={"job_7": later})
            record._record_expiring(session, moved, by_remote, seen)  # type: ignore[arg-type]
        assert len([r for r in reads if "FROM outbox" in r]) == 3  # once a board a run
        with store.session() as session:
            told = session.exec(select(OutboxEvent.posting_key)).all()
    assert sorted(told) == sorted([p.key for p in postings] + ["p007"])


def _stock_limit(store: Any) -> None:
    """Every connection of `store` from now on refuses more bound parameters than SQLite's own
    default allows, which builds such as Debian's raise: as a stock build refuses them."""
    store.engine.dispose()
    sa.event.listen(store.engine, "connect", lambda raw, _: raw.setlimit(
        sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, SQLITE_DEFAULT_VARIABLES))


def test_bindings_changed_by_the_thousand_are_written_a_few_hundred_to_a_statement(tmp_path: Path) -> None:
    """A run that changes every binding (the first comparison after a first sync keeps each
    pair's digest) writes them as it goes, `record.CHUNK` to a statement, rather than holding
    the parameters of all of them first; every one is written."""
    n = 2 * record.CHUNK + 200
    with open_store(f"sqlite:///{tmp_path / 'state.db'}") as store:
        with store.write() as session:
            session.execute(sa.insert(record.BINDINGS), [
                {"posting_key": f"p{i}", "provider": "sorce", "remote_id": f"j{i}", "absent_reads": 0, "in_sync": False,
                 "attempts": 0} for i in range(n)
            ])
        batches: list[int] = []

        def counting(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
            if statement.startswith("UPDATE binding"):
                batches.append(len(parameters) if executemany else 1)

        sa.event.listen(store.engine, "before_cursor_execute", counting)
        with store.write() as session:
            rows = record._kept_bindings(session, "sorce")
            for row in rows:
                row.compared_hash = f"digest-{row.posting_key}"
            record._write_kept(session, rows)
        with store.session() as session:
            b = record.BINDINGS.c
            kept = dict(session.execute(sa.select(b.posting_key, b.compared_hash)).all())
    assert batches == [record.CHUNK, record.CHUNK, 200]
    assert kept == {f"p{i}": f"digest-p{i}" for i in range(n)}
