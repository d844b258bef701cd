"""Every fault the sandbox injects, met by the connectors over real HTTP on loopback:
server errors, 429 with Retry-After, connection resets, timeouts and the lost response.
Waits go through a fake clock tied to the sandbox's, so nothing here sleeps for a backoff."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from pydantic import SecretStr

from boardsync.connectors.hirempire import HirempireConnector, HirempireSettings
from boardsync.connectors.http import HttpConnector, RateLimiter, RetryPolicy
from boardsync.connectors.transport import make_client
from boardsync.connectors.sorce import SorceConnector, SorceSettings
from boardsync.errors import Ambiguous, Transient
from boardsync.sandbox.core import Fault
from boardsync.sandbox.server import Sandbox
from tests import connector_helpers as helpers
from tests.connector_helpers import FakeClock

JOBS = "/api/external/v1/jobs"
OTHER_KEY = "sk_ext_sandbox_globex"
ADD_JOB = "/v1/add-job"


def sorce_jobs(sandbox: Sandbox) -> list[dict[str, object]]:
    return sandbox.sorce.jobs()


def prepared(connector: SorceConnector, **overrides: object) -> tuple[helpers.Posting, dict[str, object]]:
    p = helpers.posting(**overrides)  # type: ignore[arg-type]
    connector.prepare([p])
    return p, dict(connector.render(p))


# ------------------------------------------------------------------------------ status faults


def test_a_500_on_a_read_is_retried_and_the_read_succeeds(sandbox: Sandbox) -> None:
    """Observe meets one 500 INTERNAL, waits (on the fake clock) and reads the job list."""
    clock = FakeClock(sandbox.clock)
    connector = helpers.sorce(sandbox, clock)
    p, spec = prepared(connector)
    connector.create(p, spec, publish=True)
    sandbox.sorce.faults.add(Fault("status", method="GET", path=JOBS, status=500))
    assert [r.spec["title"] for r in connector.observe()] == [spec["title"]]
    assert len(clock.slept) == 1
    assert sandbox.sorce.request_counts()[f"GET {JOBS}"] == 2


def test_a_500_that_persists_becomes_transient(sandbox: Sandbox) -> None:
    """A board that keeps failing ends the call as Transient with the board's code."""
    connector = helpers.sorce(sandbox)
    sandbox.sorce.faults.add(Fault("status", method="GET", path=JOBS, status=500, times=None))
    with pytest.raises(Transient) as caught:
        connector.observe()
    assert (caught.value.status, caught.value.code) == (500, "INTERNAL")


def test_a_500_on_create_is_not_resent(sandbox: Sandbox) -> None:
    """A create answered 500 is reported once as Transient; the connector does not send it again."""
    connector = helpers.sorce(sandbox)
    p, spec = prepared(connector)
    sandbox.sorce.faults.add(Fault("status", method="POST", path=JOBS, status=500))
    with pytest.raises(Transient):
        connector.create(p, spec, publish=True)
    assert sandbox.sorce.request_counts()[f"POST {JOBS}"] == 1 and sorce_jobs(sandbox) == []


def test_a_429_waits_what_sorce_asks_then_creates(sandbox: Sandbox) -> None:
    """429 RATE_LIMITED with retryAfterSeconds 7: the create waits 7 fake seconds and goes through."""
    clock = FakeClock(sandbox.clock)
    connector = helpers.sorce(sandbox, clock)
    p, spec = prepared(connector)
    sandbox.sorce.faults.add(Fault("status", method="POST", path=JOBS, status=429, retry_after=7))
    created = connector.create(p, spec, publish=True)
    assert clock.slept == [7.0]
    assert [j["id"] for j in sorce_jobs(sandbox)] == [created.remote_id]


def test_a_429_on_hirempire_waits_its_retry_after_header(sandbox: Sandbox) -> None:
    """Hirempire's 429 carries only the header; the connector waits that long and reads."""
    clock = FakeClock(sandbox.clock)
    connector = helpers.hirempire(sandbox, clock)
    sandbox.hirempire.faults.add(Fault("status", method="GET", path="/v1/jobs", status=429, retry_after=12))
    assert connector.observe() == []
    assert clock.slept == [12.0]


