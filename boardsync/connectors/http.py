"""How a connector talks to its board: one client, a rate limit, retries, transport errors.

    BoardHttp.request(method, path, idempotent=…)
      └─ tenacity loop (RetryPolicy): attempts, a time budget, a stop event at shutdown
           └─ RateLimiter.slot(): waits until the board's limit allows one more request
                └─ httpx.Client.request ─► a response of any status, or a transport error

What is retried, and why:

- connect errors and pool timeouts, for any method: the request never left, nothing happened;
- 429, for any method: the board refused before doing anything (``Retry-After`` honoured);
- read timeouts, resets and 500/502/503/504, only for idempotent calls (GET, or a call the
  board documents as safe to repeat): a POST that got no answer may have taken effect.

Each try has a whole-request deadline (`RetryPolicy.deadline`, never past what is left of the
budget): httpx's timeouts bound each read, so a board trickling a byte every few seconds would
otherwise hold a call for as long as it likes. The body is read chunk by chunk against the
deadline, and every socket operation's timeout is capped at what is left of it when the try
starts. A try past its deadline fails like a read timeout (`RequestDeadline`).

A 429 asking for a longer wait than the policy spends (beyond `retry_after_cap`, or past the
budget) is not waited out: the call stops at once with `WaitAsked`, which the run keeps so
that no request goes to that board before the time it asked for.

A response of any status is returned to the connector, whose one seam
(`HttpConnector._status_error`) maps statuses to the error tree: 429 and 5xx to `Transient`
on every board, any other through the board's own `_error`. Transport errors are mapped
here: `Transient` when nothing can have happened or the call is idempotent, `Ambiguous` when
a non-idempotent request was sent and no answer came.
Waits go through an injected ``sleep`` and ``clock``, so tests move a fake clock instead.

`BoardHttp` and the client (`make_client`) are in `transport`, with httpx and tenacity: that
half loads when a connector is built. This one (the policy, the limiter, the counting and
`HttpConnector`) is what a board's module subclasses, so reading a board's declaration (its
config models, its checks: `validate`, `status`) loads no HTTP client.

Every try, reads included, is counted in a `RequestTally` by board and status class (``2xx`` …
``5xx``, or ``transport`` when no status came back); every error made here (a transport error,
an error status through the connector's seam, an answer that is not JSON) is counted by its
kind (``Transient``, ``Rejected``, ``Blocked``, ``Ambiguous``) through `BoardHttp.failed`.
The daemon's ``/metrics`` shows the process-wide tally. Each try is also noted, without its
body or headers, in the call log of the run that sent it (`calls.CallLog`), for
``boardsync history RUN``.
"""

from __future__ import annotations

import abc
import json
import secrets
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from boardsync.connectors.answers import A, Item, parse
from boardsync.connectors.base import Connector
from boardsync.connectors.jsonlist import listed
from boardsync.errors import Ambiguous, Malformed, ProviderError, Transient
from boardsync.log import redact

if TYPE_CHECKING:
    # The client, the sending loop and the retries (`transport`) load when a connector is
    # built, not when a board's declaration is read (`validate`, `status`).
    import httpx
    from tenacity.wait import wait_base

Clock = Callable[[], float]
Sleep = Callable[[float], Any]

BODY_EXCERPT = 300
"""Characters of a board's error body kept in an exception message."""
MAX_CONNECTIONS = 4
"""Connections a board's client keeps open at most: requests in flight at once."""

# ------------------------------------------------------------------------------ rate limit

KEEP_FROM = 10.0
"""Seconds: a rate window at least this long is kept every few requests while they are sent
(`RateLimiter.keep_with`); a shorter one only once they start, and at the end."""


