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
import hashlib
import json
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol

from pydantic import BaseModel

from boardsync.config.model import Posting

if TYPE_CHECKING:
    import httpx

# Board-neutral lifecycle words. Each connector maps its board's statuses onto these.
RemoteStatus = Literal["draft", "active", "paused", "closed", "expired"]
Transition = Literal["publish", "pause", "resume", "close", "unpublish"]
"""A status change a board can make; ``unpublish`` takes a job back to a draft, where a board
allows it (Hirempire)."""

Spec = Mapping[str, Any]
"""A board payload, normalised so that `render(p) == observed.spec` when nothing drifted."""


@dataclass(frozen=True, slots=True)
class Channel:
    """A tracked source URL on a board (Hirempire's sources)."""

    name: str
    remote_id: str
    url: str
    visits: int = 0


encode_spec = json.JSONEncoder(sort_keys=True, separators=(",", ":")).encode
"""A spec's JSON text, as `Remote` keeps it: its keys sorted, so that two specs are equal
exactly when their texts are. A value JSON cannot hold is a `TypeError`, never a string in
its place."""


def spec_hash_of(spec_text: str, status: str | None) -> str:
    """The digest of a job's spec (its text as `encode_spec` writes it) and its status: what
    the state keeps of what a board showed (a binding's ``observed_hash``); the same text as
    `record.spec_hash` digests, put together without decoding the spec."""
    text = f'{{"spec":{spec_text},"status":{json.dumps(status)}}}'
    return hashlib.sha256(text.encode()).hexdigest()[:32]


NO_CHANNELS: Mapping[str, Channel] = MappingProxyType({})
"""The channels of a job on a board without any: one, read-only, for every such job."""


@dataclass(frozen=True, slots=True, init=False)
class Remote:
    """One object as the board has it, read by `observe`, `create` or `find`.

    Its spec is kept as JSON text (`spec_text`) and made a dict again each time `spec` is
    read: a run holds every job of every board from their reading to the end of the run,
    and at thousands of jobs their specs as dicts were a tenth of its memory, as text less
    than half of that. A caller that reads one spec often takes `spec` once."""

    remote_id: str
    status: RemoteStatus
    spec_text: str
    """The spec as `encode_spec` encodes it: its hash needs no encoding again."""
    frozen_fields: frozenset[str]
    """Fields the board will no longer let change (Sorce: qualifications, questions)."""
    expires_at: datetime | None
    channels: Mapping[str, Channel]
    """By channel name; only for boards with SUPPORTS_CHANNELS."""
    applications: int
    """All applications the board counts for this object."""
    posting_key: str | None
    """The posting this object belongs to, when the board itself can say (a slug); else None."""

    def __init__(
        self, remote_id: str, status: RemoteStatus, spec: Spec | None = None,
        frozen_fields: frozenset[str] = frozenset(), expires_at: datetime | None = None,
        channels: Mapping[str, Channel] | None = None, applications: int = 0, posting_key: str | None = None,
        *, spec_text: str | None = None,
    ) -> None:
        """`spec`, or its text already encoded (`spec_text`, as `dataclasses.replace` gives it)."""
        if spec is not None:
            spec_text = encode_spec(spec)
        set_ = object.__setattr__
        set_(self, "remote_id", remote_id)
        set_(self, "status", status)
        set_(self, "spec_text", spec_text if spec_text is not None else "{}")
        set_(self, "frozen_fields", frozen_fields)
        set_(self, "expires_at", expires_at)
        set_(self, "channels", NO_CHANNELS if channels is None else channels)
        set_(self, "applications", applications)
        set_(self, "posting_key", posting_key)

    @property
    def spec(self) -> dict[str, Any]:
        """The same shape as `render` gives, so the planner can diff them field by field: a
        new dict at each read."""
        decoded: dict[str, Any] = json.loads(self.spec_text)
        return decoded


@dataclass(frozen=True)
class IssuedLink:
    """A signed link the board just issued: a short-lived URL that is a credential until
    `expires_at`; never log it whole."""

    url: str
    expires_at: datetime


