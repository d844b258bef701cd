"""The RecruitiFi simulator: the partner API of `providers/recruitifi.md`.

A partner trades its client id and secret for an hourly access token, then asks for signed,
short-lived links to RecruitiFi's embedded pages. What the contract leaves open, and what this
simulator does [decided]:

- The token endpoint answers 422 ``unprocessable_entity`` when the body is not a JSON object or
  ``client_id``/``client_secret`` is missing or not a non-empty string, and 401 ``unauthorized``
  for credentials it does not know. Tokens live 3,600 seconds on the simulator's clock.
- A link request is checked in this order: the ``X-Auth-Token`` header (401), 10 requests a
  second per token (429 ``rate_limited`` with ``Retry-After``), the parameters in the order
  connectorId, clientId, userId, jobId, applicationId (422: missing or empty, then malformed),
  unknown connector, client or user (404), then whether the connector may act for that client
  and user (403). Parameters the endpoint does not take are ignored.
- Well-formed means: ``connectorId`` ``con_…``, ``clientId`` ``cli_…``, ``userId`` ``usr_…``
  (the prefix then 1–64 letters, digits, ``_`` or ``-``); ``jobId`` and ``applicationId`` 1–128
  letters, digits, ``_ . : -``. A jobId never seen before is accepted.
- Links live 15 minutes. Their URL points at a page this simulator serves,
  ``<server>/embed/<job|application|settings|tasks>?token=…``, which answers 200 while the link
  is valid, 410 once it has expired and 404 for a token it never issued (the real host,
  ``https://app.recruitifi.com``, until the simulator is served).
"""

from __future__ import annotations

import html
import math
import re
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from boardsync.sandbox.core import (
    CONTROL_PREFIX,
    ASGIApp,
    Clock,
    Simulator,
    SlidingWindow,
    control_routes,
    json_object,
    wrap,
)

REAL_EMBED_BASE = "https://app.recruitifi.com"

SANDBOX_CLIENT_ID = "rf_partner_sandbox"
SANDBOX_CLIENT_SECRET = "rf-partner-secret-sandbox"
SANDBOX_CONNECTOR = "con_sandbox"
SANDBOX_CLIENT = "cli_sandbox"
SANDBOX_USER = "usr_sandbox"
OTHER_CLIENT = "cli_other"
"""A client the sandbox connector may not act for (403)."""
OTHER_USER = "usr_other"
"""A user the sandbox connector may not act for (403)."""

TOKEN_LIFETIME = timedelta(seconds=3600)
LINK_LIFETIME = timedelta(minutes=15)
REQUESTS_PER_SECOND = 10

LINK_PARAMS = {
    "job": ("connectorId", "clientId", "userId", "jobId"),
    "application": ("connectorId", "clientId", "userId", "jobId", "applicationId"),
    "settings": ("connectorId", "clientId", "userId"),
    "tasks": ("connectorId", "clientId", "userId"),
}
_ID = r"[A-Za-z0-9_-]{1,64}"
PARAM_PATTERNS = {
    "connectorId": (re.compile(rf"con_{_ID}"), "con_…"),
    "clientId": (re.compile(rf"cli_{_ID}"), "cli_…"),
    "userId": (re.compile(rf"usr_{_ID}"), "usr_…"),
    "jobId": (re.compile(r"[A-Za-z0-9_.:-]{1,128}"), "1-128 letters, digits, '_', '.', ':' or '-'"),
    "applicationId": (re.compile(r"[A-Za-z0-9_.:-]{1,128}"), "1-128 letters, digits, '_', '.', ':' or '-'"),
}
ERROR_CODES = {
    401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
    422: "unprocessable_entity", 429: "rate_limited", 500: "internal_error",
    502: "bad_gateway", 503: "service_unavailable", 504: "gateway_timeout",
}