def test_a_429_on_recruitifi_waits_and_the_link_comes(sandbox: Sandbox) -> None:
    """RecruitiFi's 429 with Retry-After is waited out on the fake clock."""
    clock = FakeClock(sandbox.clock)
    connector = helpers.recruitifi(sandbox, clock)
    sandbox.recruitifi.faults.add(Fault("status", method="GET", path="/v1/links/job", status=429, retry_after=2))
    assert connector.link(helpers.posting()).url
    assert clock.slept == [2.0]


# ------------------------------------------------------------------------------ resets


def test_a_reset_read_is_retried(sandbox: Sandbox) -> None:
    """A connection dropped under a GET is sent again and answers."""
    connector = helpers.sorce(sandbox)
    sandbox.sorce.faults.add(Fault("reset", method="GET", path=JOBS))
    assert connector.observe() == []
    assert sandbox.sorce.request_counts()[f"GET {JOBS}"] == 2


def test_a_reset_create_is_ambiguous_and_find_settles_it_as_never_made(sandbox: Sandbox) -> None:
    """A create whose connection dropped is Ambiguous (never resent); find shows no job was made."""
    connector = helpers.sorce(sandbox)
    p, spec = prepared(connector)
    sandbox.sorce.faults.add(Fault("reset", method="POST", path=JOBS))
    with pytest.raises(Ambiguous):
        connector.create(p, spec, publish=True)
    assert sandbox.sorce.request_counts()[f"POST {JOBS}"] == 1
    assert connector.find(p, spec) is None and sorce_jobs(sandbox) == []


# ------------------------------------------------------------------------------ timeouts


def _slow_sorce(sandbox: Sandbox, clock: FakeClock) -> SorceConnector:
    # The delayed request is still served after the client gave up on it, possibly during the
    # next test; on its own key it cannot count against another test's rate-limit window.
    connector = helpers.sorce(sandbox, clock, key=OTHER_KEY)
    client = make_client(sandbox.sorce_url, timeout=httpx.Timeout(5.0, read=0.2))
    return SorceConnector(connector.settings, client, limiter=connector.http.limiter, retry=connector.http.retry)


def test_a_read_that_times_out_is_retried(sandbox: Sandbox) -> None:
    """A GET slower than the read timeout is given up on and sent again."""
    connector = _slow_sorce(sandbox, FakeClock(sandbox.clock))
    sandbox.sorce.faults.add(Fault("latency", method="GET", path=JOBS, latency_ms=600))
    assert connector.observe() == []
    assert sandbox.sorce.request_counts()[f"GET {JOBS}"] == 2


def test_reads_that_keep_timing_out_end_transient(sandbox: Sandbox) -> None:
    """When every try times out the call ends as Transient after the policy's attempts."""
    clock = FakeClock(sandbox.clock)
    connector = _slow_sorce(sandbox, clock)
    connector.http.retry = RetryPolicy(attempts=2, sleep=clock.sleep, clock=clock)
    sandbox.sorce.faults.add(Fault("latency", method="GET", path=JOBS, latency_ms=600, times=2))
    with pytest.raises(Transient, match="ReadTimeout"):
        connector.observe()


# ------------------------------------------------------------------------------ the whole-request deadline


def _sorce_with_deadline(sandbox: Sandbox, clock: FakeClock, seconds: float, attempts: int = 1) -> SorceConnector:
    connector = helpers.sorce(sandbox, clock, key=OTHER_KEY)
    connector.http.retry = RetryPolicy(attempts=attempts, sleep=clock.sleep, clock=clock, deadline=seconds)
    return connector


def test_a_trickling_read_ends_at_the_deadline_with_a_clear_error(sandbox: Sandbox) -> None:
    """A body sent one byte every 0.1 s — each byte well within the read timeout — ends the
    GET at its 0.5 s deadline, as Transient naming the deadline, not after the whole body."""
    clock = FakeClock(sandbox.clock)
    connector = _sorce_with_deadline(sandbox, clock, 0.5)
    sandbox.sorce.faults.add(Fault("trickle", method="GET", path=JOBS, latency_ms=100))
    started = time.monotonic()
    with pytest.raises(Transient) as caught:
        connector.observe()
    took = time.monotonic() - started
    assert 0.5 <= took < 2.0, took  # the body (tens of bytes) would take seconds
    assert caught.value.unanswered and "RequestDeadline" in str(caught.value)
    assert "0.5 s deadline" in str(caught.value) and "GET /jobs" in str(caught.value)


