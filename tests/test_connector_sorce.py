"""The Sorce connector against the Sorce sandbox: locations, gates, frozen jobs, the state
machine, paging and expiry, and how each of the board's errors comes out."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from boardsync.config.model import Posting
from boardsync.connectors.base import Remote, Unrenderable
from boardsync.connectors.http import RateLimiter
from boardsync.connectors.sorce import SorceConnector, SorceSettings
from boardsync.connectors.transport import make_client
from boardsync.errors import Blocked, Malformed, ProviderError, Rejected
from boardsync.sandbox.core import Fault
from boardsync.sandbox.server import Sandbox
from tests import connector_helpers as helpers
from tests.connector_helpers import FakeClock

SEARCH = "GET /api/external/v1/locations/search"
JOBS = "/api/external/v1/jobs"
ACME = "cmp_acme"


def render(connector: SorceConnector, p: Posting) -> dict[str, object]:
    connector.prepare([p])
    return dict(connector.render(p))


def scripted(answer: Callable[[httpx.Request], httpx.Response], clock: FakeClock) -> SorceConnector:
    """A connector whose board is `answer` (`httpx.MockTransport`): for answers the sandbox,
    being Sorce as documented, never gives."""
    settings = SorceSettings(api_key=SecretStr("sk_ext_scripted"), base_url="http://sorce.test/api/external/v1")
    return SorceConnector(
        settings,
        make_client(settings.base_url, transport=httpx.MockTransport(answer)),
        limiter=RateLimiter(60, 60.0, clock=clock, sleep=clock.sleep),
        retry=helpers.retry_policy(clock),
    )


# ------------------------------------------------------------------------------ locations


def test_prepare_searches_each_distinct_city_once_and_caches_it(sandbox: Sandbox) -> None:
    """Three postings in two cities cost two searches, and a second prepare costs none."""
    connector = helpers.sorce(sandbox)
    chicago = [{"city": "Chicago", "country": "United States"}]
    postings = [
        helpers.posting(key="a"),
        helpers.posting(key="b"),
        helpers.posting(key="c", locations=chicago),
    ]
    connector.prepare(postings)
    connector.prepare(postings)
    assert sandbox.sorce.request_counts()[SEARCH] == 2
    assert connector.render(postings[2])["locations"] == [{"locationId": "loc_us_il_chicago"}]


def test_prepare_prefers_the_city_in_the_postings_state(sandbox: Sandbox) -> None:
    """Portland, Maine is not Portland, Oregon."""
    connector = helpers.sorce(sandbox)
    p = helpers.posting(locations=[{"city": "Portland", "state": "Maine", "country": "United States"}])
    assert render(connector, p)["locations"] == [{"locationId": "loc_us_me_portland"}]


def test_a_given_location_id_is_used_without_a_search(sandbox: Sandbox) -> None:
    """sorce_location_id skips the lookup entirely."""
    connector = helpers.sorce(sandbox)
    p = helpers.posting(locations=[{"city": "X", "country": "Y", "sorce_location_id": "loc_us_tx_austin"}])
    assert render(connector, p)["locations"] == [{"locationId": "loc_us_tx_austin"}]
    assert SEARCH not in sandbox.sorce.request_counts()


def test_a_city_sorce_does_not_know_cannot_be_rendered_and_names_the_city(sandbox: Sandbox) -> None:
    """No suggestion is the city: render refuses it with a problem on `locations` naming the
    place, instead of sending it as typed for Sorce to refuse at publish."""
    connector = helpers.sorce(sandbox)
    p = helpers.posting(locations=[{"city": "Atlantis", "country": "United States"}])
    connector.prepare([p])
    with pytest.raises(Unrenderable) as caught:
        connector.render(p)
    assert caught.value.problem.field == "locations" and "Atlantis" in caught.value.problem.message
    for status in ("draft", "paused"):
        with pytest.raises(Unrenderable):
            connector.render(helpers.posting(status=status, locations=[{"city": "Atlantis", "country": "United States"}]))


def test_an_unknown_city_does_not_hold_up_closing_its_posting(sandbox: Sandbox) -> None:
    """A closed posting's content is never sent, so its unknown city refuses nothing."""
    connector = helpers.sorce(sandbox)
    p = helpers.posting(status="closed", locations=[{"city": "Atlantis", "country": "United States"}])
    assert render(connector, p)["locations"] == [{"city": "Atlantis", "stateProvince": None, "country": "United States"}]


