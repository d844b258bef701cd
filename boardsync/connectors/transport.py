"""The transport under every board's connector: its `httpx.Client` and the loop that sends a
call through the limiter and the retry policy (`BoardHttp`). `http` tells what is retried and
why; this module is the part of it that needs httpx and tenacity, loaded when a connector is
built: reading the boards' declarations (their config models, their checks) loads neither.
"""

from __future__ import annotations

import functools
import os
import ssl
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import tenacity

from boardsync import __version__
from boardsync.connectors import calls as call_log
from boardsync.connectors.http import (
    MAX_CONNECTIONS, PROCESS_TALLY, TRANSPORT, RateLimiter, RequestTally, RetryAfter, RetryPolicy, StopRequested,
    excerpt, retry_after_header, status_class,
)
from boardsync.errors import Ambiguous, ProviderError, Transient, WaitAsked
from boardsync.log import get_logger

log = get_logger("boardsync.connectors.http")  # the name its lines had before the split

TIMEOUT = httpx.Timeout(connect=5.0, read=30.0, write=10.0, pool=10.0)
LIMITS = httpx.Limits(max_connections=MAX_CONNECTIONS, max_keepalive_connections=2, keepalive_expiry=30.0)

NOTHING_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
"""Transport errors raised before a byte of the request reached the board."""


class RequestDeadline(httpx.TimeoutException):
    """A try took longer than its whole-request deadline (connect, send, headers and body)."""


SENT_NO_ANSWER = (
    httpx.ReadTimeout, httpx.WriteTimeout, httpx.NetworkError, httpx.RemoteProtocolError, RequestDeadline,
)
"""Transport errors after the request (or part of it) was sent: the outcome is unknown."""
RETRY_STATUSES_IDEMPOTENT = frozenset({500, 502, 503, 504})
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def make_client(
    base_url: str,
    *,
    transport: httpx.BaseTransport | None = None,
    timeout: httpx.Timeout = TIMEOUT,
    limits: httpx.Limits = LIMITS,
) -> httpx.Client:
    """The one `httpx.Client` of a board: explicit timeouts, a small pool, no redirects.

    Credentials are not set here; each connector adds its board's own header per request.
    The clients share one TLS context (`tls_context`)."""
    return _BoardClient(
        base_url=base_url,
        transport=transport,
        timeout=timeout,
        limits=limits,
        verify=tls_context(),
        follow_redirects=False,
        headers={"User-Agent": user_agent(), "Accept": "application/json"},
    )


class _BoardClient(httpx.Client):
    """A client that keeps no cookies: the boards authenticate every request by its header,
    and httpx reads each answer's cookies through the standard library's cookie jar, which
    costs a tenth of what a request does here. Cookies set on it are dropped."""

    def __init__(self, **kwargs: Any) -> None:
        self._none = _NoCookies()
        super().__init__(**kwargs)

    @property
    def cookies(self) -> httpx.Cookies:
        return self._none

    @cookies.setter
    def cookies(self, cookies: Any) -> None:
        pass


class _NoCookies(httpx.Cookies):
    """A jar that stays empty: what an answer sets is not read."""

    def extract_cookies(self, response: httpx.Response) -> None:
        return None


