"""`Store`: an open state database, its transactions, and the queries behind the commands
(`status`, `drift`, `visits`) and the daemon's metrics. Those of `status` are plain SQL, in
`boardsync.state.status`, which the Store runs through its own connection.

Query helpers return frozen values, not ORM rows, so callers can keep them after the
session is gone.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select

from boardsync.errors import StateError
from boardsync.log import get_logger
from boardsync.state import migrations
from boardsync.state.db import create_engine, describe, parse_url, sqlite_path, writer
from boardsync.state.health import HEALTHS
from boardsync.state.outbox import Event, add_event
from boardsync.state.status import (  # the values of `status`, also to be had from here
    SOURCE_RUN as SOURCE_RUN,
    BoardWait as BoardWait,
    Query,
    RunRow as RunRow,
    SourceCommits as SourceCommits,
    StatusReads,
    StatusRow as StatusRow,
)
from boardsync.state.tables import (
    INTENT_STATES,
    ApplicantSample,
    Binding,
    BoardState,
    CounterLatest,
    CounterSample,
    Drift,
    Intent,
    Run,
    VisitSample,
)

log = get_logger(__name__)

def open_store(url: str, *, migrate: bool = False, create: bool = True, read_only: bool = False) -> Store:
    """Open the state database at `url`.

    An empty or new database is created at the current revision; with ``create=False``
    (a command that only reads it) a SQLite file that does not exist is a `StateError`
    instead, and nothing is created. One at an older revision (or from before revisions) is
    refused with a `StateError` that says to run ``boardsync migrate`` — unless `migrate` is
    true, which upgrades it (what it did is `Store.migration`). One at a revision this
    boardsync does not know (written by a later boardsync) is always refused, untouched.

    With `read_only` (a plan), nothing is ever written: a SQLite file is opened read-only,
    so it is read while a daemon writes it, and a database that does not exist yet (or is
    empty) reads as an empty state, held in memory, without creating anything.
    """
    if read_only:
        return _open_read_only(url)
    if not create:
        _refuse_missing(url)
    engine = create_engine(url)
    try:
        migration = _ready(engine, url, migrate=migrate)
    except BaseException:
        engine.dispose()
        raise
    return Store(engine, migration.after, migration=migration if migrate else None)


def _open_read_only(url: str) -> Store:
    path = sqlite_path(parse_url(url))
    if path is not None and not path.exists():
        log.info("state_missing", database=describe(url), planned_against="an empty state")
        return empty_store()
    engine = create_engine(url, read_only=True)
    try:
        found = migrations.standing(engine, describe(url))
        if found.empty:
            engine.dispose()
            return empty_store()
        migrations.refuse_unless_current(describe(url), found)
    except sa.exc.OperationalError as exc:
        engine.dispose()
        raise StateError(f"cannot read the state database {describe(url)}: {exc.orig}") from exc
    except BaseException:
        engine.dispose()
        raise
    return Store(engine, migrations.head(), read_only=True)


def empty_store(*, read_only: bool = True) -> Store:
    """A state with nothing in it, in memory, at the current revision. Read-only unless
    asked (a snapshot is loaded into one, then read)."""
    engine = create_engine("sqlite://")
    migrations.create(engine)
    return Store(engine, migrations.head(), read_only=read_only)


def _refuse_missing(url: str) -> None:
    path = sqlite_path(parse_url(url))
    if path is not None and not path.exists():
        raise StateError(
            f"no state database at {path}: nothing was synced with this config yet "
            "(check -c and `state:`, or run boardsync reconcile first)"
        )


def _ready(engine: Engine, url: str, *, migrate: bool) -> migrations.Migration:
    """Make sure the database is at head: create it when empty; with `migrate`, upgrade it;
    otherwise refuse it when it is at another revision."""
    database = describe(url)
    try:
        if migrate:
            migration = migrations.upgrade(engine, database)
            _log_migration(database, migration)
            return migration
        found = migrations.standing(engine, database)
        if found.empty:
            migrations.create(engine)
            log.info("state_created", database=database, revision=migrations.head())
            return migrations.Migration(found, migrations.head(), (), created=True)
        migrations.refuse_unless_current(database, found)
        return migrations.Migration(found, migrations.head(), ())
    except sa.exc.OperationalError as exc:
        raise StateError(f"cannot read the state database {database}: {exc.orig}") from exc


def _log_migration(database: str, migration: migrations.Migration) -> None:
    if migration.created:
        log.info("state_created", database=database, revision=migration.after)
    elif migration.steps:
        log.info("state_migrated", database=database, old=migration.before.describe(), new=migration.after,
                 steps=len(migration.steps))


# ------------------------------------------------------------------------------ values


@dataclass(frozen=True)
class DriftRow:
    id: int
    posting: str
    provider: str
    field: str
    desired: Any
    observed: Any
    disposition: str
    first_seen: datetime | None
    last_seen: datetime | None
    resolved_at: datetime | None
    resolution: str | None

    @property
    def open(self) -> bool:
        return self.resolved_at is None


@dataclass(frozen=True)
class VisitRow:
    """Counters of one channel of a posting on a board ('' channel: the whole posting)."""

    posting: str
    provider: str
    channel: str
    visits: int | None
    visits_change: int | None
    applicants: int | None
    applicants_change: int | None


@dataclass(frozen=True)
class Backoff:
    """A pair's backoff after failures, as it was before `boardsync retry` lifted it."""

    posting: str
    provider: str
    attempts: int
    until: datetime | None
    last_error: str | None


