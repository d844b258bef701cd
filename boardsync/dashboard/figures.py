"""The dashboard's figures, worked out from values already read: visits by channel and day,
the conversion from visits to applicants, and what each drift cost in visits.

Pure: samples and rows come in, values go out; nothing is read here. The counters are the
ones `visits --json` shows (`Store.visit_rows`), so the sums agree with it by construction.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from boardsync.state import DriftRow, VisitRow
from boardsync.state.history import WHOLE_POSTING
from boardsync.state.series import Sample

BEFORE = timedelta(days=7)
"""How far before a drift opened its posting's visits are counted, at most."""
DAY = timedelta(days=1)
SHORTEST = timedelta(hours=1)
"""A span shorter than this says nothing of visits per day: its rate is not given."""


# ------------------------------------------------------------------------------ by day


@dataclass(frozen=True)
class Daily:
    """A counter's growth per channel and day: `values[channel][i]` is the growth on `days[i]`."""

    days: tuple[date, ...]
    values: dict[str, list[int]]


def daily_growth(samples: Iterable[Sample], since: datetime, now: datetime) -> Daily:
    """How much each channel's counter grew each day from `since` to `now`, summed over the
    postings and boards. A sample at or before `since` is only where its series starts from;
    a series first seen after it starts from zero. The whole posting's count is no channel."""
    days = _days(since.date(), now.date())
    index = {day: i for i, day in enumerate(days)}
    values: dict[str, list[int]] = {}
    last: dict[tuple[str, str, str], int] = {}
    for s in samples:
        series = (s.posting, s.provider, s.channel)
        grown, last[series] = s.value - last.get(series, 0), s.value
        if s.at <= since or s.channel == WHOLE_POSTING or s.at.date() not in index:
            continue
        values.setdefault(s.channel, [0] * len(days))[index[s.at.date()]] += grown
    return Daily(days, dict(sorted(values.items())))


def _days(first: date, last: date) -> tuple[date, ...]:
    return tuple(first + timedelta(days=n) for n in range((last - first).days + 1))


# ------------------------------------------------------------------------------ conversion


@dataclass(frozen=True)
class Conversion:
    """Visits and applicants counted for one channel or one board, as they stand."""

    name: str
    visits: int | None
    """None when nothing counts visits there (a board without tracked URLs)."""
    applicants: int | None

    @property
    def rate(self) -> float | None:
        """Applicants per visit; None when either is not counted or there was no visit."""
        if not self.visits or self.applicants is None:
            return None
        return self.applicants / self.visits


def by_channel(rows: Sequence[VisitRow]) -> list[Conversion]:
    """Each channel's visits and applicants, summed over the postings and boards."""
    channels = sorted({r.channel for r in rows if r.channel != WHOLE_POSTING})
    return [
        Conversion(name, _sum(r.visits for r in rows if r.channel == name),
                   _sum(r.applicants for r in rows if r.channel == name))
        for name in channels
    ]


def by_board(rows: Sequence[VisitRow], boards: Sequence[str]) -> list[Conversion]:
    """Each board's visits (all its channels) and applicants (its own count per posting)."""
    return [
        Conversion(board, _sum(r.visits for r in rows if r.provider == board and r.channel != WHOLE_POSTING),
                   _sum(r.applicants for r in rows if r.provider == board and r.channel == WHOLE_POSTING))
        for board in boards
    ]


def _sum(values: Iterable[int | None]) -> int | None:
    counted = [v for v in values if v is not None]
    return sum(counted) if counted else None


# ------------------------------------------------------------------------------ drift


@dataclass(frozen=True)
class DriftEffect:
    """A drift, and the visits per day to its posting (every board, every channel) in the
    days before it opened and while it lasted."""

    drift: DriftRow
    before: float | None
    during: float | None

    @property
    def drop(self) -> float | None:
        """How many fewer visits a day came while it lasted; None when either is not known."""
        if self.before is None or self.during is None:
            return None
        return self.before - self.during


def drift_effects(rows: Sequence[DriftRow], samples: Sequence[Sample], now: datetime) -> list[DriftEffect]:
    """Each drift with its effect, the largest drop first; those whose effect is not known last."""
    by_posting: dict[str, list[Sample]] = defaultdict(list)
    for s in samples:
        by_posting[s.posting].append(s)
    effects = [_effect(row, by_posting.get(row.posting, []), now) for row in rows if row.first_seen is not None]
    return sorted(effects, key=lambda e: (e.drop is None, -(e.drop or 0.0), e.drift.id))


def _effect(row: DriftRow, samples: Sequence[Sample], now: datetime) -> DriftEffect:
    assert row.first_seen is not None
    opened, ended = row.first_seen, row.resolved_at or now
    if not samples:
        return DriftEffect(row, None, None)
    counted_from = max(opened - BEFORE, min(s.at for s in samples))
    return DriftEffect(row, _rate(samples, counted_from, opened), _rate(samples, opened, ended))


def _rate(samples: Sequence[Sample], start: datetime, end: datetime) -> float | None:
    """Visits per day between `start` and `end`; None for a span too short to tell."""
    if end - start < SHORTEST:
        return None
    return (value_at(samples, end) - value_at(samples, start)) / ((end - start) / DAY)


def value_at(samples: Iterable[Sample], at: datetime) -> int:
    """The counters' sum at `at`: each series' last sample at or before it (samples come
    oldest first)."""
    last: dict[tuple[str, str, str], int] = {}
    for s in samples:
        if s.at <= at:
            last[(s.posting, s.provider, s.channel)] = s.value
    return sum(last.values())