def test_a_trickling_read_is_retried_within_the_budget(sandbox: Sandbox) -> None:
    """The deadline fails a try like a read timeout: a GET is sent again, and the untroubled
    second answer is what the caller gets."""
    clock = FakeClock(sandbox.clock)
    connector = _sorce_with_deadline(sandbox, clock, 0.5, attempts=2)
    sandbox.sorce.faults.add(Fault("trickle", method="GET", path=JOBS, latency_ms=100, times=1))
    assert connector.observe() == []
    assert sandbox.sorce.request_counts()[f"GET {JOBS}"] == 2


def test_a_trickling_create_is_ambiguous_at_the_deadline(sandbox: Sandbox) -> None:
    """A create whose answer trickles past the deadline was sent and may have taken effect:
    Ambiguous, never sent twice."""
    clock = FakeClock(sandbox.clock)
    connector = _sorce_with_deadline(sandbox, clock, 0.5, attempts=3)
    p, spec = prepared(connector)
    sandbox.sorce.faults.add(Fault("trickle", method="POST", path=JOBS, latency_ms=100, times=None))
    with pytest.raises(Ambiguous, match="deadline"):
        connector.create(p, spec, publish=True)
    assert sandbox.sorce.request_counts()[f"POST {JOBS}"] == 1


# ------------------------------------------------------------------------------ lost responses


def test_a_lost_sorce_create_is_ambiguous_and_find_returns_the_one_job(sandbox: Sandbox) -> None:
    """The board created the job and the answer was lost: Ambiguous, exactly one job on the
    board, and `find` returns it."""
    connector = helpers.sorce(sandbox)
    p, spec = prepared(connector)
    sandbox.sorce.faults.add(Fault("lost_response", method="POST", path=JOBS))
    with pytest.raises(Ambiguous) as caught:
        connector.create(p, spec, publish=True)
    assert caught.value.call == "POST /jobs"
    jobs = sorce_jobs(sandbox)
    assert len(jobs) == 1 and sandbox.sorce.request_counts()[f"POST {JOBS}"] == 1
    found = connector.find(p, spec)
    assert found is not None and found.remote_id == jobs[0]["id"] and found.status == "active"


def test_find_prefers_the_newest_live_match_over_older_and_closed_ones(sandbox: Sandbox) -> None:
    """Among jobs with the same content, find returns the newest one that is not closed."""
    connector = helpers.sorce(sandbox)
    p, spec = prepared(connector)
    older = connector.create(p, spec, publish=True)
    newer = connector.create(p, spec, publish=True)
    newest = connector.create(p, spec, publish=True)
    connector.transition(newest, "close")
    found = connector.find(p, spec)
    assert found is not None and found.remote_id == newer.remote_id != older.remote_id


def test_find_ignores_a_job_whose_content_differs(sandbox: Sandbox) -> None:
    """A job with another bid is not the lost create."""
    connector = helpers.sorce(sandbox)
    p, spec = prepared(connector)
    connector.create(p, spec, publish=True)
    assert connector.find(p, {**spec, "bidPerQualifiedApplicantCents": 9_999}) is None


def test_find_ignores_a_job_in_another_city(sandbox: Sandbox) -> None:
    """A job with the same content in another city is another posting's, never the lost create."""
    connector = helpers.sorce(sandbox)
    p, spec = prepared(connector)
    connector.create(p, spec, publish=True)
    _, elsewhere = prepared(connector, locations=[{"city": "Austin", "state": "Texas", "country": "United States"}])
    assert elsewhere["locations"] != spec["locations"]
    assert connector.find(p, elsewhere) is None


# ------------------------------------------------------------------------------ reads by id


def test_sorce_reads_a_job_the_list_leaves_out_and_none_only_for_404(sandbox: Sandbox) -> None:
    """A job hidden from GET /jobs is not observed, but `read` finds it by id; an id Sorce
    does not know reads as None."""
    connector = helpers.sorce(sandbox)
    p, spec = prepared(connector)
    created = connector.create(p, spec, publish=True)
    sandbox.sorce.set_listed(created.remote_id, False)
    assert connector.observe() == []
    found = connector.read(created.remote_id)
    assert found is not None and found.remote_id == created.remote_id and found.status == "active"
    assert connector.read("job_does_not_exist") is None


