"""The desired state as typed values: the root file (`boardsync.yaml`) and the posting.

Fields are board-neutral; `boards:` carries what only one board knows, and naming a board
there is what sends a posting to it. Every model refuses unknown keys. Board rules (Sorce's
Gate 1, Hirempire's enums) are not checked here but by each connector's ``check``.

What a board adds (its ``providers:`` settings, its ``boards:`` section) is declared in its
connector module; `Providers` and `Boards` get one field per board from `config.boards`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import PurePosixPath
from functools import cache
from typing import Annotated, Any, ClassVar, Literal, TypeVar, get_args
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    GetCoreSchemaHandler,
    SecretStr,
    Tag,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    field_validator,
    create_model,
    model_validator,
)
from pydantic_core import CoreSchema

from boardsync.config.boards import boards

CROSS_CHECKS = "cross_checks"
"""Validation context key: ``{CROSS_CHECKS: False}`` skips the rules that tie one field to
another (a salary range, a place for the workplace), so `validate` can still run each board's
checks on a posting that breaks one of them and report every problem in one go."""


def _cross_checks(info: ValidationInfo) -> bool:
    return not (isinstance(info.context, dict) and info.context.get(CROSS_CHECKS) is False)


KEY_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,99}$"


class Model(BaseModel):
    """Base for every config model: strict about unknown keys, immutable once loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_enum_values=False)

    def model_post_init(self, context: Any, /) -> None:
        """Share the set of field names given with every other model given the same names.
        Each model otherwise keeps a set of its own, and at thousands of postings those sets
        (one per posting and per section in it) are a third of the config's memory. Sharing
        is safe because the models are frozen: pydantic copies the set before it changes one."""
        given = self.__pydantic_fields_set__
        shared = _GIVEN_NAMES.setdefault(frozenset(given), given)
        if shared is not given:
            object.__setattr__(self, "__pydantic_fields_set__", shared)


_GIVEN_NAMES: dict[frozenset[str], set[str]] = {}
"""Each distinct set of given field names, once (`Model.model_post_init`)."""


# ---------------------------------------------------------------------------------- per board

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class PerBoard:
    """Marks a field whose model has one optional field per board, each of the board's own
    model (from `config.boards`). The model is built the first time pydantic needs it (the
    models holding such a field defer their build), so every board is loaded by then."""

    build: Callable[[], type[BaseModel]]

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return handler.generate_schema(self.build())


@cache
def boards_model() -> type[Boards]:
    """`Boards` with a field per board: its ``Section`` model with the `BoardRules` every
    board shares, or None."""
    fields: dict[str, Any] = {
        b.name: (ruled_section(b.name) | None, Field(None, description=b.section_help)) for b in boards().values()
    }
    return create_model("Boards", __base__=Boards, __doc__=Boards.__doc__, __module__=__name__, **fields)


@cache
def ignore_model() -> type[IgnoreRules]:
    """`IgnoreRules` with a field per board: the fields ignored on it, or None."""
    fields: dict[str, Any] = {
        name: (_list_of(_one_of(ignorable(name))) | None, Field(None, description=f"Fields ignored on {name}."))
        for name in boards()
    }
    return create_model(
        "IgnoreRules", __base__=IgnoreRules, __doc__=IgnoreRules.__doc__, __module__=__name__, **fields
    )


@cache
def providers_model() -> type[Providers]:
    """`Providers` with a field per board: its ``Settings`` model, or None."""
    fields: dict[str, Any] = {
        b.name: (b.settings | None, Field(None, description=b.settings_help)) for b in boards().values()
    }
    return create_model("Providers", __base__=Providers, __doc__=Providers.__doc__, __module__=__name__, **fields)


class PerBoardSections(Model):
    """A section per board, each None or of the board's own model: the base of `Boards` and
    `Providers`, whose fields are added by `boards_model` and `providers_model`."""

    BUILT_BY: ClassVar[str]
    """The function that builds the model with a field per board."""

    @model_validator(mode="before")
    @classmethod
    def _built_per_board(cls, data: Any) -> Any:
        if "BUILT_BY" in cls.__dict__:  # a base, with no fields: every board would be unknown
            raise TypeError(f"validate with {cls.BUILT_BY}(), the model with a field per board")
        return data

    def names(self) -> list[str]:
        """The boards named (configured, or named by the posting), in the order boards are listed."""
        # The fields' values as the model holds them, in their declared order: asked for each
        # posting on each board, a run asks often.
        return [name for name, value in self.__dict__.items() if value is not None]

    def named(self, name: str) -> bool:
        """Whether board `name` is named: ``name in names()``, without listing them."""
        return self.__dict__.get(name) is not None

    def section(self, name: str, model: type[M]) -> M | None:
        """Board `name`'s section, as the board's own `model`; None when it is not named."""
        value = self.__dict__.get(name)
        if value is None:
            return None
        if type(value) is not model and not isinstance(value, model):
            raise TypeError(f"{name}: a {type(value).__name__}, not a {model.__name__}")
        return value