def test_a_suggestion_of_another_city_or_state_is_not_taken(sandbox: Sandbox) -> None:
    """"Port" finds Portland, and Portland, Texas is in no suggestion: neither is taken."""
    connector = helpers.sorce(sandbox)
    for place in ({"city": "Port", "country": "United States"},
                  {"city": "Portland", "state": "TX", "country": "United States"}):
        p = helpers.posting(locations=[place])
        connector.prepare([p])
        with pytest.raises(Unrenderable):
            connector.render(p)


def test_a_state_abbreviation_is_the_state_sorce_spells_out(sandbox: Sandbox) -> None:
    """Portland, ME is Portland, Maine; and once a job shows Denver, Colorado, a posting in
    Denver, CO costs no search."""
    connector = helpers.sorce(sandbox)
    maine = helpers.posting(locations=[{"city": "Portland", "state": "ME", "country": "United States"}])
    assert render(connector, maine)["locations"] == [{"locationId": "loc_us_me_portland"}]
    denver = helpers.posting(locations=[{"city": "Denver", "state": "CO", "country": "United States",
                                         "sorce_location_id": "loc_us_co_denver"}])
    connector.create(denver, render(connector, denver), publish=False)
    fresh = helpers.sorce(sandbox)
    fresh.observe()
    searches = sandbox.sorce.request_counts().get(SEARCH, 0)
    by_name = helpers.posting(locations=[{"city": "Denver", "state": "CO", "country": "United States"}])
    assert render(fresh, by_name)["locations"] == [{"locationId": "loc_us_co_denver"}]
    assert sandbox.sorce.request_counts().get(SEARCH, 0) == searches


# ------------------------------------------------------------------------------ gates and errors


def test_an_incomplete_publish_is_rejected_with_sorces_fields(sandbox: Sandbox) -> None:
    """422 VALIDATION_FAILED comes back as Rejected with every field Sorce named."""
    connector = helpers.sorce(sandbox)
    p = helpers.posting(status="draft", salary=None, qualifications=[], boards={"sorce": {}})
    with pytest.raises(Rejected) as caught:
        connector.create(p, render(connector, p), publish=True)
    error = caught.value
    assert (error.status, error.code) == (422, "VALIDATION_FAILED")
    assert {"salaryMin", "bidPerQualifiedApplicantCents", "qualifications"} <= set(error.fields)
    assert sandbox.sorce.jobs() == []


@pytest.mark.parametrize(
    ("gates", "gate", "code"),
    [
        ({"terms_accepted": False}, "terms", "AGREEMENT_OUTDATED"),
        ({"payment_method": False}, "payment", "PAYMENT_METHOD_REQUIRED"),
    ],
)
def test_company_gates_block_the_whole_board(sandbox: Sandbox, gates: dict[str, bool], gate: str, code: str) -> None:
    """Terms and payment are company-wide gates only a person clears: Blocked, not retried."""
    connector = helpers.sorce(sandbox)
    sandbox.sorce.set_gates(ACME, **gates)
    p = helpers.posting()
    with pytest.raises(Blocked) as caught:
        connector.create(p, render(connector, p), publish=True)
    assert (caught.value.gate, caught.value.company_wide, caught.value.code) == (gate, True, code)
    assert "dashboard" in str(caught.value)
    assert sandbox.sorce.request_counts()["POST /api/external/v1/jobs"] == 1


def test_a_revoked_key_blocks_the_board_on_credentials(sandbox: Sandbox) -> None:
    """401 INVALID_SERVICE_KEY is an operator's problem for every posting: Blocked(credentials)."""
    connector = helpers.sorce(sandbox)
    sandbox.sorce.revoke_key(helpers.sorce_key())
    with pytest.raises(Blocked) as caught:
        connector.observe()
    assert (caught.value.gate, caught.value.company_wide, caught.value.status) == ("credentials", True, 401)
    assert helpers.sorce_key() not in str(caught.value)


