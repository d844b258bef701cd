"""The retry policy's logic, on `httpx.MockTransport` and a fake clock: what is retried for
which method, how long it waits, when it gives up, and what error comes out.
The same faults on a real server are in test_connector_faults.py."""

from __future__ import annotations

import gc
import socket
import threading
import weakref
from collections.abc import Callable

import httpx
import pytest
import tenacity

from boardsync.connectors.http import RateLimiter, RetryPolicy, retry_after_header
from boardsync.connectors.transport import BoardHttp
from boardsync.errors import Ambiguous, Transient, WaitAsked
from tests.connector_helpers import FakeClock

Step = Callable[[httpx.Request], httpx.Response]


def scripted(*steps: Step | int | type[Exception]) -> tuple[httpx.MockTransport, list[str]]:
    """A transport that plays `steps` in order: a status, an exception class, or a function."""
    seen: list[str] = []
    queue = list(steps)

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request.method)
        step = queue.pop(0) if queue else 200
        if isinstance(step, int):
            return httpx.Response(step, json={})
        if isinstance(step, type):
            raise step("scripted", request=request)  # type: ignore[call-arg]
        return step(request)

    return httpx.MockTransport(handle), seen


def board(transport: httpx.BaseTransport, clock: FakeClock, **policy: object) -> BoardHttp:
    client = httpx.Client(base_url="http://board.test", transport=transport)
    retry = RetryPolicy(sleep=clock.sleep, clock=clock, wait=tenacity.wait_fixed(1), **policy)  # type: ignore[arg-type]
    limiter = RateLimiter(1000, 1.0, clock=clock, sleep=clock.sleep)
    return BoardHttp("board", client, limiter=limiter, retry=retry)


def test_get_retries_a_500_then_returns_the_success() -> None:
    """A GET that met a 500 is sent again and the later 200 is what the caller gets."""
    transport, seen = scripted(500, 200)
    clock = FakeClock()
    assert board(transport, clock).request("GET", "/jobs").status_code == 200
    assert seen == ["GET", "GET"] and clock.slept == [1.0]


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_post_is_not_retried_on_a_server_error(status: int) -> None:
    """A POST answered 5xx goes back to the connector at once: resending might repeat it."""
    transport, seen = scripted(status, 200)
    response = board(transport, FakeClock()).request("POST", "/jobs", json={})
    assert response.status_code == status and seen == ["POST"]


def test_an_idempotent_post_is_retried_like_a_get() -> None:
    """A call the board documents as safe to repeat may be retried after a 503."""
    transport, seen = scripted(503, 200)
    assert board(transport, FakeClock()).request("POST", "/s", json={}, idempotent=True).status_code == 200
    assert seen == ["POST", "POST"]


def test_429_is_retried_for_any_method_after_retry_after() -> None:
    """The board refused before doing anything: a POST is resent, after the seconds asked."""
    transport, seen = scripted(lambda r: httpx.Response(429, headers={"Retry-After": "7"}), 201)
    clock = FakeClock()
    assert board(transport, clock).request("POST", "/jobs", json={}).status_code == 201
    assert seen == ["POST", "POST"] and clock.slept == [7.0]


def test_a_wait_longer_than_the_cap_is_not_waited_out_but_raised() -> None:
    """A board asking for more than the cap is not called again in this call: WaitAsked at
    once, carrying the seconds asked, nothing slept."""
    transport, seen = scripted(lambda r: httpx.Response(429, headers={"Retry-After": "3600"}), 200)
    clock = FakeClock()
    with pytest.raises(WaitAsked) as caught:
        board(transport, clock, retry_after_cap=20.0).request("GET", "/jobs")
    assert caught.value.retry_after == 3600.0 and caught.value.status == 429
    assert seen == ["GET"] and clock.slept == []


def test_a_wait_within_the_cap_is_waited_and_retried() -> None:
    """A Retry-After the policy will spend is waited, then the call is sent again."""
    transport, seen = scripted(lambda r: httpx.Response(429, headers={"Retry-After": "15"}), 200)
    clock = FakeClock()
    assert board(transport, clock, retry_after_cap=20.0).request("GET", "/jobs").status_code == 200
    assert seen == ["GET", "GET"] and clock.slept == [15.0]