# ---------------------------------------------------------------------------------- posting


class Status(StrEnum):
    DRAFT = "draft"
    ACTIVE = "active"
    PAUSED = "paused"
    CLOSED = "closed"


class Workplace(StrEnum):
    REMOTE = "remote"
    HYBRID = "hybrid"
    ON_SITE = "on_site"


class EmploymentType(StrEnum):
    FULL_TIME = "full_time"
    PART_TIME = "part_time"
    CONTRACT = "contract"
    INTERNSHIP = "internship"
    FREELANCE = "freelance"
    TEMPORARY = "temporary"
    PROJECT_BASED = "project_based"


class Level(StrEnum):
    ENTRY = "entry"
    MID = "mid"
    SENIOR = "senior"


class SalaryPeriod(StrEnum):
    HOUR = "hour"
    DAY = "day"
    WEEK = "week"
    TWO_WEEKS = "two_weeks"
    MONTH = "month"
    YEAR = "year"


class QualificationKind(StrEnum):
    REQUIRED = "required"
    PREFERRED = "preferred"


MOMENT_EXAMPLE = "2026-03-02T09:00:00+01:00"


def _moment(value: Any) -> datetime:
    """An ISO 8601 date and time with its offset. A time without one is refused: read on a
    server in another zone it would go live hours early or late."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"{value!r} is not an ISO 8601 date and time; write it as {MOMENT_EXAMPLE}") from None
    else:
        raise ValueError(f"expected an ISO 8601 date and time with an offset, like {MOMENT_EXAMPLE}")
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise ValueError(f"{value!r} has no offset: add one, like {MOMENT_EXAMPLE} (or Z for UTC)")
    return parsed


Moment = Annotated[datetime, BeforeValidator(_moment)]
"""A point in time written with its offset (``2026-03-02T09:00:00+01:00``, ``…Z``)."""


class Location(Model):
    """A place people work from, for hybrid and on-site postings."""

    city: str = Field(description="City name, as a person would search for it.")
    state: str | None = Field(None, description="State or province, when the country has them.")
    country: str = Field(description="Country name, e.g. 'United States' or 'Germany'.")
    sorce_location_id: str | None = Field(
        None,
        description="Sorce's locationId. When absent, boardsync looks the city up through "
        "Sorce's location search and uses the first match.",
    )


class Salary(Model):
    """Pay range. Whole numbers in the currency's main unit (dollars, not cents)."""

    min: Annotated[int, Field(ge=0, description="Lowest pay offered.")]
    max: Annotated[int, Field(ge=0, description="Highest pay offered; at least `min`.")]
    period: SalaryPeriod = Field(SalaryPeriod.YEAR, description="What one amount pays for.")
    currency: str = Field("USD", pattern=r"^[A-Z]{3}$", description="ISO 4217 code, e.g. USD.")
    hidden: bool = Field(False, description="Hide the amount where the board allows it.")

    @model_validator(mode="after")
    def _min_not_above_max(self, info: ValidationInfo) -> Salary:
        if _cross_checks(info) and self.max < self.min:
            raise ValueError(f"max: must be ≥ salary.min ({self.max} < {self.min})")
        return self


class Qualification(Model):
    """One thing a candidate needs (required) or should have (preferred)."""

    text: str = Field(min_length=1, description="What the candidate needs or should have.")
    kind: QualificationKind = Field(QualificationKind.REQUIRED, description="required or preferred.")


class Question(Model):
    """A screening question asked when someone applies."""

    prompt: str = Field(min_length=1, description="The screening question asked on applying.")
    options: list[str] = Field(default_factory=list, description="Choices; empty for free text.")


class Boards(PerBoardSections):
    """Which boards get the posting, with their own values. A board not named is not touched."""

    BUILT_BY = "boards_model"


