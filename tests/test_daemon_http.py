"""The daemon's HTTP surface: status codes and headers, through Starlette's TestClient, and
uvicorn on a real loopback socket where the socket matters."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import pytest
import uvicorn.server

from prometheus_client import CollectorRegistry, Gauge

from starlette.testclient import TestClient

from boardsync.daemon.http import Check, HttpSurface, UnknownPosting, make_app, parse_listen
from boardsync.daemon.metrics import exposition
from boardsync.errors import ConfigError, Transient


class _Surface:
    """Answers the way the daemon would, from fixed values, to exercise the HTTP mapping."""

    ready = False

    def liveness(self) -> Sequence[Check]:
        return [Check("scheduler", True)]

    def readiness(self) -> Sequence[Check]:
        return [Check("config", True), Check("reconcile", self.ready, "" if self.ready else "no run yet")]

    def board_health(self) -> dict[str, dict[str, int]]:
        return {}

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        Gauge("up", "h", registry=self.registry).set(1)

    def metrics_page(self, accept: str | None) -> tuple[bytes, str]:
        return exposition(self.registry, accept)

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
    with TestClient(make_app(surface), follow_redirects=False) as client:
        yield surface, client


def test_the_surface_serves_over_loopback_and_refuses_a_busy_port() -> None:
    """uvicorn serves the app on the bound address; a second surface on that address is a
    one-line error naming the setting and the address, and the first keeps serving."""
    server = HttpSurface("127.0.0.1:0", _Surface()).start()
    try:
        with pytest.raises(ConfigError) as refused:
            HttpSurface(server.address, _Surface())
        assert str(refused.value) == f"daemon.listen {server.address}: address already in use"
        assert httpx.get(f"http://{server.address}/healthz", timeout=5).status_code == 200
    finally:
        server.close()


def test_the_surface_sleeps_until_asked_and_still_dates_each_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    """The server never wakes on a timer to look for work (uvicorn's own loop sleeps a tenth
    of a second at a time), yet each answer carries a current Date, and close() ends it."""
    timers: list[tuple[object, str]] = []
    real_sleep = uvicorn.server.asyncio.sleep

    async def recorded(delay: float, *args: Any) -> Any:
        caller = sys._getframe(1)  # which server (the sandbox's may run too), in which method
        timers.append((caller.f_locals.get("self"), caller.f_code.co_name))
        return await real_sleep(delay, *args)

    monkeypatch.setattr(uvicorn.server.asyncio, "sleep", recorded)
    server = HttpSurface("127.0.0.1:0", _Surface()).start()
    try:
        answered = [httpx.get(f"http://{server.address}/healthz", timeout=5) for _ in range(2)]
    finally:
        server.close()
    assert (server._server, "main_loop") not in timers  # shutdown's own waits are fine
    for answer in answered:
        dated = parsedate_to_datetime(answer.headers["date"])
        assert abs((datetime.now(UTC) - dated).total_seconds()) < 60
        assert answer.headers.get_list("date") == [answer.headers["date"]]  # one Date, not two
    assert not server._thread.is_alive()


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
    assert response.text.endswith("up 1.0\n")


def test_metrics_are_openmetrics_when_the_scraper_asks(served: tuple[_Surface, httpx.Client]) -> None:
    """A scraper that accepts OpenMetrics gets it, with its content type and its `# EOF`."""
    _, client = served
    response = client.get("/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0,text/plain;q=0.5"})
    assert response.headers["content-type"].startswith("application/openmetrics-text; version=1.0.0")
    assert response.text.endswith("up 1.0\n# EOF\n")


def test_link_redirects_without_caching(served: tuple[_Surface, httpx.Client]) -> None:
    """/links/KEY is a 302 to the signed URL that no cache may keep."""
    _, client = served
    response = client.get("/links/designer")
    assert response.status_code == 302
    assert response.headers["location"] == "https://app.example/embed/job?token=abc"
    assert response.headers["cache-control"] == "no-store"


def test_link_errors_map_to_404_502_and_500(served: tuple[_Surface, httpx.Client]) -> None:
    """Unknown posting → 404, board failure → 502, a bug → 500, no such page or method → a
    JSON error; the server keeps serving."""
    _, client = served
    assert client.get("/links/nobody").status_code == 404
    assert client.get("/links/down").status_code == 502
    assert client.get("/links/boom").status_code == 500
    assert client.get("/nowhere").json()["error"] == "not_found"
    assert client.post("/healthz").json()["error"] == "method_not_allowed"
    assert client.get("/healthz").status_code == 200


def test_listen_address_parsing() -> None:
    """host:port and [v6]:port are understood; anything else is refused."""
    assert parse_listen("127.0.0.1:9187") == ("127.0.0.1", 9187)
    assert parse_listen("[::1]:9187") == ("::1", 9187)
    with pytest.raises(ValueError):
        parse_listen("9187")


# ------------------------------------------------------------------------------ /embed and the token


class _Links(_Surface):
    """Links as a board might hand them out: ordinary, with characters HTML gives meaning to,
    or not a web address at all."""

    def fresh_link(self, posting_key: str) -> str:
        if posting_key == "quoted":
            return 'https://app.example/embed/job?token=a"b&c=<d>'
        if posting_key == "script":
            return "javascript:alert(1)"
        return super().fresh_link(posting_key)


TOKEN = "a-daemon-token-0123456789"


@pytest.fixture
def guarded() -> Iterator[httpx.Client]:
    with TestClient(make_app(_Links(), token=TOKEN), follow_redirects=False) as client:
        yield client


def _bearer(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_embed_frames_a_fresh_link_in_a_page_no_one_caches_or_refers_from(served: tuple[_Surface, httpx.Client]) -> None:
    """/embed/KEY is an HTML page whose only content is an iframe of the fresh link, sent with
    no caching, no referrer, no sniffing, and a policy that allows framing the link's host only."""
    _, client = served
    response = client.get("/embed/designer")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-content-type-options"] == "nosniff"
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "frame-src https://app.example;" in policy
    assert '<iframe src="https://app.example/embed/job?token=abc"' in response.text
    assert 'referrerpolicy="no-referrer"' in response.text and "<script" not in response.text


