"""The daemon's HTTP surface, on loopback by default:

- ``GET /healthz``   200 while the scheduler runs jobs (liveness), else 503;
- ``GET /readyz``    200 when the config is loaded, the database answers at the right
                     version and the last successful reconcile is fresh; else 503 with the
                     checks that failed;
- ``GET /metrics``   Prometheus text;
- ``GET /links/KEY`` 302 to a fresh signed RecruitiFi link for the posting KEY: a stable
                     address to hand out, where the signed URL itself dies in minutes.

A small threaded stdlib server is enough: a scrape or a redirect every few seconds, from
the same host.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Protocol
from urllib.parse import unquote

import structlog

from boardsync.daemon.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from boardsync.errors import BoardsyncError

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


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    surface: Surface


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
        if path == "/healthz":
            self._checks(self.server.surface.liveness())
        elif path == "/readyz":
            self._checks(self.server.surface.readiness())
        elif path == "/metrics":
            self._send(200, self.server.surface.metrics_text().encode(), METRICS_CONTENT_TYPE)
        elif path.startswith("/links/") and len(path) > len("/links/"):
            self._link(unquote(path[len("/links/"):]))
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

    def _link(self, key: str) -> None:
        try:
            url = self.server.surface.fresh_link(key)
        except UnknownPosting as exc:
            self._json(404, {"error": "unknown_posting", "message": str(exc)})
            return
        except BoardsyncError as exc:
            log.warning("link_failed", posting=key, error=str(exc))
            self._json(502, {"error": "board_error", "message": str(exc)})
            return
        log.info("link_redirect", posting=key)  # never the URL: it is a credential
        self.send_response(302)
        self.send_header("Location", url)
        self.send_header("Cache-Control", "no-store")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _json(self, status: int, body: object) -> None:
        self._send(status, json.dumps(body).encode() + b"\n", "application/json")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        # The stdlib writes access lines to stderr, with the full path; we keep quiet instead.
        pass


class HttpSurface:
    """The server, running in its own thread until `close()`."""

    def __init__(self, listen: str, surface: Surface) -> None:
        host, port = parse_listen(listen)
        server_class = type("_Server6", (_Server,), {"address_family": socket.AF_INET6}) if ":" in host else _Server
        self._server = server_class((host, port), _Handler)
        self._server.surface = surface
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