@dataclass(frozen=True)
class MetricsSnapshot:
    """What the daemon's /metrics reads from the database at scrape time."""

    intents_by_state: dict[str, int]
    open_drift: dict[str, int]
    """provider → open drift rows"""
    blocked_pairs: dict[str, int]
    quarantined_pairs: dict[str, int]
    last_success: dict[str, datetime]
    """provider → end of the last run that converged on that board"""


# ------------------------------------------------------------------------------ store


class Store(StatusReads):
    """An open state database. Use `session()` to read and `write()` to change it.

    Safe to share between threads (a run applies each board in its own): writers of one
    process queue on a lock before SQLite's, so they wait for each other however long a
    transaction lasts instead of failing with "database is locked" after the busy timeout.
    An in-memory database is one connection shared by every thread, so its readers queue
    on the same lock."""

    def __init__(
        self, engine: Engine, revision: str, *, read_only: bool = False,
        migration: migrations.Migration | None = None,
    ) -> None:
        self.engine = engine
        self.revision = revision
        """The schema revision the database is at (always this boardsync's head)."""
        self.migration = migration
        """What opening it with ``migrate=True`` did (None otherwise)."""
        self.read_only = read_only
        """Opened for a plan: `write()` refuses, so nothing a plan does can change the state."""
        self._writer = writer(engine)
        self._write_lock = threading.RLock()
        self._shared_connection = sqlite_path(engine.url) is None and engine.dialect.name == "sqlite"

    @property
    def url(self) -> str:
        return describe(self.engine.url)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A read session (a deferred transaction: it takes no lock until it writes)."""
        if self._shared_connection:
            with self._write_lock, Session(self.engine, expire_on_commit=False) as session:
                yield session
            return
        with Session(self.engine, expire_on_commit=False) as session:
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A write transaction: BEGIN IMMEDIATE on SQLite; committed on leaving, rolled back
        on an exception. One at a time per process, whichever thread asks."""
        if self.read_only:
            raise StateError(f"{self.url} is open read-only: nothing may be written to it here")
        with self._write_lock, Session(self._writer, expire_on_commit=False) as session, session.begin():
            yield session

    @contextmanager
    def reading(self) -> Iterator[Query]:
        """A read session, whose statements run as they are written (`boardsync.state.status`)."""
        with self.session() as session:
            connection = session.connection()
            yield lambda statement: connection.exec_driver_sql(statement).all()

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- status -----------------------------------------------------------------------------

    def health_counts(
        self, expected: Iterable[tuple[str, str]] = (), *, never_posted: Iterable[tuple[str, str]] = (),
        now: datetime | None = None,
    ) -> dict[str, dict[str, int]]:
        """provider → health → pairs (every health present, at 0 when none): the `status`
        rows counted, for /metrics and /readyz."""
        counts: dict[str, dict[str, int]] = {}
        for row in self.status_rows(expected, never_posted=never_posted, now=now):
            board = counts.setdefault(row.provider, dict.fromkeys(HEALTHS, 0))
            board[row.health] += 1
        return counts

    def drift_rows(self, open_only: bool = False) -> list[DriftRow]:
        """Drift, newest first seen first; only unresolved rows with `open_only`."""
        query = select(Drift).order_by(col(Drift.first_seen).desc(), col(Drift.id).desc())
        if open_only:
            query = query.where(col(Drift.resolved_at).is_(None))
        with self.session() as session:
            return [_drift_row(d) for d in session.exec(query).all()]

    def visit_rows(self, since: datetime | None) -> list[VisitRow]:
        """Per (posting, provider, channel): the latest visit and applicant counts and how
        much each grew since `since` (from the last sample at or before it; a series first
        seen after `since` counts from zero). With `since` None, the latest counts alone
        (each change None), read without a look at the samples."""
        with self.session() as session:
            visits = _series(session, VisitSample, "visits", since)
            applicants = _series(session, ApplicantSample, "applicants", since)
        rows = []
        for key in sorted(set(visits) | set(applicants)):
            v = visits.get(key, (None, None))
            a = applicants.get(key, (None, None))
            rows.append(VisitRow(*key, visits=v[0], visits_change=v[1], applicants=a[0], applicants_change=a[1]))
        return rows

    def request_logs(self) -> dict[str, dict[str, Any]]:
        """Each board's kept requests, by provider (`BoardState.request_log`)."""
        query = select(BoardState.provider, BoardState.request_log).where(col(BoardState.request_log).is_not(None))
        with self.session() as session:
            return {provider: dict(logged) for provider, logged in session.exec(query).all() if logged}

    def keep_request_log(self, provider: str, token: str, entry: dict[str, Any], *, since: float) -> None:
        """Keep `entry` as the requests of process `token` to `provider`, and drop every
        process's requests older than `since` (epoch seconds; a process left with none goes)."""
        with self.write() as session:
            row = session.get(BoardState, provider) or BoardState(provider=provider)
            logged = {
                other: {**kept, "times": [t for t in kept.get("times", []) if t > since]}
                for other, kept in (row.request_log or {}).items() if other != token
            }
            logged = {other: kept for other, kept in logged.items()
                      if kept["times"] or (kept.get("open") and kept.get("kept_at", 0) > since)}
            logged[token] = entry
            row.request_log = logged
            session.add(row)

    def bound_postings(self) -> set[str]:
        """Every posting key the database holds a pair of (removed postings included)."""
        with self.session() as session:
            return set(session.exec(select(Binding.posting_key)).all())

    def posting_of(self, provider: str, remote_id: str) -> str | None:
        """The posting bound to the board's object `remote_id`, or None when none is."""
        query = select(Binding.posting_key).where(Binding.provider == provider, Binding.remote_id == remote_id)
        with self.session() as session:
            return session.exec(query).first()

    def last_runs(self, limit: int = 20, kind: str | None = None) -> list[RunRow]:
        query = select(Run).order_by(col(Run.id).desc()).limit(limit)
        if kind is not None:
            query = query.where(Run.kind == kind)
        with self.session() as session:
            return [run_row(r) for r in session.exec(query).all()]

    # -- a git source ------------------------------------------------------------------------

    def record_source_commit(
        self, commit: str, outcome: str, *, trigger: str, started: datetime, finished: datetime,
        error: str | None = None, told: Event | None = None,
    ) -> int:
        """Record a commit of a followed branch put live (outcome ``live``) or refused
        (``refused``, `error` saying why), as a run of kind ``source``, with the event it
        `told` (a refusal) in the same transaction; its id."""
        with self.write() as session:
            run = Run(kind=SOURCE_RUN, trigger=trigger, started_at=started, finished_at=finished, outcome=outcome,
                      config_commit=commit, error=error)
            session.add(run)
            session.flush()
            assert run.id is not None
            if told is not None:
                add_event(session, told, finished, run_id=run.id)
            return run.id

    def metrics(self) -> MetricsSnapshot:
        with self.session() as session:
            intents = session.exec(select(Intent.state, func.count()).group_by(Intent.state)).all()
            drift = session.exec(
                select(Drift.provider, func.count()).where(col(Drift.resolved_at).is_(None)).group_by(Drift.provider)
            ).all()
            blocked = session.exec(
                select(Binding.provider, func.count())
                .where(col(Binding.blocked_reason).is_not(None)).group_by(Binding.provider)
            ).all()
            quarantined = session.exec(
                select(Binding.provider, func.count())
                .where(col(Binding.quarantine_until).is_not(None)).group_by(Binding.provider)
            ).all()
            runs = session.exec(
                select(Run).where(Run.kind == "reconcile", col(Run.finished_at).is_not(None))
                .order_by(col(Run.id).desc()).limit(500)
            ).all()
        return MetricsSnapshot(
            intents_by_state={state: 0 for state in INTENT_STATES} | dict(intents),
            open_drift=dict(drift),
            blocked_pairs=dict(blocked),
            quarantined_pairs=dict(quarantined),
            last_success=_last_success(runs),
        )


