"""`CallLog`: the calls a run made to the boards, one entry per try, kept in memory until the
run writes them to the state database with its other rows (`boardsync history RUN`).

A run makes its log current (`recording`) in a context variable, not on the connectors: the
daemon may run a reconcile and a metrics read at once through the same connectors, and each
must keep only its own calls. The run's worker threads are started in a copy of its context
(`in_context`), so their calls land in the same log.

Each try is noted where it is sent (`BoardHttp`), so a retry, a read and a token request are
each one entry, as the board counts them. An entry holds the method, the path, the query with
its values masked, the status (None when no answer came) and how long the try took: never a
body, and never a header (credentials travel there).
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar
from boardsync.log import redact


@dataclass(frozen=True)
class CallEntry:
    """One try sent to a board."""

    seq: int
    """Its place among the run's calls, from 1."""
    provider: str
    method: str
    path: str
    query: str
    status: int | None
    """The HTTP status; None for a try that got no answer (refused, timed out, reset)."""
    duration_ms: int


class CallLog:
    """Calls noted from any thread; `take` hands over those not yet taken."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[CallEntry] = []
        self._seq = 0

    def note(
        self, provider: str, method: str, path: str, params: Mapping[str, Any] | None, status: int | None,
        duration_ms: int,
    ) -> None:
        query = masked_query(params)
        with self._lock:
            self._seq += 1
            self._entries.append(CallEntry(self._seq, provider, method, redact(path), query, status, duration_ms))

    def take(self) -> list[CallEntry]:
        """The entries noted since the last take, in the order they were noted."""
        with self._lock:
            taken, self._entries = self._entries, []
        return taken


def masked_query(params: Mapping[str, Any] | None) -> str:
    """The query string of `params` with every value that is a secret or a link masked."""
    if not params:
        return ""
    masked = redact({str(k): str(v) for k, v in params.items()})
    return "&".join(f"{k}={v}" for k, v in masked.items())


_CURRENT: contextvars.ContextVar[CallLog | None] = contextvars.ContextVar("boardsync_call_log", default=None)

T = TypeVar("T")


def current() -> CallLog | None:
    """The call log of the run this thread works for; None outside a run that keeps one."""
    return _CURRENT.get()


@contextmanager
def recording(calls: CallLog | None) -> Iterator[CallLog | None]:
    """Make `calls` the current log for the block (None: note nothing)."""
    token = _CURRENT.set(calls)
    try:
        yield calls
    finally:
        _CURRENT.reset(token)


def in_context(call: Callable[..., T]) -> Callable[..., T]:
    """`call`, to run in another thread with the caller's context (its call log included)."""
    context = contextvars.copy_context()

    def run(*args: Any, **kwargs: Any) -> T:
        return context.run(call, *args, **kwargs)

    return run
