"""The daemon's HTTP surface, on loopback by default:

- ``GET /healthz``   200 while the scheduler runs jobs (liveness), else 503;
- ``GET /readyz``    200 when the config is loaded, the database answers at the right
                     version and the last successful reconcile is fresh; else 503 with the
                     checks that failed; either way with each board's pairs by health
                     (``boards``), which do not change the answer. A standby daemon
                     (`standby.py`) answers 503 with its ``role`` check: "standby: …";
- ``GET /metrics``   Prometheus text, or OpenMetrics when the scraper's Accept header asks;
- ``GET /links/KEY`` 302 to a fresh signed RecruitiFi link for the posting KEY: a stable
                     address to hand out, where the signed URL itself dies in minutes;
- ``GET /embed/KEY`` a minimal page framing a fresh link, as RecruitiFi means it to be shown;
- ``GET /snapshot``  each board's last observed state as JSON (`boardsync snapshot`), for
                     ``boardsync plan --snapshot`` where the boards and their secrets are not;
- ``GET /``          the dashboard (`boardsync.dashboard`): postings on the boards, drift and what
                     it cost, visits and applicants per channel, what is coming, the last runs;
                     ``?since=30d`` sets the period of its charts; its scripts at ``/assets/NAME``;
- ``GET /api/status``, ``/api/drift`` (``?open=1``), ``/api/visits`` (``?since=7d``): the
                     documents of ``status --json``, ``drift --json`` and ``visits --json``;
- ``POST /hooks/git`` a push webhook that asks the daemon to fetch the branch it follows now
                     (`hooks.py`): signed, so the bearer token is not asked for.
- ``POST /hooks/BOARD/TOKEN`` a board's events (`events.py`): a job that changed is reconciled
                     now; the token in the path is the proof, so the bearer token is not asked for.

A signed link acts as the configured RecruitiFi user until it expires: it is an edit session.
So with ``daemon.token`` set, every endpoint but the two probes asks for
``Authorization: Bearer <token>``, and the daemon refuses to listen beyond loopback without it.

Starlette routes the paths and a middleware checks the token; uvicorn serves them from a
thread of its own, so the daemon's main thread keeps handling signals and reloads.
"""

from __future__ import annotations

import asyncio
import hmac
import html
import ipaddress
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from email.utils import formatdate
from typing import Any, Protocol
from urllib.parse import urlsplit

import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from boardsync.config.model import parse_duration
from boardsync.connectors.base import BoardEvent
from boardsync.dashboard import ASSETS, asset
from boardsync.daemon.events import EVENTS_PATH, Booked, board_hook, is_event_path
from boardsync.daemon.hooks import HOOK_PATH, git_hook
from boardsync.errors import BoardsyncError, ConfigError
from boardsync.log import get_logger

log = get_logger(__name__)


@dataclass(frozen=True)
class Check:
    """One readiness or liveness check: its name, whether it passed, and why not."""

    name: str
    ok: bool
    detail: str = ""


class BadQuery(ValueError):
    """A query parameter the endpoint cannot read: a 400 saying which."""


class UnknownPosting(LookupError):
    """No posting with that key is sent to the board that makes links."""


class NotActive(Exception):
    """This daemon stands by (another one writes the state): it serves no link or snapshot."""


class Surface(Protocol):
    """What the HTTP surface asks of the daemon."""

    def liveness(self) -> Sequence[Check]: ...
    def readiness(self) -> Sequence[Check]: ...
    def board_health(self) -> dict[str, dict[str, int]]:
        """board → health → pairs (`boardsync.state.health`), read from the database."""
        ...
    def metrics_page(self, accept: str | None) -> tuple[bytes, str]:
        """The exposition the Accept header asks for, and its content type."""
        ...
    def snapshot(self) -> dict[str, Any]:
        """The snapshot document of the state database, taken now."""
        ...
    def fresh_link(self, posting_key: str) -> str:
        """The URL of a signed link with life left in it; raises `UnknownPosting` or a
        `BoardsyncError` when the board cannot give one."""
        ...
    def dashboard_page(self, since: timedelta, since_text: str) -> str:
        """The dashboard's HTML, its charts and changes over the last `since`."""
        ...
    def status_document(self) -> str:
        """What `status --json` prints, read now."""
        ...
    def drift_document(self, open_only: bool) -> str:
        """What `drift --json` (with `open_only`, `drift --open --json`) prints."""
        ...
    def visits_document(self, since: timedelta) -> str:
        """What `visits --json --since …` prints."""
        ...
    def webhook_secret(self) -> bytes | None:
        """The push webhook's secret; None when the daemon follows no branch or has none."""
        ...
    def fetch_asked(self, trigger: str) -> bool:
        """Ask for a fetch of the followed branch; False when one is already waiting."""
        ...
    def events_token(self) -> bytes | None:
        """The token of the board events' address; None when they are not set up."""
        ...
    def event_reader(self, board: str) -> Callable[[Mapping[str, Any]], BoardEvent] | None:
        """How `board` reads its webhook bodies; None for a board that sends no events."""
        ...
    def board_event(self, board: str, event: BoardEvent) -> Booked:
        """Book the work a board's event asks for."""
        ...


