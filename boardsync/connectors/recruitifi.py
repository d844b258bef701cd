"""RecruitiFi: no job object to sync, only signed, short-lived links to its embedded pages.

The employer creates and edits the RecruitiFi posting inside the page a job link opens, so
this connector keeps no jobs: it trades the partner's client id and secret for an hourly
access token (renewed ahead of expiry, and once more after a 401) and asks for links.
A link's URL is a credential until it expires; it never reaches a log line or an error.
"""

from __future__ import annotations

import email.utils
import re
import threading
import time
from datetime import UTC, datetime, timedelta
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field, SecretStr

from boardsync.config.model import Model, Posting
from boardsync.config.problems import worded_pattern
from boardsync.connectors import decided
from boardsync.connectors.answers import Answer, UtcDateTime
from boardsync.connectors.base import BoardProblem, IssuedLink
from boardsync.connectors.http import HttpConnector, Clock, RateLimiter, excerpt
from boardsync.errors import Blocked, ProviderError, Rejected
from boardsync.log import get_logger, register_link, register_secret

if TYPE_CHECKING:
    import httpx

log = get_logger("boardsync.connectors.recruitifi", provider="recruitifi")

TOKEN_PATH = "/v1/auth/token"
LINK_PATHS = {"job": "/v1/links/job", "settings": "/v1/links/settings", "tasks": "/v1/links/tasks"}
RENEW_AHEAD = 60.0
"""Seconds before its expiry that a token is replaced, so no call carries a dying token."""
JOB_ID_PATTERN = re.compile(decided.RECRUITIFI_JOB_ID_PATTERN)
JOB_ID_WORDS = "1-128 letters, digits, '_', '.', ':' or '-'"

# ------------------------------------------------------------------------------ config


class RecruitifiSettings(Model):
    """How to reach RecruitiFi's partner API, and for whom links are made."""

    client_id: str = Field(min_length=1, description="Partner client id for the token endpoint.")
    client_secret: SecretStr = Field(description="Partner secret, as a reference: ${cred:recruitifi}.")
    connector_id: str = Field(min_length=1, description="The integration, e.g. con_abc123.")
    client: str = Field(min_length=1, description="The employer in RecruitiFi's partner system, cli_….")
    user: str = Field(min_length=1, description="The user links are made for, usr_….")
    base_url: str = Field("https://api.recruitifi.com", description="API base URL.")
    requests_per_second: int = Field(10, ge=1, description="Client-side limit.")


class RecruitifiBoard(Model):
    """RecruitiFi-only values. Naming `recruitifi:` keeps a fresh signed job link."""

    job_id: str | None = Field(
        None,
        pattern=worded_pattern(
            decided.RECRUITIFI_JOB_ID_PATTERN, "letters, digits, '_', '.', ':' or '-', at most 128 characters"
        ),
        description="The job id RecruitiFi knows this posting by; defaults to `job_<key>`.",
    )


def section(posting: Posting) -> RecruitifiBoard | None:
    """The posting's ``boards.recruitifi``, or None when it does not name RecruitiFi."""
    return posting.boards.section(RecruitifiConnector.name, RecruitifiBoard)



class RecruitifiToken(Answer):
    """``POST /v1/auth/token``: ``{access_token, token_type, expires_in}``. [doc]"""

    access_token: str
    token_type: str | None = None
    expires_in: float = 3600.0


class RecruitifiLink(Answer):
    """A link endpoint's ``{url, expiresAt}``. [doc] An ``expiresAt`` without an offset is read
    as UTC (`UtcDateTime`), not refused: the link itself is good, and refusing would leave
    `links` with nothing to give for as long as the board writes its times so."""

    url: str
    expiresAt: UtcDateTime


def job_id_for(posting: Posting) -> str:
    """The job id RecruitiFi knows the posting by: its own setting, else ``job_<key>``."""
    board = section(posting)
    return board.job_id if board and board.job_id else f"job_{posting.key}"


def on_our_clock(expires_at: datetime, dated: str | None) -> datetime:
    """When this machine's clock reaches the end of a link `expires_at` (the board's clock):
    the link's life by the board's own clock — from its answer's ``Date``, which HTTP has every
    answer carry — counted from now, when that ends sooner. A board whose clock runs ahead of
    ours would otherwise have its links handed out after they died. One behind ours, or an
    answer without a usable ``Date``, leaves the board's expiry as it is (never later)."""
    try:
        sent = email.utils.parsedate_to_datetime(dated) if dated else None
    except (TypeError, ValueError):
        sent = None
    if sent is None:
        return expires_at
    life = expires_at - (sent if sent.tzinfo is not None else sent.replace(tzinfo=UTC))
    return min(expires_at, datetime.now(UTC) + life) if life > timedelta(0) else expires_at


