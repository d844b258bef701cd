"""The tables of the state database.

One row per thing boardsync must remember between runs:

- `Binding`   (posting, provider) → the board's object, what was last applied and observed,
              and why the pair is blocked or backing off. One row per pair, updated after
              each success.
- `Intent`    written before every non-idempotent call (a create), so a lost response is
              settled by looking the object up, never by sending the call again.
- `Run`       every plan, reconcile and metrics run.
- `AuditEntry` the audit log (table ``action``): every call a run made to a board, with its outcome.
- `BoardCall` every request a run sent to a board (method, path, status, duration; never a
              body), for `boardsync history RUN`.
- `Drift`     one open row per (posting, provider, field) while a board differs from the
              desired state; resolved, not deleted.
- `VisitSample`, `ApplicantSample`
              cumulative counters per (posting, provider, channel), written only when they
              change; changes over a period are computed when read.
- `SignedLink` the current signed link per posting, never kept past its expiry.
- `BoardState` per board: a wait the board asked for (429 ``Retry-After``) that outlives a run,
              when a run last read it, and the requests sent to it lately, for the rate
              limit of the next process.
- `KeptView` per board: what it showed in the last reconcile run's read (for snapshots and
              plans made without the boards), in a table of its own (table ``board_view``).
- `OutboxEvent`, `OutboxDelivery`
              the notification outbox (tables ``outbox`` and ``outbox_delivery``): an event written
              in the transaction of the rows that caused it, then one delivery per target, marked
              the moment that target answers.
- `Meta`      the schema version of the hand-made steps before revisions (6 from revision 0006
              on, so that a release from before revisions refuses the database); the revision
              itself is in Alembic's table ``alembic_version`` (see `migrations`).

Times are stored as UTC and read back as aware datetimes. Error texts are stored with every
secret masked (`RedactedText`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator
from sqlmodel import AutoString, Field, SQLModel

from boardsync.log import redact
from boardsync.state.intents import (  # the intents' states, still to be had beside their table
    INTENT_STATES as INTENT_STATES,
    UNSETTLED_INTENT_STATES as UNSETTLED_INTENT_STATES,
    IntentState as IntentState,
)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored as naive UTC (SQLite has no time zones), read back aware."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are ambiguous; pass an aware UTC datetime")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


def as_read(column: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    """`column` selected as its driver hands it over, without its type's processing: for the
    reads of every binding a run makes, where most timestamps are NULL or never looked at and
    processing each one was a fifth of the read (146 → 118 ms for recording's read of 30,000
    bindings). Read a timestamp so with `utc_as_read`; a
    boolean so is 0 or 1 on SQLite, False or True on PostgreSQL, which compare as equal."""
    return sa.type_coerce(column, sa.String)


def utc_as_read(value: datetime | str | None) -> datetime | None:
    """A `UTCDateTime` column read `as_read`, aware: SQLite hands over the text SQLAlchemy
    wrote (naive UTC, ISO 8601), PostgreSQL a naive datetime. An aware one stays the time it is."""
    if value is None:
        return None
    when = datetime.fromisoformat(value) if isinstance(value, str) else value
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when


class RedactedText(TypeDecorator[str]):
    """Free text that may quote a board's answer (an error): every secret masked as it is
    written, whichever code writes it, so no credential is ever stored in the database."""

    impl = AutoString
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: sa.Dialect) -> str | None:
        return None if value is None else str(redact(value))


class RedactedJSON(TypeDecorator[Any]):
    """A JSON value whose strings are masked as `RedactedText` is. Given `RedactedJSONText`,
    JSON already masked and encoded, it stores that text as it is."""

    impl = sa.JSON
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: sa.Dialect) -> Any:
        return redact(value)

    def bind_processor(self, dialect: sa.Dialect) -> Callable[[Any], Any] | None:
        encoded = super().bind_processor(dialect)

        def process(value: Any) -> Any:
            if isinstance(value, RedactedJSONText):
                return str(value)
            return encoded(value) if encoded is not None else value

        return process


class RedactedJSONText(str):
    """JSON text made of values each masked by `redact` before it was encoded, for a
    `RedactedJSON` column to store as it is: a value of megabytes is then never held whole
    as Python objects to be masked and encoded at once (`reconcile.views.view_text`)."""


def _redacted() -> Any:
    return Field(default=None, sa_type=RedactedText)


def _when(*, nullable: bool = True, index: bool = False) -> Any:
    return Field(default=None, sa_type=UTCDateTime, nullable=nullable, index=index)


def _json() -> Any:
    return Field(default=None, sa_type=sa.JSON)


class Meta(SQLModel, table=True):
    __tablename__ = "meta"

    key: str = Field(primary_key=True)
    value: str


class Binding(SQLModel, table=True):
    """What boardsync knows about one posting on one board."""

    __tablename__ = "binding"
    __table_args__ = (sa.UniqueConstraint("posting_key", "provider", name="uq_binding_pair"),)

    id: int | None = Field(default=None, primary_key=True)
    posting_key: str = Field(index=True)
    provider: str
    remote_id: str | None = None
    """The board's id; None until a create succeeded (the row may exist to hold a block)."""
    observed_status: str | None = None
    observed_hash: str | None = None
    observed_at: datetime | None = _when()
    """When what the board shows of the job last changed (or was first seen); when the board
    was last read is `BoardState.observed_at`."""
    applied_status: str | None = None
    applied_hash: str | None = None
    """Hash of the spec and status last applied (or adopted): what the source asked for."""
    applied_spec: dict[str, Any] | None = _json()
    """The spec last applied, field by field, to tell a source change from a hand edit."""
    synced_at: datetime | None = _when()
    """When the pair last changed to match the desired state, or was last found to match it
    by a run that compared it alone or found it newly in sync; while `in_sync`, the board's
    `BoardState.compared_at` is later, and is the pair's last sync (`Store.status_rows`)."""
    in_sync: bool = False
    """Whether the last run that compared the pair found it in sync: written only when that
    changes, so a run that finds everything as it was rewrites no binding."""
    blocked_reason: str | None = _redacted()
    blocked_gate: str | None = None
    blocked_fields: dict[str, str] | None = Field(default=None, sa_type=RedactedJSON)
    attempts: int = 0
    """Failures in a row; the backoff grows with it and a success resets it."""
    quarantine_until: datetime | None = _when()
    last_error: str | None = _redacted()
    updated_at: datetime | None = _when()
    absent_since: datetime | None = _when()
    """When the posting was first found missing from the source while still bound here;
    None while the source has it. A removal is acted on only after a grace period."""
    absent_reads: int = 0
    """Reads of the source in a row that did not have the posting (at least two before a close)."""
    compared_hash: str | None = None
    """The digest of what the last full comparison that found the pair in step compared
    (`reconcile.compared`): a run that would compare the same finds it in step without
    comparing. Cleared by anything applied to the pair."""


