"""The visit counters as they moved: each sample of a period, for the dashboard's chart of
visits by day and the visits around a drift.

A counter is cumulative and written only when it changed, so a period's samples alone do not
say where it started: each series also gets its last sample before the period (its baseline),
and a series first seen inside the period starts from zero, as `Store.visit_rows` counts it.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import col, func, select

from boardsync.state.store import Store
from boardsync.state.tables import CounterSample, VisitSample


@dataclass(frozen=True)
class Sample:
    """A cumulative counter of one channel of a posting on a board, at `at`."""

    posting: str
    provider: str
    channel: str
    at: datetime
    value: int


def visit_samples(store: Store, since: datetime, postings: Collection[str] | None = None) -> list[Sample]:
    """The visit samples after `since`, with each series' baseline, oldest first; only those
    of `postings` when given."""
    return _samples(store, VisitSample, "visits", since, postings)


def _samples(
    store: Store, table: type[CounterSample], column: str, since: datetime, postings: Collection[str] | None
) -> list[Sample]:
    keys = (table.posting_key, table.provider, table.channel)
    baselines = select(func.max(table.id)).where(col(table.observed_at) <= since).group_by(*keys)
    query = select(table).where(col(table.id).in_(baselines) | (col(table.observed_at) > since))
    if postings is not None:
        query = query.where(col(table.posting_key).in_(list(postings)))
    with store.session() as session:
        rows = session.exec(query.order_by(col(table.id))).all()
    return [
        Sample(r.posting_key, r.provider, r.channel, r.observed_at, getattr(r, column))
        for r in rows if r.observed_at is not None
    ]
