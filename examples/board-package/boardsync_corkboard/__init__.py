"""Corkboard for boardsync: the whole board in one module.

A board declares, on its connector class, what boardsync needs to know of it:

- ``name``: its key under ``providers:`` in boardsync.yaml and under a posting's ``boards:``;
- ``Settings``: the model of ``providers.corkboard`` (each `SecretStr` field is a secret,
  ``base_url`` is where the client connects);
- ``Section``: the model of a posting's ``boards.corkboard`` (naming it sends the posting);
- ``SETTINGS_HELP`` / ``SECTION_HELP``: one line each, for the JSON Schema;
- ``KEY_SHAPES``: how its tokens look, so one written literally into a file is refused;
- capabilities (``SUPPORTS_JOBS``, ``NAMES_ITS_POSTINGS``, …) and the verbs they promise;
- ``check``: what the board would refuse, which ``boardsync validate`` reports.

The package's pyproject.toml names the class in the ``boardsync.boards`` entry-point group;
that is the whole registration. `boardsync.testing` holds the contract its tests run.
"""

from __future__ import annotations

import dataclasses
import threading
from typing import Any, ClassVar, Literal

import httpx
from pydantic import Field, SecretStr

from boardsync.config.model import Model, Posting
from boardsync.connectors.answers import Answer
from boardsync.connectors.base import BoardProblem, Remote, RemoteStatus, Spec, Transition
from boardsync.connectors.http import HttpConnector, RateLimiter, excerpt
from boardsync.errors import Blocked, ProviderError, Rejected

TITLE_LIMIT = 80


class CorkboardSettings(Model):
    """How to reach a Corkboard."""

    token: SecretStr = Field(description="API token, as a reference: ${CORKBOARD_TOKEN}.")
    base_url: str = Field("http://127.0.0.1:8700", description="API base URL.")
    requests_per_minute: int = Field(600, ge=1, description="Client-side limit.")


class CorkboardSection(Model):
    """Corkboard-only values. Naming `corkboard:` under `boards:` pins the posting there."""

    color: Literal["yellow", "pink", "blue"] = Field("yellow", description="The note's colour.")


class CorkboardNote(Answer):
    """A note, as every call answers it."""

    id: str
    ref: str
    title: str
    body: str
    color: str
    status: Literal["draft", "pinned", "paused", "down"]


class CorkboardNotes(Answer):
    notes: list[CorkboardNote]


STATUSES: dict[str, RemoteStatus] = {"draft": "draft", "pinned": "active", "paused": "paused", "down": "closed"}
SET_STATUS: dict[Transition, str] = {"publish": "pinned", "resume": "pinned", "pause": "paused", "close": "down"}


class CorkboardConnector(HttpConnector):
    """A Corkboard's notes, one per posting; the note's ``ref`` is the posting's key."""

    name: ClassVar[str] = "corkboard"
    Settings = CorkboardSettings
    Section = CorkboardSection
    SETTINGS_HELP = "Corkboard: token and address."
    SECTION_HELP = "Pin the posting on Corkboard (`corkboard: {}` for a yellow note)."
    KEY_SHAPES = {"cork_": r"[A-Za-z0-9]{16,}"}  # a token written into the file is refused
    SUPPORTS_JOBS = True
    NAMES_ITS_POSTINGS = True  # the note's ref is the posting key

    @staticmethod
    def default_limiter(settings: Any, stop: threading.Event | None = None) -> RateLimiter:
        return RateLimiter(settings.requests_per_minute, 60.0, stop=stop)

    # -- pure ------------------------------------------------------------------------------

    @classmethod
    def check(cls, posting: Posting) -> list[BoardProblem]:
        if len(posting.title) > TITLE_LIMIT:
            return [BoardProblem("title", f"Corkboard titles are at most {TITLE_LIMIT} characters")]
        return []

    def render(self, posting: Posting) -> Spec:
        section = posting.boards.section(self.name, CorkboardSection) or CorkboardSection()
        return {"title": posting.title.strip(), "body": posting.description.strip(), "color": section.color}

    def lifecycle(self, desired: str, observed: RemoteStatus) -> list[Transition]:
        """Any status to any other in one call; a note taken down stays down."""
        if desired == observed or desired == "draft" or observed == "closed":
            return []
        if desired == "active":
            return ["resume"] if observed == "paused" else ["publish"]
        return {"paused": ["pause"], "closed": ["close"]}.get(desired, [])  # type: ignore[return-value]

    # -- reads -----------------------------------------------------------------------------

    def observe(self) -> list[Remote]:
        return [_remote(note) for note in self._call_answer(CorkboardNotes, "GET", "/notes").notes]

    def find(self, posting: Posting, spec: Spec) -> Remote | None:
        return next((r for r in self.observe() if r.posting_key == posting.key), None)

    def read(self, remote_id: str) -> Remote | None:
        try:
            return _remote(self._call_answer(CorkboardNote, "GET", f"/notes/{remote_id}"))
        except Rejected as exc:
            if exc.status == 404:
                return None
            raise

    # -- writes ----------------------------------------------------------------------------

    def create(self, posting: Posting, spec: Spec, *, publish: bool) -> Remote:
        body = {**spec, "ref": posting.key, "status": "pinned" if publish else "draft"}
        call = "POST /notes"
        return _remote(self._created_answer(CorkboardNote, self._call("POST", "/notes", json=body), call))

    def update(self, remote: Remote, changes: Spec) -> Remote:
        note = self._call_answer(CorkboardNote, "PATCH", f"/notes/{remote.remote_id}", json=dict(changes),
                                 idempotent=True)
        return _remote(note)

    def transition(self, remote: Remote, action: Transition) -> Remote:
        body = {"status": SET_STATUS[action]}
        note = self._call_answer(CorkboardNote, "PATCH", f"/notes/{remote.remote_id}", json=body, idempotent=True)
        return dataclasses.replace(remote, status=STATUSES[note.status])

    # -- the one seam ----------------------------------------------------------------------

    def _auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.settings.token.get_secret_value()}"}

    def _error(self, response: httpx.Response, call: str) -> ProviderError:
        message, code = self._said(response)
        kw: dict[str, Any] = {"provider": self.name, "call": call, "status": response.status_code, "code": code}
        if response.status_code == 401:
            return Blocked(f"{message}; check providers.corkboard.token", gate="credentials",
                           company_wide=True, **kw)
        return Rejected(message, **kw)

    def _said(self, response: httpx.Response) -> tuple[str, str | None]:
        try:
            body = response.json()
            return excerpt(str(body["message"])), str(body["error"])
        except (ValueError, KeyError, TypeError):
            return excerpt(response.text or response.reason_phrase), None


def _remote(note: CorkboardNote) -> Remote:
    spec = {"title": note.title, "body": note.body, "color": note.color}
    return Remote(note.id, STATUSES[note.status], spec, posting_key=note.ref)