# ---------------------------------------------------------------------------------- rules

IgnorableField = Literal[
    "title", "description", "workplace", "remote_country", "locations", "employment_type", "level",
    "department", "salary", "qualifications", "questions",
]
"""The posting's fields an ignore rule may name: those a board's job is made of."""

IGNORABLE: tuple[str, ...] = get_args(IgnorableField)

OVERRIDABLE = ("title", "description", "salary")
"""The posting's fields a board's section may give its own value of."""


class BoardRules(Model):
    """What every board's section holds beside the board's own values: the fields left to
    the board after the create, and the posting's text and pay as this board shows them."""

    ignore: list[str] = Field(
        default_factory=list,
        description="Fields sent when the job is created, then never again and never reported as "
        "drift on this board: for a field a team edits in the board's dashboard on purpose. Posting "
        "fields (title, description, salary, …) or this board's own (e.g. budgets).",
    )
    title: str | None = Field(
        None, min_length=1, max_length=200, description="This board's title, in place of the posting's."
    )
    description: str | None = Field(
        None, min_length=1, description="This board's description (Markdown), in place of the posting's."
    )
    salary: Salary | None = Field(None, description="This board's pay range, in place of the posting's.")

    @field_validator("title", "description")
    @classmethod
    def _override_not_blank(cls, text: str | None) -> str | None:
        if text is not None and not text.strip():
            raise ValueError("must not be blank (only spaces)")
        return text

    def handle(self, key: str) -> tuple[str | None, str] | None:
        """The handle of ours that posting `key`'s job carries on this board, which the board
        holds unique and knows the job by (Hirempire's public_slug), with the section's field
        that gives it (None: the default made from the key); None when the board keeps none.
        Two postings with one handle would share one job, so loading refuses them. A board's
        ``Section`` that has a handle says so by defining this method. Pure."""
        return None

    @model_validator(mode="wrap")
    @classmethod
    def _one_for_every_empty(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        """A section written ``{}`` (the board named, nothing more: the usual case) is the
        same section in every posting, so all of them share one: at thousands of postings a
        section of defaults each, with its empty lists, is a third of the config's memory.
        Safe because a section is frozen and nothing changes one's lists."""
        if type(data) is not dict or data:
            return handler(data)
        shared = _EMPTY_SECTIONS.get(cls)
        if shared is None:
            shared = _EMPTY_SECTIONS[cls] = handler(data)
        return shared


_EMPTY_SECTIONS: dict[type[BaseModel], BaseModel] = {}
"""Each board's section as ``{}`` validates to it, once (`BoardRules._one_for_every_empty`)."""

RULES = frozenset(BoardRules.model_fields)


def ignorable(board: str) -> tuple[str, ...]:
    """What an ignore rule for `board` may name: the posting's fields, then the board's own."""
    own = [name for name in boards()[board].section.model_fields if name not in RULES]
    return (*IGNORABLE, *own)


@cache
def ruled_section(board: str) -> type[BaseModel]:
    """`board`'s ``Section`` with the `BoardRules` added, so that every board takes them; a
    ``Section`` that already is one is used as it is. Its ``ignore`` names only what
    `ignorable` allows."""
    section = boards()[board].section
    if issubclass(section, BoardRules):
        return section
    clash = sorted(RULES & set(section.model_fields))
    if clash:
        raise TypeError(f"board {board!r}: its Section declares {', '.join(clash)}, which every board's section "
                        "has (boardsync.config.model.BoardRules); subclass BoardRules instead")
    ignore = _list_of(_one_of(ignorable(board)))
    return create_model(
        section.__name__, __base__=(section, BoardRules), __module__=section.__module__,
        __doc__=section.__doc__, ignore=(ignore, Field(default_factory=list, description=BoardRules.model_fields["ignore"].description)),
    )


def _one_of(names: tuple[str, ...]) -> Any:
    """A Literal of `names`, so that a name not among them is refused with the nearest one."""
    return Literal[names]


def _list_of(item: Any) -> Any:
    return list[item]


class IgnoreRules(PerBoardSections):
    """Per board, the fields ignored on it for every posting (see a section's ``ignore``)."""

    BUILT_BY = "ignore_model"


class Posting(Model):
    """One job a company wants on the boards, written once for all of them."""

    model_config = ConfigDict(defer_build=True)  # `boards` is built from the boards' declarations

    key: str = Field(
        pattern=KEY_PATTERN,
        description="Stable identity: lowercase letters, digits, '.', '_' or '-'. Never reuse; rename with "
        "previous_keys.",
    )
    previous_keys: list[Annotated[str, Field(pattern=KEY_PATTERN)]] = Field(
        default_factory=list,
        description="The keys this posting had before a rename: the next run moves their bindings and history "
        "to this key, closing and creating nothing.",
    )
    title: str = Field(min_length=1, max_length=200, description="Job title.")
    description: str = Field(min_length=1, description="The job description, in Markdown.")
    status: Status = Field(Status.ACTIVE, description="draft, active, paused or closed.")
    workplace: Workplace = Field(description="remote, hybrid or on_site.")
    remote_country: str | None = Field(None, description="Country a remote hire must live in.")
    locations: list[Location] = Field(
        default_factory=list, description="Where hybrid and on-site hires work."
    )
    employment_type: EmploymentType = Field(description="full_time, part_time, contract, …")
    level: Level = Field(description="entry, mid or senior.")
    department: str | None = Field(None, description="Team or function, e.g. Engineering.")
    salary: Salary | None = Field(None, description="Pay range; required to publish on Sorce.")
    qualifications: list[Qualification] = Field(
        default_factory=list, description="What candidates need (required) or should have."
    )
    questions: list[Question] = Field(default_factory=list, description="Screening questions.")
    channels: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(
        default_factory=list,
        description="Names of the tracked source URLs to create on Hirempire (e.g. linkedin).",
    )
    boards: Annotated[Boards, PerBoard(boards_model)] = Field(
        description="The boards to post on, each with its own values."
    )
    ignore: list[IgnorableField] = Field(
        default_factory=list,
        description="Fields sent when a job is created, then never again and never reported as drift, "
        "on every board: for a field a team edits in the boards' dashboards on purpose.",
    )
    suspend: bool = Field(
        False,
        description="Read the boards and report what differs, but write nothing for this posting: no "
        "create, update, status change, source or link. Its jobs are not closed when it is removed.",
    )
    publish_at: Moment | None = Field(
        None,
        description="When an active or paused posting goes live, as an ISO 8601 date and time with its "
        "offset (2026-03-02T09:00:00+01:00). Before it, the posting is a draft on every board.",
    )
    close_at: Moment | None = Field(
        None,
        description="When the posting closes, as an ISO 8601 date and time with its offset; from then on it "
        "is treated as written `status: closed`. After publish_at, when both are given.",
    )

    @field_validator("title", "description")
    @classmethod
    def _not_blank(cls, text: str) -> str:
        # A board shows blank text as an empty job; min_length alone lets "   " through.
        if not text.strip():
            raise ValueError("must not be blank (only spaces)")
        return text

    @field_validator("channels")
    @classmethod
    def _channels_unique_after_trim(cls, channels: list[str]) -> list[str]:
        trimmed = [c.strip() for c in channels]
        if any(not c for c in trimmed):
            raise ValueError("a channel name must not be blank")
        if len(trimmed) != len(set(trimmed)):
            raise ValueError("channel names must be unique")
        return trimmed

    def status_at(self, now: datetime) -> Status:
        """The status the posting asks for at `now`: closed from `close_at` on; a draft before
        `publish_at` when it is written active or paused; else as written."""
        if self.close_at is not None and now >= self.close_at:
            return Status.CLOSED
        live = self.status in (Status.ACTIVE, Status.PAUSED)
        if live and self.publish_at is not None and now < self.publish_at:
            return Status.DRAFT
        return self.status

    def as_of(self, now: datetime) -> Posting:
        """The posting with the status it asks for at `now` (`status_at`) written in."""
        status = self.status_at(now)
        return self if status is self.status else self.model_copy(update={"status": status})

    def rules(self, board: str) -> BoardRules | None:
        """The rules of `board`'s section; None when the posting does not name it."""
        return self.boards.section(board, BoardRules)

    def on_board(self, board: str) -> Posting:
        """The posting as `board` gets it: its section's title, description and salary in
        place of the posting's, where it gives them."""
        rules = self.rules(board)
        if rules is None:
            return self
        update = {}
        for name in OVERRIDABLE:
            value = getattr(rules, name)
            if value is not None:
                update[name] = value
        return self.model_copy(update=update) if update else self

    def overridden(self, board: str) -> frozenset[str]:
        """The fields `board`'s section gives its own value of."""
        rules = self.rules(board)
        return frozenset(n for n in OVERRIDABLE if rules is not None and getattr(rules, n) is not None)

    def ignored(self, board: str, policy: Policy) -> frozenset[str]:
        """The fields ignored on `board`: the posting's, its section's and the policy's rules."""
        rules = self.rules(board)
        return frozenset((
            *self.ignore, *(rules.ignore if rules is not None else ()), *(policy.ignore_on(board)),
        ))

    @model_validator(mode="after")
    def _closes_after_publishing(self, info: ValidationInfo) -> Posting:
        if not _cross_checks(info) or self.publish_at is None or self.close_at is None:
            return self
        if self.close_at <= self.publish_at:
            raise ValueError(f"close_at: must be after publish_at ({self.close_at.isoformat()} is not after "
                             f"{self.publish_at.isoformat()})")
        return self

    @model_validator(mode="after")
    def _workplace_needs_place(self, info: ValidationInfo) -> Posting:
        if not _cross_checks(info):
            return self
        if self.workplace is Workplace.REMOTE and not self.remote_country:
            raise ValueError("remote_country: a remote posting needs the country hires live in")
        if self.workplace in (Workplace.HYBRID, Workplace.ON_SITE) and not self.locations:
            raise ValueError(f"locations: a {self.workplace.value} posting needs at least one location")
        return self


# ---------------------------------------------------------------------------------- root file


def parse_duration(text: str | int | float) -> timedelta:
    """'90s', '15m', '1h', '2d' (or a number of seconds) → timedelta."""
    if isinstance(text, (int, float)):
        return timedelta(seconds=float(text))
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd])\s*", str(text))
    if not match:
        raise ValueError("a duration like 30s, 15m, 1h or 2d")
    scale = {"s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2)]
    return timedelta(seconds=float(match.group(1)) * scale)


Duration = Annotated[str, Field(pattern=r"^\s*\d+(\.\d+)?\s*[smhd]\s*$")]


class Providers(PerBoardSections):
    """The boards boardsync may act on. A posting can name only a board configured here."""

    BUILT_BY = "providers_model"


class Policy(Model):
    """What reconcile may do on its own."""

    model_config = ConfigDict(defer_build=True)  # `ignore` is built from the boards' declarations

    prune: bool = Field(False, description="Close postings removed from the source; off: only report them.")
    max_close_percent: float = Field(
        30, ge=0, le=100, description="Refuse a plan that closes more than this share of live postings."
    )
    self_heal: bool = Field(True, description="Undo edits made on a board by hand.")
    repost_expired: bool = Field(
        False, description="Post again a job that expired or was closed on the board but should be live."
    )
    prune_after: Duration = Field(
        "1h",
        description="How long a posting must be gone from the source (and missing from at least two "
        "reads of it) before a removal is acted on: a file that vanishes for a moment closes nothing.",
    )
    strict_fields: bool = Field(
        False,
        description="Treat a value a board cannot hold (a currency, a hidden salary) as an error in "
        "validate instead of a warning.",
    )
    ignore: Annotated[IgnoreRules, PerBoard(ignore_model)] = Field(
        default_factory=lambda: ignore_model()(),
        description="Per board, fields ignored for every posting: {sorce: [description]}. Each is sent "
        "when a job is created, then never again and never reported as drift on that board.",
    )

    def ignore_on(self, board: str) -> tuple[str, ...]:
        """The fields this policy ignores on `board`."""
        return tuple(getattr(self.ignore, board, None) or ())


class Schedule(Model):
    """How often the daemon works: durations like 30s, 15m, 1h or 2d."""

    reconcile: Duration = Field("15m", description="How often the daemon reconciles.")
    metrics: Duration = Field("1h", description="How often the daemon reads visits and applicants.")


class SqlSource(Model):
    """Postings kept as rows of a database table: key, spec (JSON), updated_at."""

    sql: str = Field(
        description="SQLAlchemy URL of the database holding the postings; a relative SQLite path "
        "starts at this file's folder. May hold references such as ${DB_PASSWORD}."
    )
    table: str = Field("postings", pattern=r"^[A-Za-z_][A-Za-z0-9_.]*$", description="Table name.")


EVENTS_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,}")


