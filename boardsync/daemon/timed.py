"""Runs at the postings' own moments: a reconcile booked at each ``publish_at`` and
``close_at`` still ahead (an APScheduler date trigger), so a posting goes live or closes
within a minute of its moment instead of at the next cycle.

The bookings follow the config: every load books them again, dropping those no posting asks
for any more. Postings that share a moment share one run, narrowed to them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from boardsync.config.model import Posting
from boardsync.daemon.scheduler import Scheduler
from boardsync.log import get_logger
from boardsync.reconcile.upcoming import moments

log = get_logger(__name__)

PREFIX = "at "
"""The scheduler names of timed runs: ``at 2026-03-02T08:00:00+00:00``."""


@dataclass(frozen=True)
class Booking:
    """One timed run: when, which postings, and what brought it (``publish_at``, ``close_at``)."""

    at: datetime
    postings: tuple[str, ...]
    trigger: str

    @property
    def name(self) -> str:
        return f"{PREFIX}{self.at.astimezone(UTC).isoformat()}"


def bookings(postings: Iterable[Posting], now: datetime) -> list[Booking]:
    """The timed runs `postings` ask for after `now`, one per moment."""
    keys: dict[datetime, set[str]] = defaultdict(set)
    kinds: dict[datetime, set[str]] = defaultdict(set)
    for moment in moments(postings, now):
        at = moment.at.astimezone(UTC)
        keys[at].add(moment.posting)
        kinds[at].add(f"{moment.kind}_at")
    return [Booking(at, tuple(sorted(keys[at])), ",".join(sorted(kinds[at]))) for at in sorted(keys)]


class TimedRuns:
    """Keeps one date-triggered job per upcoming moment on `scheduler`; each calls
    `run(postings, trigger)`."""

    def __init__(
        self, scheduler: Scheduler, run: Callable[[tuple[str, ...], str], None],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.scheduler = scheduler
        self.run = run
        self.clock = clock

    def book(self, postings: Iterable[Posting]) -> list[Booking]:
        """Book a run at each moment of `postings` still ahead, in place of the earlier bookings."""
        wanted = {b.name: b for b in bookings(postings, self.clock())}
        for stale in set(self.scheduler.booked(PREFIX)) - set(wanted):
            self.scheduler.cancel(stale)
        for name, booking in wanted.items():
            self.scheduler.once(name, self._runner(booking), booking.at)
        if wanted:
            log.info("timed_runs_booked", runs=len(wanted), next=min(wanted.values(), key=lambda b: b.at).name)
        return list(wanted.values())

    def _runner(self, booking: Booking) -> Callable[[], None]:
        def run() -> None:
            log.info("timed_run_due", at=booking.at.isoformat(), postings=list(booking.postings),
                     trigger=booking.trigger)
            self.run(booking.postings, booking.trigger)
        return run
