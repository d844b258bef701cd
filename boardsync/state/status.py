"""The reads behind `boardsync status`: every pair's row, the waits boards asked for, and a
followed branch's commits, each written once as plain SQL.

Whatever holds the database open runs the same statements: the `Store` through SQLAlchemy
(`Connection.exec_driver_sql`), and `status` through the database's own driver
(`boardsync.state.direct`), so that the command starts without loading SQLAlchemy. Nothing
here imports SQLAlchemy or the tables.

The statements take no parameters (sqlite3 and psycopg write them differently), and the
values the driver returns are made into the same ones on both engines here: a timestamp,
stored as naive UTC (text on SQLite, a ``timestamp`` on PostgreSQL), is read back aware, and
a JSON column is decoded when the driver left it as text (SQLite).
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from boardsync.state.health import Health, PairFacts, health_of
from boardsync.state.intents import UNSETTLED_INTENT_STATES

Query = Callable[[str], Sequence[Sequence[Any]]]
"""Runs one of the statements below and returns its rows."""


@dataclass(frozen=True)
class StatusRow:
    """One posting on one board, as `boardsync status` shows it."""

    posting: str
    provider: str
    remote_id: str | None
    state: str
    """The board's status as last observed; "not synced" when nothing exists yet."""
    open_drift: int
    last_sync: datetime | None
    blocked_reason: str | None
    blocked_gate: str | None = None
    blocked_fields: dict[str, str] = field(default_factory=dict)
    attempts: int = 0
    quarantine_until: datetime | None = None
    last_error: str | None = None
    health: str = Health.MISSING.value
    """The pair's health apart from its sync (`boardsync.state.health`)."""


@dataclass(frozen=True)
class RunRow:
    id: int
    kind: str
    trigger: str
    started_at: datetime | None
    finished_at: datetime | None
    outcome: str | None
    counts: dict[str, int]
    boards: dict[str, str]
    config_digest: str | None
    config_commit: str | None
    error: str | None


SOURCE_RUN = "source"
"""The kind of run that records a commit of a followed git branch, put live or refused."""


@dataclass(frozen=True)
class SourceCommits:
    """A followed branch's commits as runs of kind ``source``: the one that runs, and one
    refused after it (None when the latest commit went live)."""

    live: RunRow | None
    refused: RunRow | None


@dataclass(frozen=True)
class BoardWait:
    """A wait a board asked for (a 429's ``Retry-After``): no request to it before `until`."""

    provider: str
    until: datetime
    reason: str


# ------------------------------------------------------------------------------ the statements

BINDINGS = (
    "SELECT posting_key, provider, remote_id, observed_status, applied_status, in_sync, synced_at, "
    "blocked_reason, blocked_gate, blocked_fields, attempts, quarantine_until, last_error FROM binding"
)
OPEN_DRIFT = (
    "SELECT posting_key, provider, count(*) FROM drift WHERE resolved_at IS NULL GROUP BY posting_key, provider"
)
UNSETTLED_CREATES = (
    "SELECT posting_key, provider FROM intent WHERE state IN "
    f"({', '.join(repr(state.value) for state in UNSETTLED_INTENT_STATES)})"
)
BOARDS_COMPARED = "SELECT provider, compared_at FROM board_state"
BOARD_WAITS = (
    "SELECT provider, wait_until, wait_reason FROM board_state WHERE wait_until IS NOT NULL ORDER BY provider"
)
SOURCE_RUNS = (
    'SELECT id, kind, "trigger", started_at, finished_at, outcome, counts, boards, config_digest, config_commit, '
    f"error FROM run WHERE kind = '{SOURCE_RUN}' ORDER BY id DESC LIMIT 200"
)
"""The latest runs of kind ``source``: enough to find the commit that runs behind refusals."""


# ------------------------------------------------------------------------------ the reads


