"""The dashboard in a real headless Chromium (the Debian package, driven by Playwright), served
by a real `boardsync daemon` beyond loopback behind its bearer token, and as the report file
with the network cut: no console error, and charts with their data drawn in them.

With ``BOARDSYNC_WRITE_SCREENSHOT=PATH`` the daemon's page is also saved to PATH as a PNG:
the README's picture is made this way:

    BOARDSYNC_WRITE_SCREENSHOT=docs/dashboard.png python -m pytest tests/test_dashboard_browser.py
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from playwright.sync_api import Browser, ConsoleMessage, Page, Request, sync_playwright

from tests.dashboard_helpers import cli_json, fill, read_page
from tests.reconcile_helpers import Workspace
from tests.test_daemon_service import DaemonProcess, NotifySocket
from tests.test_daemon_service import Workspace as DaemonWorkspace

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
TOKEN = "a-dashboard-token-0123456789"
PALETTE = [(0x09, 0x69, 0xDA), (0x1A, 0x7F, 0x37), (0x9A, 0x67, 0x00), (0x82, 0x50, 0xDF), (0xCF, 0x22, 0x2E),
           (0x1B, 0x7C, 0x83), (0xBC, 0x4C, 0x00), (0xBF, 0x39, 0x89)]
"""The colours dashboard.js draws data in; axes and grid lines are grey."""
SCREENSHOT_ENV = "BOARDSYNC_WRITE_SCREENSHOT"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is missing: .ci/run installs the Debian package chromium")
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    with sync_playwright() as playwright:
        found = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        yield found
        found.close()


class Watched:
    """A page with its console errors, uncaught exceptions and requests noted."""

    def __init__(self, browser: Browser, headers: dict[str, str] | None = None) -> None:
        self.context = browser.new_context(viewport={"width": 1200, "height": 900}, extra_http_headers=headers)
        self.page: Page = self.context.new_page()
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda exc: self.errors.append(f"uncaught: {exc}"))
        self.page.on("request", lambda request: self.requests.append(request.url))

    def _console(self, message: ConsoleMessage) -> None:
        if message.type in ("error", "warning"):
            self.errors.append(f"{message.type}: {message.text}")

    def close(self) -> None:
        self.context.close()


def drawn_pixels(page: Page, chart: str) -> int:
    """How many pixels of the chart's canvas, as the screenshot shows it, are in a data colour."""
    png = page.locator(f"canvas[data-chart={chart}]").screenshot()
    rgb = Image.open(io.BytesIO(png)).convert("RGB").tobytes()
    pixels = zip(rgb[0::3], rgb[1::3], rgb[2::3], strict=True)
    return sum(1 for pixel in pixels if any(_near(pixel, c) for c in PALETTE))


def _near(pixel: Any, colour: tuple[int, int, int]) -> bool:
    return all(abs(a - b) <= 24 for a, b in zip(pixel, colour, strict=True))


def assert_charts_drawn(page: Page) -> None:
    for chart in ("visits", "applicants", "conversion", "boards"):
        datasets = page.evaluate(
            "name => Chart.getChart(document.querySelector(`canvas[data-chart=${name}]`)).data.datasets.length", chart)
        assert datasets >= 1, chart
        assert drawn_pixels(page, chart) > 200, f"the {chart} chart shows no data"


def test_the_report_file_works_offline_in_chromium(ws: Workspace, browser: Browser) -> None:
    """The report opened from disk with every network request refused: nothing is asked of
    the network, no console error, each chart drawn with its data."""
    fill(ws)
    out = ws.root / "report.html"
    assert ws.run("report", "--html", str(out)).code == 0
    watched = Watched(browser)
    refused: list[str] = []

    def refuse(route: Any, request: Request) -> None:
        refused.append(request.url)
        route.abort()

    watched.context.route("http*://**", refuse)
    try:
        watched.page.goto(out.as_uri())
        watched.page.wait_for_load_state("load")
        assert watched.errors == []
        assert refused == [] and all(url.startswith(("file:", "data:")) for url in watched.requests)
        assert_charts_drawn(watched.page)
    finally:
        watched.close()
    _check_without_javascript(browser, out)


def _check_without_javascript(browser: Browser, out: Path) -> None:
    """With JavaScript off the page still reads: the postings and the counters are there."""
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(out.as_uri())
        assert page.locator("td.pair").count() > 0
        assert page.locator("table.counters tbody tr").count() > 0
        assert page.locator("section#drift").inner_text().count("Edited by hand") == 1
    finally:
        context.close()


