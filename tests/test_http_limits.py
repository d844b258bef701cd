"""The client-side rate limiter and the client's settings, on a fake clock."""

from __future__ import annotations

import threading

import httpx
import pytest
from pydantic import SecretStr

from boardsync.config.model import providers_model
from boardsync.connectors.hirempire import HirempireSettings
from boardsync.connectors.sorce import SorceSettings
from boardsync.connectors import build_connectors
from boardsync.connectors.http import RateLimiter, RetryPolicy, StopRequested
from boardsync.connectors.transport import LIMITS, TIMEOUT, BoardHttp, make_client, tls_context
from boardsync.errors import Transient
from tests.connector_helpers import FakeClock


def run(limiter: RateLimiter, clock: FakeClock, n: int, duration: float = 0.0) -> list[float]:
    """Start `n` requests one after another, each taking `duration`; their start times."""
    starts = []
    for _ in range(n):
        with limiter.slot():
            starts.append(clock.now)
            clock.now += duration
    return starts


def test_requests_within_the_limit_do_not_wait() -> None:
    """Up to `limit` requests in the window pass at once."""
    clock = FakeClock()
    limiter = RateLimiter(5, 60.0, clock=clock, sleep=clock.sleep)
    assert run(limiter, clock, 5) == [0.0] * 5 and clock.slept == []


def test_one_request_over_the_limit_waits_for_the_oldest_to_leave_the_window() -> None:
    """The sixth request of five-a-minute starts a full minute after the first one finished."""
    clock = FakeClock()
    limiter = RateLimiter(5, 60.0, clock=clock, sleep=clock.sleep)
    starts = run(limiter, clock, 6, duration=0.5)
    assert starts[5] == pytest.approx(60.5) and limiter.waited == pytest.approx(58.0)


def test_no_window_ever_holds_more_than_the_limit() -> None:
    """Over a long burst, any `per`-second span holds at most `limit` request starts."""
    clock = FakeClock()
    limiter = RateLimiter(60, 60.0, clock=clock, sleep=clock.sleep)
    starts = run(limiter, clock, 500, duration=0.01)
    for i, start in enumerate(starts):
        assert sum(1 for s in starts[i:] if s < start + 60.0) <= 60


def test_a_slot_is_dated_when_its_response_came_back() -> None:
    """A slow request counts from its end, so the board's count (at arrival) never exceeds it."""
    clock = FakeClock()
    limiter = RateLimiter(1, 10.0, clock=clock, sleep=clock.sleep)
    starts = run(limiter, clock, 2, duration=4.0)
    assert starts == [0.0, 14.0]


def test_a_failed_request_still_uses_its_slot() -> None:
    """An exception inside the slot releases it, dated, so the next one still waits."""
    clock = FakeClock()
    limiter = RateLimiter(1, 10.0, clock=clock, sleep=clock.sleep)
    with pytest.raises(RuntimeError), limiter.slot():
        raise RuntimeError("boom")
    assert run(limiter, clock, 1) == [10.0]


def test_a_limit_must_allow_something() -> None:
    """A limit of zero requests or a zero window is refused when built."""
    with pytest.raises(ValueError):
        RateLimiter(0, 1.0)
    with pytest.raises(ValueError):
        RateLimiter(1, 0.0)


def test_the_client_has_explicit_timeouts_a_small_pool_and_no_redirects() -> None:
    """make_client sets every timeout, a pool of a few connections, and never follows redirects."""
    client = make_client("http://board.test/v1", transport=httpx.MockTransport(lambda r: httpx.Response(200)))
    assert client.timeout == TIMEOUT and None not in (TIMEOUT.connect, TIMEOUT.read, TIMEOUT.write, TIMEOUT.pool)
    assert LIMITS.max_connections is not None and LIMITS.max_connections <= 10
    assert client.follow_redirects is False
    assert str(client.get("/jobs").request.url) == "http://board.test/v1/jobs"
    assert "authorization" not in client.headers


def test_the_client_keeps_no_cookie_a_board_sets() -> None:
    """A board's answer that sets a cookie leaves the client's jar empty, and the next
    request carries none: the boards authenticate every request by its header."""
    sent: list[str | None] = []

    def board(request: httpx.Request) -> httpx.Response:
        sent.append(request.headers.get("cookie"))
        return httpx.Response(200, headers={"set-cookie": "session=abc; Path=/"}, json={})

    client = make_client("http://board.test/v1", transport=httpx.MockTransport(board))
    client.get("/jobs")
    client.get("/jobs")
    assert sent == [None, None] and len(client.cookies) == 0


def test_the_board_clients_share_one_tls_context() -> None:
    """Loading the trusted certificates once, not once per board: the clients' pools hold the
    same context."""
    clients = [make_client(f"https://{name}.test") for name in ("sorce", "hirempire", "recruitifi")]
    contexts = {id(c._transport._pool._ssl_context) for c in clients}  # type: ignore[attr-defined]
    assert contexts == {id(tls_context())}
    for client in clients:
        client.close()


def test_shutdown_ends_a_wait_for_the_rate_limit() -> None:
    """A request waiting for a slot when `stop` is set is not sent: StopRequested."""
    stop = threading.Event()
    clock = FakeClock()

    def sleep_then_stop(seconds: float) -> None:
        clock.sleep(seconds)
        stop.set()

    limiter = RateLimiter(1, 60.0, clock=clock, sleep=sleep_then_stop, stop=stop)
    run(limiter, clock, 1)
    with pytest.raises(StopRequested):
        run(limiter, clock, 1)


def test_a_stopped_call_through_the_client_is_transient_and_unsent() -> None:
    """BoardHttp turns a shutdown during the limiter's wait into Transient, with nothing sent."""
    stop = threading.Event()
    stop.set()
    sent: list[httpx.Request] = []
    client = httpx.Client(transport=httpx.MockTransport(lambda r: sent.append(r) or httpx.Response(200)))
    http = BoardHttp("board", client, limiter=RateLimiter(5, 1.0, stop=stop), retry=RetryPolicy(stop=stop))
    with pytest.raises(Transient, match="shutting down"):
        http.request("GET", "http://board.test/jobs")
    assert sent == []


def test_build_connectors_ties_retries_and_limits_to_the_stop_event() -> None:
    """The stop event given to build_connectors reaches every connector's limiter and retries."""
    stop = threading.Event()
    providers = providers_model()(
        sorce=SorceSettings(api_key=SecretStr("sk_ext_x")),
        hirempire=HirempireSettings(token=SecretStr("sk-x"), company_id="c", requests_per_hour=500),
    )
    built = build_connectors(providers, stop=stop, transport=httpx.MockTransport(lambda r: httpx.Response(200)))
    for connector in built.values():
        http = connector.http  # type: ignore[attr-defined]
        assert http.retry.stop is stop and http.limiter.stop is stop
    assert (built["sorce"].http.limiter.limit, built["hirempire"].http.limiter.per) == (60, 3600.0)  # type: ignore[attr-defined]