def test_retry_after_never_shortens_the_backoff() -> None:
    """A Retry-After of 0 still waits the policy's own backoff."""
    transport, _ = scripted(lambda r: httpx.Response(429, headers={"Retry-After": "0"}), 200)
    clock = FakeClock()
    board(transport, clock).request("GET", "/jobs")
    assert clock.slept == [1.0]


def test_a_wait_past_the_budget_is_raised_as_wait_asked() -> None:
    """When the wait asked would go past the time budget the call stops at once and says how
    long the board asked for, so the run can keep that wait."""
    transport, seen = scripted(lambda r: httpx.Response(429, headers={"Retry-After": "40"}), 200)
    clock = FakeClock()
    with pytest.raises(WaitAsked) as caught:
        board(transport, clock, budget=30.0).request("GET", "/jobs")
    assert caught.value.retry_after == 40.0 and seen == ["GET"] and clock.slept == []


def test_attempts_are_limited() -> None:
    """After `attempts` tries the last response is returned, not retried forever."""
    transport, seen = scripted(503, 503, 503, 503, 503, 200)
    assert board(transport, FakeClock(), attempts=3).request("GET", "/").status_code == 503
    assert len(seen) == 3


@pytest.mark.parametrize("error", [httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout])
def test_nothing_sent_is_retried_even_for_a_post(error: type[Exception]) -> None:
    """A connect failure means the board never saw the request: resending a create is safe."""
    transport, seen = scripted(error, 201)
    assert board(transport, FakeClock()).request("POST", "/jobs", json={}).status_code == 201
    assert seen == ["POST", "POST"]


def test_connect_failures_that_last_become_transient() -> None:
    """Nothing happened on the board, so the error says try later, chained to httpx's."""
    transport, _ = scripted(*[httpx.ConnectError] * 5)
    with pytest.raises(Transient) as caught:
        board(transport, FakeClock()).request("POST", "/jobs", json={})
    assert isinstance(caught.value.__cause__, httpx.ConnectError)
    assert caught.value.call == "POST /jobs" and caught.value.provider == "board"