def test_a_job_that_vanished_is_rejected_not_found(sandbox: Sandbox) -> None:
    """Another company's or a missing job id answers 404 NOT_FOUND."""
    connector = helpers.sorce(sandbox)
    from boardsync.connectors.base import Remote

    with pytest.raises(Rejected) as caught:
        connector.transition(Remote("job_nope", "active", {}), "pause")
    assert caught.value.code == "NOT_FOUND"


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        ({"Content-Type": "text/html"}, b"<html><body><h1>404 Not Found</h1></body></html>"),
        ({"Content-Type": "application/json"}, b'{"message": "Not Found"}'),
        ({"Content-Type": "application/json"}, b'{"error": {"code": "ROUTE_NOT_FOUND", "message": "No route."}}'),
    ],
    ids=["html", "json-without-envelope", "another-code"],
)
def test_a_404_without_not_found_is_an_error_not_a_gone_job(headers: dict[str, str], body: bytes) -> None:
    """Only Sorce's NOT_FOUND says there is no such job: a 404 in any other body (a proxy's
    page, a route the API does not have) raises, naming the call, instead of reading as gone
    (a gone job would be created again: a second, paid job)."""
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.method} {request.url.path}")
        return httpx.Response(404, headers=headers, content=body)

    with pytest.raises(ProviderError) as caught:
        scripted(answer, FakeClock()).read("job_1")
    assert str(caught.value).startswith("sorce GET /jobs/job_1: 404")
    assert "did not carry NOT_FOUND" in str(caught.value)
    assert seen == [f"GET {JOBS}/job_1"]


@pytest.mark.parametrize(
    "answer", [httpx.Response(204), httpx.Response(200, json={}), httpx.Response(200, json={"ok": True})],
    ids=["no-content", "empty", "another-shape"],
)
def test_a_status_change_answered_without_a_job_reads_the_job_again(answer: httpx.Response) -> None:
    """Only publish's answer is documented: a pause the board took and answered without the
    Job is not a failed change; the job is read again by id and shows where it is now."""
    sent: list[str] = []

    def board(request: httpx.Request) -> httpx.Response:
        sent.append(f"{request.method} {request.url.path.rsplit('/v1', 1)[1]}")
        if request.method == "GET":
            return httpx.Response(200, json={"id": "job_1", "status": "PAUSED", "title": "Backend Engineer"})
        return answer

    remote = Remote(remote_id="job_1", status="active", spec={"title": "Backend Engineer"})
    assert scripted(board, FakeClock()).transition(remote, "pause").status == "paused"
    assert sent == ["POST /jobs/job_1/pause", "GET /jobs/job_1"]


def test_a_404_not_found_reads_as_no_such_job() -> None:
    """The documented envelope with NOT_FOUND is the one 404 that means the job is gone."""
    envelope = {"error": {"code": "NOT_FOUND", "message": "Job not found."}}
    assert scripted(lambda r: httpx.Response(404, json=envelope), FakeClock()).read("job_1") is None


RATE_LIMITED = {"code": "RATE_LIMITED", "message": "Too many requests."}


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        ({"retryAfterSeconds": 7, "error": RATE_LIMITED}, {}),
        ({"error": {**RATE_LIMITED, "retryAfterSeconds": 7}}, {"Retry-After": "30"}),
        ({"error": RATE_LIMITED}, {"Retry-After": "7"}),
    ],
    ids=["top-level", "in-error-before-header", "header"],
)
def test_a_429_waits_the_retry_after_seconds_wherever_sorce_puts_it(
    body: dict[str, Any], headers: dict[str, str]
) -> None:
    """``retryAfterSeconds`` is documented, its place is not: it is read inside ``error`` or
    at the top of the body, and the ``Retry-After`` header is the fallback."""
    last_page = {"items": [], "nextCursor": None}
    answers = [httpx.Response(429, json=body, headers=headers), httpx.Response(200, json=last_page)]
    clock = FakeClock()
    assert scripted(lambda r: answers.pop(0), clock).observe() == []
    assert clock.slept == [7.0]


# ------------------------------------------------------------------------------ updates