def parse_listen(listen: str) -> tuple[str, int]:
    """``host:port`` or ``[v6 address]:port`` → (host, port)."""
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise ValueError(f"daemon.listen: {listen!r} is not host:port")
    return host.strip("[]"), int(port)


OPEN_PATHS = frozenset({"/healthz", "/readyz"})
"""The probes answer without the token: they say nothing a caller could act on."""


def is_loopback(host: str) -> bool:
    """Whether `host` is reachable from this machine only. A name other than ``localhost``
    may resolve anywhere, so it counts as not loopback."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def require_token_off_loopback(listen: str, token: str | None) -> None:
    """Refuse to serve signed links beyond this machine without a bearer token."""
    if token is None and not is_loopback(parse_listen(listen)[0]):
        raise ConfigError(
            f"daemon.listen {listen} is not a loopback address: set daemon.token (a reference, "
            "e.g. \"${BOARDSYNC_TOKEN}\"), which every endpoint but /healthz and /readyz then requires"
        )


NO_STORE = {"Cache-Control": "no-store"}


def _json(status: int, body: object, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, status, headers={**NO_STORE, **(headers or {})})


def _checks(checks: Sequence[Check], **more: object) -> JSONResponse:
    ok = all(check.ok for check in checks)
    body = {
        "ok": ok,
        "checks": {c.name: {"ok": c.ok, **({"detail": c.detail} if c.detail else {})} for c in checks},
        **more,
    }
    return _json(200 if ok else 503, body)


def _board_health(surface: Surface) -> dict[str, dict[str, int]] | str:
    """Each board's pairs by health; a database that cannot be read is said so, and leaves
    the readiness answer to the database check."""
    try:
        return surface.board_health()
    except Exception as exc:  # the probe must answer whatever the database does
        log.warning("board_health_failed", error=str(exc))
        return "unknown: the state database could not be read"


def bearer_matches(authorization: str | None, token: bytes) -> bool:
    """Whether an Authorization header carries `token` as a bearer token."""
    scheme, _, given = (authorization or "").partition(" ")
    # Constant time: how much of a guess matched must not show in how long the answer takes.
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token)


CallNext = Callable[[Request], Awaitable[Response]]


class BearerToken(BaseHTTPMiddleware):
    """With a token, every path but the probes answers 401 unless the request carries it."""

    def __init__(self, app: Callable[..., Awaitable[None]], token: str | None) -> None:
        super().__init__(app)
        self._token = token.encode() if token is not None else None

    async def dispatch(self, request: Request, call_next: CallNext) -> Response:
        # The webhooks prove themselves by a signature or the token in their path; their
        # senders cannot send the bearer token too.
        path = request.url.path
        if (self._token is None or path in OPEN_PATHS or path == HOOK_PATH or is_event_path(path)
                or bearer_matches(request.headers.get("Authorization"), self._token)):
            return await call_next(request)
        return _json(401, {"error": "unauthorized", "message": "send Authorization: Bearer <daemon.token>"},
                     {"WWW-Authenticate": 'Bearer realm="boardsync"'})


class AnswerErrors(BaseHTTPMiddleware):
    """A request that fails is a 500 with a JSON body and one log event: no traceback on
    stderr, no connection hung up, and the server keeps serving."""

    async def dispatch(self, request: Request, call_next: CallNext) -> Response:
        try:
            return await call_next(request)
        except Exception as exc:
            log.exception("http_handler_failed", path=request.url.path, error=str(exc))
            return _json(500, {"error": "internal", "message": "the daemon could not answer"})


def make_app(surface: Surface, token: str | None = None) -> Starlette:
    """The daemon's pages as a Starlette app; `token` guards all but the probes."""

    def healthz(request: Request) -> Response:
        return _checks(surface.liveness())

    def readyz(request: Request) -> Response:
        return _checks(surface.readiness(), boards=_board_health(surface))

    def metrics(request: Request) -> Response:
        body, content_type = surface.metrics_page(request.headers.get("Accept"))
        return Response(body, headers=NO_STORE, media_type=content_type)

    def link(request: Request) -> Response:
        key = request.path_params["key"]
        url = surface.fresh_link(key)
        log.info("link_redirect", posting=key)  # never the URL: it is a credential
        return RedirectResponse(url, 302, headers={**NO_STORE, "Referrer-Policy": "no-referrer"})

    def snapshot(request: Request) -> Response:
        log.info("snapshot_served")
        return _json(200, surface.snapshot())

    def embed(request: Request) -> Response:
        key = request.path_params["key"]
        return embed_response(key, surface.fresh_link(key))

    def dashboard(request: Request) -> Response:
        since_text = request.query_params.get("since", DEFAULT_SINCE)
        page = surface.dashboard_page(_since(since_text), since_text)
        return Response(page, headers=PAGE_HEADERS, media_type="text/html; charset=utf-8")

    def script(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in ASSETS:
            raise HTTPException(404)
        return Response(asset(name), headers=NO_STORE, media_type="text/javascript; charset=utf-8")

    def api_status(request: Request) -> Response:
        return _document(surface.status_document())

    def api_drift(request: Request) -> Response:
        return _document(surface.drift_document(request.query_params.get("open") in ("1", "true")))

    def api_visits(request: Request) -> Response:
        return _document(surface.visits_document(_since(request.query_params.get("since", DEFAULT_SINCE))))

    # Plain functions run in Starlette's thread pool: they read the database and call boards.
    routes = [
        Route("/healthz", healthz), Route("/readyz", readyz), Route("/metrics", metrics),
        Route("/links/{key}", link), Route("/embed/{key}", embed), Route("/snapshot", snapshot),
        Route("/", dashboard), Route("/assets/{name}", script), Route("/api/status", api_status),
        Route("/api/drift", api_drift), Route("/api/visits", api_visits),
        Route(HOOK_PATH, git_hook(surface), methods=["POST"]),
        Route(EVENTS_PATH, board_hook(surface), methods=["POST"]),
    ]
    return Starlette(
        routes=routes,
        middleware=[Middleware(DateHeader), Middleware(AnswerErrors), Middleware(BearerToken, token=token)],
        exception_handlers={
            UnknownPosting: _unknown_posting, NotActive: _not_active, BoardsyncError: _board_error,
            HTTPException: _http_error, BadQuery: _bad_query,
        },
    )


DEFAULT_SINCE = "7d"
"""The period of the dashboard and of /api/visits when none is asked, as `visits` has it."""

PAGE_HEADERS = {
    **NO_STORE,
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    # Its own scripts only, and nothing sent anywhere: the page reads what it was served.
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; img-src 'self' data:; "
                               "frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
}


def _since(text: str) -> timedelta:
    """A ``since`` query parameter as a period; a 400 for one that is not."""
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise BadQuery(f"since={text!r}: {exc}") from exc


def _document(text: str) -> Response:
    """A JSON document as the command prints it, byte for byte."""
    return Response(text, headers=NO_STORE, media_type="application/json")


async def _bad_query(request: Request, exc: Exception) -> Response:
    return _json(400, {"error": "bad_request", "message": str(exc)})


async def _unknown_posting(request: Request, exc: Exception) -> Response:
    return _json(404, {"error": "unknown_posting", "message": str(exc)})


async def _not_active(request: Request, exc: Exception) -> Response:
    return _json(503, {"error": "standby", "message": str(exc)})


async def _board_error(request: Request, exc: Exception) -> Response:
    log.warning("link_failed", posting=request.path_params.get("key"), error=str(exc))
    return _json(502, {"error": "board_error", "message": str(exc)})


async def _http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    if status == 404:
        return _json(404, {"error": "not_found", "message": "no such page"})
    detail = exc.detail if isinstance(exc, HTTPException) else "error"
    return _json(status, {"error": detail.lower().replace(" ", "_"), "message": detail})


def embed_response(key: str, url: str) -> Response:
    """The page framing `url`, or a 502 when `url` is not a web address."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.netloc:
        # Framed as it came, a `javascript:` URL would run in this page.
        log.warning("link_refused", posting=key, reason="not an http(s) URL")
        return _json(502, {"error": "board_error", "message": "the board's link is not an http(s) URL"})
    log.info("link_embedded", posting=key)
    headers = {
        **NO_STORE,
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy":
            f"default-src 'none'; style-src 'unsafe-inline'; frame-src {parts.scheme}://{parts.netloc}; "
            "frame-ancestors 'self'; base-uri 'none'; form-action 'none'",
    }
    return Response(embed_page(key, url), headers=headers, media_type="text/html; charset=utf-8")

def embed_page(key: str, url: str) -> str:
    """A page that is only the link's frame, everything in it escaped."""
    title = html.escape(f"{key} · RecruitiFi")
    return (
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"referrer\" content=\"no-referrer\">"
        f"<title>{title}</title>"
        "<style>html,body,iframe{margin:0;border:0;width:100%;height:100%;display:block}</style>"
        f"</head><body><iframe src=\"{html.escape(url, quote=True)}\" title=\"{title}\" "
        "referrerpolicy=\"no-referrer\"></iframe></body></html>\n"
    )


def _bind(listen: str) -> socket.socket:
    """A listening socket on `listen`; an address that cannot be taken is a setting to change,
    not a traceback to restart on."""
    host, port = parse_listen(listen)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio turns Nagle off only on sockets that say they are TCP.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise ConfigError(f"daemon.listen {listen}: {(exc.strerror or str(exc)).lower()}") from exc
    return sock


class DateHeader:
    """A `Date` on every response, made when it is sent. uvicorn refreshes its own once a
    second from a tick that also wakes the server ten times a second; `QuietServer` has no
    tick, so the header is made here instead."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def dated(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"date", formatdate(usegmt=True).encode())]
            await send(message)

        await self.app(scope, receive, dated)


class QuietServer(uvicorn.Server):
    """uvicorn's server, but waiting for `stop()` instead of waking ten times a second to
    look for it: an idle daemon spends no CPU on its HTTP surface."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._exit = asyncio.Event()

    async def main_loop(self) -> None:
        self._loop = asyncio.get_running_loop()  # before looking at should_exit: see stop()
        await self.on_tick(0)  # the default headers, once (the date is DateHeader's)
        if not self.should_exit:
            await self._exit.wait()

    def stop(self) -> None:
        """From any thread. should_exit first: a server whose loop is not known yet sees it
        when main_loop starts; one whose loop is known is woken."""
        self.should_exit = True
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._exit.set)


class HttpSurface:
    """uvicorn serving `make_app` in its own thread until `close()`. With a `token`, every
    endpoint but the probes asks for it as a bearer token."""

    STARTUP = 10.0
    """Seconds uvicorn has to start serving the bound socket."""

    def __init__(self, listen: str, surface: Surface, token: str | None = None) -> None:
        self._socket = _bind(listen)
        config = uvicorn.Config(
            make_app(surface, token), lifespan="off", access_log=False, log_config=None, log_level="warning",
            server_header=False, date_header=False, timeout_graceful_shutdown=2,
        )
        self._server = QuietServer(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, name="http", daemon=True
        )

    @property
    def address(self) -> str:
        host, port = self._socket.getsockname()[:2]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"

    def start(self) -> HttpSurface:
        self._thread.start()
        deadline = time.monotonic() + self.STARTUP
        while not self._server.started:  # the socket already queues connections; this is brief
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise BoardsyncError(f"the HTTP server on {self.address} did not start")
            time.sleep(0.01)
        log.info("http_listening", address=self.address)
        return self

    def close(self) -> None:
        self._server.stop()
        self._thread.join(timeout=5)
        self._socket.close()