def _serve_beyond_loopback(ws: Workspace, port: int, *, token: bool) -> None:
    """The daemon on every address (with the token as a reference when asked); its runs an
    hour apart, so the state stays as the test left it while it looks."""
    text = ws.root.joinpath("boardsync.yaml").read_text()
    listen = f"daemon: {{listen: '0.0.0.0:{port}'" + (", token: '${BOARDSYNC_TOKEN}'" if token else "") + "}\n"
    ws.root.joinpath("boardsync.yaml").write_text(text + "schedule: {reconcile: 1h, metrics: 1h}\n" + listen)


def test_the_daemon_serves_the_page_and_the_api_behind_its_token(
    ws: Workspace, browser: Browser, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Beyond loopback: refused without daemon.token; with it, /, /api/* and the page's script
    answer 401 without the bearer token; with it /api/status, /api/drift and /api/visits are
    what the commands print, the page shows the report's numbers, and Chromium loads it with
    no console error and its charts drawn."""
    fill(ws)
    daemon_ws = DaemonWorkspace(ws.root, ws.sandbox)
    notify = NotifySocket(tmp_path / "notify.sock")
    original = ws.root.joinpath("boardsync.yaml").read_text()
    _serve_beyond_loopback(ws, daemon_ws.port, token=False)
    refused = DaemonProcess(daemon_ws, notify)
    assert refused.wait_exit() == 1 and "is not a loopback address" in refused.stderr

    ws.root.joinpath("boardsync.yaml").write_text(original)
    _serve_beyond_loopback(ws, daemon_ws.port, token=True)
    monkeypatch.setenv("BOARDSYNC_TOKEN", TOKEN)
    daemon = DaemonProcess(daemon_ws, notify)
    try:
        notify.wait("READY", "1")
        _check_served(ws, daemon_ws.port, browser)
    finally:
        daemon.finish()
        notify.close()


def _check_served(ws: Workspace, port: int, browser: Browser) -> None:
    base = f"http://127.0.0.1:{port}"
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    for path in ("/", "/api/status", "/api/drift", "/api/visits", "/assets/dashboard.js"):
        assert httpx.get(base + path, timeout=10).status_code == 401, path
    api = {path: httpx.get(base + path, headers=bearer, timeout=10) for path in
           ("/api/status", "/api/drift", "/api/drift?open=1", "/api/visits?since=30d")}
    assert api["/api/status"].json() == cli_json(ws, "status")
    assert api["/api/drift"].json() == cli_json(ws, "drift")
    assert api["/api/drift?open=1"].json() == cli_json(ws, "drift", "--open")
    assert api["/api/visits?since=30d"].json() == cli_json(ws, "visits", "--since", "30d")
    bad = httpx.get(base + "/api/visits?since=soon", headers=bearer, timeout=10)
    assert bad.status_code == 400 and "since='soon'" in bad.json()["message"]

    served = httpx.get(base + "/?since=30d", headers=bearer, timeout=30)
    assert served.status_code == 200 and "script-src 'self'" in served.headers["content-security-policy"]
    out = ws.root / "report.html"
    assert ws.run("report", "--html", str(out), "--since", "30d").code == 0
    page, filed = read_page(served.text), read_page(out.read_text())
    assert (page.pairs, page.drift, page.tables["counters"], page.charts) == (
        filed.pairs, filed.drift, filed.tables["counters"], filed.charts)
    assert [s["src"] for s in page.scripts] == ["assets/chart.umd.min.js", "assets/dashboard.js"]
    # A posting on RecruitiFi opens through the daemon's own address for a fresh link; the
    # report, away from the daemon, has no such address to give.
    assert 'href="links/backend-engineer"' in served.text and 'href="links/' not in out.read_text()
    opened = httpx.get(base + "/links/backend-engineer", headers=bearer, timeout=10)
    assert opened.status_code == 302 and opened.headers["location"].startswith(ws.sandbox.recruitifi_url)
    _check_in_chromium(browser, base, bearer)


def _check_in_chromium(browser: Browser, base: str, bearer: dict[str, str]) -> None:
    watched = Watched(browser, headers=bearer)
    try:
        answer = watched.page.goto(base + "/")
        assert answer is not None and answer.status == 200
        watched.page.wait_for_load_state("load")
        assert watched.errors == []
        assert_charts_drawn(watched.page)
        if target := os.environ.get(SCREENSHOT_ENV):
            # The top of the page: the postings, drift and the charts.
            watched.page.screenshot(path=target, full_page=True, clip={"x": 0, "y": 0, "width": 1200, "height": 2000})
    finally:
        watched.close()