class BoardState(SQLModel, table=True):
    """What boardsync remembers of a whole board between runs: how long it asked to be left
    alone (a 429's ``Retry-After``), so the next run honours it instead of calling again; when
    a run last read it; and the requests sent to it lately. What the read showed is kept in
    `KeptView`."""

    __tablename__ = "board_state"

    provider: str = Field(primary_key=True)
    wait_until: datetime | None = _when()
    """No request goes to the board before this time."""
    wait_reason: str | None = _redacted()
    updated_at: datetime | None = _when()
    observed_at: datetime | None = _when()
    """When a reconcile run last read the board (None: never)."""
    down_since: datetime | None = _when()
    """When a reconcile run first failed to read the board, of the failures in a row; None
    while it reads."""
    down_told: bool = False
    """Whether a board_down event was written for this outage (its recovery is then told too)."""
    request_log: dict[str, Any] | None = _json()
    """The requests each process sent the board lately, so a process that starts after
    another (or beside it) keeps to the board's rate limit with them counted: by the
    process's token, ``{"kept_at": epoch seconds, "open": bool, "lost_at_most": int,
    "times": [epoch seconds, …]}`` (`boardsync.reconcile.pace`)."""
    compared_at: datetime | None = _when()
    """When a reconcile run last compared every posting with the board (a run narrowed to
    some postings does not count): the last sync of each pair still `Binding.in_sync`."""