class StatusReads(ABC):
    """What `status` reads from a state database, through whichever connection reads it.

    .. important:: `reading` is the one hook: a context in which a `Query` runs the
       statements above in one read transaction, ended (never committed) when it closes.
    """

    @abstractmethod
    def reading(self) -> AbstractContextManager[Query]:
        """A read transaction, as a function that runs a statement in it."""

    def status_rows(
        self, expected: Iterable[tuple[str, str]] = (), *, never_posted: Iterable[tuple[str, str]] = (),
        now: datetime | None = None,
    ) -> list[StatusRow]:
        """Every binding, plus a row for each expected (posting, provider) pair the database
        has never seen: "not synced", or "not posted" for the `never_posted` pairs (postings
        written as closed, which are never created); sorted by posting, then provider. Each
        row's health is as of `now` (default: the present)."""
        quiet = set(never_posted)
        now = now or datetime.now(UTC)
        with self.reading() as query:
            bindings = query(BINDINGS)
            drift_counts = {(posting, provider): n for posting, provider, n in query(OPEN_DRIFT)}
            creating = {(posting, provider) for posting, provider in query(UNSETTLED_CREATES)}
            compared = {provider: _when(at) for provider, at in query(BOARDS_COMPARED)}
        rows = {(b[0], b[1]): _status_row(b, drift_counts, creating, now, compared.get(b[1])) for b in bindings}
        for pair in expected:
            state = "not posted" if pair in quiet else "not synced"
            health = _unbound_health(pair, pair in quiet, creating)
            rows.setdefault(pair, StatusRow(pair[0], pair[1], None, state, 0, None, None, health=health))
        return [rows[pair] for pair in sorted(rows)]

    def board_waits(self, now: datetime) -> list[BoardWait]:
        """The waits boards asked for that still hold at `now`, by provider."""
        with self.reading() as query:
            rows = query(BOARD_WAITS)
        waits = []
        for provider, at, reason in rows:
            until = _when(at)
            if until is not None and until > now:
                waits.append(BoardWait(provider, until, reason or ""))
        return waits

    def source_commits(self) -> SourceCommits:
        """The commit that runs, and the refused one still newer than it."""
        with self.reading() as query:
            runs = [_run_row(row) for row in query(SOURCE_RUNS)]
        live = next((r for r in runs if r.outcome == "live"), None)
        refused = next((r for r in runs if r.outcome == "refused"), None)
        if refused is not None and live is not None and refused.id < live.id:
            refused = None  # a newer commit went live since: the refusal is history
        return SourceCommits(live, refused)


# ------------------------------------------------------------------------------ rows to values


def last_sync(in_sync: bool, synced_at: datetime | None, compared: datetime | None) -> datetime | None:
    """When the pair was last in sync: while it still is, the last time its board was
    compared in full (`compared`), if that came after its own `synced_at`."""
    if in_sync and compared is not None and (synced_at is None or compared > synced_at):
        return compared
    return synced_at


def _status_row(
    row: Sequence[Any], drift_counts: dict[tuple[str, str], int], creating: set[tuple[str, str]], now: datetime,
    compared: datetime | None,
) -> StatusRow:
    (posting, provider, remote_id, observed_status, applied_status, in_sync, synced_at,
     blocked_reason, blocked_gate, blocked_fields, attempts, quarantine_until, last_error) = row
    quarantine_until = _when(quarantine_until)
    facts = PairFacts(
        remote_id, observed_status, applied_status, blocked_reason, blocked_gate, quarantine_until,
        creating=(posting, provider) in creating,
    )
    return StatusRow(
        posting=posting,
        provider=provider,
        remote_id=remote_id,
        state=observed_status or ("not synced" if remote_id is None else "unknown"),
        open_drift=drift_counts.get((posting, provider), 0),
        last_sync=last_sync(bool(in_sync), _when(synced_at), compared),
        blocked_reason=blocked_reason,
        blocked_gate=blocked_gate,
        blocked_fields=dict(_json(blocked_fields) or {}),
        attempts=attempts,
        quarantine_until=quarantine_until,
        last_error=last_error,
        health=health_of(facts, now).value,
    )


def _unbound_health(pair: tuple[str, str], never_posted: bool, creating: set[tuple[str, str]]) -> str:
    """A pair the database binds to nothing: pending while its create is unsettled; else as
    the posting asks when it is written as closed, or missing."""
    if pair in creating:
        return Health.PENDING.value
    return (Health.LIVE if never_posted else Health.MISSING).value


def _run_row(row: Sequence[Any]) -> RunRow:
    (id_, kind, trigger, started_at, finished_at, outcome, counts, boards, config_digest, config_commit,
     error) = row
    return RunRow(
        id_, kind, trigger, _when(started_at), _when(finished_at), outcome, dict(_json(counts) or {}),
        dict(_json(boards) or {}), config_digest, config_commit, error,
    )


def _when(value: datetime | str | None) -> datetime | None:
    """A stored time as an aware UTC datetime (SQLite hands it over as text)."""
    if value is None:
        return None
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.replace(tzinfo=UTC)


def _json(value: Any) -> Any:
    """A JSON column's object, or None (SQLite hands it over as text, psycopg decoded)."""
    return json.loads(value) if isinstance(value, str) else value