class Daemon(Model):
    """The long-running service's HTTP surface."""

    listen: str = Field("127.0.0.1:9187", description="host:port for /healthz, /metrics and /links.")
    token: SecretStr | None = Field(
        None,
        description="Bearer token every endpoint but /healthz and /readyz requires, as a reference: "
        "${BOARDSYNC_TOKEN}. Required when listen is not a loopback address.",
    )
    posting_labels: bool = Field(
        False, description="Label visit metrics per posting (many series for many postings)."
    )
    webhook_secret: SecretStr | None = Field(
        None,
        description="Secret of the push webhook POST /hooks/git (GitHub's X-Hub-Signature-256 or "
        "GitLab's X-Gitlab-Token), as a reference: ${cred:webhook}. Unset: no webhook.",
    )
    events_token: SecretStr | None = Field(
        None,
        description="The token in the address boards send their events to, POST "
        "/hooks/<board>/<token> (Hirempire signs nothing: the token is the only proof), as a "
        "reference: ${cred:events}. At least 16 characters, letters, digits, '-' and '_'. "
        "Unset: board events are refused.",
    )
    public_url: str | None = Field(
        None,
        description="The address the boards reach this daemon at (e.g. behind a reverse proxy: "
        "https://boardsync.example.com), for `boardsync hooks install`.",
    )
    lease: Duration = Field(
        "30s",
        description="With the state on PostgreSQL: how soon the writer lock of a daemon that died or was "
        "cut off is freed, and a standby daemon on the same database takes over (at least 3s).",
    )

    @field_validator("events_token")
    @classmethod
    def _long_path_token(cls, token: SecretStr | None) -> SecretStr | None:
        # It goes in a URL path and is all that stands between anyone and a run on demand.
        if token is not None and not EVENTS_TOKEN.fullmatch(token.get_secret_value()):
            raise ValueError("must be at least 16 letters, digits, '-' or '_' (e.g. from `openssl rand -hex 24`)")
        return token

    @field_validator("lease")
    @classmethod
    def _lease_long_enough(cls, lease: str) -> str:
        # Keepalive probes are whole seconds: a shorter lease could not be kept.
        if parse_duration(lease) < timedelta(seconds=3):
            raise ValueError("must be at least 3s")
        return lease

    @field_validator("public_url")
    @classmethod
    def _web_address(cls, url: str | None) -> str | None:
        parts = urlsplit(url) if url is not None else None
        if parts is not None and (parts.scheme not in ("http", "https") or not parts.netloc):
            raise ValueError("expected an http(s) address, e.g. https://boardsync.example.com")
        return url


