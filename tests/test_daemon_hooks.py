"""``POST /hooks/git``: a signed push asks for one fetch; anything unsigned is 401 and asks
for nothing. Through Starlette's TestClient, with the follower's real coalescing queue."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence

import httpx
import pytest
from starlette.testclient import TestClient

from boardsync.daemon.follow import FetchRequests
from boardsync.daemon.http import Check, make_app
from tests.git_helpers import github_signature

SECRET = "webhook-secret-0123456789"
TOKEN = "a-daemon-token-0123456789"
PUSH = json.dumps({"ref": "refs/heads/main", "after": "0" * 40}).encode()


class _Following:
    """A daemon that follows a branch: the webhook's secret, and the follower's queue of asks."""

    def __init__(self, secret: str | None = SECRET) -> None:
        self.secret = secret
        self.requests = FetchRequests()
        self.asked: list[str] = []

    def liveness(self) -> Sequence[Check]:
        return [Check("scheduler", True)]

    def readiness(self) -> Sequence[Check]:
        return [Check("config", True)]

    def board_health(self) -> dict[str, dict[str, int]]:
        return {}

    def metrics_page(self, accept: str | None) -> tuple[bytes, str]:
        return b"", "text/plain"

    def fresh_link(self, posting_key: str) -> str:
        return "https://app.example/embed/job"

    def webhook_secret(self) -> bytes | None:
        return self.secret.encode() if self.secret is not None else None

    def fetch_asked(self, trigger: str) -> bool:
        self.asked.append(trigger)
        return self.requests.ask(trigger)


@pytest.fixture
def following() -> Iterator[tuple[_Following, httpx.Client]]:
    surface = _Following()
    with TestClient(make_app(surface, token=TOKEN)) as client:
        yield surface, client


def _github(body: bytes = PUSH, secret: str = SECRET, event: str = "push") -> dict[str, str]:
    return {"X-Hub-Signature-256": github_signature(body, secret), "X-GitHub-Event": event,
            "Content-Type": "application/json"}


def test_a_push_signed_by_github_asks_for_a_fetch_without_the_bearer_token(
    following: tuple[_Following, httpx.Client]
) -> None:
    """The signature is the proof: no bearer token is needed, and the answer is 202."""
    surface, client = following
    response = client.post("/hooks/git", content=PUSH, headers=_github())
    assert response.status_code == 202, response.text
    assert response.json() == {"fetch": "asked"}
    assert surface.asked == ["webhook github"]
    assert surface.requests.take(0) == "webhook github"


def test_a_push_with_gitlabs_token_asks_for_a_fetch(following: tuple[_Following, httpx.Client]) -> None:
    """GitLab's X-Gitlab-Token, equal to the secret, is accepted."""
    surface, client = following
    response = client.post("/hooks/git", content=PUSH, headers={"X-Gitlab-Token": SECRET, "X-Gitlab-Event": "Push Hook"})
    assert response.status_code == 202
    assert surface.asked == ["webhook gitlab"]


@pytest.mark.parametrize("headers", [
    pytest.param({}, id="unsigned"),
    pytest.param({"Authorization": f"Bearer {TOKEN}"}, id="bearer-token-only"),
    pytest.param(_github(secret="another-secret"), id="signed-with-another-secret"),
    pytest.param(_github(body=b'{"ref": "refs/heads/other"}'), id="signature-of-another-body"),
    pytest.param({"X-Hub-Signature-256": "sha1=" + "0" * 40}, id="not-sha256"),
    pytest.param({"X-Gitlab-Token": "webhook-secret"}, id="wrong-gitlab-token"),
    pytest.param({**_github(secret="wrong"), "X-Gitlab-Token": SECRET}, id="bad-github-signature-with-gitlab-token"),
])
def test_anything_not_signed_with_the_secret_is_401_and_asks_for_nothing(
    following: tuple[_Following, httpx.Client], headers: dict[str, str]
) -> None:
    """No signature, a wrong one, a signature of another body or a wrong GitLab token: 401."""
    surface, client = following
    response = client.post("/hooks/git", content=PUSH, headers=headers)
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"
    assert surface.asked == []
    assert surface.requests.take(0) is None


def test_a_burst_of_pushes_is_one_fetch(following: tuple[_Following, httpx.Client]) -> None:
    """Five pushes before the follower takes them: the first asks, the others join it."""
    surface, client = following
    answers = [client.post("/hooks/git", content=PUSH, headers=_github()).json()["fetch"] for _ in range(5)]
    assert answers == ["asked"] + ["already waiting"] * 4
    assert surface.requests.take(0) == "webhook github"
    assert surface.requests.take(0) is None


def test_githubs_ping_is_answered_without_a_fetch(following: tuple[_Following, httpx.Client]) -> None:
    """The ping GitHub sends when the hook is created gets 200 and asks for nothing."""
    surface, client = following
    body = b'{"zen": "Keep it logically awesome."}'
    response = client.post("/hooks/git", content=body, headers=_github(body, event="ping"))
    assert response.status_code == 200
    assert surface.asked == []


def test_without_a_secret_there_is_no_webhook() -> None:
    """A daemon that follows no branch (or has no secret) answers 404, even to a signature."""
    surface = _Following(secret=None)
    with TestClient(make_app(surface)) as client:
        response = client.post("/hooks/git", content=PUSH, headers=_github())
    assert response.status_code == 404
    assert surface.asked == []


def test_the_other_pages_still_ask_for_the_bearer_token(following: tuple[_Following, httpx.Client]) -> None:
    """Opening the webhook to signatures opens nothing else: /metrics with a signature is 401."""
    _surface, client = following
    assert client.get("/metrics", headers=_github()).status_code == 401
    assert client.get("/hooks/git", headers=_github()).status_code in (401, 405)