class KeptView(SQLModel, table=True):
    """What a board showed in the last reconcile run's read, as planning compares it
    (`reconcile.views`): its jobs and what rendering learned from it; never a credential or a
    signed link. A table of its own, apart from `BoardState`: a board of thousands of jobs has
    a view of megabytes, and a database rewrites a whole row to change any column of it, which
    every run does to `BoardState` several times (its read time, its request log)."""

    __tablename__ = "board_view"

    provider: str = Field(primary_key=True)
    observed: dict[str, Any] = Field(sa_type=RedactedJSON)
    digest: str
    """The digest of `observed`: it is rewritten only when it changed."""


class Intent(SQLModel, table=True):
    """A non-idempotent call, written down before it is made."""

    __tablename__ = "intent"

    id: int | None = Field(default=None, primary_key=True)
    run_id: int | None = Field(default=None, index=True)
    posting_key: str = Field(index=True)
    provider: str
    action: str
    state: str = Field(default=IntentState.PENDING.value, index=True)
    """An `IntentState` value."""
    spec: dict[str, Any] | None = _json()
    """The payload sent, so a later `find` looks for what was really sent."""
    remote_id: str | None = None
    error: str | None = _redacted()
    created_at: datetime | None = _when()
    updated_at: datetime | None = _when()


class Run(SQLModel, table=True):
    __tablename__ = "run"

    id: int | None = Field(default=None, primary_key=True)
    kind: str
    """plan | reconcile | metrics | source (a commit of a followed git branch, put live or refused)"""
    trigger: str
    """What started it: schedule, webhook, command or reload (older rows: cli, daemon)."""
    started_at: datetime | None = _when(index=True)
    finished_at: datetime | None = _when()
    outcome: str | None = None
    counts: dict[str, int] | None = _json()
    boards: dict[str, str] | None = _json()
    """provider → how it went on that board: converged | partial | failed."""
    config_digest: str | None = None
    config_commit: str | None = None
    error: str | None = _redacted()


class AuditEntry(SQLModel, table=True):
    """One call made to a board, as the audit log keeps it. (The change it carried out is
    its `action`, a `boardsync.reconcile.Action` value.)"""

    __tablename__ = "action"

    id: int | None = Field(default=None, primary_key=True)
    run_id: int | None = Field(default=None, index=True)
    posting_key: str | None = Field(default=None, index=True)
    provider: str
    action: str
    ok: bool
    http_status: int | None = None
    error_code: str | None = None
    message: str | None = _redacted()
    duration_ms: int = 0
    at: datetime | None = _when()


class BoardCall(SQLModel, table=True):
    """One request a run sent to a board, a retried try and a token request each one row, as
    the board counts them; the path and query as sent, with every secret and link masked."""

    __tablename__ = "board_call"

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(index=True)
    seq: int
    """Its place among the run's calls, from 1."""
    provider: str
    method: str
    path: str = Field(sa_type=RedactedText)
    query: str = Field(default="", sa_type=RedactedText)
    status: int | None = None
    """The HTTP status; None when no answer came."""
    duration_ms: int = 0


