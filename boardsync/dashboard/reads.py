"""What `status`, `drift` and `visits` read from the state database, in one place: the
commands, the daemon's ``/api/*`` and the dashboard all call these, so they show the same
rows by construction. Nothing here calls a board or writes to the state.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from sqlmodel import select

from boardsync import documents
from boardsync.config import Desired
from boardsync.connectors import build_connectors
from boardsync.connectors.base import Connector
from boardsync.errors import BoardsyncError
from boardsync.reconcile import plan, views
from boardsync.reconcile.model import DEFAULT_HORIZON, BoardView, UpcomingItem
from boardsync.state import BoardState, BoardWait, DriftRow, StatusRow, Store, VisitRow
from boardsync.state.store import SourceCommits


@dataclass(frozen=True)
class StatusFacts:
    """What `status` shows: every pair's row, the waits boards asked for, the followed
    branch's commits (None when the postings follow no branch)."""

    rows: list[StatusRow]
    waits: list[BoardWait]
    source: SourceCommits | None


def status_facts(desired: Desired, store: Store, now: datetime) -> StatusFacts:
    expected, never_posted = desired.pairs(now)
    rows = store.status_rows(expected, never_posted=never_posted, now=now)
    source = store.source_commits() if desired.root.source is not None else None
    return StatusFacts(rows, store.board_waits(now), source)


def drift_rows(store: Store, *, open_only: bool = False) -> list[DriftRow]:
    return store.drift_rows(open_only=open_only)


def visit_rows(store: Store, since: datetime) -> list[VisitRow]:
    return store.visit_rows(since=since)


def status_document(desired: Desired, store: Store, now: datetime) -> str:
    """`status --json`."""
    facts = status_facts(desired, store, now)
    return documents.status_json(facts.rows, facts.waits, facts.source)


def drift_document(store: Store, *, open_only: bool = False) -> str:
    """`drift --json` (`drift --open --json` with `open_only`)."""
    return documents.drift_json(drift_rows(store, open_only=open_only))


def visits_document(store: Store, since: datetime) -> str:
    """`visits --json --since …`, the change counted from `since`."""
    return documents.visits_json(visit_rows(store, since))


# ------------------------------------------------------------------------------ upcoming


def upcoming(desired: Desired, store: Store, now: datetime, horizon: timedelta = DEFAULT_HORIZON) -> tuple[UpcomingItem, ...]:
    """What `plan` lists as Upcoming, planned against each board's last recorded read (as
    `plan --snapshot` does) instead of the boards: no request leaves, no secret is needed,
    and nothing is written (a plan writes nothing)."""
    with offline_connectors(desired) as connectors:
        result = plan(desired, store, connectors, recorded=recorded_reads(store), horizon=horizon,
                      clock=lambda: now, trigger="dashboard")
    return result.plan.upcoming if result.plan is not None else ()


def recorded_reads(store: Store) -> dict[str, BoardView]:
    """Each board's last read as the state keeps it; a board never read, or read by a
    boardsync that kept another shape, is left out (the plan then skips it)."""
    with store.session() as session:
        states = session.exec(select(BoardState)).all()
    found = {}
    for state in states:
        if state.observed and state.observed_at is not None:
            with suppress(ValueError):
                found[state.provider] = views.view_from(state.observed, state.observed_at)
    return found


@contextmanager
def offline_connectors(desired: Desired) -> Iterator[dict[str, Connector]]:
    """A connector per board whose client refuses every request: what it knows of its board
    (its capabilities, how it renders) without reaching it."""
    connectors = build_connectors(desired.root.providers, transport=httpx.MockTransport(_no_request))
    try:
        yield connectors
    finally:
        for connector in connectors.values():
            connector.close()


def _no_request(request: httpx.Request) -> httpx.Response:
    raise BoardsyncError(f"{request.method} {request.url.host}{request.url.path}: the dashboard calls no board")