def test_a_failing_read_by_id_is_an_error_not_a_missing_job(sandbox: Sandbox) -> None:
    """Only a 404 means gone: a read answered 500 (after retries) raises, never None."""
    connector = helpers.sorce(sandbox)
    p, spec = prepared(connector)
    created = connector.create(p, spec, publish=True)
    sandbox.sorce.faults.add(Fault("status", status=500, method="GET", path=f"{JOBS}/.*", times=None))
    with pytest.raises(Transient):
        connector.read(created.remote_id)


def test_hirempire_reads_a_job_by_id_and_none_once_deleted(sandbox: Sandbox) -> None:
    """get-job returns the job with its sources; after delete-job it answers 404: None."""
    connector = helpers.hirempire(sandbox)
    p = helpers.posting()
    created = connector.create(p, connector.render(p), publish=True)
    found = connector.read(created.remote_id)
    assert found is not None and found.posting_key == p.key and set(found.channels) == set(p.channels)
    sandbox.hirempire.delete_job(created.remote_id)
    assert connector.read(created.remote_id) is None


def test_a_lost_hirempire_create_is_found_by_its_slug(sandbox: Sandbox) -> None:
    """add-job's answer lost: Ambiguous; one job carries the posting's slug and find returns it."""
    connector = helpers.hirempire(sandbox)
    p = helpers.posting()
    spec = connector.render(p)
    sandbox.hirempire.faults.add(Fault("lost_response", method="POST", path=ADD_JOB))
    with pytest.raises(Ambiguous):
        connector.create(p, spec, publish=True)
    jobs = sandbox.hirempire.jobs()
    assert len(jobs) == 1
    found = connector.find(p, spec)
    assert found is not None and found.remote_id == jobs[0]["id"] and found.posting_key == p.key
    assert set(found.channels) == {"linkedin", "newsletter"}


def test_a_hirempire_create_sent_again_after_a_loss_returns_the_existing_job(sandbox: Sandbox) -> None:
    """Should a caller send the create again, the slug's 409 makes the connector return the job
    that exists instead of a second one."""
    connector = helpers.hirempire(sandbox)
    p = helpers.posting()
    spec = connector.render(p)
    sandbox.hirempire.faults.add(Fault("lost_response", method="POST", path=ADD_JOB))
    with pytest.raises(Ambiguous):
        connector.create(p, spec, publish=True)
    again = connector.create(p, spec, publish=True)
    assert [j["id"] for j in sandbox.hirempire.jobs()] == [again.remote_id]


def test_a_lost_publish_is_settled_by_reading_the_job(sandbox: Sandbox) -> None:
    """publish's answer lost: Ambiguous; publishing again meets INVALID_TRANSITION, reads the
    job, finds it ACTIVE and reports success."""
    connector = helpers.sorce(sandbox)
    p, spec = prepared(connector)
    draft = connector.create(p, spec, publish=False)
    sandbox.sorce.faults.add(Fault("lost_response", method="POST", path=f"{JOBS}/{draft.remote_id}/publish"))
    with pytest.raises(Ambiguous):
        connector.transition(draft, "publish")
    assert connector.transition(draft, "publish").status == "active"


def test_a_lost_patch_is_retried_because_it_converges(sandbox: Sandbox) -> None:
    """PATCH replaces whole sets, so a lost answer is retried and the update lands once."""
    connector = helpers.sorce(sandbox)
    p, spec = prepared(connector)
    created = connector.create(p, spec, publish=True)
    sandbox.sorce.faults.add(Fault("lost_response", method="PATCH", path=f"{JOBS}/{created.remote_id}"))
    updated = connector.update(created, {"title": "Staff Engineer"})
    assert updated.spec["title"] == "Staff Engineer"
    assert sandbox.sorce.request_counts()[f"PATCH {JOBS}/{created.remote_id}"] == 2


# ------------------------------------------------------------------------------ rate limit


def test_a_burst_of_500_sorce_reads_never_trips_the_rate_limit(sandbox: Sandbox) -> None:
    """The client-side limiter keeps 500 reads within 60 a minute: no 429 ever comes back
    (a single 429 would fail the call, retries being off), and the limiter did wait."""
    clock = FakeClock(sandbox.clock)
    connector = helpers.sorce(sandbox, clock, retry=RetryPolicy(attempts=1, sleep=clock.sleep, clock=clock))
    limiter = connector.http.limiter
    assert isinstance(limiter, RateLimiter) and limiter.limit == 60
    for _ in range(500):
        assert connector.observe() == []
    assert sandbox.sorce.request_counts() == {f"GET {JOBS}": 500}
    assert limiter.waited >= 60 * 7  # at least eight minutes of traffic squeezed into windows