def user_agent() -> str:
    """boardsync's version and this process: a board's access log then tells one boardsync
    process from another (a daemon from the one that took over from it)."""
    return f"boardsync/{__version__} (pid {os.getpid()})"


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The one TLS context of every board's client, made when the first client is: loading
    the trusted certificates takes megabytes and tens of milliseconds, once is enough."""
    return httpx.create_ssl_context()


@dataclass(frozen=True, slots=True)
class _Call:
    """One call as its tries see it: what is sent, whether the board may get it twice, and
    when the first try began (its time budget runs from there)."""

    method: str
    path: str
    kwargs: dict[str, Any]
    idempotent: bool
    started: float

    @property
    def name(self) -> str:
        return f"{self.method} {self.path}"


def _call_of(state: tenacity.RetryCallState) -> _Call:
    call: _Call = state.args[0]
    return call


class BoardHttp:
    """One board's client with its limiter and retry policy; returns responses of any status.

    `retry_after` reads how long the board asks to wait from a 429/503 response (boards put it
    in different places). Each try and each error raised is counted in `tally`."""

    def __init__(
        self,
        provider: str,
        client: httpx.Client,
        *,
        limiter: RateLimiter,
        retry: RetryPolicy,
        retry_after: RetryAfter = retry_after_header,
        tally: RequestTally | None = None,
    ) -> None:
        self.provider = provider
        self.client = client
        self.limiter = limiter
        self.retry = retry
        self.retry_after = retry_after
        self.tally = tally if tally is not None else PROCESS_TALLY
        self._seen = threading.local()
        """Per thread: the status of the last response received (see `last_status`)."""
        self._url = functools.lru_cache(maxsize=URLS_KEPT)(self._absolute)
        """A path → its absolute URL, worked out once: httpx parses the base URL and the path
        together again for every request otherwise, a tenth of what a request costs here."""
        self._retrying = self._retry_loop()
        """The one retry loop of every call (tenacity keeps each thread's tries apart). One
        made for each call cost more than the call's own bookkeeping, and left a reference
        cycle for the collector each time."""

    def _absolute(self, path: str) -> httpx.URL:
        return self.client.build_request("GET", path).url

    @property
    def last_status(self) -> int | None:
        """The status of the last response this thread received, a retried try's included,
        since `forget_status`; None before any. Kept per thread: the boards share no client,
        but a board's own calls may come from more than one thread."""
        status: int | None = getattr(self._seen, "status", None)
        return status

    def forget_status(self) -> None:
        self._seen.status = None

    def request(
        self,
        method: str,
        path: str,
        *,
        idempotent: bool | None = None,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """Send one call, retried as the policy allows. `idempotent` defaults to the method's
        nature; pass True for a call the board documents as safe to repeat."""
        method = method.upper()
        safe = method in IDEMPOTENT_METHODS if idempotent is None else idempotent
        call = _Call(method, path, {"params": params, "json": json, "headers": headers}, safe, self.retry.clock())
        try:
            response = self._retrying(self._send_once, call)
        except StopRequested as exc:
            # Not the board's error: nothing was sent, so it is not counted as one.
            raise Transient("stopped: boardsync is shutting down", provider=self.provider, call=call.name) from exc
        except httpx.HTTPError as exc:
            raise self.failed(self._transport_error(exc, call.name, safe)) from exc
        asked = self._wait_refused(response, call.started)
        if asked is not None:
            raise self.failed(WaitAsked(
                f"asked to wait {asked:.0f} s, longer than a call retries", retry_after=asked,
                provider=self.provider, call=call.name, status=response.status_code,
            )) from status_error(response)
        return response

    def failed(self, error: ProviderError) -> ProviderError:
        """Count `error` against its board by kind, and hand it back to be raised."""
        self.tally.record_error(self.provider, type(error).__name__)
        return error

    def _wait_refused(self, response: httpx.Response, started: float) -> float | None:
        """The seconds a final 429 asked for, when the policy would not wait that long."""
        if response.status_code != 429:
            return None
        asked = self.retry_after(response)
        if asked is None or not self._beyond_policy(asked, started):
            return None
        return asked

    def _beyond_policy(self, asked: float, started: float) -> bool:
        policy = self.retry
        return asked > policy.retry_after_cap or policy.clock() - started + asked > policy.budget

    def _send_once(self, call: _Call) -> httpx.Response:
        method, path, kwargs = call.method, call.path, call.kwargs
        with self.limiter.slot():
            began = time.perf_counter()
            try:
                response = self._send_within(method, path, kwargs, self._try_seconds(call.started))
            except httpx.HTTPError:
                self.tally.record(self.provider, TRANSPORT)
                self._note(method, path, kwargs, None, began)
                raise
            self.tally.record(self.provider, status_class(response.status_code))
            self._note(method, path, kwargs, response.status_code, began)
        log.debug(
            "http_response",
            provider=self.provider,
            call=f"{method} {path}",
            status=response.status_code,
            elapsed_ms=round((time.perf_counter() - began) * 1000, 1),
        )
        return response

    def _note(self, method: str, path: str, kwargs: dict[str, Any], status: int | None, began: float) -> None:
        """Note one try in the call log of the run that sent it, when it keeps one: never its
        body or headers."""
        calls = call_log.current()
        if calls is None:
            return
        full = self.client.base_url.path.rstrip("/") + path if path.startswith("/") else path
        calls.note(self.provider, method, full, kwargs.get("params"), status,
                   round((time.perf_counter() - began) * 1000))

    def _try_seconds(self, started: float) -> float:
        """This try's deadline: the policy's, or what is left of the budget if that is less."""
        left = self.retry.budget - (self.retry.clock() - started)
        return max(min(self.retry.deadline, left), MIN_TRY_SECONDS)

    def _send_within(self, method: str, path: str, kwargs: dict[str, Any], seconds: float) -> httpx.Response:
        """One request, connect to last byte, within `seconds` of real time."""
        ends = time.monotonic() + seconds
        request = self.client.build_request(method, self._url(path), timeout=_capped(self.client.timeout, seconds),
                                            **kwargs)
        response = self.client.send(request, stream=True)
        self._seen.status = response.status_code  # known once the headers are in, body or not
        try:
            if time.monotonic() > ends:  # headers trickled in, each read within its timeout
                raise RequestDeadline(f"no answer within the {seconds:g} s deadline", request=request)
            response.stream = _DeadlineStream(response.stream, request, ends, seconds)
            response.read()
        finally:
            response.close()
        # The stream httpx gave the response points back at it: a cycle only the collector
        # frees, holding the body (a page of jobs, megabytes) until it runs. The body is read.
        response.stream = httpx.ByteStream(response.content)
        return response

    def _retry_loop(self) -> tenacity.Retrying:
        """The retry loop, reading the policy as it is at each try (a test may set another)
        and the call from the try's own state (`_Call`, the loop's one argument)."""
        return tenacity.Retrying(
            retry=self._should_retry,
            wait=self._wait,
            stop=self._should_stop,
            sleep=lambda seconds: self.retry.sleeper()(seconds),
            before=self._before_try,
            before_sleep=self._log_retry,
            # Out of tries: hand back the last response, or raise the last transport error.
            retry_error_callback=lambda state: state.outcome.result(),  # type: ignore[union-attr]
        )

    def _should_stop(self, state: tenacity.RetryCallState) -> bool:
        policy = self.retry
        over_budget = policy.clock() - _call_of(state).started + state.upcoming_sleep > policy.budget
        stopping = policy.stop is not None and policy.stop.is_set()
        return state.attempt_number >= policy.attempts or over_budget or stopping

    def _before_try(self, state: tenacity.RetryCallState) -> None:
        policy = self.retry
        if state.attempt_number > 1 and policy.stop is not None and policy.stop.is_set():
            raise StopRequested()

    def _should_retry(self, state: tenacity.RetryCallState) -> bool:
        outcome, call = state.outcome, _call_of(state)
        if outcome is None:
            return False
        if outcome.failed:
            error = outcome.exception()
            if isinstance(error, NOTHING_SENT):
                return True
            return call.idempotent and isinstance(error, SENT_NO_ANSWER)
        response = outcome.result()
        if response.status_code == 429:
            # A wait longer than the policy spends is not waited out: the run keeps it.
            return self._wait_refused(response, call.started) is None
        return call.idempotent and response.status_code in RETRY_STATUSES_IDEMPOTENT

    def _wait(self, state: tenacity.RetryCallState) -> float:
        backoff = float(self.retry.wait(state))
        outcome = state.outcome
        if outcome is None or outcome.failed:
            return backoff
        asked = self.retry_after(outcome.result())
        if asked is None:
            return backoff
        return max(backoff, min(asked, self.retry.retry_after_cap))

    def _log_retry(self, state: tenacity.RetryCallState) -> None:
        outcome = state.outcome
        reason: str
        if outcome is not None and outcome.failed:
            reason = type(outcome.exception()).__name__
        elif outcome is not None:
            reason = str(outcome.result().status_code)
        else:
            reason = "unknown"
        log.warning(
            "http_retry", provider=self.provider, call=_call_of(state).name, attempt=state.attempt_number,
            wait_s=round(state.upcoming_sleep, 3),
            reason=reason,
        )

    def _transport_error(self, exc: httpx.HTTPError, call: str, idempotent: bool) -> ProviderError:
        error = self._mapped_transport_error(exc, call, idempotent)
        error.unanswered = True
        return error

    def _mapped_transport_error(self, exc: httpx.HTTPError, call: str, idempotent: bool) -> ProviderError:
        what = f"{type(exc).__name__}: {excerpt(str(exc))}".rstrip(": ")
        if isinstance(exc, NOTHING_SENT):
            return Transient(f"could not reach the board{_address(exc)} ({what})", provider=self.provider, call=call)
        if isinstance(exc, SENT_NO_ANSWER) and not idempotent:
            return Ambiguous(
                f"sent, but no answer came back ({what}); the call may have taken effect",
                provider=self.provider,
                call=call,
            )
        return Transient(f"no usable answer ({what})", provider=self.provider, call=call)


def _address(exc: httpx.HTTPError) -> str:
    """`` at host:port`` of the request that failed, so a wrong base URL shows; empty when the
    error carries no request."""
    try:
        url = exc.request.url
    except RuntimeError:  # httpx raises it for an error made without a request
        return ""
    port = url.port or {"https": 443, "http": 80}.get(url.scheme)
    return f" at {url.host}:{port}" if port else f" at {url.host}"


URLS_KEPT = 256
"""Absolute URLs a board's client keeps: its few fixed paths, and the last jobs it named."""
MIN_TRY_SECONDS = 0.1
"""A try gets at least this long, even at the very end of the budget."""


def _capped(timeout: httpx.Timeout, seconds: float) -> httpx.Timeout:
    """`timeout` with no single operation allowed longer than `seconds`."""

    def cap(value: float | None) -> float:
        return seconds if value is None else min(value, seconds)

    return httpx.Timeout(connect=cap(timeout.connect), read=cap(timeout.read), write=cap(timeout.write),
                         pool=cap(timeout.pool))


class _DeadlineStream(httpx.SyncByteStream):
    """A response body that ends in `RequestDeadline` once its try's deadline has passed."""

    def __init__(self, stream: httpx.SyncByteStream | httpx.AsyncByteStream, request: httpx.Request,
                 ends: float, seconds: float) -> None:
        assert isinstance(stream, httpx.SyncByteStream)
        self._stream = stream
        self._request = request
        self._ends = ends
        self._seconds = seconds

    def __iter__(self) -> Iterator[bytes]:
        received = 0
        for chunk in self._stream:
            received += len(chunk)
            if time.monotonic() > self._ends:
                raise RequestDeadline(
                    f"the answer was not complete within the {self._seconds:g} s deadline "
                    f"({received} bytes so far)", request=self._request,
                )
            yield chunk

    def close(self) -> None:
        self._stream.close()


def status_error(response: httpx.Response) -> httpx.HTTPStatusError:
    """httpx's own error for an error status, to chain a mapped error `from`."""
    return httpx.HTTPStatusError(
        f"{response.status_code} {response.reason_phrase}", request=response.request, response=response
    )