EventKind = Literal["challenge", "job", "board", "applicants", "other"]
"""What a board's webhook call asks of boardsync: answer a challenge; reconcile one job;
reconcile the board (a job changed, but which one the call does not say); read the
applicant counters again; or nothing."""


@dataclass(frozen=True)
class BoardEvent:
    """A webhook call from a board, read in boardsync's words (`Connector.read_event`)."""

    kind: EventKind
    name: str
    """The board's own word for the event, for the log."""
    remote_id: str | None = None
    """The job it is about (kind ``job``)."""
    reply: Mapping[str, Any] | None = None
    """The body to answer (kind ``challenge``)."""


@dataclass(frozen=True)
class Webhook:
    """A webhook registered on a board: where it calls, and for which events."""

    remote_id: str
    url: str
    events: tuple[str, ...]


Severity = Literal["error", "warning"]


@dataclass(frozen=True, slots=True)
class BoardProblem:
    """What the board would refuse in a posting (an error), or what of it the board will not
    keep (a warning: the posting is sent without it). `field` is a path in the posting file."""

    field: str
    message: str
    severity: Severity = "error"


class Unrenderable(ValueError):
    """`render` found what the board cannot take, which only a read of the board could tell
    (a city its location search does not know): the posting is refused for this board."""

    def __init__(self, problem: BoardProblem) -> None:
        self.problem = problem
        super().__init__(f"{problem.field}: {problem.message}")


class NotAPosting(ValueError):
    """`as_posting` met a job that cannot be written as a posting (a field a posting needs is
    missing on the board, or holds a word the posting has no name for)."""


NO_FIELDS: frozenset[str] = frozenset()
"""One empty set of field names for every use (each `frozenset()` call makes a new one): the
keys of a field a board shows back whole, a job with nothing frozen."""


def _keys(value: Any, keys: frozenset[str], *, keep: bool) -> Any:
    """`value` with only (`keep`) or without the `keys` of its object, or of each object in it."""
    if not keys:
        return value
    if isinstance(value, Mapping):
        return {k: v for k, v in value.items() if (k in keys) == keep}
    if isinstance(value, list):
        return [_keys(item, keys, keep=keep) for item in value]
    return value


class Pace(Protocol):
    """A board's request limit kept on the client side (`Connector.pace`): at most `limit`
    requests in any `per` seconds. Its window knows one process's requests unless told of
    others' (`hear`); `own_ages` and `keep_with` hand out its own, so that a later process,
    or one running beside it, counts them too."""

    limit: int
    per: float
    token: str
    """Tells this process's requests apart from the others' where they are kept."""

    @property
    def lost_at_most(self) -> int:
        """The most requests sent since the keeper was last called (a process that dies
        between two calls leaves that many unkept)."""

    def own_ages(self) -> tuple[float, ...]:
        """Seconds since each of its own requests still in the window came back."""

    def hear(self, ages: Iterable[float]) -> None:
        """Count other processes' requests, made `ages` seconds ago, against the limit."""

    def keep_with(self, keeper: Callable[[], Any] | None) -> None:
        """Have `keeper` called every few requests (None: no longer)."""