def test_update_of_a_frozen_job_leaves_the_frozen_arrays_out(sandbox: Sandbox) -> None:
    """With applications the job is frozen: a change to qualifications is not sent (so no
    JOB_FROZEN), and the rest of the change lands."""
    connector = helpers.sorce(sandbox)
    p = helpers.posting()
    created = connector.create(p, render(connector, p), publish=True)
    sandbox.sorce.add_applications(created.remote_id, 3)
    frozen = next(r for r in connector.observe() if r.remote_id == created.remote_id)
    assert frozen.frozen_fields == {"qualifications", "questions"} and frozen.applications == 3
    new_qualifications = [{"text": "Ten years of Rust", "kind": "REQUIRED"}]
    after = connector.update(frozen, {"title": "Platform Engineer", "qualifications": new_qualifications})
    assert after.spec["title"] == "Platform Engineer"
    assert after.spec["qualifications"] == created.spec["qualifications"]


def test_update_with_only_frozen_fields_makes_no_call(sandbox: Sandbox) -> None:
    """Nothing left to send after leaving out frozen fields: no PATCH at all."""
    connector = helpers.sorce(sandbox)
    p = helpers.posting()
    created = connector.create(p, render(connector, p), publish=True)
    sandbox.sorce.add_applications(created.remote_id)
    frozen = next(r for r in connector.observe() if r.remote_id == created.remote_id)
    assert connector.update(frozen, {"questions": []}) is frozen
    assert not any(k.startswith("PATCH") for k in sandbox.sorce.request_counts())


def test_update_of_a_closed_job_is_rejected_not_editable(sandbox: Sandbox) -> None:
    """A closed job cannot be edited: Rejected with JOB_NOT_EDITABLE."""
    connector = helpers.sorce(sandbox)
    p = helpers.posting()
    closed = connector.transition(connector.create(p, render(connector, p), publish=True), "close")
    with pytest.raises(Rejected) as caught:
        connector.update(closed, {"title": "Again"})
    assert caught.value.code == "JOB_NOT_EDITABLE"


# ------------------------------------------------------------------------------ lifecycle


def test_an_illegal_transition_is_rejected_after_reading_the_job(sandbox: Sandbox) -> None:
    """Pausing a draft is INVALID_TRANSITION; the job is read, is not paused, so it is Rejected."""
    connector = helpers.sorce(sandbox)
    p = helpers.posting()
    draft = connector.create(p, render(connector, p), publish=False)
    with pytest.raises(Rejected) as caught:
        connector.transition(draft, "pause")
    assert caught.value.code == "INVALID_TRANSITION"


def test_a_job_expires_thirty_days_after_publish_and_then_plans_nothing(sandbox: Sandbox) -> None:
    """After 30 days the job observes as expired with its expiry date, and lifecycle is empty."""
    connector = helpers.sorce(sandbox)
    p = helpers.posting()
    created = connector.create(p, render(connector, p), publish=True)
    assert created.expires_at is not None
    sandbox.clock.advance(31 * 86400)
    expired = connector.observe()[0]
    assert (expired.status, expired.expires_at) == ("expired", created.expires_at)
    assert connector.lifecycle("active", expired.status) == []


def test_observe_reads_every_page(sandbox: Sandbox) -> None:
    """More jobs than one page holds are all observed, in ⌈N/100⌉ requests."""
    connector = helpers.sorce(sandbox)
    p = helpers.posting()
    spec = render(connector, p)
    sandbox.sorce.set_rate_limit(1000)
    connector.http.limiter.limit = 1000
    for i in range(101):
        connector.create(p, {**spec, "title": f"Job {i}"}, publish=False)
    observed = connector.observe()
    assert len({r.remote_id for r in observed}) == 101
    assert sandbox.sorce.request_counts()["GET /api/external/v1/jobs"] == 2


@pytest.mark.parametrize("call", ["observe", "find"])
def test_a_page_without_next_cursor_fails_the_read(sandbox: Sandbox, call: str) -> None:
    """A page whose answer lacks ``nextCursor`` (null is the last page) is malformed: taken as
    the last page, the jobs after it would go unseen, and a lost create be sent again."""
    connector = helpers.sorce(sandbox)
    p = helpers.posting()
    spec = render(connector, p)
    connector.create(p, spec, publish=False)
    sandbox.sorce.faults.add(Fault("rewrite", method="GET", path=JOBS, drop=["nextCursor"], times=None))
    with pytest.raises(Malformed) as caught:
        connector.observe() if call == "observe" else connector.find(p, spec)
    assert (caught.value.call, caught.value.field) == ("GET /jobs", "nextCursor")
    assert str(caught.value).startswith("sorce GET /jobs: nextCursor: missing")