def test_embed_escapes_the_link_and_the_key(guarded: httpx.Client) -> None:
    """A link with quotes and angle brackets stays inside its attribute."""
    response = guarded.get("/embed/quoted", headers=_bearer())
    assert 'src="https://app.example/embed/job?token=a&quot;b&amp;c=&lt;d&gt;"' in response.text
    assert "<d>" not in response.text and 'a"b' not in response.text


def test_embed_refuses_a_link_that_is_not_a_web_address(guarded: httpx.Client) -> None:
    """A `javascript:` URL would run inside the page: it is refused as a board error."""
    response = guarded.get("/embed/script", headers=_bearer())
    assert response.status_code == 502 and "alert" not in response.text


def test_embed_maps_errors_as_links_does(served: tuple[_Surface, httpx.Client]) -> None:
    """Unknown posting → 404, board failure → 502, as for /links."""
    _, client = served
    assert client.get("/embed/nobody").status_code == 404
    assert client.get("/embed/down").status_code == 502


def test_with_a_token_every_endpoint_but_the_probes_asks_for_it(guarded: httpx.Client) -> None:
    """Without the bearer token, or with a wrong one: 401 with a challenge; with it: the page.
    /healthz and /readyz answer anyone."""
    for path in ("/metrics", "/links/designer", "/embed/designer", "/nowhere"):
        for headers in ({}, _bearer("wrong"), {"Authorization": TOKEN}, {"Authorization": f"Basic {TOKEN}"}):
            response = guarded.get(path, headers=headers)
            assert response.status_code == 401, (path, headers)
            assert response.headers["www-authenticate"].startswith("Bearer")
    assert guarded.get("/metrics", headers=_bearer()).status_code == 200
    assert guarded.get("/links/designer", headers=_bearer()).status_code == 302
    assert guarded.get("/embed/designer", headers={"Authorization": f"bearer {TOKEN}"}).status_code == 200
    assert guarded.get("/healthz").status_code == 200
    assert guarded.get("/readyz").status_code == 503  # answered, not refused: the check fails


def test_listening_beyond_loopback_needs_a_token() -> None:
    """Loopback addresses need no token; any other address, or a host name, does."""
    from boardsync.daemon.http import require_token_off_loopback
    from boardsync.errors import ConfigError

    for listen in ("127.0.0.1:9187", "[::1]:9187", "localhost:9187", "127.0.0.2:1"):
        require_token_off_loopback(listen, None)
    for listen in ("0.0.0.0:9187", "[::]:9187", "10.0.0.5:9187", "boardsync.internal:9187"):
        require_token_off_loopback(listen, "t")
        with pytest.raises(ConfigError, match=r"daemon\.token"):
            require_token_off_loopback(listen, None)
