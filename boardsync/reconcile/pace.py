"""Each board's rate limit, shared between processes through the state database.

A connector's limiter (`Connector.pace`) counts the requests of its own process. A
`reconcile` started right after another, or the daemon's next cycle after a command run in
between, would otherwise find the board's window full of requests it never saw, and meet a
429. So a run that writes keeps its requests, per board and per process, in
``board_state.request_log``; every run, at its start, has each limiter hear what the other
processes kept, and waits for them as for its own.

None of the boards documents headers that tell how much of the limit is left, so the
requests are counted on this side; a 429's ``Retry-After`` is honoured as before.

When they are kept: as soon as a run has sent its first request to a board, then after every
tenth of the limit (`RateLimiter.keep_with`), and at the end of the run, when the entry is
closed. Runs that write never overlap (they hold the state database's writer lock), so an
entry another process left open, found by a run that writes, is a process that died: it may
have sent `lost_at_most` requests it never kept (fewer than a tenth of the limit, plus those
in flight; the whole limit for a window shorter than ten seconds, RecruitiFi's second, which
is kept only at the start and the end). The run counts that many more as sent the moment it
starts, and closes the entry with them in it, so the next process counts them too until
they leave the window: a little too careful, never too bold.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from boardsync.connectors.base import Connector, Pace
from boardsync.errors import StateError
from boardsync.log import get_logger
from boardsync.state import Store

log = get_logger(__name__)

wall: Callable[[], float] = time.time
"""Seconds since the epoch: how kept requests are dated, the same in every process."""


@contextmanager
def shared(store: Store, connectors: Mapping[str, Connector], *, keep: bool) -> Iterator[None]:
    """Each board's limiter told of the other processes' requests for the run; with `keep`,
    its own kept as it goes and at the end (a plan, which writes nothing, only hears).
    Times are kept as `wall` seconds: the limiters' clocks are each process's own."""
    paces = {name: pace for name, connector in connectors.items() if (pace := connector.pace()) is not None}
    now = wall()
    heard(store, paces, now)
    if not keep:
        yield
        return
    closed_dead(store, paces, now)
    for name, pace in paces.items():
        pace.keep_with(_keeper(store, name, pace))
    try:
        yield
    finally:
        for name, pace in paces.items():
            pace.keep_with(None)
            kept(store, name, pace, still_sending=False)


def heard(store: Store, paces: Mapping[str, Pace], now: float) -> None:
    """Have each limiter count the requests other processes kept for its board."""
    logs = store.request_logs() if paces else {}
    for name, pace in paces.items():
        pace.hear(others_ages(logs.get(name, {}), pace, now))


def others_ages(logged: Mapping[str, Any], pace: Pace, now: float) -> list[float]:
    """Seconds since each request other processes kept; an entry still open (a process that
    died, or one sending beside a plan) counts `lost_at_most` more, as sent just now."""
    ages: list[float] = []
    for token, entry in logged.items():
        if token == pace.token:
            continue  # this limiter's own: it knows them, and more
        ages += [max(now - t, 0.0) for t in entry.get("times", ()) if t > now - pace.per]
        if entry.get("open"):
            ages += [0.0] * int(entry.get("lost_at_most", pace.limit))
    return ages


def closed_dead(store: Store, paces: Mapping[str, Pace], at: float) -> None:
    """Close the entries other processes left open (a run that writes finds only those of
    processes that died), with the requests they may not have kept dated `at`."""
    for provider, logged in store.request_logs().items():
        pace = paces.get(provider)
        if pace is None:
            continue
        for token, entry in logged.items():
            if token == pace.token or not entry.get("open"):
                continue
            lost = int(entry.get("lost_at_most", pace.limit))
            log.warning("request_log_left_open", provider=provider, counted_as_sent=lost)
            closed = {**entry, "open": False, "times": [*entry.get("times", ()), *[at] * lost]}
            store.keep_request_log(provider, token, closed, since=at - pace.per)


def kept(store: Store, provider: str, pace: Pace, *, still_sending: bool) -> None:
    """Keep this process's requests to `provider` still in the window; a failure to write
    is logged, never raised into the request that triggered it."""
    ages = pace.own_ages()
    at = wall()  # read after the ages: a request is never kept as older than it is
    entry = {
        "kept_at": at,
        "open": still_sending,
        "lost_at_most": pace.lost_at_most,
        "times": [round(at - age, 3) for age in ages],
    }
    try:
        store.keep_request_log(provider, pace.token, entry, since=at - pace.per)
    except (SQLAlchemyError, StateError) as exc:
        log.warning("request_log_not_kept", provider=provider, error=str(exc)[:200])


def _keeper(store: Store, provider: str, pace: Pace) -> Callable[[], None]:
    def keep() -> None:
        kept(store, provider, pace, still_sending=True)

    return keep
