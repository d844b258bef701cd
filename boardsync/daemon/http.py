"""The daemon's HTTP surface, on loopback by default:

- ``GET /healthz``   200 while the scheduler runs jobs (liveness), else 503;
- ``GET /readyz``    200 when the config is loaded, the database answers at the right
                     version and the last successful reconcile is fresh; else 503 with the
                     checks that failed;
- ``GET /metrics``   Prometheus text;
- ``GET /links/KEY`` 302 to a fresh signed RecruitiFi link for the posting KEY: a stable
                     address to hand out, where the signed URL itself dies in minutes;
- ``GET /embed/KEY`` a minimal page framing a fresh link, as RecruitiFi means it to be shown.

A signed link acts as the configured RecruitiFi user until it expires: it is an edit session.
So with ``daemon.token`` set, every endpoint but the two probes asks for
``Authorization: Bearer <token>``, and the daemon refuses to listen beyond loopback without it.

A small threaded stdlib server is enough: a scrape or a redirect every few seconds, from
the same host.
"""

from __future__ import annotations

import hmac
import html
import ipaddress
import json
import socket
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Protocol
from urllib.parse import unquote, urlsplit

import structlog

from boardsync.daemon.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from boardsync.errors import BoardsyncError, ConfigError

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Check:
    """One readiness or liveness check: its name, whether it passed, and why not."""

    name: str
    ok: bool
    detail: str = ""


class UnknownPosting(LookupError):
    """No posting with that key is sent to the board that makes links."""


class Surface(Protocol):
    """What the HTTP surface asks of the daemon."""

    def liveness(self) -> Sequence[Check]: ...
    def readiness(self) -> Sequence[Check]: ...
    def metrics_text(self) -> str: ...
    def fresh_link(self, posting_key: str) -> str:
        """The URL of a signed link with life left in it; raises `UnknownPosting` or a
        `BoardsyncError` when the board cannot give one."""
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


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    surface: Surface
    token: bytes | None


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "boardsync"
    sys_version = ""

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        try:
            self._route(self.path.split("?", 1)[0])
        except Exception as exc:  # one bad request must not print a traceback and hang up
            log.exception("http_handler_failed", path=self.path.split("?", 1)[0], error=str(exc))
            self._json(500, {"error": "internal", "message": "the daemon could not answer"})

    def _route(self, path: str) -> None:
        if path not in OPEN_PATHS and not self._authorized():
            self._unauthorized()
        elif path == "/healthz":
            self._checks(self.server.surface.liveness())
        elif path == "/readyz":
            self._checks(self.server.surface.readiness())
        elif path == "/metrics":
            self._send(200, self.server.surface.metrics_text().encode(), METRICS_CONTENT_TYPE)
        elif path.startswith("/links/") and len(path) > len("/links/"):
            self._link(unquote(path[len("/links/"):]))
        elif path.startswith("/embed/") and len(path) > len("/embed/"):
            self._embed(unquote(path[len("/embed/"):]))
        else:
            self._json(404, {"error": "not_found", "message": "no such page"})

    def do_HEAD(self) -> None:  # noqa: N802
        self.do_GET()

    def _checks(self, checks: Sequence[Check]) -> None:
        ok = all(check.ok for check in checks)
        body = {
            "ok": ok,
            "checks": {c.name: {"ok": c.ok, **({"detail": c.detail} if c.detail else {})} for c in checks},
        }
        self._json(200 if ok else 503, body)

    def _authorized(self) -> bool:
        expected = self.server.token
        if expected is None:
            return True
        scheme, _, given = (self.headers.get("Authorization") or "").partition(" ")
        # Constant time: how much of a guess matched must not show in how long the answer takes.
        return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), expected)

    def _unauthorized(self) -> None:
        self.send_response(401)
        self.send_header("WWW-Authenticate", 'Bearer realm="boardsync"')
        body = json.dumps({"error": "unauthorized", "message": "send Authorization: Bearer <daemon.token>"})
        self._finish(body.encode() + b"\n", "application/json")

    def _fresh_link(self, key: str) -> str | None:
        """The posting's fresh link, or None once an error page has been sent."""
        try:
            url = self.server.surface.fresh_link(key)
        except UnknownPosting as exc:
            self._json(404, {"error": "unknown_posting", "message": str(exc)})
            return None
        except BoardsyncError as exc:
            log.warning("link_failed", posting=key, error=str(exc))
            self._json(502, {"error": "board_error", "message": str(exc)})
            return None
        return url

    def _link(self, key: str) -> None:
        url = self._fresh_link(key)
        if url is None:
            return
        log.info("link_redirect", posting=key)  # never the URL: it is a credential
        self.send_response(302)
        self.send_header("Location", url)
        self.send_header("Cache-Control", "no-store")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _embed(self, key: str) -> None:
        url = self._fresh_link(key)
        if url is None:
            return
        parts = urlsplit(url)
        if parts.scheme not in ("https", "http") or not parts.netloc:
            # Framed as it came, a `javascript:` URL would run in this page.
            log.warning("link_refused", posting=key, reason="not an http(s) URL")
            self._json(502, {"error": "board_error", "message": "the board's link is not an http(s) URL"})
            return
        log.info("link_embedded", posting=key)
        self.send_response(200)
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header(
            "Content-Security-Policy",
            f"default-src 'none'; style-src 'unsafe-inline'; frame-src {parts.scheme}://{parts.netloc}; "
            "frame-ancestors 'self'; base-uri 'none'; form-action 'none'",
        )
        self._finish(embed_page(key, url).encode(), "text/html; charset=utf-8")

    def _json(self, status: int, body: object) -> None:
        self._send(status, json.dumps(body).encode() + b"\n", "application/json")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self._finish(body, content_type)

    def _finish(self, body: bytes, content_type: str) -> None:
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        # The stdlib writes access lines to stderr, with the full path; we keep quiet instead.
        pass


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


class HttpSurface:
    """The server, running in its own thread until `close()`. With a `token`, every endpoint
    but the probes asks for it as a bearer token."""

    def __init__(self, listen: str, surface: Surface, token: str | None = None) -> None:
        host, port = parse_listen(listen)
        server_class = type("_Server6", (_Server,), {"address_family": socket.AF_INET6}) if ":" in host else _Server
        try:
            self._server = server_class((host, port), _Handler)
        except OSError as exc:  # a busy port is a setting to change, not a traceback to restart on
            reason = (exc.strerror or str(exc)).lower()
            raise ConfigError(f"daemon.listen {listen}: {reason}") from exc
        self._server.surface = surface
        self._server.token = token.encode() if token is not None else None
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, name="http", daemon=True
        )

    @property
    def address(self) -> str:
        host, port = self._server.server_address[:2]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"

    def start(self) -> HttpSurface:
        self._thread.start()
        log.info("http_listening", address=self.address)
        return self

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