class RecruitifiError(Exception):
    """An answer in RecruitiFi's error shape: ``{"error": code, "message": text}``."""

    def __init__(self, status: int, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry_after = retry_after

    @property
    def code(self) -> str:
        return ERROR_CODES.get(self.status, "error")


def error_body(status: int, message: str) -> tuple[bytes, dict[str, str]]:
    """RecruitiFi's envelope, for faults injected by the core middleware; an injected 429 carries
    `Retry-After` like the real one (the fault's own value wins when it has one)."""
    headers = {"retry-after": "1"} if status == 429 else {}
    return bytes(JSONResponse({"error": ERROR_CODES.get(status, "error"), "message": message}).body), headers


@dataclass
class Partner:
    client_id: str
    client_secret: str


@dataclass
class Connector:
    id: str
    partner: str
    grants: set[tuple[str, str]] = field(default_factory=set)
    """(clientId, userId) pairs this connector may act for."""


@dataclass
class AccessToken:
    token: str
    partner: str
    expires_at: datetime


@dataclass
class Link:
    kind: str
    token: str
    url: str
    expires_at: datetime
    params: dict[str, str]
    opens: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "url": self.url, "token": self.token,
                "expires_at": _iso(self.expires_at), "params": dict(self.params), "opens": self.opens}


def _iso(when: datetime) -> str:
    return when.isoformat(timespec="seconds").replace("+00:00", "Z")