def test_a_board_that_cannot_be_reached_is_named_by_its_host_and_port() -> None:
    """A refused connection (a real closed port on loopback) says which address was tried,
    so a wrong base_url shows in the error itself."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    clock = FakeClock()
    http = BoardHttp(
        "board", httpx.Client(base_url=f"http://127.0.0.1:{port}/v1"),
        limiter=RateLimiter(1000, 1.0, clock=clock, sleep=clock.sleep),
        retry=RetryPolicy(sleep=clock.sleep, clock=clock, wait=tenacity.wait_fixed(1)),
    )
    with pytest.raises(Transient) as caught:
        http.request("GET", "/jobs")
    assert f"could not reach the board at 127.0.0.1:{port} (ConnectError" in str(caught.value)


@pytest.mark.parametrize("error", [httpx.ReadTimeout, httpx.ReadError, httpx.RemoteProtocolError])
def test_a_get_without_an_answer_is_retried(error: type[Exception]) -> None:
    """A read may be repeated after a timeout or a reset."""
    transport, seen = scripted(error, 200)
    assert board(transport, FakeClock()).request("GET", "/jobs").status_code == 200
    assert seen == ["GET", "GET"]


@pytest.mark.parametrize("error", [httpx.ReadTimeout, httpx.ReadError, httpx.RemoteProtocolError, httpx.WriteError])
def test_a_post_without_an_answer_is_ambiguous_and_not_resent(error: type[Exception]) -> None:
    """The request went out and no answer came back: the outcome is unknown, never resent."""
    transport, seen = scripted(error, 201)
    with pytest.raises(Ambiguous) as caught:
        board(transport, FakeClock()).request("POST", "/jobs", json={})
    assert seen == ["POST"] and isinstance(caught.value.__cause__, error)


def test_a_get_that_never_answers_ends_transient() -> None:
    """Reads that keep timing out give up as Transient, not Ambiguous."""
    transport, seen = scripted(*[httpx.ReadTimeout] * 5)
    with pytest.raises(Transient):
        board(transport, FakeClock(), attempts=2).request("GET", "/jobs")
    assert len(seen) == 2


def test_a_set_stop_event_ends_retrying_at_once() -> None:
    """At shutdown a failing call is not retried: the last answer is returned."""
    stop = threading.Event()
    stop.set()
    transport, seen = scripted(503, 200)
    response = board(transport, FakeClock(), stop=stop).request("GET", "/jobs")
    assert response.status_code == 503 and seen == ["GET"]


def test_a_stop_set_during_the_wait_prevents_the_next_attempt() -> None:
    """Shutdown arriving while a call waits to retry ends the call without sending again."""
    stop = threading.Event()
    clock = FakeClock()
    transport, seen = scripted(503, 200)

    def sleep_then_stop(seconds: float) -> None:
        clock.sleep(seconds)
        stop.set()

    client = httpx.Client(base_url="http://board.test", transport=transport)
    retry = RetryPolicy(sleep=sleep_then_stop, clock=clock, stop=stop, wait=tenacity.wait_fixed(1))
    http = BoardHttp("board", client, limiter=RateLimiter(10, 1.0, clock=clock, sleep=clock.sleep), retry=retry)
    with pytest.raises(Transient, match="shutting down"):
        http.request("GET", "/jobs")
    assert seen == ["GET"]


def test_default_sleep_waits_on_the_stop_event() -> None:
    """Without an injected sleep the policy waits on `stop`, so shutdown cuts the wait short."""
    stop = threading.Event()
    assert RetryPolicy(stop=stop).sleeper() == stop.wait


def test_retry_after_header_reads_seconds_and_http_dates() -> None:
    """Both forms of Retry-After are understood; garbage is ignored."""
    assert retry_after_header(httpx.Response(429, headers={"Retry-After": "12"})) == 12.0
    assert retry_after_header(httpx.Response(429, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})) == 0.0
    assert retry_after_header(httpx.Response(429, headers={"Retry-After": "soon"})) is None
    assert retry_after_header(httpx.Response(429)) is None


def test_last_status_is_the_last_response_this_thread_received() -> None:
    """After a 503 retried into a 200 the last status is 200, a call that got no answer leaves
    it as it was, and forgetting it starts afresh."""
    transport, _ = scripted(503, 200, httpx.ConnectError, httpx.ConnectError)
    http = board(transport, FakeClock(), attempts=2)
    assert http.last_status is None
    http.request("GET", "/jobs")
    assert http.last_status == 200
    with pytest.raises(Transient):
        http.request("GET", "/jobs")
    assert http.last_status == 200
    http.forget_status()
    assert http.last_status is None


def test_each_thread_sees_the_status_of_its_own_calls() -> None:
    """Two threads calling one board each read back the status their own call got."""
    both_sent = threading.Barrier(2)

    def handle(request: httpx.Request) -> httpx.Response:
        both_sent.wait(timeout=5)  # the two calls overlap
        return httpx.Response(201 if request.url.path == "/a" else 404, json={})

    http = board(httpx.MockTransport(handle), FakeClock(), attempts=1)
    seen: dict[str, int | None] = {}

    def call(path: str) -> None:
        http.request("POST", path, json={})
        seen[path] = http.last_status

    threads = [threading.Thread(target=call, args=(p,)) for p in ("/a", "/b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert seen == {"/a": 201, "/b": 404}


def test_a_returned_response_is_freed_without_the_cycle_collector() -> None:
    """Once the caller lets go of a response it is gone, body and all, with the collector off:
    a long-running daemon does not keep every page it read until a rare collection."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        response = board(scripted(200)[0], FakeClock()).request("GET", "/jobs")
        gone = weakref.ref(response)
        del response
        assert gone() is None
    finally:
        if collecting:
            gc.enable()


def test_calls_leave_nothing_for_the_cycle_collector() -> None:
    """A first sync sends tens of thousands of calls: each, retried or not, frees what it
    made once it returns, so none waits in memory for the collector to find it."""
    transport, seen = scripted(*[200, 500, 200, 429, 201] * 20)
    http = board(transport, FakeClock())
    http.request("GET", "/jobs")  # what every call shares is made by the first
    collecting = gc.isenabled()
    gc.disable()
    try:
        gc.collect()
        for index in range(40):
            http.request("GET" if index % 2 else "POST", f"/jobs/{index}", json={} if index % 2 == 0 else None)
        assert len(seen) > 41  # some calls were tried again
        assert _garbage_from("tenacity", "boardsync") == []
    finally:
        if collecting:
            gc.enable()


def _garbage_from(*packages: str) -> list[str]:
    """What the collector finds unreachable now, of types from `packages` (other tests' threads
    may leave garbage of their own meanwhile)."""
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        gc.collect()
        return [type(o).__qualname__ for o in gc.garbage if type(o).__module__.split(".")[0] in packages]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