class RateLimiter:
    """At most `limit` requests in any `per` seconds: a sliding log, as the boards keep one.

    A request's slot is dated when its response has come back, not when it left. The board
    counts a request when it arrives, which is between the two, so waiting `per` seconds from
    the later date can never put one request too many in the board's window.

    The window is one process's unless told more: requests another process sent (read from
    where that process kept them) are `hear`d, and this limiter's own are handed out by
    `own_ages`, and to a keeper every few requests (`keep_with`).
    """

    def __init__(
        self,
        limit: int,
        per: float,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        if limit < 1 or per <= 0:
            raise ValueError("a rate limit needs limit ≥ 1 and per > 0")
        self.limit = limit
        self.per = per
        self.clock = clock
        self.stop = stop
        self.sleep: Sleep = sleep or (stop.wait if stop is not None else time.sleep)
        """Default: wait on `stop` (shutdown ends the wait), or `time.sleep`."""
        self._lock = threading.Lock()
        self._done: deque[float] = deque()
        self._heard: deque[float] = deque()
        """Requests other processes sent to the board, on this limiter's clock (`hear`)."""
        self._in_flight = 0
        self.waited = 0.0
        """Seconds spent waiting for a slot, in total (for tests and metrics)."""
        self.token = secrets.token_hex(6)
        """Names this limiter's own requests where they are kept for other processes."""
        self._keeper: Callable[[], Any] | None = None
        self._keep_every = 0
        self._unkept = 0
        self._kept_at = float("-inf")

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one request's place in the window while it runs."""
        self._acquire()
        try:
            yield
        finally:
            self._release()

    def _acquire(self) -> None:
        while True:
            if self.stop is not None and self.stop.is_set():
                raise StopRequested()
            with self._lock:
                wait = self._wait_needed(self.clock())
                if wait <= 0:
                    self._in_flight += 1
                    return
            self.waited += wait
            self.sleep(wait)

    def _wait_needed(self, now: float) -> float:
        for log in (self._done, self._heard):
            while log and log[0] <= now - self.per:
                log.popleft()
        if len(self._done) + len(self._heard) + self._in_flight < self.limit:
            return 0.0
        oldest = min((log[0] for log in (self._done, self._heard) if log), default=None)
        if oldest is None:
            return min(self.per, 0.05)  # every slot is in flight: look again shortly
        return oldest + self.per - now

    def _release(self) -> None:
        with self._lock:
            self._in_flight -= 1
            self._done.append(self.clock())
            self._unkept += 1
            keep = self._keeper is not None and self._keep_due(self._done[-1])
            if keep:
                self._unkept, self._kept_at = 0, self._done[-1]
        if keep and self._keeper is not None:
            self._keeper()

    # -- what other processes need to know ------------------------------------------------

    def own_ages(self) -> tuple[float, ...]:
        """How long ago (seconds, oldest first) each of this limiter's own requests still in
        the window came back: what another process must count against the board's limit."""
        with self._lock:
            now = self.clock()
            return tuple(now - t for t in self._done if t > now - self.per)

    def hear(self, ages: Iterable[float]) -> None:
        """Count the requests another process sent, `ages` seconds ago each, against the limit
        as if they were this limiter's own; replaces what was heard before."""
        with self._lock:
            now = self.clock()
            self._heard = deque(sorted(now - age for age in ages if 0 <= age < self.per))

    def keep_with(self, keeper: Callable[[], Any] | None) -> None:
        """Have `keeper` called (on the requesting thread) after the first request, then
        after every `keep_every` requests; None stops it. A window shorter than `KEEP_FROM`
        is kept after the first request only: the end of the run keeps the rest."""
        with self._lock:
            self._keeper, self._unkept, self._kept_at = keeper, 0, float("-inf")

    def _keep_due(self, now: float) -> bool:
        if self._kept_at == float("-inf"):
            return True
        return self.per >= KEEP_FROM and self._unkept >= self.keep_every

    @property
    def keep_every(self) -> int:
        """A tenth of the limit, at least one request."""
        return max(1, self.limit // 10)

    @property
    def lost_at_most(self) -> int:
        """The most requests sent and not yet kept, should the process die now: fewer than
        `keep_every` answered, and those in flight (at most the client's connections); the
        whole limit for a window too short to be kept while sending."""
        if self.per < KEEP_FROM:
            return self.limit
        return min(self.limit, self.keep_every + MAX_CONNECTIONS)


# ------------------------------------------------------------------------------ retries


def _default_wait() -> wait_base:
    import tenacity

    return tenacity.wait_exponential_jitter(multiplier=0.5, max=8.0, jitter=0.5)


@dataclass(frozen=True)
class RetryPolicy:
    """How hard one call tries. `wait`, `sleep` and `clock` are injectable so tests never sleep.

    The board's ``Retry-After`` (or Sorce's ``retryAfterSeconds``) raises the wait to what it
    asks, up to `retry_after_cap`; a call gives up when the next wait would take it past
    `budget` seconds in total, after `attempts` tries, or as soon as `stop` is set.
    """

    attempts: int = 5
    budget: float = 60.0
    retry_after_cap: float = 60.0
    deadline: float = 30.0
    """Seconds one try may take in all, connect to last byte (real time, not `clock`)."""
    wait: wait_base = field(default_factory=_default_wait)
    sleep: Sleep | None = None
    """Default: wait on `stop` (so shutdown cuts a wait short), or `time.sleep`."""
    clock: Clock = time.monotonic
    stop: threading.Event | None = None

    def sleeper(self) -> Sleep:
        if self.sleep is not None:
            return self.sleep
        if self.stop is not None:
            return self.stop.wait
        return time.sleep


RetryAfter = Callable[["httpx.Response"], float | None]


def retry_after_header(response: httpx.Response) -> float | None:
    """Seconds the board asks to wait: ``Retry-After`` as seconds or an HTTP date."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)


class StopRequested(Exception):
    """Shutdown was requested before a request could be sent (between retries, or while
    waiting for the rate limit); `BoardHttp.request` turns it into `Transient`."""


# ------------------------------------------------------------------------------ counting


TallyKey = tuple[str, str]
"""(provider, status class) or (provider, error kind)."""
TRANSPORT = "transport"
"""The status class of a try that got no status: refused, timed out, reset."""


def status_class(status: int) -> str:
    """``2xx``, ``4xx``, ``5xx``: how a status is counted."""
    return f"{status // 100}xx"


class RequestTally:
    """Requests sent to the boards by status class, and errors raised by kind; thread-safe.

    Counts only go up, from the moment the process starts: what a Prometheus counter is."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: Counter[TallyKey] = Counter()
        self._errors: Counter[TallyKey] = Counter()

    def record(self, provider: str, status_class: str) -> None:
        """One try: the class of its status, or ``transport`` when none came back."""
        with self._lock:
            self._requests[(provider, status_class)] += 1

    def record_error(self, provider: str, kind: str) -> None:
        """One `ProviderError` raised out of a call, by its class name."""
        with self._lock:
            self._errors[(provider, kind)] += 1

    def snapshot(self) -> dict[TallyKey, int]:
        """Requests so far, by (provider, status class)."""
        with self._lock:
            return dict(self._requests)

    def error_snapshot(self) -> dict[TallyKey, int]:
        """Errors so far, by (provider, error kind)."""
        with self._lock:
            return dict(self._errors)


PROCESS_TALLY = RequestTally()
"""The tally every board client counts into unless given its own (tests give their own)."""


# ------------------------------------------------------------------------------ the connector


class HttpConnector(Connector):
    """A connector that reaches its board through `BoardHttp`.

    The client, limiter and retry policy are put together here once; a board states only its
    documented limit (`default_limiter`) and where it says how long to wait (`retry_after`).
    Requests and errors are counted in `tally` (default: the process-wide one).
    """

    def __init__(
        self,
        settings: Any,
        client: httpx.Client,
        *,
        limiter: RateLimiter | None = None,
        retry: RetryPolicy | None = None,
        tally: RequestTally | None = None,
    ) -> None:
        from boardsync.connectors.transport import BoardHttp

        super().__init__(settings, client)
        retry = retry or RetryPolicy()
        self.http = BoardHttp(
            self.name,
            client,
            limiter=limiter or self.default_limiter(settings, retry.stop),
            retry=retry,
            retry_after=self.retry_after,
            tally=tally,
        )

    def retry_after(self, response: httpx.Response) -> float | None:
        """Seconds the board asks to wait after a 429 or 503; default: ``Retry-After``."""
        return retry_after_header(response)

    @staticmethod
    @abc.abstractmethod
    def default_limiter(settings: Any, stop: threading.Event | None = None) -> RateLimiter:
        """The board's documented request limit, enforced on our side."""

    @abc.abstractmethod
    def _error(self, response: httpx.Response, call: str) -> ProviderError:
        """The board's answer with an error status other than 429 and 5xx → the error tree
        (those two are `Transient` on every board: see `_status_error`)."""

    @abc.abstractmethod
    def _said(self, response: httpx.Response) -> tuple[str, str | None]:
        """The message and the error code (None where the board has none) of an error answer,
        read from the board's own error body, or its text cut short when it is not one."""

    def _auth_headers(self) -> dict[str, str]:
        """The credentials every call carries; a board with tokens that change adds its own."""
        return {}

    def pace(self) -> RateLimiter:
        return self.http.limiter

    def last_status(self) -> int | None:
        return self.http.last_status

    def forget_status(self) -> None:
        self.http.forget_status()

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
    ) -> httpx.Response:
        """One call with the board's credentials; an error status is raised through `_error`."""
        response = self.http.request(
            method, path, params=params, json=json, idempotent=idempotent,
            headers={**self._auth_headers(), **(headers or {})},
        )
        return self._checked(response, f"{method} {path}")

    def _call_answer(self, model: type[A], method: str, path: str, **kw: Any) -> A:
        """`_call`, and the answer read as `model` (see `_answer`)."""
        return self._answer(model, self._call(method, path, **kw), f"{method} {path}")

    def _answer(self, model: type[A], response: httpx.Response, call: str) -> A:
        """A successful answer read as its documented `model`: `Transient` when it is no JSON
        object at all, `Malformed` (naming the field) when it is one of the wrong shape."""
        try:  # read straight from the bytes: a page of jobs is never built as dicts first
            return model.model_validate_json(response.content)
        except ValidationError:
            pass  # an answer that does not fit is told apart as before, from its JSON
        return self._parsed(model, self._object(response, call), call)

    def _call_items(
        self, model: type[A], item: type[Item], name: str, method: str, path: str, **kw: Any
    ) -> Iterator[Item]:
        """The list `name` of a call's answer, each item parsed and read as `item` when it is
        handed out (`jsonlist.listed`). Read this way, an answer of thousands of items is never
        held whole as objects: at 10,000 Hirempire jobs, 10 MiB of text against 27 MiB parsed
        and 34 MiB as models. A wrong item is `Malformed` when it is reached, naming its place
        (``jobs[3].id``); an answer without the list is read whole as `model`, the whole
        answer's shape, to say what is wrong with it."""
        call = f"{method} {path}"
        response = self._call(method, path, **kw)
        status, body = response.status_code, response.content
        del response  # its bytes go with `body`, once the text is made
        try:
            text = body.decode(json.detect_encoding(body), "surrogatepass")
        except UnicodeDecodeError as exc:
            raise self._unreadable(status, body.decode("utf-8", "replace"), call) from exc
        del body
        try:
            items = listed(text, name)
            if items is None:  # read whole, to say what is wrong with it
                whole = json.loads(text)
                if not isinstance(whole, dict):
                    raise ValueError("not an object")
                self._parsed(model, whole, call)
                return
            for index, found in enumerate(items):
                yield self._parsed(item, found, call, at=(name, index))
        except ValueError as exc:  # not JSON; after the items handed out so far, maybe
            raise self._unreadable(status, text, call) from exc

    def _parsed(self, model: type[A], body: Any, call: str, at: Sequence[int | str] = ()) -> A:
        try:
            return parse(model, body, provider=self.name, call=call, at=at)
        except ProviderError as exc:
            raise self.http.failed(exc) from None

    def _created_answer(self, model: type[A], response: httpx.Response, call: str) -> A:
        """A create's successful answer read as `model`. When it cannot be read the job may
        exist all the same: `Ambiguous`, so it is looked up before anything is sent again."""
        try:
            return parse(model, response.json(), provider=self.name, call=call)
        except (ValueError, Malformed) as exc:
            what = exc.reason if isinstance(exc, Malformed) else "no JSON"
            raise self.http.failed(Ambiguous(
                f"answered {response.status_code} without a readable job ({what}); the job may exist",
                provider=self.name, call=call,
            )) from exc

    def _checked(self, response: httpx.Response, call: str) -> httpx.Response:
        from boardsync.connectors.transport import status_error

        if response.is_error:
            raise self.http.failed(self._status_error(response, call)) from status_error(response)
        return response

    def _status_error(self, response: httpx.Response, call: str) -> ProviderError:
        """The one seam from an error status to the error tree. A 429 or a 5xx is `Transient`
        on every board, carrying the wait the board asks for (`retry_after`); any other
        status is the board's to tell apart (`_error`)."""
        status = response.status_code
        if status == 429 or status >= 500:
            message, code = self._said(response)
            return Transient(message, retry_after=self.retry_after(response), provider=self.name, call=call,
                             status=status, code=code)
        return self._error(response, call)

    def _object(self, response: httpx.Response, call: str) -> dict[str, Any]:
        """The JSON object a successful answer carries. Anything else (a proxy's HTML page, a
        body cut short) is `Transient`: the board, or what stands before it, may answer later."""
        try:
            body = response.json()
        except ValueError as exc:
            raise self._unreadable(response.status_code, response.text, call) from exc
        if not isinstance(body, dict):
            raise self._unreadable(response.status_code, response.text, call)
        return body

    def _unreadable(self, status: int, text: str, call: str) -> ProviderError:
        return self.http.failed(Transient(
            f"answered without a JSON object: {excerpt(text, 120)!r}",
            provider=self.name, call=call, status=status,
        ))


def excerpt(text: str, limit: int = BODY_EXCERPT) -> str:
    """`text` redacted, on one line, and cut to `limit` characters."""
    flat = " ".join(redact(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