NOTIFY_EVENTS = ("drift", "blocked", "board_down", "refused", "expiring", "link_failing", "config_refused")
"""What a notification target may ask for (README, "Notifications")."""

NotifyEvent = Literal["drift", "blocked", "board_down", "refused", "expiring", "link_failing", "config_refused"]


class NotifyTarget(Model):
    """One place messages go: an Apprise URL and the events it is told of."""

    url: SecretStr = Field(
        description="The Apprise URL of the target (Slack, Teams, email, Discord, ntfy, json://…), as a "
        "reference: ${SLACK_WEBHOOK_URL}. It holds the target's secret: never shown, never stored.",
    )
    events: list[NotifyEvent] = Field(
        min_length=1,
        description="The events to tell this target of: " + ", ".join(NOTIFY_EVENTS) + ".",
    )
    min_interval: Duration = Field(
        "0s",
        description="At most one message per this interval; events in between are batched into the next.",
    )
    after: Duration = Field(
        "30m", description="board_down: how long a board must be unreadable before it is told."
    )
    days: int = Field(7, ge=1, le=30, description="expiring: how many days ahead a job's expiry is told.")

    @field_validator("events")
    @classmethod
    def _events_once(cls, events: list[str]) -> list[str]:
        repeated = sorted({e for e in events if events.count(e) > 1})
        if repeated:
            raise ValueError(f"{', '.join(repeated)} named more than once")
        return events

    @field_validator("url")
    @classmethod
    def _apprise_url(cls, url: SecretStr) -> SecretStr:
        text = url.get_secret_value()
        if "${" in text or not text:
            return url  # a reference not resolved (--no-secrets, or a problem said already): not judged
        if not notify_url_known(text):
            scheme = text.split("://", 1)[0] if "://" in text else ""
            shown = f"'{scheme}://…'" if scheme else "not a URL"
            raise ValueError(f"{shown}: not a URL Apprise can send to (see Apprise's list of services)")
        return url


