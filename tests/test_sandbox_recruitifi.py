"""The RecruitiFi simulator over real HTTP: tokens, the four link endpoints with every error
row, link and token expiry on the clock, the per-token rate limit, faults and controls."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from boardsync.sandbox.core import Fault
from boardsync.sandbox.recruitifi import (
    OTHER_CLIENT,
    OTHER_USER,
    SANDBOX_CLIENT,
    SANDBOX_CLIENT_ID,
    SANDBOX_CLIENT_SECRET,
    SANDBOX_CONNECTOR,
    SANDBOX_USER,
    RecruitifiSim,
)
from boardsync.sandbox.server import Sandbox

PARTY = {"connectorId": SANDBOX_CONNECTOR, "clientId": SANDBOX_CLIENT, "userId": SANDBOX_USER}
LINKS = {
    "job": {**PARTY, "jobId": "job_789ghi"},
    "application": {**PARTY, "jobId": "job_789ghi", "applicationId": "app_123"},
    "settings": PARTY,
    "tasks": PARTY,
}
CREDENTIALS = {"client_id": SANDBOX_CLIENT_ID, "client_secret": SANDBOX_CLIENT_SECRET}


def assert_error(response: httpx.Response, status: int, code: str, message: str | None = None) -> None:
    """The response is RecruitiFi's {"error", "message"} envelope with this status and code."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "message"}, body
    assert body["error"] == code
    assert isinstance(body["message"], str) and body["message"]
    if message is not None:
        assert body["message"] == message


@pytest.fixture(scope="module")
def clients(sandbox_servers: Sandbox) -> Iterator[dict[str, httpx.Client]]:
    """Clients for the module: building one costs more than a request."""
    made = {
        "api": httpx.Client(base_url=sandbox_servers.recruitifi_url, timeout=5),
        "controls": httpx.Client(base_url=sandbox_servers.server_url("recruitifi") + "/_sandbox", timeout=5),
    }
    yield made
    for client in made.values():
        client.close()


@pytest.fixture
def rf(sandbox: Sandbox, clients: dict[str, httpx.Client]) -> httpx.Client:
    """The RecruitiFi API, on a freshly reset sandbox; no token attached."""
    return clients["api"]


@pytest.fixture
def controls(sandbox: Sandbox, clients: dict[str, httpx.Client]) -> httpx.Client:
    return clients["controls"]


@pytest.fixture
def sim(sandbox: Sandbox) -> RecruitifiSim:
    return sandbox.recruitifi


def new_token(rf: httpx.Client) -> str:
    response = rf.post("/v1/auth/token", json=CREDENTIALS)
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def link(rf: httpx.Client, token: str, kind: str = "job", **changes: str | None) -> httpx.Response:
    params = {k: v for k, v in {**LINKS[kind], **changes}.items() if v is not None}
    return rf.get(f"/v1/links/{kind}", params=params, headers={"X-Auth-Token": token})


# ---------------------------------------------------------------------------------- tokens


def test_token_endpoint_answers_a_bearer_token_for_an_hour(rf: httpx.Client) -> None:
    """POST /v1/auth/token answers {access_token, token_type: bearer, expires_in: 3600}."""
    response = rf.post("/v1/auth/token", json=CREDENTIALS)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in"}
    assert body["token_type"] == "bearer" and body["expires_in"] == 3600
    assert len(body["access_token"]) >= 32
    assert new_token(rf) != body["access_token"]


def test_partner_credentials_do_not_look_like_board_keys() -> None:
    """The sandbox partner id and secret look like neither a Sorce nor a Hirempire key."""
    for value in (SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET):
        assert not value.startswith(("sk-", "sk_ext_"))


@pytest.mark.parametrize(
    "body",
    [
        {"client_id": SANDBOX_CLIENT_ID, "client_secret": "wrong"},
        {"client_id": "someone_else", "client_secret": SANDBOX_CLIENT_SECRET},
    ],
)
def test_token_with_wrong_credentials_is_401_unauthorized(rf: httpx.Client, body: dict[str, str]) -> None:
    """An unknown client id or a wrong secret answers 401 {"error": "unauthorized", ...}."""
    assert_error(rf.post("/v1/auth/token", json=body), 401, "unauthorized", "Invalid client credentials.")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "client_id is required and must be a non-empty string."),
        ({"client_id": SANDBOX_CLIENT_ID}, "client_secret is required and must be a non-empty string."),
        ({"client_id": "", "client_secret": "x"}, "client_id is required and must be a non-empty string."),
        ({"client_id": SANDBOX_CLIENT_ID, "client_secret": 42}, "client_secret is required and must be a non-empty string."),
    ],
)
def test_token_with_missing_fields_is_422(rf: httpx.Client, body: dict[str, Any], message: str) -> None:
    """Missing or non-string credentials answer 422 unprocessable_entity."""
    assert_error(rf.post("/v1/auth/token", json=body), 422, "unprocessable_entity", message)


