"""The daemon's HTTP surface: status codes and headers over a real loopback server."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import httpx
import pytest

from boardsync.daemon.http import Check, HttpSurface, UnknownPosting, parse_listen
from boardsync.errors import Transient


class _Surface:
    """Answers the way the daemon would, from fixed values, to exercise the HTTP mapping."""

    ready = False

    def liveness(self) -> Sequence[Check]:
        return [Check("scheduler", True)]

    def readiness(self) -> Sequence[Check]:
        return [Check("config", True), Check("reconcile", self.ready, "" if self.ready else "no run yet")]

    def metrics_text(self) -> str:
        return "# HELP up h\n# TYPE up gauge\nup 1\n"

    def fresh_link(self, posting_key: str) -> str:
        if posting_key == "designer":
            return "https://app.example/embed/job?token=abc"
        if posting_key == "down":
            raise Transient("unavailable", provider="recruitifi", call="GET /v1/links/job", status=503)
        if posting_key == "boom":
            raise RuntimeError("bug")
        raise UnknownPosting(f"no posting {posting_key!r} goes to recruitifi")


@pytest.fixture
def served() -> Iterator[tuple[_Surface, httpx.Client]]:
    surface = _Surface()
    server = HttpSurface("127.0.0.1:0", surface).start()
    with httpx.Client(base_url=f"http://{server.address}") as client:
        yield surface, client
    server.close()


def test_readyz_is_503_with_the_failing_check_until_ready(served: tuple[_Surface, httpx.Client]) -> None:
    """/readyz names the check that fails, then answers 200 once everything passes."""
    surface, client = served
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["reconcile"] == {"ok": False, "detail": "no run yet"}
    surface.ready = True
    assert client.get("/readyz").status_code == 200
    assert client.get("/healthz").json() == {"ok": True, "checks": {"scheduler": {"ok": True}}}


def test_metrics_are_served_as_prometheus_text(served: tuple[_Surface, httpx.Client]) -> None:
    """/metrics carries Prometheus' content type and the exposition body."""
    _, client = served
    response = client.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert response.text.endswith("up 1\n")


def test_link_redirects_without_caching(served: tuple[_Surface, httpx.Client]) -> None:
    """/links/KEY is a 302 to the signed URL that no cache may keep."""
    _, client = served
    response = client.get("/links/designer")
    assert response.status_code == 302
    assert response.headers["location"] == "https://app.example/embed/job?token=abc"
    assert response.headers["cache-control"] == "no-store"


def test_link_errors_map_to_404_502_and_500(served: tuple[_Surface, httpx.Client]) -> None:
    """Unknown posting → 404, board failure → 502, a bug → 500; the server keeps serving."""
    _, client = served
    assert client.get("/links/nobody").status_code == 404
    assert client.get("/links/down").status_code == 502
    assert client.get("/links/boom").status_code == 500
    assert client.get("/nowhere").status_code == 404
    assert client.get("/healthz").status_code == 200


def test_listen_address_parsing() -> None:
    """host:port and [v6]:port are understood; anything else is refused."""
    assert parse_listen("127.0.0.1:9187") == ("127.0.0.1", 9187)
    assert parse_listen("[::1]:9187") == ("::1", 9187)
    with pytest.raises(ValueError):
        parse_listen("9187")