class RecruitifiConnector(HttpConnector):
    """RecruitiFi's partner API (see the provider page for every fact relied on)."""

    name: ClassVar[str] = "recruitifi"
    Settings = RecruitifiSettings
    Section = RecruitifiBoard
    SETTINGS_HELP = "RecruitiFi: partner credentials and the ids links are made for."
    SECTION_HELP = "Keep a fresh signed RecruitiFi job link for the posting."
    SUPPORTS_LINKS = True

    def __init__(
        self, settings: RecruitifiSettings, client: httpx.Client, *, clock: Clock = time.monotonic, **http: Any
    ) -> None:
        super().__init__(settings, client, **http)
        self.clock = clock
        self._token: str | None = None
        self._token_expires = 0.0
        self._token_lock = threading.Lock()

    @staticmethod
    def default_limiter(settings: RecruitifiSettings, stop: threading.Event | None = None) -> RateLimiter:
        """Requests a second per token. [decided]"""
        return RateLimiter(settings.requests_per_second, decided.RECRUITIFI_RATE_WINDOW, stop=stop)

    # -- pure ------------------------------------------------------------------------------

    @classmethod
    def check(cls, posting: Posting) -> list[BoardProblem]:
        job_id = job_id_for(posting)
        if JOB_ID_PATTERN.fullmatch(job_id):
            return []
        board = section(posting)
        field = "boards.recruitifi.job_id" if board and board.job_id else "key"
        return [BoardProblem(field, f"RecruitiFi job ids are {JOB_ID_WORDS}; {job_id!r} is not")]

    def render(self, posting: Posting) -> dict[str, Any]:
        """What RecruitiFi is told about the posting: only which job the link opens."""
        return {"jobId": job_id_for(posting)}

    # -- links -----------------------------------------------------------------------------

    def link(self, posting: Posting) -> IssuedLink:
        """A fresh link to the page where the posting's RecruitiFi job is created and edited."""
        return self._link("job", {"jobId": job_id_for(posting)})

    def settings_link(self) -> IssuedLink:
        """A fresh link to the employer's RecruitiFi settings."""
        return self._link("settings", {})

    def tasks_link(self) -> IssuedLink:
        """A fresh link to the user's outstanding RecruitiFi tasks."""
        return self._link("tasks", {})

    def _link(self, kind: str, extra: Mapping[str, str]) -> IssuedLink:
        params = {
            "connectorId": self.settings.connector_id,
            "clientId": self.settings.client,
            "userId": self.settings.user,
            **extra,
        }
        call = f"GET {LINK_PATHS[kind]}"
        response = self._authorized("GET", LINK_PATHS[kind], params=params)
        answer = self._answer(RecruitifiLink, response, call)
        link = IssuedLink(url=answer.url, expires_at=on_our_clock(answer.expiresAt, response.headers.get("date")))
        register_link(link.url, link.expires_at, sent=params.values())
        log.info("link_issued", kind=kind, expires_at=link.expires_at.isoformat())
        return link

    # -- token -----------------------------------------------------------------------------

    def authenticate(self) -> None:
        """Hold a working access token: renewed from the client secret when there is none
        (a new process) or it is about to expire, else no call. A secret that stopped working
        is found here, by every run, not only by the first one whose link is due."""
        self._current_token()

    def _authorized(self, method: str, path: str, *, params: Mapping[str, Any]) -> httpx.Response:
        """A call with the access token; after a 401 the token is renewed and the call made
        once more (a token can die early: revoked, or a clock that disagrees)."""
        token = self._current_token()
        response = self.http.request(method, path, params=params, headers={"X-Auth-Token": token})
        if response.status_code == 401:
            log.info("token_refused", call=f"{method} {path}")
            token = self._current_token(refused=token)
            response = self.http.request(method, path, params=params, headers={"X-Auth-Token": token})
        return self._checked(response, f"{method} {path}")

    def _current_token(self, refused: str | None = None) -> str:
        with self._token_lock:
            stale = self._token is None or self.clock() >= self._token_expires - RENEW_AHEAD
            if stale or self._token == refused:
                self._token, self._token_expires = self._new_token()
            return self._token  # type: ignore[return-value]

    def _new_token(self) -> tuple[str, float]:
        body = {
            "client_id": self.settings.client_id,
            "client_secret": self.settings.client_secret.get_secret_value(),
        }
        # Asking for a token changes nothing on the board, so it may be retried like a read.
        response = self.http.request("POST", TOKEN_PATH, json=body, idempotent=True)
        call = f"POST {TOKEN_PATH}"
        answer = self._answer(RecruitifiToken, self._checked(response, call), call)
        register_secret(answer.access_token, lifetime=answer.expires_in)
        log.info("token_renewed", expires_in=answer.expires_in)
        return answer.access_token, self.clock() + answer.expires_in

    # -- the one seam ----------------------------------------------------------------------

    def _error(self, response: httpx.Response, call: str) -> ProviderError:
        """``{"error": code, "message": text}`` → the error tree. [doc: the error table]"""
        status = response.status_code
        code, message = _envelope(response)
        kw: dict[str, Any] = {"provider": self.name, "call": call, "status": status, "code": code}
        if status == 401:
            return Blocked(
                f"{message} Check the RecruitiFi client id and secret (providers.recruitifi).",
                gate="credentials", company_wide=True, **kw,
            )
        if status == 403:
            return Blocked(
                f"{message} RecruitiFi must let this connector act for the configured client and user.",
                gate="forbidden", company_wide=True, **kw,
            )
        return Rejected(message, **kw)

    def _said(self, response: httpx.Response) -> tuple[str, str | None]:
        code, message = _envelope(response)
        return message, code


def _envelope(response: httpx.Response) -> tuple[str | None, str]:
    try:
        body = response.json()
        return (str(body["error"]) if body.get("error") else None), excerpt(str(body.get("message") or ""))
    except (ValueError, KeyError, TypeError, AttributeError):
        return None, excerpt(response.text or response.reason_phrase)


