"""``POST /hooks/git``: a push to the followed branch says "fetch now".

The request proves it comes from the forge by the secret both sides know
(``daemon.webhook_secret``), compared in constant time:

- GitHub signs the raw body: ``X-Hub-Signature-256: sha256=<HMAC-SHA256 hex>``;
- GitLab sends the secret itself: ``X-Gitlab-Token: <secret>``.

Anything else is 401 and nothing happens. A verified request only asks for a fetch, which
the follower coalesces (`follow.FetchRequests`), so a burst of pushes is one fetch; what
the push says is not trusted beyond that: the fetch reads the branch from the repository.
GitHub's ``ping`` (sent when the hook is created) is answered without a fetch.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable, Mapping
from typing import Protocol

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from boardsync.log import get_logger

log = get_logger(__name__)

HOOK_PATH = "/hooks/git"
MAX_BODY = 25 * 1024 * 1024
"""GitHub caps a webhook's payload at 25 MB; a larger body is not a push event."""


class HookSurface(Protocol):
    def webhook_secret(self) -> bytes | None: ...
    def fetch_asked(self, trigger: str) -> bool: ...


def github_signature_ok(signature: str, body: bytes, secret: bytes) -> bool:
    """Whether `signature` is ``sha256=`` and the HMAC-SHA256 of `body` under `secret`."""
    expected = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
    # Constant time: how much of a forged signature matched must not show in the answer's timing.
    return hmac.compare_digest(signature.strip().encode(), expected.encode())


def sender(headers: Mapping[str, str], body: bytes, secret: bytes) -> str | None:
    """``github`` or ``gitlab`` when the request carries proof of `secret`, else None. A
    request that carries GitHub's signature is judged by it alone."""
    signature = headers.get("x-hub-signature-256")
    if signature is not None:
        return "github" if github_signature_ok(signature, body, secret) else None
    token = headers.get("x-gitlab-token")
    if token is not None and hmac.compare_digest(token.encode(), secret):
        return "gitlab"
    return None


def _answer(status: int, body: dict[str, str]) -> JSONResponse:
    return JSONResponse(body, status, headers={"Cache-Control": "no-store"})


def git_hook(surface: HookSurface) -> Callable[[Request], Awaitable[Response]]:
    """The endpoint: verify, then ask the follower for a fetch."""

    async def hook(request: Request) -> Response:
        secret = surface.webhook_secret()
        if not secret:
            return _answer(404, {"error": "not_found", "message": "no webhook here: the daemon follows no git "
                                 "branch, or daemon.webhook_secret is not set"})
        body = await read_body(request)
        if body is None:
            return _answer(413, {"error": "too_large", "message": "a webhook body is at most 25 MB"})
        who = sender(request.headers, body, secret)
        if who is None:
            log.warning("webhook_refused", reason="no valid X-Hub-Signature-256 or X-Gitlab-Token")
            return _answer(401, {"error": "unauthorized", "message": "send X-Hub-Signature-256 (GitHub) or "
                                 "X-Gitlab-Token (GitLab) made with daemon.webhook_secret"})
        if request.headers.get("x-github-event") == "ping":
            return _answer(200, {"fetch": "not asked", "message": "pong"})
        booked = surface.fetch_asked(f"webhook {who}")
        return _answer(202, {"fetch": "asked" if booked else "already waiting"})

    return hook


async def read_body(request: Request, limit: int = MAX_BODY) -> bytes | None:
    """The raw body (a signature covers its exact bytes), or None past `limit` bytes: read
    no further than that, whatever Content-Length says."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)