class Connector(abc.ABC):
    """A board, seen through the verbs the planner needs.

    Subclasses set `name`, the declaration of their config (`Settings`, `Section` and
    their help lines) and the `SUPPORTS_*` constants, and fill the abstract methods.
    Optional verbs raise `NotImplementedError` unless the matching capability is set.
    A board is registered once, as a ``boardsync.boards`` entry point naming the class
    (`boardsync.config.boards`).
    """

    name: ClassVar[str]
    """The board's key under ``providers:`` and under a posting's ``boards:``."""
    Settings: ClassVar[type[BaseModel]]
    """The model of ``providers.<name>``: how to reach the board. Each `SecretStr` field is a
    secret (a reference is expected, a literal warned about, its value redacted), and a
    ``base_url`` field is where the client connects."""
    Section: ClassVar[type[BaseModel]]
    """The model of a posting's ``boards.<name>``: values only this board knows. Naming the
    board there, even as ``{}``, is what sends the posting to it."""
    SETTINGS_HELP: ClassVar[str]
    """One line: what ``providers.<name>`` holds (the JSON Schema's description)."""
    SECTION_HELP: ClassVar[str]
    """One line: what naming the board under ``boards:`` does."""
    KEY_SHAPES: ClassVar[Mapping[str, str]] = {}
    """How the board's credentials look written out: prefix → a regex of the rest. Such a
    literal anywhere in the root file is refused (it belongs in the environment or a
    credential), and the error shows only the prefix."""
    SUPPORTS_JOBS: ClassVar[bool] = False
    """The board holds a job object with a lifecycle (observe/create/update/transition/find)."""
    SUPPORTS_CHANNELS: ClassVar[bool] = False
    """The board tracks one source URL per channel (ensure_source, visits)."""
    SUPPORTS_LINKS: ClassVar[bool] = False
    """The board is reached through signed, expiring links (link)."""
    SUPPORTS_EXPIRY: ClassVar[bool] = False
    """Live objects expire on their own after a while."""
    NAMES_ITS_POSTINGS: ClassVar[bool] = False
    """Every object boardsync made carries a reference of ours that the board shows back
    (`Remote.posting_key`, from a slug). When False, a job is recognised as a posting's by
    `identity` instead, before anything is created."""
    SUPPORTS_EVENTS: ClassVar[bool] = False
    """The board calls a webhook when its jobs change (read_event, webhooks, add_webhook,
    remove_webhook)."""
    STATUS_PAGE: ClassVar[int] = 0
    """The jobs one request of a list of one status holds (`in_status`); 0 for a board that
    cannot list its jobs by status."""
    EVENTS: ClassVar[tuple[str, ...]] = ()
    """The board's events boardsync subscribes to, for a board with SUPPORTS_EVENTS."""
    NOT_SHOWN_BACK: ClassVar[Mapping[str, frozenset[str]]] = {}
    """Per spec field, the keys of its items (or of its object) that the board takes but does
    not show back in a read. Default: none, the board shows back everything it takes."""

    RENDERS: ClassVar[Mapping[str, tuple[str, ...]]] = {}
    """Per field of the posting (or of the board's section), the spec fields `render` makes
    of it: how an ignore rule, written in the posting's words, reaches the board's payload.
    A field not listed is the spec field of the same name, when there is one."""

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

    @classmethod
    def spec_fields(cls, names: Iterable[str]) -> frozenset[str]:
        """The spec fields made of the posting's fields `names` (see `RENDERS`). Pure."""
        return frozenset(spec for name in names for spec in cls.RENDERS.get(name, (name,)))

    def shown_back(self, name: str, value: Any) -> Any:
        """The part of spec field `name`'s `value` that a read of the board shows: only this
        part can be compared with the board. The rest (`NOT_SHOWN_BACK`) is compared with what
        was last sent instead. Pure."""
        return _keys(value, self.NOT_SHOWN_BACK.get(name, NO_FIELDS), keep=False)

    def not_shown_back(self, name: str, value: Any) -> Any:
        """The rest of `value`: what only the record of what was last sent can tell. None for
        a field the board shows back whole. Pure."""
        hidden = self.NOT_SHOWN_BACK.get(name)
        return _keys(value, hidden, keep=True) if hidden else None

    def lifecycle(self, desired: str, observed: RemoteStatus) -> list[Transition]:
        """The transitions that take the board from `observed` to the posting's `desired`
        status, in order. Empty when nothing is to be done or nothing can be done (a terminal
        status: the planner reports drift or reposts). Pure."""
        return []

    # -- reads ------------------------------------------------------------------------------

    def prepare(self, postings: Sequence[Posting]) -> None:
        """Resolve what `render` needs from the board (e.g. Sorce location ids), batched
        and cached. Called once per run before rendering. Default: nothing to resolve."""

    def learned(self) -> Mapping[str, Any]:
        """What `prepare` and `observe` learned from the board that `render` needs (ids the
        board gave to names), JSON-safe and never a credential: kept with the board's last
        read, so a plan against a snapshot renders without calling the board. Default: nothing."""
        return {}

    def recall(self, learned: Mapping[str, Any]) -> None:
        """Take back what `learned` gave, instead of asking the board again. Default: nothing."""

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

    def lost_candidates(self) -> list[Remote]:
        """Jobs a create whose answer was lost may have made that `observe` may not show (a
        list that hides some statuses by default): looked through before such a create is
        taken as never made. None by default, for a board whose list shows every job."""
        return []

    def in_status(self, status: RemoteStatus) -> list[Remote]:
        """Every job of one status, listed on its own (``STATUS_PAGE`` jobs a request): for the
        bound jobs of a status a list asked for no status leaves out, when reading each by id
        would cost more requests."""
        raise NotImplementedError(f"{self.name} lists no jobs by status")

    def read(self, remote_id: str) -> Remote | None:
        """One object by its id, for one that a list did not show. None only when the board
        answers that there is no such object (404): absence from a list proves nothing."""
        raise NotImplementedError(f"{self.name} has no jobs to read")

    def identity(self, spec: Spec) -> Hashable:
        """What makes an object this posting on a board that keeps no reference of ours
        (``NAMES_ITS_POSTINGS`` false): two specs with equal identities are one posting.
        It must survive an edit of the content, so it holds only what names the job for a
        person (its title and its place). Pure."""
        raise NotImplementedError(f"{self.name} names its postings itself")

    def handle(self, spec: Spec) -> str | None:
        """On a board that names its postings, the handle of ours the job `spec` describes
        carries (Hirempire: its public_slug), or None. A job with the handle a create sent is
        that create's job, even when the handle names no posting (a slug the posting gave
        itself). Pure. Default: the board keeps no handle of ours."""
        return None

    def label(self, spec: Spec) -> tuple[str | None, str | None]:
        """A job's title and place as a person names it (a list of jobs no posting owns); None
        for what the spec does not tell. Pure. Default: the spec's ``title``, no place."""
        title = spec.get("title")
        return (str(title) if title else None, None)

    def as_posting(self, remote: Remote) -> dict[str, Any]:
        """The reverse of `render`: a job read by `observe` in the posting's own words, as a
        posting file holds them (no ``key``), with what only this board knows under
        ``boards.<name>``. Rendering the posting it makes gives back what the board shows of
        the job. Raises `NotAPosting` naming what cannot be said. Pure (after `observe`)."""
        raise NotImplementedError(f"{self.name} has no jobs to import")

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

    def link(self, posting: Posting) -> IssuedLink:
        """A fresh signed link to the posting's page on the board."""
        raise NotImplementedError(f"{self.name} has no links")

    # -- events -----------------------------------------------------------------------------

    def read_event(self, body: Mapping[str, Any]) -> BoardEvent:
        """What a webhook call's JSON `body` asks for. Pure. A body that cannot be read as
        any documented event is kind ``board``: something changed, which a run finds out."""
        raise NotImplementedError(f"{self.name} sends no events")

    def webhooks(self) -> list[Webhook]:
        """The webhooks registered on the board."""
        raise NotImplementedError(f"{self.name} sends no events")

    def add_webhook(self, url: str, events: Sequence[str]) -> Webhook:
        """Register `url` for `events`; the board may call it to verify it first."""
        raise NotImplementedError(f"{self.name} sends no events")

    def remove_webhook(self, remote_id: str) -> None:
        """Unregister a webhook."""
        raise NotImplementedError(f"{self.name} sends no events")

    # -- the audit log ----------------------------------------------------------------------

    def pace(self) -> Pace | None:
        """The board's request limit as this connector keeps it, for other processes to
        share (`Pace`); None for a board without one."""
        return None

    def last_status(self) -> int | None:
        """The HTTP status of the last response this thread had from the board since
        `forget_status` (a retried try's included), or None: the verbs return objects, not
        responses, and the audit log keeps the status of each change's calls."""
        return None

    def forget_status(self) -> None:
        """Start `last_status` afresh, before the calls of one change."""

    def close(self) -> None:
        """Release the HTTP client."""
        self.client.close()