def test_token_with_a_body_that_is_not_a_json_object_is_422(rf: httpx.Client) -> None:
    """Form data or a JSON array is not the documented JSON body."""
    assert_error(rf.post("/v1/auth/token", data=CREDENTIALS), 422, "unprocessable_entity")
    assert_error(rf.post("/v1/auth/token", json=[CREDENTIALS]), 422, "unprocessable_entity")


def test_token_expires_an_hour_later_on_the_clock(rf: httpx.Client, sim: RecruitifiSim) -> None:
    """A token works until 3,600 s have passed on the simulator clock, then answers 401; a new one works."""
    token = new_token(rf)
    sim.clock.advance(3599)
    assert link(rf, token).status_code == 200
    sim.clock.advance(1)
    assert_error(link(rf, token), 401, "unauthorized", "Access token has expired.")
    assert link(rf, new_token(rf)).status_code == 200


def test_expire_tokens_control_ends_every_token(rf: httpx.Client, controls: httpx.Client, sim: RecruitifiSim) -> None:
    """expire_tokens() and POST /_sandbox/expire-tokens make issued tokens answer 401 at once."""
    first = new_token(rf)
    assert sim.expire_tokens() == 1
    assert_error(link(rf, first), 401, "unauthorized", "Access token has expired.")
    second = new_token(rf)
    assert controls.post("/expire-tokens").json() == {"expired": 2}
    assert_error(link(rf, second), 401, "unauthorized")


# ---------------------------------------------------------------------------------- links


@pytest.mark.parametrize("kind", ["job", "application", "settings", "tasks"])
def test_each_link_endpoint_answers_a_url_valid_for_15_minutes(rf: httpx.Client, sim: RecruitifiSim, sandbox: Sandbox, kind: str) -> None:
    """GET /v1/links/<kind> answers {url, expiresAt}: a sandbox embed page with a token, 15 minutes out."""
    before = sim.clock.now().replace(microsecond=0)
    response = link(rf, new_token(rf), kind)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"url", "expiresAt"}
    assert body["url"].startswith(f"{sandbox.server_url('recruitifi')}/embed/{kind}?token=")
    assert body["expiresAt"].endswith("Z")
    expires = datetime.fromisoformat(body["expiresAt"])
    assert before + timedelta(minutes=15) <= expires <= before + timedelta(minutes=15, seconds=2)
    assert sim.issued_links()[-1]["params"] == LINKS[kind]


def test_a_link_page_is_valid_until_expiry_then_gone(rf: httpx.Client, sim: RecruitifiSim) -> None:
    """The embed page answers 200 while the link lives, 410 after 15 minutes; a made-up token is 404."""
    url = link(rf, new_token(rf)).json()["url"]
    page = rf.get(url)
    assert page.status_code == 200 and "Valid until" in page.text and "job_789ghi" in page.text
    sim.clock.advance(15 * 60 - 1)
    assert rf.get(url).status_code == 200
    sim.clock.advance(1)
    assert rf.get(url).status_code == 410
    assert rf.get(url.split("?")[0] + "?token=made-up").status_code == 404
    assert rf.get(url.replace("/embed/job", "/embed/settings")).status_code == 404
    assert sim.issued_links()[0]["opens"] == 2


def test_an_unseen_job_id_is_accepted(rf: httpx.Client) -> None:
    """A jobId RecruitiFi has never seen is fine: the job page is where the posting gets created."""
    assert link(rf, new_token(rf), jobId="job_brand:new-1.0").status_code == 200


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, "Missing X-Auth-Token header."),
        ({"X-Auth-Token": "not-a-token"}, "Invalid access token."),
    ],
)
def test_link_without_a_valid_token_is_401(rf: httpx.Client, headers: dict[str, str], message: str) -> None:
    """A missing or unknown X-Auth-Token answers 401 unauthorized."""
    response = rf.get("/v1/links/job", params=LINKS["job"], headers=headers)
    assert_error(response, 401, "unauthorized", message)