# ------------------------------------------------------------------------------ not the board answering


class _LoginPage(BaseHTTPRequestHandler):
    """What a captive portal or a misrouted proxy answers to anything: 200 and HTML."""

    def do_GET(self) -> None:  # noqa: N802 (the standard library's name)
        body = b"<html><body>Please sign in to the network</body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


class _CutShort(_LoginPage):
    """A list of jobs that ends in the middle of its second job (a proxy that gave up)."""

    def do_GET(self) -> None:  # noqa: N802 (the standard library's name)
        job = '{"id":"hm_1","job_title":"Engineer","status":"active"}'
        body = ('{"success":true,"total_jobs":2,"jobs":[' + job + ',{"id":"hm_2","job_ti').encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def login_page() -> Iterator[str]:
    """A real server on loopback that answers every GET with 200 and an HTML page."""
    yield from _serving(_LoginPage)


@pytest.fixture
def cut_short() -> Iterator[str]:
    """A real server on loopback that answers every GET with 200 and JSON cut short."""
    yield from _serving(_CutShort)


def _serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.mark.parametrize("board", ["sorce", "hirempire"])
def test_a_200_that_is_not_json_is_transient_and_names_the_board_and_call(login_page: str, board: str) -> None:
    """A page that is not the board's JSON (a proxy's login page) is Transient naming the board
    and the call, never a JSONDecodeError from deep inside a connector."""
    connector: HttpConnector
    if board == "sorce":
        settings = SorceSettings(api_key=SecretStr("sk_ext_x"), base_url=login_page)
        connector = SorceConnector(settings, make_client(login_page))
    else:
        hm_settings = HirempireSettings(token=SecretStr("sk-x"), company_id="cmp", base_url=login_page)
        connector = HirempireConnector(hm_settings, make_client(login_page))
    with pytest.raises(Transient) as caught:
        connector.observe()
    assert str(caught.value).startswith(f"{board} GET /jobs: 200: answered without a JSON object")
    assert "Please sign in" in str(caught.value)


def test_a_hirempire_list_cut_short_after_its_first_job_is_transient(cut_short: str) -> None:
    """The list is read a job at a time, but a body that breaks after the first job still
    fails the whole read, as a body that is not JSON: no job of it is believed."""
    settings = HirempireSettings(token=SecretStr("sk-x"), company_id="cmp", base_url=cut_short)
    connector = HirempireConnector(settings, make_client(cut_short))
    with pytest.raises(Transient) as caught:
        connector.observe()
    assert str(caught.value).startswith("hirempire GET /jobs: 200: answered without a JSON object")
    assert '"job_title":"Engineer"' in str(caught.value)


# ------------------------------------------------------------------------------ every board


BUSY_CALLS = {
    "sorce": ("GET", JOBS, lambda c: c.observe()),
    "hirempire": ("GET", "/v1/jobs", lambda c: c.observe()),
    "recruitifi": ("GET", "/v1/links/job", lambda c: c.link(helpers.posting())),
}


@pytest.mark.parametrize("board", sorted(BUSY_CALLS))
@pytest.mark.parametrize("status", [429, 503])
def test_a_busy_board_that_outlasts_the_retries_is_transient_with_its_wait(
    sandbox: Sandbox, board: str, status: int
) -> None:
    """On every board a 429 or 503 that outlasts the retries ends the call as `Transient`,
    with the status, the board's own message and the wait the board asked for."""
    method, path, call = BUSY_CALLS[board]
    connector = getattr(helpers, board)(sandbox, FakeClock(sandbox.clock))
    getattr(sandbox, board).faults.add(Fault("status", method=method, path=path, status=status, retry_after=3,
                                             times=None))
    with pytest.raises(Transient) as caught:
        call(connector)
    assert (caught.value.status, caught.value.retry_after) == (status, 3.0)
    assert caught.value.reason and caught.value.reason != "Service Unavailable", caught.value.reason
