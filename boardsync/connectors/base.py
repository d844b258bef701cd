"""The contract every connector fills, and the values that cross it.

`reconcile` knows boards only through this module. A connector turns the board-neutral
`Posting` into the board's payload (`render`, pure), reads everything it has on the board
in as few requests as the board allows (`observe`), and makes exactly the calls one change
needs (`create`, `update`, `transition`, `ensure_source`, `link`). It never decides *what*
to change: that is the planner's job.

.. important::
   A connector never resends a non-idempotent call on its own. When a create's outcome is
   unknown it raises `Ambiguous`; the caller has journaled an intent first and settles it
   later with `find`.

Capabilities are class constants, so the planner asks ``connector.SUPPORTS_JOBS`` instead of
probing for methods.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Literal

import httpx

from boardsync.config.model import Posting

# Board-neutral lifecycle words. Each connector maps its board's statuses onto these.
RemoteStatus = Literal["draft", "active", "paused", "closed", "expired"]
Transition = Literal["publish", "pause", "resume", "close"]

Spec = Mapping[str, Any]
"""A board payload, normalised so that `render(p) == observed.spec` when nothing drifted."""


@dataclass(frozen=True)
class Channel:
    """A tracked source URL on a board (Hirempire's sources)."""

    name: str
    remote_id: str
    url: str
    visits: int = 0


@dataclass(frozen=True)
class Remote:
    """One object as the board has it, read by `observe`, `create` or `find`."""

    remote_id: str
    status: RemoteStatus
    spec: Spec
    """The same shape as `render` gives, so the planner can diff them field by field."""
    frozen_fields: frozenset[str] = frozenset()
    """Fields the board will no longer let change (Sorce: qualifications, questions)."""
    expires_at: datetime | None = None
    channels: Mapping[str, Channel] = field(default_factory=dict)
    """By channel name; only for boards with SUPPORTS_CHANNELS."""
    applications: int = 0
    """All applications the board counts for this object."""
    posting_key: str | None = None
    """The posting this object belongs to, when the board itself can say (a slug); else None."""


@dataclass(frozen=True)
class SignedLink:
    """A short-lived URL that is a credential until `expires_at`; never log it whole."""

    url: str
    expires_at: datetime


Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class BoardProblem:
    """What the board would refuse in a posting (an error), or what of it the board will not
    keep (a warning: the posting is sent without it). `field` is a path in the posting file."""

    field: str
    message: str
    severity: Severity = "error"


class Connector(abc.ABC):
    """A board, seen through the verbs the planner needs.

    Subclasses set `name` and the `SUPPORTS_*` constants and fill the abstract methods.
    Optional verbs raise `NotImplementedError` unless the matching capability is set.
    """

    name: ClassVar[str]
    SUPPORTS_JOBS: ClassVar[bool] = False
    """The board holds a job object with a lifecycle (observe/create/update/transition/find)."""
    SUPPORTS_CHANNELS: ClassVar[bool] = False
    """The board tracks one source URL per channel (ensure_source, visits)."""
    SUPPORTS_LINKS: ClassVar[bool] = False
    """The board is reached through signed, expiring links (link)."""
    SUPPORTS_EXPIRY: ClassVar[bool] = False
    """Live objects expire on their own after a while."""

    def __init__(self, settings: Any, client: httpx.Client) -> None:
        self.settings = settings
        self.client = client

    # -- pure -------------------------------------------------------------------------------

    @classmethod
    @abc.abstractmethod
    def check(cls, posting: Posting) -> list[BoardProblem]:
        """Everything this board would refuse in `posting`, before any call. Pure."""

    @classmethod
    def cannot_hold(cls, posting: Posting) -> list[BoardProblem]:
        """What of `posting` this board will not keep as written (a field it has no place
        for, a range it narrows), as warnings naming the board: the posting is still sent,
        without it. `validate` shows them, as errors with ``policy.strict_fields``. Pure.
        Default: the board keeps everything it is sent."""
        return []

    @classmethod
    def findings(cls, posting: Posting) -> list[BoardProblem]:
        """What `validate` says of `posting` for this board: what it would refuse (errors),
        then what it cannot hold (warnings). Pure."""
        return [*cls.check(posting), *cls.cannot_hold(posting)]

    @abc.abstractmethod
    def render(self, posting: Posting) -> Spec:
        """The board's desired payload for `posting`, normalised. Pure (after `prepare`)."""

    def lifecycle(self, desired: str, observed: RemoteStatus) -> list[Transition]:
        """The transitions that take the board from `observed` to the posting's `desired`
        status, in order. Empty when nothing is to be done or nothing can be done (a terminal
        status: the planner reports drift or reposts). Pure."""
        return []

    # -- reads ------------------------------------------------------------------------------

    def prepare(self, postings: Sequence[Posting]) -> None:
        """Resolve what `render` needs from the board (e.g. Sorce location ids), batched
        and cached. Called once per run before rendering. Default: nothing to resolve."""

    def authenticate(self) -> None:
        """Make sure the board still accepts boardsync's credentials, for a board whose run
        may make no other call (one reached only through links: a stored link still valid
        needs none). Raises the board's error when it refuses them. Default: nothing, since
        a board's reads prove its credentials."""

    def observe(self) -> list[Remote]:
        """Every object boardsync may manage on the board, in as few requests as possible."""
        raise NotImplementedError(f"{self.name} has no jobs to observe")

    def find(self, posting: Posting, spec: Spec) -> Remote | None:
        """Look a posting up on the board after a create whose outcome was lost."""
        raise NotImplementedError(f"{self.name} has no jobs to find")

    def applicants(self) -> dict[tuple[str, str], int]:
        """Applicants per (remote id, channel name), in one request where the board allows."""
        return {}

    # -- writes -----------------------------------------------------------------------------

    def create(self, posting: Posting, spec: Spec, *, publish: bool) -> Remote:
        """Create the object; with `publish`, make it live in the same call where the board
        allows. Raises `Ambiguous` when the outcome is unknown; never retries a lost create."""
        raise NotImplementedError(f"{self.name} cannot create jobs")

    def update(self, remote: Remote, changes: Spec) -> Remote:
        """Send only `changes` (fields of the spec that differ). Returns the object after."""
        raise NotImplementedError(f"{self.name} cannot update jobs")

    def transition(self, remote: Remote, action: Transition) -> Remote:
        """Move the object through its lifecycle. Returns the object after."""
        raise NotImplementedError(f"{self.name} has no lifecycle")

    def ensure_source(self, remote: Remote, channel: str) -> Channel:
        """Make sure the tracked source URL for `channel` exists (safe to repeat)."""
        raise NotImplementedError(f"{self.name} has no channels")

    def link(self, posting: Posting) -> SignedLink:
        """A fresh signed link to the posting's page on the board."""
        raise NotImplementedError(f"{self.name} has no links")

    def close(self) -> None:
        """Release the HTTP client."""
        self.client.close()