# ------------------------------------------------------------------------------ helpers


def _drift_row(d: Drift) -> DriftRow:
    assert d.id is not None
    return DriftRow(
        d.id, d.posting_key, d.provider, d.field, d.desired, d.observed, d.disposition,
        d.first_seen, d.last_seen, d.resolved_at, d.resolution,
    )


def run_row(r: Run) -> RunRow:
    assert r.id is not None
    return RunRow(
        r.id, r.kind, r.trigger, r.started_at, r.finished_at, r.outcome, dict(r.counts or {}),
        dict(r.boards or {}), r.config_digest, r.config_commit, r.error,
    )


SeriesKey = tuple[str, str, str]


def _series(
    session: Session, table: type[CounterSample], column: str, since: datetime | None
) -> dict[SeriesKey, tuple[int, int | None]]:
    """series → (latest value, growth since `since`; None without one). The latest value is
    each counter's `CounterLatest`; the one it grew from, the last sample at or before
    `since`, is sought for each counter through the index of its series: the work is a row
    and a seek a counter, however many samples the history holds (a search of all of them
    took seconds at a year's samples of thousands of postings)."""
    latest = CounterLatest.__table__  # type: ignore[attr-defined]
    counters = sa.select(latest.c.posting_key, latest.c.provider, latest.c.channel, latest.c.value).where(
        latest.c.counter == column,
    )
    if since is None:
        return {(key, provider, channel): (value, None) for key, provider, channel, value in session.execute(counters)}
    baseline = last_sample_before(table, column, since)
    return {
        (key, provider, channel): (value, value - (before or 0))
        for key, provider, channel, value, before in session.execute(counters.add_columns(baseline))
    }


def last_sample_before(table: type[CounterSample], column: str, since: datetime) -> Any:
    """A subquery correlated to `CounterLatest`: `column` of its counter's last sample at or
    before `since` (None when there is none), sought through the index of the series."""
    latest = CounterLatest.__table__  # type: ignore[attr-defined]
    earlier = table.__table__.alias("earlier")  # type: ignore[attr-defined]
    return (
        sa.select(earlier.c[column])
        .where(earlier.c.posting_key == latest.c.posting_key, earlier.c.provider == latest.c.provider,
               earlier.c.channel == latest.c.channel, earlier.c.observed_at <= since)
        .order_by(earlier.c.observed_at.desc(), earlier.c.id.desc())  # rows go in in time order
        .limit(1).correlate(latest).scalar_subquery()
    )


def _last_success(runs: Iterable[Run]) -> dict[str, datetime]:
    """provider → the end of its latest converged run (runs come newest first)."""
    found: dict[str, datetime] = {}
    for run in runs:
        for provider, outcome in (run.boards or {}).items():
            if outcome == "converged" and provider not in found and run.finished_at is not None:
                found[provider] = run.finished_at
    return found