class RecruitifiSim(Simulator):
    """One partner with one connector, two employers (clients) and their users."""

    name = "recruitifi"

    def __init__(self, clock: Clock | None = None, *, requests_per_second: int = REQUESTS_PER_SECOND) -> None:
        super().__init__(clock)
        self._default_rate = requests_per_second
        self.window = SlidingWindow(self.clock, requests_per_second, 1.0)
        self.embed_base_url = REAL_EMBED_BASE
        """Where link URLs point: the real host, or this simulator once served."""
        self._reset_state()

    # ---------------------------------------------------------------- base hooks

    def _reset_state(self) -> None:
        self.partners = {SANDBOX_CLIENT_ID: Partner(SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET)}
        self.clients = {SANDBOX_CLIENT: {SANDBOX_USER}, OTHER_CLIENT: {OTHER_USER}}
        self.connectors = {
            SANDBOX_CONNECTOR: Connector(SANDBOX_CONNECTOR, SANDBOX_CLIENT_ID, {(SANDBOX_CLIENT, SANDBOX_USER)})
        }
        self.tokens: dict[str, AccessToken] = {}
        self.links: list[Link] = []
        self.window.limit = self._default_rate
        self.window.reset()

    def _snapshot_state(self) -> dict[str, Any]:
        now = self.clock.now()
        return {
            "connectors": {c.id: sorted(map(list, c.grants)) for c in self.connectors.values()},
            "clients": {cid: sorted(users) for cid, users in self.clients.items()},
            "tokens": {"valid": sum(1 for t in self.tokens.values() if t.expires_at > now),
                       "expired": sum(1 for t in self.tokens.values() if t.expires_at <= now)},
            "requests_per_second": self.window.limit,
            "rate_limited": self.window.refused,
            "links": self.issued_links(),
        }

    # ---------------------------------------------------------------- controls (Python API)

    def expire_tokens(self) -> int:
        """Every access token issued so far expires now; returns how many there were."""
        with self.lock:
            now = self.clock.now()
            for token in self.tokens.values():
                token.expires_at = min(token.expires_at, now)
            return len(self.tokens)

    def expire_links(self) -> int:
        """Every link issued so far expires now; returns how many there were."""
        with self.lock:
            now = self.clock.now()
            for link in self.links:
                link.expires_at = min(link.expires_at, now)
            return len(self.links)

    def issued_links(self) -> list[dict[str, Any]]:
        """Every link handed out, oldest first, with its expiry and how often it was opened."""
        with self.lock:
            return [link.to_dict() for link in self.links]

    def set_limits(self, requests_per_second: int | None = None) -> None:
        if requests_per_second is None:
            return
        # A window that allows nothing could never say when to come back: at least one request.
        if isinstance(requests_per_second, bool) or not isinstance(requests_per_second, int) or requests_per_second < 1:
            raise ValueError("requests_per_second must be a whole number of at least 1")
        with self.lock:
            self.window.limit = requests_per_second

    # ---------------------------------------------------------------- API

    def issue_token(self, body: Mapping[str, Any] | None) -> dict[str, Any]:
        if body is None:
            raise RecruitifiError(422, "The body must be a JSON object with client_id and client_secret.")
        for name in ("client_id", "client_secret"):
            value = body.get(name)
            if not isinstance(value, str) or not value:
                raise RecruitifiError(422, f"{name} is required and must be a non-empty string.")
        with self.lock:
            partner = self.partners.get(body["client_id"])
            if partner is None or not secrets.compare_digest(partner.client_secret, body["client_secret"]):
                raise RecruitifiError(401, "Invalid client credentials.")
            token = AccessToken(secrets.token_urlsafe(32), partner.client_id, self.clock.now() + TOKEN_LIFETIME)
            self.tokens[token.token] = token
        return {"access_token": token.token, "token_type": "bearer",
                "expires_in": int(TOKEN_LIFETIME.total_seconds())}

    def authenticate(self, header: str | None) -> AccessToken:
        if not header:
            raise RecruitifiError(401, "Missing X-Auth-Token header.")
        with self.lock:
            token = self.tokens.get(header)
            if token is None:
                raise RecruitifiError(401, "Invalid access token.")
            if token.expires_at <= self.clock.now():
                raise RecruitifiError(401, "Access token has expired.")
            return token

    def throttle(self, token: AccessToken) -> None:
        wait = self.window.hit(token.token)
        if wait is not None:
            seconds = math.ceil(wait)
            raise RecruitifiError(429, f"Too many requests; retry after {seconds} second(s).", retry_after=seconds)

    def issue_link(self, kind: str, token: AccessToken, query: Mapping[str, str]) -> dict[str, Any]:
        params = _checked_params(LINK_PARAMS[kind], query)
        with self.lock:
            self._refuse_unknown_parties(token, params)
            secret = secrets.token_urlsafe(32)
            link = Link(
                kind=kind, token=secret, url=f"{self.embed_base_url}/embed/{kind}?token={secret}",
                params=params, expires_at=self.clock.now() + LINK_LIFETIME,
            )
            self.links.append(link)
        return {"url": link.url, "expiresAt": _iso(link.expires_at)}

    def open_link(self, kind: str, link_token: str) -> tuple[int, str]:
        """Someone opens a link: the page says whether it is still valid."""
        with self.lock:
            link = next((l for l in self.links if l.token == link_token and l.kind == kind), None)
            if link is None:
                return 404, _page("Link not valid", "RecruitiFi did not issue this link.")
            if link.expires_at <= self.clock.now():
                return 410, _page("Link expired", f"This link expired at {_iso(link.expires_at)}.")
            link.opens += 1
            what = ", ".join(f"{k}={v}" for k, v in link.params.items())
            return 200, _page(f"RecruitiFi {kind}", f"Valid until {_iso(link.expires_at)} for {what}.")

    def _refuse_unknown_parties(self, token: AccessToken, params: Mapping[str, str]) -> None:
        connector = self.connectors.get(params["connectorId"])
        if connector is None or connector.partner != token.partner:
            raise RecruitifiError(404, "Unknown connectorId.")
        client, user = params["clientId"], params["userId"]
        if client not in self.clients:
            raise RecruitifiError(404, "Unknown clientId.")
        if not any(user in users for users in self.clients.values()):
            raise RecruitifiError(404, "Unknown userId.")
        if (client, user) not in connector.grants:
            raise RecruitifiError(403, "This connector may not act for that client or user.")


