"""A standby daemon: a second daemon on the same PostgreSQL database waits for the writer lock
instead of refusing to start, and takes over when the active one's lock goes.

    wait       the lock is held: serve the probes (``/readyz`` 503 "standby", ``/healthz`` 200,
               ``/metrics`` with ``boardsync_active 0``), tell systemd READY=1 with a status
               naming the holder, and try the lock again every `poll_interval` of the lease
    take over  the lock is free (the holder stopped, or died and its session ended within the
               lease): the daemon starts as if it had been first, and its first reconcile runs
               at once, settling the creates the dead one left unknown (`reconcile.journal`)
    stop       SIGTERM or SIGINT while waiting: exit 0, having written nothing

Only PostgreSQL waits: a SQLite file lives on one host, where a second daemon is a mistake and
is refused at once, naming the first.
"""

from __future__ import annotations

import queue
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from typing import Any

from prometheus_client import CollectorRegistry, Gauge

from boardsync.connectors.base import BoardEvent
from boardsync.daemon.events import Booked
from boardsync.daemon.http import Check, NotActive
from boardsync.daemon.lock import LockHolder, WriterLock, WriterLockHeld, acquire_with, lock_backend
from boardsync.daemon.metrics import exposition, new_registry
from boardsync.errors import StateError
from boardsync.log import get_logger
from boardsync.state.db import is_postgresql

log = get_logger(__name__)

POLL_MAX = 5.0
"""The longest wait between two tries of the lock, whatever the lease."""


def poll_interval(lease: timedelta) -> float:
    """How often a standby tries the lock: a sixth of the lease, at most `POLL_MAX` seconds.
    The lease is spent on the keepalives that end a dead holder's session (two thirds of it,
    `Keepalive.within`) and this wait."""
    return min(POLL_MAX, max(0.2, lease.total_seconds() / 6))


def active_gauge(registry: CollectorRegistry, active: bool) -> Gauge:
    """``boardsync_active``: 1 while this daemon holds the writer lock and runs, 0 while it
    waits as a standby."""
    gauge = Gauge("boardsync_active", "1 while this daemon holds the writer lock and runs; 0 while it stands by.",
                  registry=registry)
    gauge.set(1 if active else 0)
    return gauge


def can_stand_by(state_url: str) -> bool:
    return is_postgresql(state_url)


class StandbySurface:
    """What the HTTP surface answers while the daemon waits: alive, not ready, nothing served."""

    def __init__(self, database: str, holder: LockHolder) -> None:
        self.database = database
        self.holder = holder
        self.registry = new_registry()
        active_gauge(self.registry, active=False)

    def _why(self) -> str:
        return f"standby: {self.database} is written by {self.holder.describe()}"

    def liveness(self) -> Sequence[Check]:
        return [Check("standby", True, "waiting for the writer lock")]

    def readiness(self) -> Sequence[Check]:
        return [Check("role", False, self._why())]

    def board_health(self) -> dict[str, dict[str, int]]:
        return {}

    def metrics_page(self, accept: str | None) -> tuple[bytes, str]:
        return exposition(self.registry, accept)

    def snapshot(self) -> dict[str, Any]:
        raise NotActive(self._why())

    def fresh_link(self, posting_key: str) -> str:
        raise NotActive(self._why())

    def dashboard_page(self, since: timedelta, since_text: str) -> str:
        raise NotActive(self._why())

    def status_document(self) -> str:
        raise NotActive(self._why())

    def drift_document(self, open_only: bool) -> str:
        raise NotActive(self._why())

    def visits_document(self, since: timedelta) -> str:
        raise NotActive(self._why())

    def webhook_secret(self) -> bytes | None:
        return None

    def fetch_asked(self, trigger: str) -> bool:
        return False

    def events_token(self) -> bytes | None:
        return None

    def event_reader(self, board: str) -> Callable[[Mapping[str, Any]], BoardEvent] | None:
        return None

    def board_event(self, board: str, event: BoardEvent) -> Booked:
        return "ignored"


def wait_for_lock(
    state_url: str,
    lease: timedelta,
    requests: queue.SimpleQueue[tuple[str, str]],
    *,
    on_standby: Callable[[StandbySurface], None],
    on_leave: Callable[[], None],
) -> WriterLock | None:
    """The writer lock of `state_url`, taken at once or after standing by; None when a stop
    was asked (on `requests`) while waiting. `on_standby` is called once the lock is found
    held (to serve `StandbySurface` and tell systemd), `on_leave` when the wait ends."""
    backend, database = lock_backend(state_url, "daemon", lease=lease.total_seconds())
    try:
        return acquire_with(backend, database)
    except WriterLockHeld as held:
        if not can_stand_by(state_url):
            raise
        holder = held.holder
    surface = StandbySurface(database, holder)
    log.info("daemon_standby", database=database, holder=holder.describe(), lease_s=lease.total_seconds())
    on_standby(surface)
    every = poll_interval(lease)
    try:
        while True:
            try:
                request, reason = requests.get(timeout=every)
            except queue.Empty:
                pass
            else:
                if request == "stop":
                    log.info("daemon_stopping", reason=reason, role="standby")
                    return None
                continue  # a reload: the config is read afresh on taking over
            try:
                if backend.try_acquire():
                    log.info("daemon_taking_over", database=database, previous=surface.holder.describe())
                    return WriterLock(backend, database)
                surface.holder = backend.holder()
            except StateError as exc:  # the database unreachable: keep waiting, say so
                log.warning("standby_lock_unreachable", database=database, error=str(exc))
    finally:
        on_leave()