def test_a_bearer_prefix_or_authorization_header_is_not_the_token(rf: httpx.Client) -> None:
    """X-Auth-Token carries the bare token: "Bearer <token>" or an Authorization header is refused."""
    token = new_token(rf)
    assert_error(rf.get("/v1/links/tasks", params=PARTY, headers={"X-Auth-Token": f"Bearer {token}"}), 401, "unauthorized")
    assert_error(rf.get("/v1/links/tasks", params=PARTY, headers={"Authorization": f"Bearer {token}"}), 401, "unauthorized")


@pytest.mark.parametrize(
    ("kind", "param"),
    [(kind, param) for kind, params in LINKS.items() for param in params],
)
def test_each_missing_required_parameter_is_422(rf: httpx.Client, kind: str, param: str) -> None:
    """Leaving out any required parameter of any link endpoint answers 422 naming it."""
    response = link(rf, new_token(rf), kind, **{param: None})
    assert_error(response, 422, "unprocessable_entity", f"Missing required parameter: {param}.")


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("connectorId", "abc123"), ("connectorId", "con_"), ("clientId", "usr_sandbox"),
        ("userId", "usr_bad id"), ("jobId", "job 1"), ("jobId", "j" * 129), ("clientId", ""),
    ],
)
def test_malformed_parameters_are_422(rf: httpx.Client, param: str, value: str) -> None:
    """A parameter of the wrong shape (or empty) answers 422 unprocessable_entity."""
    assert_error(link(rf, new_token(rf), **{param: value}), 422, "unprocessable_entity")


@pytest.mark.parametrize(
    ("param", "value", "message"),
    [
        ("connectorId", "con_unknown", "Unknown connectorId."),
        ("clientId", "cli_unknown", "Unknown clientId."),
        ("userId", "usr_unknown", "Unknown userId."),
    ],
)
def test_unknown_connector_client_or_user_is_404(rf: httpx.Client, param: str, value: str, message: str) -> None:
    """A well-formed connector, client or user RecruitiFi does not know answers 404 not_found."""
    assert_error(link(rf, new_token(rf), **{param: value}), 404, "not_found", message)


@pytest.mark.parametrize(
    ("client", "user"),
    [(OTHER_CLIENT, OTHER_USER), (SANDBOX_CLIENT, OTHER_USER), (OTHER_CLIENT, SANDBOX_USER)],
)
def test_connector_acting_for_a_client_or_user_it_may_not_is_403(rf: httpx.Client, client: str, user: str) -> None:
    """A valid token, but the connector may not act for that client or user: 403 forbidden."""
    response = link(rf, new_token(rf), "settings", clientId=client, userId=user)
    assert_error(response, 403, "forbidden", "This connector may not act for that client or user.")


def test_checks_run_in_the_documented_order(rf: httpx.Client) -> None:
    """401 before 422, 422 before 404, 404 before 403."""
    assert_error(link(rf, "bad", connectorId=None), 401, "unauthorized")
    token = new_token(rf)
    assert_error(link(rf, token, connectorId="con_unknown", jobId=None), 422, "unprocessable_entity")
    assert_error(link(rf, token, connectorId="con_unknown", clientId=OTHER_CLIENT), 404, "not_found")


# ---------------------------------------------------------------------------------- rate limit


def test_the_eleventh_request_in_a_second_is_429_with_retry_after(rf: httpx.Client, sim: RecruitifiSim) -> None:
    """10 requests a second per token; the 11th answers 429 rate_limited with Retry-After, and a
    second later on the clock requests pass again. Another token has its own budget."""
    sim.clock.freeze()  # "within a second" on the board's clock, however slow this machine is
    token = new_token(rf)
    answers = [link(rf, token).status_code for _ in range(10)]
    refused = link(rf, token)
    assert answers == [200] * 10
    assert_error(refused, 429, "rate_limited")
    assert refused.headers["retry-after"] == "1"
    assert link(rf, new_token(rf)).status_code == 200
    sim.clock.advance(1)
    assert link(rf, token).status_code == 200


def test_failed_requests_spend_the_token_budget_too(rf: httpx.Client, sim: RecruitifiSim) -> None:
    """A 422 or 403 answer counts towards the 10 a second, like any authenticated request."""
    sim.set_limits(requests_per_second=2)
    token = new_token(rf)
    assert link(rf, token, jobId=None).status_code == 422
    assert link(rf, token, clientId=OTHER_CLIENT).status_code == 403
    assert link(rf, token).status_code == 429


# ---------------------------------------------------------------------------------- faults


