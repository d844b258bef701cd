"""What the dashboard plans without the boards: the Upcoming section of `plan`, worked out
from each board's last read as the state database keeps it, by connectors that refuse every
request. Kept apart from `reads` because it loads the whole planner, which `status` does not
need.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import datetime, timedelta

import httpx
from sqlmodel import col, select

from boardsync.config import Desired
from boardsync.connectors import build_connectors
from boardsync.connectors.base import Connector
from boardsync.errors import BoardsyncError
from boardsync.reconcile import plan, views
from boardsync.reconcile.model import DEFAULT_HORIZON, BoardView, UpcomingItem
from boardsync.state import BoardState, KeptView, Store


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
        read = session.exec(select(KeptView.provider, KeptView.observed, BoardState.observed_at).join(
            BoardState, col(BoardState.provider) == KeptView.provider)).all()
    found = {}
    for provider, observed, observed_at in read:
        if observed and observed_at is not None:
            with suppress(ValueError):
                found[provider] = views.view_from(observed, observed_at)
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
