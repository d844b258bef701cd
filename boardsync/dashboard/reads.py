"""What `status`, `drift` and `visits` read from the state database, in one place: the
commands, the daemon's ``/api/*`` and the dashboard all call these, so they show the same
rows by construction. Nothing here calls a board or writes to the state.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from boardsync import documents
from boardsync.state.status import BoardWait, SourceCommits, StatusReads, StatusRow

if TYPE_CHECKING:  # `status` reads through `StatusReads` alone, and loads no SQLAlchemy
    from boardsync.config import Desired
    from boardsync.state import DriftRow, Store, VisitRow


@dataclass(frozen=True)
class StatusFacts:
    """What `status` shows: every pair's row, the waits boards asked for, the followed
    branch's commits (None when the postings follow no branch)."""

    rows: list[StatusRow]
    waits: list[BoardWait]
    source: SourceCommits | None


def status_facts(desired: Desired, store: StatusReads, now: datetime) -> StatusFacts:
    expected, never_posted = desired.pairs(now)
    rows = store.status_rows(expected, never_posted=never_posted, now=now)
    source = store.source_commits() if desired.root.source is not None else None
    return StatusFacts(rows, store.board_waits(now), source)


def drift_rows(store: Store, *, open_only: bool = False) -> list[DriftRow]:
    return store.drift_rows(open_only=open_only)


def visit_rows(store: Store, since: datetime) -> list[VisitRow]:
    return store.visit_rows(since=since)


def status_document(desired: Desired, store: StatusReads, now: datetime) -> str:
    """`status --json`."""
    facts = status_facts(desired, store, now)
    return documents.status_json(facts.rows, facts.waits, facts.source)


def drift_document(store: Store, *, open_only: bool = False) -> str:
    """`drift --json` (`drift --open --json` with `open_only`)."""
    return documents.drift_json(drift_rows(store, open_only=open_only))


def visits_document(store: Store, since: datetime) -> str:
    """`visits --json --since …`, the change counted from `since`."""
    return documents.visits_json(visit_rows(store, since))