def notify_url_known(url: str) -> bool:
    """Whether Apprise knows how to send to `url` (its scheme and shape), without sending."""
    import apprise  # imported here: only a config with `notify:` pays for loading its plugins

    said = logging.getLogger("apprise")
    quiet, said.disabled = said.disabled, True  # its "Unsupported URL" line would repeat our problem
    try:
        return apprise.Apprise.instantiate(url, suppress_exceptions=True) is not None
    finally:
        said.disabled = quiet


def _postings_kind(value: Any) -> str | None:
    if isinstance(value, str):
        return "a file or folder"
    if isinstance(value, (dict, SqlSource)):
        return "a database table"
    return None


# A tagged union, so a mistake inside {sql: …} is reported once, not once per alternative.
PostingsSource = Annotated[
    Annotated[str, Tag("a file or folder")] | Annotated[SqlSource, Tag("a database table")],
    Discriminator(
        _postings_kind,
        custom_error_type="postings_source",
        custom_error_message="expected a path to a file or folder, or {sql: URL, table: NAME}",
    ),
]


class GitSource(Model):
    """Postings that live in a git branch, which the daemon follows: it keeps its own
    checkout, fetches every `every` (and on the push webhook), and switches to a new commit
    only once it validates."""

    git: str = Field(
        min_length=1,
        description="The repository: a local path (relative to this file) or any URL the host's "
        "git can fetch. No credentials in it: use `token`.",
    )
    branch: str = Field("main", min_length=1, pattern=r"^[^\s~^:?*\[\\-][^\s~^:?*\[\\]*$", description="The branch to follow.")
    every: Duration = Field("1m", description="How often the daemon fetches the branch.")
    path: str = Field(
        "postings/",
        min_length=1,
        description="The postings file or folder inside the repository.",
    )
    username: str = Field(
        "x-access-token", min_length=1, description="User name sent with `token` over HTTPS."
    )
    token: SecretStr | None = Field(
        None,
        description="HTTPS token (or password) for the repository, as a reference: ${cred:git}. "
        "Handed to git through its askpass helper, never on a command line or on disk.",
    )

    @field_validator("git")
    @classmethod
    def _no_credentials_in_url(cls, url: str) -> str:
        # The URL is logged and shown by git itself; a password in it would leak both ways.
        if "://" in url and urlsplit(url).password is not None:
            raise ValueError("holds a password: remove it from the URL and set source.token instead")
        return url

    @field_validator("path")
    @classmethod
    def _inside_repository(cls, path: str) -> str:
        parts = PurePosixPath(path).parts
        if path.startswith("/") or ".." in parts:
            raise ValueError("must be a path inside the repository (relative, no '..')")
        return path


