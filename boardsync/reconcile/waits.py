"""Waits the boards asked for: a 429 whose ``Retry-After`` is longer than a call retries.

The wait is kept in the state database (`board_state`), so it outlives the run that met it:
until it is over no request goes to that board, from this run or a later one (the daemon's
included), and the board counts as not read, with the time it asked for as the reason.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from boardsync.connectors.base import Connector, Remote
from boardsync.errors import ProviderError, WaitAsked
from boardsync.log import get_logger
from boardsync.reconcile import record
from boardsync.state import Store

log = get_logger(__name__)

Clock = Callable[[], datetime]


class BoardWaits:
    """The waits in force for one run; safe to share between the run's threads."""

    def __init__(self, store: Store, clock: Clock, *, keep: bool = True) -> None:
        self.store = store
        self.clock = clock
        self.keep = keep
        """Whether a wait asked for is written to the state (not by a plan, which writes nothing)."""
        self._lock = threading.Lock()
        self._until = {w.provider: (w.until, w.reason) for w in store.board_waits(clock())}

    def holding(self, provider: str) -> str | None:
        """Why `provider` must not be called now, or None when it may be."""
        with self._lock:
            held = self._until.get(provider)
        if held is None or held[0] <= self.clock():
            return None
        return held[1]

    def asked(self, provider: str, exc: WaitAsked) -> str:
        """Keep the wait `exc` carries, from now; the reason, as a board error says it."""
        now = self.clock()
        until = now + timedelta(seconds=exc.retry_after or 0)
        reason = f"asked to wait until {when(until, now)} ({exc.status or 429})"
        if self.keep:
            record.board_wait_kept(self.store, provider, until, reason, now)
        with self._lock:
            self._until[provider] = (until, reason)
        log.warning("board_wait_kept", provider=provider, until=until.isoformat(), call=exc.call)
        return reason


def read_jobs(provider: str, connector: Connector, waits: BoardWaits) -> list[Remote]:
    """Every job of a board (its `observe`), unless it asked to be left alone: then, and when
    it asks now, a `ProviderError` saying until when."""
    held = waits.holding(provider)
    if held is not None:
        raise ProviderError(held, provider=provider, call="observe")
    try:
        return connector.observe()
    except WaitAsked as exc:
        raise ProviderError(waits.asked(provider, exc), provider=provider, call=exc.call) from exc


def when(until: datetime, now: datetime) -> str:
    """``14:05 UTC`` on the same day, else with the date."""
    return f"{until:%H:%M} UTC" if until.date() == now.date() else f"{until:%Y-%m-%d %H:%M} UTC"
