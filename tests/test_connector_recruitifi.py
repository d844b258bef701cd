"""The RecruitiFi connector against the RecruitiFi sandbox: the access token's life, the
three links, and how the board's errors come out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest
from pydantic import SecretStr

from boardsync.connectors.http import RateLimiter
from boardsync.connectors.recruitifi import RENEW_AHEAD, RecruitifiConnector, RecruitifiSettings
from boardsync.connectors.transport import make_client
from boardsync.errors import Blocked, Rejected
from boardsync.sandbox import recruitifi as sim
from boardsync.sandbox.server import Sandbox
from tests import connector_helpers as helpers
from tests.connector_helpers import FakeClock

TOKEN = "POST /v1/auth/token"


def test_one_token_serves_many_links(sandbox: Sandbox) -> None:
    """A job, settings and tasks link in a row ask for one access token."""
    connector = helpers.recruitifi(sandbox)
    links = [connector.link(helpers.posting()), connector.settings_link(), connector.tasks_link()]
    assert [link.url.split("/embed/")[1].split("?")[0] for link in links] == ["job", "settings", "tasks"]
    assert sandbox.recruitifi.request_counts()[TOKEN] == 1


def test_the_job_link_names_the_postings_job_id(sandbox: Sandbox) -> None:
    """The job link is for job_<key>, or the posting's own RecruitiFi job id."""
    connector = helpers.recruitifi(sandbox)
    connector.link(helpers.posting())
    connector.link(helpers.posting(boards={"recruitifi": {"job_id": "job_789ghi"}}))
    assert [link["params"]["jobId"] for link in sandbox.recruitifi.issued_links()] == [
        "job_backend-engineer", "job_789ghi",
    ]


def test_the_token_is_renewed_ahead_of_its_expiry(sandbox: Sandbox) -> None:
    """Within a minute of expiring, the next call asks for a new token first (no 401 met)."""
    clock = FakeClock(sandbox.clock)
    connector = helpers.recruitifi(sandbox, clock)
    connector.settings_link()
    clock.sleep(3600 - RENEW_AHEAD + 1)
    connector.settings_link()
    counts = sandbox.recruitifi.request_counts()
    assert counts[TOKEN] == 2 and counts["GET /v1/links/settings"] == 2


def test_a_401_renews_the_token_once_and_the_call_succeeds(sandbox: Sandbox) -> None:
    """A token the board let die early is replaced after the 401, and the link comes."""
    connector = helpers.recruitifi(sandbox)
    connector.tasks_link()
    sandbox.recruitifi.expire_tokens()
    assert connector.tasks_link().url
    counts = sandbox.recruitifi.request_counts()
    assert counts[TOKEN] == 2 and counts["GET /v1/links/tasks"] == 3


def test_a_wrong_secret_blocks_on_credentials(sandbox: Sandbox) -> None:
    """401 from the token endpoint is Blocked(credentials); the secret is not in the message."""
    connector = helpers.recruitifi(sandbox, secret="wrong-partner-secret")
    with pytest.raises(Blocked) as caught:
        connector.settings_link()
    assert (caught.value.gate, caught.value.company_wide) == ("credentials", True)
    assert "wrong-partner-secret" not in str(caught.value)


def test_a_client_the_connector_may_not_act_for_is_blocked_forbidden(sandbox: Sandbox) -> None:
    """403 forbidden: a person must grant the connector; Blocked(forbidden)."""
    connector = helpers.recruitifi(sandbox, client=sim.OTHER_CLIENT)
    with pytest.raises(Blocked) as caught:
        connector.link(helpers.posting())
    assert (caught.value.gate, caught.value.status, caught.value.code) == ("forbidden", 403, "forbidden")


def test_an_unknown_client_is_rejected_not_found(sandbox: Sandbox) -> None:
    """404 not_found for an id RecruitiFi does not know: Rejected."""
    connector = helpers.recruitifi(sandbox, client="cli_nobody")
    with pytest.raises(Rejected) as caught:
        connector.link(helpers.posting())
    assert (caught.value.status, caught.value.code) == (404, "not_found")


@pytest.mark.parametrize(("ahead", "left"), [(timedelta(hours=1), 15), (timedelta(minutes=-30), 15), (None, 15)])
def test_a_links_life_is_counted_on_this_machines_clock(ahead: timedelta | None, left: int) -> None:
    """RecruitiFi's clock an hour ahead of ours: its `expiresAt` is an hour and a quarter away
    by our clock, but the link dies a quarter of an hour after it was issued, which its
    answer's ``Date`` tells. A board clock behind ours, or no ``Date``, is taken as it comes."""
    now = datetime.now(UTC).replace(microsecond=0)
    board_now = now + (ahead or timedelta(0))

    def board(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/auth/token"):
            return httpx.Response(200, json={"access_token": "t", "token_type": "bearer", "expires_in": 3600})
        expires = (board_now + timedelta(minutes=15)).isoformat()
        dated = {"date": format_datetime(board_now, usegmt=True)} if ahead is not None else {}
        return httpx.Response(200, json={"url": "https://app.recruitifi.test/embed/job?token=x", "expiresAt": expires},
                              headers=dated)

    clock = FakeClock()
    settings = RecruitifiSettings(client_id="c", client_secret=SecretStr("s"), connector_id="con_1", client="cli_1",
                                  user="usr_1", base_url="http://recruitifi.test")
    connector = RecruitifiConnector(settings, make_client(settings.base_url, transport=httpx.MockTransport(board)),
                                    limiter=RateLimiter(10, 1.0, clock=clock, sleep=clock.sleep),
                                    retry=helpers.retry_policy(clock), clock=clock)
    expires_at = connector.link(helpers.posting()).expires_at
    expected = min(board_now, now) + timedelta(minutes=left) if ahead is not None else board_now + timedelta(minutes=15)
    assert abs((expires_at - expected).total_seconds()) <= 5, (expires_at, expected)


def test_a_link_expires_in_fifteen_minutes(sandbox: Sandbox) -> None:
    """The link's expiry is the board's, a quarter of an hour ahead."""
    connector = helpers.recruitifi(sandbox)
    link = connector.link(helpers.posting())
    lifetime = (link.expires_at - sandbox.clock.now()).total_seconds()
    assert 14 * 60 < lifetime <= 15 * 60
