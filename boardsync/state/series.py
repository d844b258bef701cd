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

import sqlalchemy as sa

from boardsync.state.db import IN_LIST
from boardsync.state.store import Store, last_sample_before
from boardsync.state.tables import CounterLatest, CounterSample, VisitSample


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
    """The period's samples and each series' baseline, found series by series from its
    counter's `CounterLatest` through the index of the series (a seek for the baseline, a range
    for the period), read as plain rows: never a search of every sample the history holds, nor
    an object made of each."""
    latest = CounterLatest.__table__  # type: ignore[attr-defined]
    samples = table.__table__  # type: ignore[attr-defined]
    chosen = [latest.c.counter == column]
    if postings is not None and len(postings) <= IN_LIST:  # more are picked out of the rows read
        chosen.append(latest.c.posting_key.in_(sorted(postings)))
    baseline = last_sample_before(table, "id", since)
    fields = (samples.c.posting_key, samples.c.provider, samples.c.channel, samples.c.observed_at, samples.c[column])
    baselines = sa.select(*fields).select_from(latest.join(samples, samples.c.id == baseline)).where(*chosen)
    series = sa.select(latest.c.posting_key, latest.c.provider, latest.c.channel).where(*chosen)
    period = sa.select(*fields).where(
        sa.tuple_(samples.c.posting_key, samples.c.provider, samples.c.channel).in_(series),
        samples.c.observed_at > since,
    )
    with store.session() as session:
        # Every baseline is older than every sample of the period, and rows go in in time order.
        rows = [*session.execute(baselines.order_by(samples.c.id)), *session.execute(period.order_by(samples.c.id))]
    return [
        Sample(key, provider, channel, at, value) for key, provider, channel, at, value in rows
        if at is not None and (postings is None or key in postings)
    ]