class RootConfig(Model):
    """`boardsync.yaml`: where postings come from, which boards, what policy."""

    model_config = ConfigDict(defer_build=True)  # `providers` is built from the boards' declarations

    version: Literal[1] = Field(description="Config format version; 1.")
    state: str = Field(
        "sqlite:///boardsync.db",
        description="State database: a SQLAlchemy URL or a file path; a relative SQLite path "
        "starts at this file's folder.",
    )
    postings: PostingsSource = Field(
        "postings/",
        description="A YAML file, a folder of *.yaml / *.yml files (relative to this file), "
        "or {sql: URL, table: NAME}.",
    )
    providers: Annotated[Providers, PerBoard(providers_model)] = Field(
        description="The boards and their credentials."
    )
    policy: Policy = Field(
        default_factory=Policy, description="What reconcile may do on its own: prune, close limit, self-heal."
    )
    schedule: Schedule = Field(default_factory=Schedule, description="How often the daemon works.")
    daemon: Daemon = Field(default_factory=Daemon, description="The daemon's HTTP surface.")
    notify: list[NotifyTarget] = Field(
        default_factory=list,
        description="Where to send notifications, through Apprise: [{url: \"${SLACK_WEBHOOK_URL}\", "
        "events: [drift, blocked], min_interval: 1h}].",
    )
    source: GitSource | None = Field(
        None,
        description="Postings kept in a git branch the daemon follows: {git: URL, branch: main, "
        "every: 1m, path: postings/}. Takes the place of `postings`.",
    )

    @model_validator(mode="after")
    def _one_postings_source(self) -> RootConfig:
        if self.source is not None and "postings" in self.model_fields_set:
            raise ValueError("postings: give either `postings` or `source`, not both (source.path names "
                             "the postings inside the repository)")
        return self