def test_injected_status_fault_answers_recruitifi_envelope(rf: httpx.Client, controls: httpx.Client, sim: RecruitifiSim) -> None:
    """A status fault on a link endpoint answers {"error", "message"} with the status's code; no link is made."""
    token = new_token(rf)
    controls.post("/faults", json={"kind": "status", "path": "/v1/links/job", "status": 503})
    assert_error(link(rf, token), 503, "service_unavailable", "Injected fault.")
    controls.post("/faults", json={"kind": "status", "path": "/v1/links/job", "status": 429})
    throttled = link(rf, token)
    assert_error(throttled, 429, "rate_limited")
    assert throttled.headers["retry-after"] == "1"
    assert sim.issued_links() == []


def test_injected_reset_on_the_token_endpoint_issues_no_token(rf: httpx.Client, sim: RecruitifiSim) -> None:
    """A reset drops the connection before RecruitiFi sees the request."""
    sim.faults.add(Fault(kind="reset", method="POST", path="/v1/auth/token"))
    with pytest.raises(httpx.TransportError):
        rf.post("/v1/auth/token", json=CREDENTIALS)
    assert sim.snapshot()["tokens"] == {"valid": 0, "expired": 0}


def test_lost_response_issues_the_link_but_never_answers(rf: httpx.Client, sim: RecruitifiSim) -> None:
    """A lost response: the link exists on RecruitiFi's side, the client never learns its URL."""
    token = new_token(rf)
    sim.faults.add(Fault(kind="lost_response", path="/v1/links/job"))
    with pytest.raises(httpx.TransportError):
        link(rf, token)
    assert len(sim.issued_links()) == 1


def test_injected_latency_delays_the_token(rf: httpx.Client, sim: RecruitifiSim) -> None:
    """A latency fault holds the token request, then answers normally."""
    sim.faults.add(Fault(kind="latency", path="/v1/auth/token", latency_ms=150))
    started = time.monotonic()
    new_token(rf)
    assert time.monotonic() - started >= 0.15


# ---------------------------------------------------------------------------------- controls


def test_control_links_and_expire_links(rf: httpx.Client, controls: httpx.Client) -> None:
    """GET /_sandbox/links lists issued links; POST /_sandbox/expire-links makes their pages 410."""
    token = new_token(rf)
    url = link(rf, token).json()["url"]
    link(rf, token, "tasks")
    listed = controls.get("/links").json()["links"]
    assert [(entry["kind"], entry["url"] == url) for entry in listed] == [("job", True), ("tasks", False)]
    assert set(listed[0]) == {"kind", "url", "token", "expires_at", "params", "opens"}
    assert controls.post("/expire-links").json() == {"expired": 2}
    assert rf.get(url).status_code == 410


def test_control_limits_sets_requests_per_second(rf: httpx.Client, controls: httpx.Client) -> None:
    """POST /_sandbox/limits {"requests_per_second"} changes the per-token limit."""
    assert controls.post("/limits", json={"requests_per_second": 1}).json() == {"requests_per_second": 1}
    assert controls.post("/limits", json={"requests_per_second": "many"}).status_code == 422
    # None at all could never say when to come back: refused, and the limit stays as it was.
    assert controls.post("/limits", json={"requests_per_second": 0}).status_code == 422
    assert controls.post("/limits", json={"requests_per_second": -1}).status_code == 422
    token = new_token(rf)
    assert link(rf, token).status_code == 200
    assert link(rf, token).status_code == 429


def test_shared_controls_state_requests_and_reset(rf: httpx.Client, controls: httpx.Client) -> None:
    """State, request counts and reset answer on RecruitiFi; reset forgets tokens and links."""
    token = new_token(rf)
    link(rf, token)
    state = controls.get("/state").json()
    assert state["board"] == "recruitifi" and state["tokens"] == {"valid": 1, "expired": 0}
    assert state["connectors"] == {SANDBOX_CONNECTOR: [[SANDBOX_CLIENT, SANDBOX_USER]]}
    assert controls.get("/requests").json()["requests"] == {"POST /v1/auth/token": 1, "GET /v1/links/job": 1}
    assert controls.post("/reset").json() == {"reset": True}
    assert_error(link(rf, token), 401, "unauthorized", "Invalid access token.")
    assert controls.get("/links").json() == {"links": []}


def test_unknown_paths_and_methods_answer_in_the_envelope(rf: httpx.Client) -> None:
    """An unknown endpoint is 404 not_found and a wrong method 405, both in RecruitiFi's shape."""
    assert_error(rf.get("/v1/links/jobs"), 404, "not_found")
    assert_error(rf.post("/v1/links/job"), 405, "method_not_allowed")