def _checked_params(names: tuple[str, ...], query: Mapping[str, str]) -> dict[str, str]:
    params: dict[str, str] = {}
    for name in names:
        value = query.get(name)
        if not value:
            raise RecruitifiError(422, f"Missing required parameter: {name}.")
        pattern, shape = PARAM_PATTERNS[name]
        if not pattern.fullmatch(value):
            raise RecruitifiError(422, f"Malformed parameter: {name} must be {shape}.")
        params[name] = value
    return params


def _page(title: str, text: str) -> str:
    return (
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>"
        f"{html.escape(title)}</title></head><body><h1>{html.escape(title)}</h1>"
        f"<p>{html.escape(text)}</p></body></html>"
    )


# ---------------------------------------------------------------------------------- HTTP


def _error(exc: RecruitifiError) -> JSONResponse:
    headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after is not None else None
    return JSONResponse({"error": exc.code, "message": exc.message}, status_code=exc.status, headers=headers)


def _token_route(sim: RecruitifiSim) -> Route:
    async def token(request: Request) -> Response:
        try:
            body = await request.json()
        except ValueError:
            body = None
        try:
            return JSONResponse(sim.issue_token(body if isinstance(body, dict) else None))
        except RecruitifiError as exc:
            return _error(exc)

    return Route("/v1/auth/token", token, methods=["POST"])


def _link_routes(sim: RecruitifiSim) -> list[Route]:
    def endpoint(kind: str) -> Callable[[Request], Awaitable[Response]]:
        async def link(request: Request) -> Response:
            try:
                token = sim.authenticate(request.headers.get("x-auth-token"))
                sim.throttle(token)
                return JSONResponse(sim.issue_link(kind, token, request.query_params))
            except RecruitifiError as exc:
                return _error(exc)

        return link

    return [Route(f"/v1/links/{kind}", endpoint(kind), methods=["GET"]) for kind in LINK_PARAMS]


def _embed_routes(sim: RecruitifiSim) -> list[Route]:
    async def page(request: Request) -> Response:
        kind = request.path_params["kind"]
        if kind not in LINK_PARAMS:
            return HTMLResponse(_page("Not found", "No such page."), status_code=404)
        status, body = sim.open_link(kind, request.query_params.get("token", ""))
        return HTMLResponse(body, status_code=status)

    return [Route("/embed/{kind}", page, methods=["GET"])]


def _board_controls(sim: RecruitifiSim) -> list[Route]:
    """RecruitiFi's own controls: expire tokens or links, list links, the rate limit."""

    async def expire_tokens(request: Request) -> Response:
        return JSONResponse({"expired": sim.expire_tokens()})

    async def expire_links(request: Request) -> Response:
        return JSONResponse({"expired": sim.expire_links()})

    async def links(request: Request) -> Response:
        return JSONResponse({"links": sim.issued_links()})

    async def limits(request: Request) -> Response:
        body = await json_object(request)
        try:
            sim.set_limits(body.get("requests_per_second"))
        except (TypeError, ValueError) as exc:
            return JSONResponse({"error": f"bad control request: {exc}"}, status_code=422)
        return JSONResponse({"requests_per_second": sim.window.limit})

    p = CONTROL_PREFIX
    return [
        Route(f"{p}/expire-tokens", expire_tokens, methods=["POST"]),
        Route(f"{p}/expire-links", expire_links, methods=["POST"]),
        Route(f"{p}/links", links, methods=["GET"]),
        Route(f"{p}/limits", limits, methods=["POST"]),
    ]


async def _http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    message = {404: "No such endpoint.", 405: "Method not allowed."}.get(status, "Internal server error.")
    return _error(RecruitifiError(status, message))


def make_app(sim: RecruitifiSim) -> ASGIApp:
    """The simulator as served: token and link endpoints under /v1, embed pages, controls."""
    routes = [_token_route(sim), *_link_routes(sim), *_embed_routes(sim), *control_routes(sim), *_board_controls(sim)]
    app = Starlette(routes=routes, exception_handlers={HTTPException: _http_error})
    return wrap(app, sim, error_body)
