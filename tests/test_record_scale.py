"""The state's writes hold at any number of postings: nothing sends one bound parameter per
posting, which SQLite refuses past 32,766 and PostgreSQL's protocol past 65,535."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from sqlmodel import select

from boardsync.config.model import Status
from boardsync.reconcile import record
from boardsync.reconcile.model import Plan
from boardsync.state import ApplicantSample, Binding, SignedLink, VisitSample, open_store

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


def test_the_latest_counters_of_a_board_are_found_by_its_index_not_the_whole_history(tmp_path: Path) -> None:
    """Each cycle reads the latest sample of every counter of a board: SQLite answers from
    the index that starts with the board, without reading the table or sorting the history;
    and the values are the newest ones."""
    with open_store(f"sqlite:///{tmp_path / 'state.db'}") as store:
        with store.write() as session:
            for day, visits in enumerate((1, 4, 9)):
                record.record_counters(session, "hirempire", visits={("a", "linkedin"): visits},
                                       applicants={("a", ""): day}, now=NOW + timedelta(days=day))
            record.record_counters(session, "sorce", visits={("a", "linkedin"): 50}, applicants={}, now=NOW)
        with store.session() as session:
            counters = {("a", "linkedin"): 9, ("a", "careers"): 2, ("b", "linkedin"): 4}
            assert record._changed(session, VisitSample, "visits", "hirempire", counters) == {
                ("a", "careers"): 2, ("b", "linkedin"): 4,
            }
            moved = {("a", "linkedin"): 4}  # an older sample's value is a change from the newest
            assert record._changed(session, VisitSample, "visits", "hirempire", moved) == moved
            for table, column, index in ((VisitSample, "visits", "ix_visit_latest"),
                                         (ApplicantSample, "applicants", "ix_applicant_latest")):
                plan = _query_plan(session, record._latest_query(table, column, "hirempire"))
                assert f"COVERING INDEX {index} (provider=?)" in plan, plan
                assert "SCAN" not in plan and "TEMP B-TREE" not in plan, plan


def _query_plan(session: Any, query: Any) -> str:
    compiled = query.compile(dialect=session.get_bind().dialect, compile_kwargs={"literal_binds": True})
    rows = session.connection().exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}").all()
    return "\n".join(str(row[-1]) for row in rows)