class Drift(SQLModel, table=True):
    """A field on which a board differs from the desired state."""

    __tablename__ = "drift"
    __table_args__ = (
        # At most one open row per field: a drift seen on every cycle updates `last_seen`.
        sa.Index(
            "uq_drift_open", "posting_key", "provider", "field", unique=True,
            sqlite_where=sa.text("resolved_at IS NULL"), postgresql_where=sa.text("resolved_at IS NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    posting_key: str = Field(index=True)
    provider: str
    field: str
    desired: Any = _json()
    observed: Any = _json()
    disposition: str = "report"
    """What boardsync does about it: correct (self-heal), report, frozen (the board forbids)."""
    first_seen: datetime | None = _when()
    last_seen: datetime | None = _when()
    resolved_at: datetime | None = _when()
    resolution: str | None = None
    """corrected | source_changed | reverted | removed"""


class CounterSample(SQLModel):
    """A cumulative counter of one channel of a posting on a board, written when it changed;
    the tables below each keep one counter (its column is named after the table's counter)."""

    id: int | None = Field(default=None, primary_key=True)
    posting_key: str
    provider: str
    channel: str
    observed_at: datetime | None = _when()


class VisitSample(CounterSample, table=True):
    """A channel's cumulative visit count."""

    __tablename__ = "visit_sample"
    __table_args__ = (sa.Index("ix_visit_series", "posting_key", "provider", "channel", "observed_at"),)

    visits: int


class ApplicantSample(CounterSample, table=True):
    """A cumulative applicant count per channel ('' for the whole posting)."""

    __tablename__ = "applicant_sample"
    __table_args__ = (sa.Index("ix_applicant_series", "posting_key", "provider", "channel", "observed_at"),)

    applicants: int


class CounterLatest(SQLModel, table=True):
    """Each counter's newest value, kept beside its samples as they are written: a run
    compares what a board shows with these, a row per counter, however long the history of
    samples grows (the newest sample of each counter had to be found among all of them)."""

    __tablename__ = "counter_latest"

    provider: str = Field(primary_key=True)
    counter: str = Field(primary_key=True)
    """The samples' table's counter: ``visits`` or ``applicants``."""
    posting_key: str = Field(primary_key=True)
    channel: str = Field(primary_key=True)
    value: int


class SignedLink(SQLModel, table=True):
    """The current signed link of a posting; a credential until `expires_at`."""

    __tablename__ = "signed_link"
    __table_args__ = (sa.UniqueConstraint("posting_key", "provider", name="uq_signed_link_pair"),)

    id: int | None = Field(default=None, primary_key=True)
    posting_key: str
    provider: str
    url: str
    expires_at: datetime | None = _when(nullable=False)
    fetched_at: datetime | None = _when()


class OutboxEvent(SQLModel, table=True):
    """Something an operator should hear of, written in the same transaction as its cause, so
    it exists exactly when the cause does; sent to each target that asks for its `event`."""

    __tablename__ = "outbox"

    id: int | None = Field(default=None, primary_key=True)
    event: str
    """A notification event name (``config.model.NOTIFY_EVENTS``)."""
    posting_key: str | None = None
    provider: str | None = None
    title: str = Field(sa_type=RedactedText)
    body: str = Field(sa_type=RedactedText)
    run_id: int | None = Field(default=None, index=True)
    created_at: datetime | None = _when()
    settled_at: datetime | None = _when(index=True)
    """When every target that asks for it had answered (or none asked); None while one is owed."""


class OutboxDelivery(SQLModel, table=True):
    """One event owed to one target: attempts, the next try, and when the target took it."""

    __tablename__ = "outbox_delivery"
    __table_args__ = (sa.UniqueConstraint("outbox_id", "target", name="uq_outbox_delivery"),)

    id: int | None = Field(default=None, primary_key=True)
    outbox_id: int = Field(index=True)
    target: str
    """The target's id: a digest of its URL (the URL itself holds a secret)."""
    attempts: int = 0
    next_attempt_at: datetime | None = _when()
    last_error: str | None = _redacted()
    delivered_at: datetime | None = _when()


TABLES: tuple[type[SQLModel], ...] = (
    Meta, Binding, BoardState, KeptView, Intent, Run, AuditEntry, BoardCall, Drift, VisitSample, ApplicantSample,
    CounterLatest, SignedLink, OutboxEvent, OutboxDelivery,
)
