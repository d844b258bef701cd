"""The daemon's clockwork: APScheduler's `BackgroundScheduler` with a thread pool and an
in-memory job store, which the daemon fills at start from what the database remembers.

Every job runs with ``coalesce`` (turns missed while the process was busy or asleep run once),
``max_instances=1`` (a run still going when its next turn comes is not started twice; the
skip is reported to `on_skip`) and ``misfire_grace_time=None`` (a late turn still runs).

`Progress` is the proof of life behind the watchdog and ``/healthz``: a heartbeat job bumps it
through the same scheduler and thread pool as the real work, so it stops when the scheduler
thread dies or the pool no longer runs jobs.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.events import EVENT_JOB_MAX_INSTANCES, JobSubmissionEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from boardsync.log import get_logger

log = get_logger(__name__)

# reconcile, metrics, links, the config watch and the heartbeat: each can run at once.
WORKERS = 5
MAX_JITTER = timedelta(seconds=30)


def jitter_for(interval: timedelta) -> float:
    """Up to a tenth of the interval, at most 30 s: daemons started together drift apart."""
    return min(interval / 10, MAX_JITTER).total_seconds()


class Progress:
    """When a scheduled job last ran; healthy while that is recent."""

    def __init__(self, stale_after: float) -> None:
        self.stale_after = stale_after
        self._last = time.monotonic()
        self._lock = threading.Lock()

    def beat(self) -> None:
        with self._lock:
            self._last = time.monotonic()

    def age(self) -> float:
        with self._lock:
            return time.monotonic() - self._last

    def healthy(self) -> bool:
        return self.age() < self.stale_after


class Scheduler:
    """Named jobs on a background thread; each name is one job, added or replaced."""

    def __init__(self, on_skip: Callable[[str], None], workers: int = WORKERS) -> None:
        self._scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(workers)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            timezone=UTC,
        )
        self._on_skip = on_skip
        self._scheduler.add_listener(self._skipped, EVENT_JOB_MAX_INSTANCES)
        # APScheduler logs every run at INFO and every skip at WARNING; we log our own events.
        logging.getLogger("apscheduler").setLevel(logging.ERROR)

    def start(self) -> None:
        self._scheduler.start()

    @property
    def running(self) -> bool:
        return bool(self._scheduler.running)

    def every(self, name: str, func: Callable[[], Any], interval: timedelta, *, first: datetime) -> None:
        """Run `func` every `interval` (with jitter), the first time at `first`."""
        trigger = IntervalTrigger(seconds=interval.total_seconds(), jitter=jitter_for(interval), timezone=UTC)
        self._scheduler.add_job(
            func, trigger, id=name, name=name, replace_existing=True, next_run_time=max(first, _now())
        )

    def once(self, name: str, func: Callable[[], Any], when: datetime | None = None, *,
             max_instances: int = 1) -> None:
        """Run `func` once at `when` (now, or at once when it is past): a date trigger, no
        jitter. With `max_instances` above 1 the name may be booked again while a run of it
        goes (an event's run: one returning, one running, one waiting)."""
        trigger = DateTrigger(run_date=max(when or _now(), _now()), timezone=UTC)
        self._scheduler.add_job(func, trigger, id=name, name=name, replace_existing=True,
                                max_instances=max_instances)
        self._scheduler.wakeup()
    def booked(self, prefix: str = "") -> dict[str, datetime | None]:
        """Each job whose name starts with `prefix` → its next turn (None before `start`)."""
        return {
            job.id: getattr(job, "next_run_time", None)
            for job in self._scheduler.get_jobs() if str(job.id).startswith(prefix)
        }

    def cancel(self, name: str) -> bool:
        """Drop a job that has not run yet; False when there is no such job."""
        try:
            self._scheduler.remove_job(name)
        except JobLookupError:
            return False
        return True

    def move(self, name: str, when: datetime | None = None) -> bool:
        """Move a job's next turn to `when` (default: now); False when there is no such job.

        A job may move its own next turn while it runs: the turn after it is booked when a
        run starts, so moving it then sticks."""
        try:
            self._scheduler.modify_job(name, next_run_time=max(when or _now(), _now()))
        except JobLookupError:
            return False
        self._scheduler.wakeup()
        return True

    def shutdown(self) -> None:
        """Start no more jobs, and wait for the running ones to return."""
        if self._scheduler.running:
            self._scheduler.shutdown(wait=True)

    def _skipped(self, event: JobSubmissionEvent) -> None:
        log.warning("run_skipped", job=event.job_id, reason="the previous run is still going")
        self._on_skip(event.job_id)


def _now() -> datetime:
    return datetime.now(UTC)
