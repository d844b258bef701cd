"""Record: the one writer of run state. Others decide what happened; the functions here
write it, each named for what happened.

- `start_run` / `finish_run`: the run row; `finish_run` and `record_observation` also write
  the board calls noted since the last write (`calls_made`), in the same transaction.
- `load_known`, `bound_jobs`, `unsettled_intents`: the state as a run reads it before planning.
- `record_observation`: after planning, what the boards showed: observed status per
  binding, visit and applicant counters (only when they changed), drift rows (one open row
  per field, resolved when the difference is gone), expired links dropped, and each board's
  view of its read (`views`), which snapshots publish. A plan records none of it.
- A pair's binding, as applying a change leaves it: `binding` finds (or makes) the row, then
  `created`, `adopted`, `recovered`, `updated`, `transitioned`, `source_ensured`, `linked`,
  `in_sync` and `converged` after a success; `failed`, `blocked` and `backed_off` after a
  failure; `audited` writes the call to the audit log. Each stamps the row's ``updated_at``.
  `bindings_written`, `links_kept` and `audits_written` write the same by plain statements,
  many rows at once, for what a board's creates and links leave (`held`).
- `board_wait_kept` and `backoffs_lifted`: a board's kept 429 wait, and the backoffs
  `boardsync retry` lifts.
- By hand: `adopted_by_hand` (``boardsync adopt``) and `forgotten` (``boardsync forget``)
  bind and unbind a job without a call to its board; `pending_renames` finds the postings
  renamed with ``previous_keys`` and `renamed` moves their state to the new key. The read
  functions above take the renames a plan does not write (`renames`).
"""

from __future__ import annotations

import hashlib
import json
import operator
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy import insert
from sqlalchemy.orm import defer
from sqlmodel import Session, col, delete, func, or_, select, update

from boardsync.config.model import Posting, Status
from boardsync.connectors.base import IssuedLink, Remote, Spec, spec_hash_of
from boardsync.connectors.calls import CallEntry
from boardsync.log import get_logger, redact
from boardsync.reconcile import events, views
from boardsync.reconcile.lookup import BoundJob
from boardsync.errors import ConfigError
from boardsync.reconcile.model import Board, Known, Pair, PairState, Plan, Renamed
from boardsync.reconcile.planner import STATUS
from boardsync.state import (
    ApplicantSample,
    AuditEntry,
    Backoff,
    BoardCall,
    Binding,
    BoardState,
    KeptView,
    Drift,
    Intent,
    Run,
    SignedLink,
    Store,
    VisitSample,
)
from boardsync.state.db import IN_LIST
from boardsync.state.health import GONE, LINKED, SUSPENDED
from boardsync.state.history import WHOLE_POSTING
from boardsync.state.outbox import Event, add_event
from boardsync.state.tables import (
    UNSETTLED_INTENT_STATES,
    CounterLatest,
    IntentState,
    OutboxEvent,
    as_read,
    utc_as_read,
)

log = get_logger(__name__)

CHUNK = IN_LIST
"""Ids or keys per ``IN (…)`` list (`boardsync.state.db.IN_LIST`)."""

# The tables themselves, for what is read and written by plain statements rather than loaded
# objects: a run reads every binding, and a first sync writes thousands.
BINDINGS = Binding.__table__  # type: ignore[attr-defined]
LINKS = SignedLink.__table__  # type: ignore[attr-defined]
LATEST = CounterLatest.__table__  # type: ignore[attr-defined]
AUDIT = AuditEntry.__table__  # type: ignore[attr-defined]
# Each takes the columns to set as parameters beside the pair's (``b_key``, ``b_provider``):
# one statement whatever the values, compiled once.
_BINDING_OF_PAIR = sa.update(BINDINGS).where(
    BINDINGS.c.posting_key == sa.bindparam("b_key"), BINDINGS.c.provider == sa.bindparam("b_provider"))
_LINK_OF_PAIR = sa.update(LINKS).where(
    LINKS.c.posting_key == sa.bindparam("b_key"), LINKS.c.provider == sa.bindparam("b_provider"))

DIRECT = "(direct)"
"""The channel name for applicants who came through no tracked source."""


def spec_hash(spec: Spec | None, status: str | None) -> str:
    """A stable digest of a payload and a status (key order does not matter)."""
    text = json.dumps({"spec": spec, "status": status}, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


# ------------------------------------------------------------------------------ runs


def start_run(
    store: Store, *, kind: str, trigger: str, digest: str | None, commit: str | None, now: datetime
) -> int:
    with store.write() as session:
        run = Run(kind=kind, trigger=trigger, started_at=now, config_digest=digest, config_commit=commit)
        session.add(run)
        session.flush()
        assert run.id is not None
        return run.id


@dataclass(frozen=True)
class Outages:
    """Which boards a reconcile run read and which it could not (board → why), as
    `finish_run` keeps each board's outage and tells it once it lasted `after`."""

    read: Collection[str]
    failed: Mapping[str, str]
    since: datetime
    """When the run read the boards."""
    after: timedelta


def finish_run(
    store: Store,
    run_id: int,
    *,
    outcome: str,
    counts: Mapping[str, int],
    boards: Mapping[str, str],
    error: str | None,
    now: datetime,
    calls: Sequence[CallEntry] = (),
    told: Sequence[Event] = (),
    outages: Outages | None = None,
) -> None:
    """The run row finished; with it, in the same transaction, the events the run's end
    tells (`told`: a refused plan) and each board's outage (`outages`)."""
    with store.write() as session:
        calls_made(session, run_id, calls)
        run = session.get(Run, run_id)
        if run is None:
            return
        run.finished_at = now
        run.outcome = outcome
        run.counts = dict(counts)
        run.boards = dict(boards)
        run.error = error
        for event in told:
            add_event(session, event, now, run_id=run_id)
        if outages is not None:
            _record_outages(session, outages, now, run_id)


def board_state(session: Session, provider: str) -> BoardState:
    """The board's row (a new one when it has none), its request log left unread: it may be
    megabytes of JSON on a board limited by the hour, and is kept apart
    (`Store.keep_request_log`)."""
    unread = [defer(BoardState.request_log)]  # type: ignore[arg-type]
    return session.get(BoardState, provider, options=unread) or BoardState(provider=provider)


def _record_outages(session: Session, outages: Outages, now: datetime, run_id: int) -> None:
    """A board unreadable since its first failed read in a row is told once the outage lasted
    `after`, and told again when a run reads it; an outage shorter than that is never told."""
    for name in sorted({*outages.read, *outages.failed}):
        row = board_state(session, name)
        if name in outages.failed:
            row.down_since = row.down_since or outages.since
            if not row.down_told and now - row.down_since >= outages.after:
                add_event(session, events.board_down(name, row.down_since, outages.failed[name]), now, run_id=run_id)
                row.down_told = True
        elif row.down_since is not None:
            if row.down_told:
                add_event(session, events.board_up(name, row.down_since, now), now, run_id=run_id)
            row.down_since, row.down_told = None, False
        else:
            continue
        session.add(row)


def calls_made(session: Session, run_id: int, calls: Sequence[CallEntry]) -> None:
    """The run's calls to the boards, in one INSERT per batch: a cycle makes hundreds."""
    rows = [
        {"run_id": run_id, "seq": c.seq, "provider": c.provider, "method": c.method, "path": c.path,
         "query": c.query, "status": c.status, "duration_ms": c.duration_ms}
        for c in calls
    ]
    if rows:
        session.execute(insert(BoardCall), rows)


# ------------------------------------------------------------------------------ load


def load_known(
    store: Store, providers: Collection[str], now: datetime, unsettled: frozenset[Pair],
    candidates: Mapping[Pair, tuple[str, ...]] | None = None, *, renames: Mapping[str, str] | None = None,
) -> Known:
    """What the state knows of the pairs on `providers`; with `renames` (old key → new), as
    it will be once a run moves the renamed postings' state."""
    new = renames or {}
    b, link = BINDINGS.c, LINKS.c
    applied = {provider: _AppliedTexts(store, provider, new) for provider in providers}
    bindings: dict[Pair, PairState] = {}
    once = _OneCopy()
    with store.session() as session:
        rows = session.execute(sa.select(
            b.posting_key, b.provider, b.remote_id, b.applied_status, b.attempts, as_read(b.quarantine_until),
            b.last_error, as_read(b.absent_since), b.absent_reads, b.blocked_gate, b.observed_status, b.compared_hash,
        ).where(b.provider.in_(list(providers))))
        for row in rows:  # one at a time: a row is dropped once it is a PairState
            # A posting's key, a board's name and a status come once per pair from the database:
            # held for the whole run at thousands of pairs, each is kept once (`_OneCopy`).
            key, provider = once(new.get(row[0], row[0])), once(row[1])
            bindings[key, provider] = _pair_state(row, key, applied[provider], once)
        links = session.execute(sa.select(link.posting_key, link.provider, link.expires_at).where(
            link.provider.in_(list(providers)), link.expires_at > now,
        )).all()
    return Known(
        bindings=bindings,
        links={(once(new.get(key, key)), once(provider)): expires for key, provider, expires in links if expires},
        unsettled=unsettled,
        candidates=dict(candidates or {}),
    )


class _AppliedTexts:
    """The payloads last applied on one board (`model.AppliedTexts`), under their new keys
    for renamed postings. A steady cycle on a board that shows back everything it takes asks
    for none. The first ask reads them all in one query; each is handed out once and let go
    (planning asks once a pair, and the rest of the run then holds none), and one asked
    again is read again on its own."""

    def __init__(self, store: Store, provider: str, renames: Mapping[str, str]) -> None:
        self._store, self._provider, self._renames = store, provider, renames
        self._texts: dict[str, str | None] | None = None

    def text(self, key: str) -> str | None:
        if self._texts is None:
            self._texts = dict(self._read())
            return self._texts.pop(key, None)
        if key in self._texts:
            return self._texts.pop(key)
        old = next((was for was, now in self._renames.items() if now == key), key)
        return dict(self._read(old)).get(key)

    def _read(self, old_key: str | None = None) -> Iterator[tuple[str, str | None]]:
        """The texts of the board's pairs (of `old_key`'s alone, when given), by new key."""
        b = BINDINGS.c
        query = sa.select(b.posting_key, sa.cast(b.applied_spec, sa.Text)).where(b.provider == self._provider)
        with self._store.session() as session:
            for posting, text in session.execute(query if old_key is None else query.where(b.posting_key == old_key)):
                yield self._renames.get(posting, posting), text


def bound_jobs(
    store: Store, providers: Collection[str], *, renames: Mapping[str, str] | None = None,
) -> dict[str, list[BoundJob]]:
    """provider → every binding that points at a job, with what the board last showed of it
    (under its new key, for a posting in `renames`)."""
    new = renames or {}
    b = BINDINGS.c
    with store.session() as session:
        rows = session.execute(sa.select(b.posting_key, b.provider, b.remote_id, b.observed_status).where(
            b.provider.in_(list(providers)), b.remote_id.is_not(None),
        )).all()
    found: dict[str, list[BoundJob]] = {}
    for posting_key, provider, remote_id, observed_status in rows:
        assert remote_id is not None
        key = new.get(posting_key, posting_key)
        found.setdefault(provider, []).append(BoundJob(key, remote_id, observed_status))
    return found


class _OneCopy(dict[str, str]):
    """One copy of each equal string a run reads many times (keys, board names, statuses),
    handed out by calling it: ``once(text)``. Made per run and let go with it. `sys.intern`
    kept one copy as well, but in the process's table of interned strings, which each run's
    keys entered and left again. Entries leaving free no room in a dict; entering ones use
    it up, and the table is then rebuilt at the size its live entries need, which is in the
    middle of a run, with that run's keys live: a daemon's table grew from 1.8 to 3.7 MiB
    at 500 postings and kept that size (`benchmarks/daemon_rss.py`)."""

    __slots__ = ()

    def __call__(self, text: str) -> str:
        return self.setdefault(text, text)


def _pair_state(row: Sequence[Any], key: str, applied: _AppliedTexts, once: _OneCopy) -> PairState:
    """A binding's row (its columns as `load_known` selects them) as planning reads it; the
    payload applied is read from `applied` when planning asks for it."""
    _, _, remote_id, applied_status, attempts, quarantine_until, last_error, absent_since, \
        absent_reads, blocked_gate, observed_status, compared = row
    status = once(applied_status) if applied_status else None
    return PairState(
        remote_id, status, None, attempts, utc_as_read(quarantine_until), last_error, utc_as_read(absent_since),
        absent_reads, blocked_gate == SUSPENDED, observed_status == LINKED, applied_from=applied, key=key,
        compared=compared,
    )


def unsettled_intents(
    store: Store, providers: Collection[str], before_run: int | None, *, renames: Mapping[str, str] | None = None,
) -> list[Intent]:
    """Intents of earlier runs whose outcome is not known yet (every one, for a plan, which
    has no run of its own); those of a posting in `renames` as copies under its new key."""
    new = renames or {}
    query = select(Intent).where(
        col(Intent.state).in_(UNSETTLED_INTENT_STATES), col(Intent.provider).in_(list(providers)),
    )
    if before_run is not None:
        query = query.where(or_(col(Intent.run_id).is_(None), col(Intent.run_id) != before_run))
    with store.session() as session:
        rows = list(session.exec(query.order_by(col(Intent.id))).all())
    return [_renamed_intent(row, new[row.posting_key]) if row.posting_key in new else row for row in rows]


def _renamed_intent(row: Intent, key: str) -> Intent:
    """A detached copy of `row` under `key`: nothing is written through it."""
    return Intent(**{**row.model_dump(), "posting_key": key})


# ------------------------------------------------------------------------------ a pair's binding


def binding(session: Session, pair: Pair, now: datetime) -> Binding:
    """The binding row of a pair, created when missing; the functions below write it."""
    key, provider = pair
    row = session.exec(select(Binding).where(Binding.posting_key == key, Binding.provider == provider)).first()
    if row is None:
        row = Binding(posting_key=key, provider=provider, updated_at=now)
        session.add(row)
    return row


def created(row: Binding, remote: Remote, sent: Spec, now: datetime) -> None:
    """A create (or repost) made `remote` from the payload `sent`: the pair points at it."""
    _bind(row, remote, sent, now)


def adopted(row: Binding, remote: Remote, now: datetime) -> None:
    """A job already on the board is taken over as it is: what it shows is what is applied."""
    _bind(row, remote, remote.spec, now)


def recovered(row: Binding, remote: Remote, sent: Spec | None, now: datetime) -> None:
    """The job of a create whose answer was lost, found on the board: bound as created from
    `sent` (as it is, when what was sent is not known), and the error the lost answer left
    is gone."""
    _bind(row, remote, remote.spec if sent is None else sent, now)
    row.last_error = None


def _bind(row: Binding, remote: Remote, applied_spec: Spec, now: datetime) -> None:
    row.remote_id = remote.remote_id
    row.observed_status = remote.status
    row.observed_hash = spec_hash_of(remote.spec_text, remote.status)
    row.observed_at = now
    row.applied_status = remote.status
    row.applied_spec = dict(applied_spec)
    row.updated_at = now
    row.compared_hash = None


def updated(row: Binding, fields: Mapping[str, Any], now: datetime) -> None:
    """An update sent `fields`: they are what is applied now, beside the rest."""
    row.applied_spec = {**(row.applied_spec or {}), **fields}
    row.updated_at = now
    row.compared_hash = None


def transitioned(row: Binding, status: str, now: datetime) -> None:
    """A lifecycle step brought the job to `status`, as asked."""
    row.observed_status = row.applied_status = status
    row.updated_at = now
    row.compared_hash = None


def source_ensured(row: Binding, now: datetime) -> None:
    """A channel's source URL was made (the board keeps it; the binding only notes the change)."""
    row.updated_at = now
    row.compared_hash = None


def linked(session: Session, row: Binding, link: IssuedLink, now: datetime) -> None:
    """A fresh signed link was issued for the pair: kept (in place of the last) until it expires."""
    kept = session.exec(select(SignedLink).where(
        SignedLink.posting_key == row.posting_key, SignedLink.provider == row.provider,
    )).first()
    if kept is None:
        kept = SignedLink(posting_key=row.posting_key, provider=row.provider, url=link.url, expires_at=link.expires_at)
        session.add(kept)
    kept.url, kept.expires_at, kept.fetched_at = link.url, link.expires_at, now
    row.observed_status, row.observed_at, row.updated_at = LINKED, now, now


# Bindings, signed links and audit rows written by plain statements, many rows to a statement,
# for the changes a first sync makes by the thousand (a create, a link): the same columns the
# functions above set, without loading the rows.


def bound_values(remote: Remote, applied_spec: Spec, now: datetime) -> dict[str, Any]:
    """What `created` (with the payload sent) writes of a pair's binding."""
    return {
        "remote_id": remote.remote_id, "observed_status": remote.status,
        "observed_hash": spec_hash_of(remote.spec_text, remote.status), "observed_at": now,
        "applied_status": remote.status, "applied_spec": dict(applied_spec), "updated_at": now,
        "compared_hash": None,
    }


def link_values(link: IssuedLink, now: datetime) -> dict[str, Any]:
    """The signed link row `linked` keeps for a pair."""
    return {"url": link.url, "expires_at": link.expires_at, "fetched_at": now}


def linked_values(now: datetime) -> dict[str, Any]:
    """What `linked` writes of a pair's binding."""
    return {"observed_status": LINKED, "observed_at": now, "updated_at": now}


def converged_values(applied_hash: str | None, now: datetime) -> dict[str, Any]:
    """What `converged` writes of a pair's binding."""
    values: dict[str, Any] = {
        "attempts": 0, "quarantine_until": None, "last_error": None, "blocked_reason": None,
        "blocked_gate": None, "blocked_fields": None, "synced_at": now, "in_sync": True, "updated_at": now,
    }
    if applied_hash is not None:
        values["applied_hash"] = applied_hash
    return values


def bindings_written(session: Session, provider: str, values: Mapping[str, Mapping[str, Any]]) -> None:
    """Set on the binding of each posting key (on `provider`) its `values`; a row is made
    where there is none."""
    _upserted(session, BINDINGS, _BINDING_OF_PAIR, provider, values)


def links_kept(session: Session, provider: str, links: Mapping[str, Mapping[str, Any]]) -> None:
    """Keep each posting key's new signed link (`link_values`) in place of its last."""
    _upserted(session, LINKS, _LINK_OF_PAIR, provider, links)


def _upserted(
    session: Session, table: sa.Table, update_pair: sa.Update, provider: str, values: Mapping[str, Mapping[str, Any]]
) -> None:
    """Rows of `table` by (posting key, `provider`): those there updated, the others inserted,
    one statement per set of columns (all the same in the usual batch)."""
    if not values:
        return
    connection = session.connection()
    keys = list(values)
    there: set[str] = set()
    for start in range(0, len(keys), CHUNK):
        there.update(connection.execute(
            sa.select(table.c.posting_key)
            .where(table.c.provider == provider, table.c.posting_key.in_(keys[start : start + CHUNK]))
        ).scalars())
    updates = [{"b_key": key, "b_provider": provider, **values[key]} for key in keys if key in there]
    inserts = [{"posting_key": key, "provider": provider, **values[key]} for key in keys if key not in there]
    for rows in _by_columns(updates):
        connection.execute(update_pair, rows)
    for rows in _by_columns(inserts):
        connection.execute(sa.insert(table), rows)


def _by_columns(rows: Iterable[Mapping[str, Any]]) -> list[list[Mapping[str, Any]]]:
    """`rows` grouped by the columns they set: a statement run for many rows sets the same
    columns in each."""
    groups: dict[frozenset[str], list[Mapping[str, Any]]] = {}
    for row in rows:
        groups.setdefault(frozenset(row), []).append(row)
    return list(groups.values())


def in_sync(row: Binding, now: datetime) -> None:
    """The pair was seen to match the desired state now."""
    row.synced_at = row.updated_at = now
    row.in_sync = True


def converged(row: Binding, applied_hash: str | None, now: datetime) -> None:
    """Every change of the pair went through: no block, no backoff, in sync now; the desired
    state's digest, when known, is what is applied."""
    row.attempts, row.quarantine_until, row.last_error = 0, None, None
    row.blocked_reason, row.blocked_gate, row.blocked_fields = None, None, None
    if applied_hash is not None:
        row.applied_hash = applied_hash
    in_sync(row, now)


def failed(row: Binding, error: str, now: datetime) -> None:
    """A change of the pair failed with `error` (as it is shown beside the board)."""
    row.last_error, row.updated_at = error, now


def blocked(
    session: Session, row: Binding, reason: str, gate: str | None, fields: Mapping[str, str], now: datetime,
    *, run_id: int | None = None,
) -> None:
    """The board refused the pair until a person acts: `reason`, its `gate`, the fields it
    named. A reason the pair was not already blocked for is told (once per reason)."""
    if row.blocked_reason != str(redact(reason)):  # stored masked: compared as stored
        add_event(session, events.blocked(row.posting_key, row.provider, reason, gate, fields), now, run_id=run_id)
    row.blocked_reason, row.blocked_gate, row.blocked_fields = reason, gate, dict(fields)
    row.updated_at = now


def backed_off(row: Binding, wait: Callable[[int], timedelta], now: datetime) -> None:
    """One more failure in a row: the pair is left alone for `wait(attempts)`."""
    row.attempts += 1
    row.quarantine_until = now + wait(row.attempts)
    row.updated_at = now


def audited(session: Session, run_id: int, pair: Pair, action: str, now: datetime, *, ok: bool,
            **details: Any) -> None:
    """The audit log's row for one change a run carried out (or tried) on a board: `audit_row`
    written at once."""
    audits_written(session, [audit_row(run_id, pair, action, now, ok=ok, **details)])


def audit_row(
    run_id: int,
    pair: Pair,
    action: str,
    now: datetime,
    *,
    ok: bool,
    http_status: int | None = None,
    error_code: str | None = None,
    message: str | None = None,
    duration_ms: int = 0,
) -> dict[str, Any]:
    """An audit row as `audited` writes it, for `audits_written`."""
    key, provider = pair
    return {
        "run_id": run_id, "posting_key": key, "provider": provider, "action": action, "ok": ok,
        "http_status": http_status, "error_code": error_code, "message": message, "duration_ms": duration_ms,
        "at": now,
    }


def audits_written(session: Session, rows: Sequence[Mapping[str, Any]]) -> None:
    """Audit rows (`audit_row`), in one statement."""
    if rows:
        session.connection().execute(sa.insert(AUDIT), list(rows))


# ------------------------------------------------------------------------------ by hand


FORGET = "forget"
"""The audit log's action for a binding removed by ``boardsync forget``."""
RENAME = "rename"
"""The audit log's action for a posting's state moved to its new key (``previous_keys``)."""


def adopted_by_hand(store: Store, run_id: int, pair: Pair, remote: Remote, now: datetime) -> None:
    """``boardsync adopt``: the pair is bound to `remote` as it is on the board (no call was
    made to change it); the next run sends what differs from the posting."""
    with store.write() as session:
        row = binding(session, pair, now)
        adopted(row, remote, now)
        row.attempts, row.quarantine_until, row.last_error = 0, None, None
        row.absent_since, row.absent_reads = None, 0
        audited(session, run_id, pair, "adopt", now, ok=True, message=f"{remote.remote_id}: adopted by hand")


def imported(store: Store, run_id: int, pair: Pair, remote: Remote, applied: Spec, path: str, now: datetime) -> None:
    """``boardsync import``: the pair is bound to `remote` as it is (no call was made), with
    `applied`, the posting's payload, as what is applied: the board showed all of it that it
    shows, and what it does not show back is taken to be what the posting file says."""
    with store.write() as session:
        row = binding(session, pair, now)
        _bind(row, remote, applied, now)
        row.attempts, row.quarantine_until, row.last_error = 0, None, None
        row.absent_since, row.absent_reads = None, 0
        audited(session, run_id, pair, "import", now, ok=True, message=f"{remote.remote_id}: imported as {path}")


def forgotten(store: Store, run_id: int, pairs: Collection[Pair], now: datetime) -> list[tuple[Pair, str | None]]:
    """``boardsync forget``: the bindings of `pairs` are dropped, with their signed links;
    their open drift is resolved and their unsettled creates given up, so no run closes,
    updates or adopts their jobs on their account. Nothing is sent to a board. The pairs
    forgotten, each with the job it was bound to."""
    done: list[tuple[Pair, str | None]] = []
    with store.write() as session:
        for pair in sorted(pairs):
            key, provider = pair
            row = session.exec(select(Binding).where(Binding.posting_key == key, Binding.provider == provider)).first()
            if row is None:
                continue
            done.append((pair, row.remote_id))
            session.delete(row)
            session.exec(delete(SignedLink).where(col(SignedLink.posting_key) == key, col(SignedLink.provider) == provider))
            _give_up_intents(session, pair, now)
            open_drift = select(Drift).where(Drift.posting_key == key, Drift.provider == provider)
            for drift in session.exec(open_drift.where(col(Drift.resolved_at).is_(None))).all():
                _resolve(drift, "forgotten", now)
            audited(session, run_id, pair, FORGET, now, ok=True,
                    message=f"{row.remote_id or 'no job'}: no longer managed; left as it is on the board")
    return done


def _give_up_intents(session: Session, pair: Pair, now: datetime) -> None:
    key, provider = pair
    intents = session.exec(select(Intent).where(
        Intent.posting_key == key, Intent.provider == provider, col(Intent.state).in_(UNSETTLED_INTENT_STATES),
    )).all()
    for intent in intents:
        intent.state, intent.error, intent.updated_at = IntentState.FAILED, "forgotten by hand", now


HISTORY: tuple[Any, ...] = (Binding, Intent, AuditEntry, Drift, VisitSample, ApplicantSample, CounterLatest, SignedLink)
"""Every table keyed by posting: what a rename moves."""


def pending_renames(store: Store, postings: Iterable[Posting]) -> tuple[Renamed, ...]:
    """The renames a run still has to carry out: each previous key the state binds (a job,
    or a create whose outcome is open), to its posting's key. An old and a new key both
    bound on one board is an error naming both: which job is the posting's is for a person
    to say (``boardsync forget`` one of them)."""
    wanted = {old: p.key for p in postings for old in p.previous_keys}
    if not wanted:
        return ()
    keys = list(wanted) + list(set(wanted.values()))
    with store.session() as session:
        bound = session.exec(select(Binding.posting_key, Binding.provider).where(col(Binding.posting_key).in_(keys))).all()
        open_creates = session.exec(select(Intent.posting_key, Intent.provider).where(
            col(Intent.posting_key).in_(list(wanted)), col(Intent.state).in_(UNSETTLED_INTENT_STATES),
        )).all()
    held: dict[str, set[str]] = {}
    for key, provider in [*bound, *open_creates]:
        held.setdefault(key, set()).add(provider)
    renames = []
    for old, new in sorted(wanted.items()):
        if old not in held:
            continue
        both = sorted(held[old] & held.get(new, set()))
        if both:
            raise ConfigError(
                f"posting '{new}' names '{old}' in previous_keys, but the state binds both keys on "
                f"{', '.join(both)}: say which job is the posting's (`boardsync forget {old}` or "
                f"`boardsync forget {new}`), then run again"
            )
        renames.append(Renamed(old, new, tuple(sorted(held[old]))))
    return tuple(renames)


def renamed(store: Store, run_id: int, renames: Iterable[Renamed], now: datetime) -> None:
    """Move every row of each renamed posting to its new key: bindings, open creates, the
    audit log, drift, counters, links; one audit row per board says so."""
    with store.write() as session:
        for rename in renames:
            # A counter's latest value is its job's: the new key's own, from a job it no longer
            # has, makes way for the old key's (the samples of both stay, under the new key).
            session.execute(sa.delete(LATEST).where(LATEST.c.posting_key == rename.new))
            for table in HISTORY:
                moved = update(table).where(col(table.posting_key) == rename.old).values(posting_key=rename.new)
                session.exec(moved.execution_options(synchronize_session=False))
            for provider in rename.providers:
                audited(session, run_id, (rename.new, provider), RENAME, now, ok=True,
                        message=f"renamed from {rename.old}: its bindings and history moved")
            log.info("posting_renamed", old=rename.old, new=rename.new, providers=list(rename.providers))


# ------------------------------------------------------------------------------ boards


def board_wait_kept(store: Store, provider: str, until: datetime, reason: str, now: datetime) -> None:
    """`provider` asked not to be called before `until` (a later ask wins)."""
    with store.write() as session:
        row = board_state(session, provider)
        row.wait_until, row.wait_reason, row.updated_at = until, reason, now
        session.add(row)


def backoffs_lifted(
    store: Store, now: datetime, *, postings: Collection[str] | None = None, providers: Collection[str] | None = None
) -> list[Backoff]:
    """Lift the backoff of every pair that has one (of `postings` and `providers`, when
    given), so the next run tries it at once; the backoffs lifted, by posting and provider.
    The last error stays: it is still what happened last."""
    query = select(Binding).where(
        or_(col(Binding.attempts) > 0, col(Binding.quarantine_until).is_not(None))
    ).order_by(col(Binding.posting_key), col(Binding.provider))
    if postings is not None:
        query = query.where(col(Binding.posting_key).in_(postings))
    if providers is not None:
        query = query.where(col(Binding.provider).in_(providers))
    with store.write() as session:
        rows = session.exec(query).all()
        lifted = [Backoff(r.posting_key, r.provider, r.attempts, r.quarantine_until, r.last_error) for r in rows]
        for row in rows:
            row.attempts, row.quarantine_until, row.updated_at = 0, None, now
            session.add(row)
    log.info("backoffs_cleared", pairs=[f"{b.provider}/{b.posting}" for b in lifted])
    return lifted


# ------------------------------------------------------------------------------ observation


@dataclass(frozen=True)
class _Seen:
    """What a run saw and planned, as `record_observation` writes it down."""

    plan: Plan
    postings: Sequence[Posting]
    now: datetime
    scope: Collection[str] | None
    """The postings the run was narrowed to (None: all)."""
    run_id: int | None = None
    expiring_within: timedelta | None = None
    """How far ahead a live job's expiry is told (None: not told; expired jobs are reposted)."""

    def in_scope(self, key: str) -> bool:
        return self.scope is None or key in self.scope

    def wanted(self, board: str) -> frozenset[str]:
        """The keys of the postings that name `board`."""
        return self._naming.get(board, frozenset())

    @cached_property
    def _naming(self) -> dict[str, frozenset[str]]:
        """Board → the keys of the postings that name it: worked out once, asked per board."""
        found: dict[str, set[str]] = {}
        for posting in self.postings:
            for name in posting.boards.names():
                found.setdefault(name, set()).add(posting.key)
        return {name: frozenset(keys) for name, keys in found.items()}


def record_observation(
    store: Store,
    boards: Mapping[str, Board],
    plan: Plan,
    postings: Sequence[Posting],
    now: datetime,
    *,
    scope: Collection[str] | None,
    run_id: int | None = None,
    calls: Sequence[CallEntry] = (),
    expiring_within: timedelta | None = None,
) -> None:
    """What the boards showed, and (with `run_id`) the calls that read them."""
    readable = {name: b for name, b in boards.items() if b.error is None}
    seen = _Seen(plan, postings, now, scope, run_id, expiring_within)
    with store.write() as session:
        if run_id is not None:
            calls_made(session, run_id, calls)
        if not readable:
            return
        for board in readable.values():
            _record_board(session, board, seen)
        _record_drift(session, readable, seen)
        _forget_links(session, readable, seen)


def _record_board(session: Session, board: Board, seen: _Seen) -> None:
    """What one board showed: its bindings read, noted and written back a board at a time,
    so that a run holds one board's rows at once."""
    rows = _kept_bindings(session, board.name)
    by_remote = {(board.name, row.remote_id): row for row in rows if row.remote_id}
    digest, hashes = views.digests(board)
    _record_bindings(session, board, rows, by_remote, seen, hashes)
    _record_gone(board, by_remote, seen.now)
    _record_absence(board, rows, seen)
    _record_suspension(board, rows, seen)
    _record_counters(session, board, by_remote, seen.now)
    _record_view(session, board, seen.now, digest, compared=seen.scope is None)
    _record_expiring(session, board, by_remote, seen)
    _write_kept(session, rows)


_UNSET: Any = object()
"""A column of a `_Kept` row that was not read and has not been set."""


class _Kept:
    """A binding as `record_observation` reads it: the columns it needs (no payload), as a
    plain row rather than a loaded object. What was read is kept beside it, so only the
    bindings that changed are written back (`_write_kept`), and only what changed in them."""

    COLUMNS = ("id", "posting_key", "provider", "remote_id", "observed_hash", "observed_status", "absent_since",
               "absent_reads", "blocked_gate", "blocked_reason", "in_sync", "synced_at")
    SET_ONLY = ("observed_at", "updated_at", "blocked_fields", "compared_hash")
    """Columns written and never read here."""
    __slots__ = (*COLUMNS, *SET_ONLY, "read", "dropped")

    id: int
    posting_key: str
    provider: str
    remote_id: str | None
    observed_hash: str | None
    observed_status: str | None
    absent_since: datetime | str | None
    """As read (`as_read`): compared with None, kept, or replaced by a time."""
    absent_reads: int
    blocked_gate: str | None
    blocked_reason: str | None
    in_sync: bool | int
    """As read: 0 or 1 on SQLite."""
    synced_at: datetime | str | None
    """As read, until it is set: `utc_as_read` makes it a time."""
    observed_at: datetime | None
    updated_at: datetime | None
    blocked_fields: dict[str, str] | None
    compared_hash: str | None
    read: tuple[Any, ...]
    dropped: bool

    def __init__(self, read: Sequence[Any]) -> None:
        (self.id, self.posting_key, self.provider, self.remote_id, self.observed_hash, self.observed_status,
         self.absent_since, self.absent_reads, self.blocked_gate, self.blocked_reason, self.in_sync,
         self.synced_at) = self.read = tuple(read)  # as COLUMNS names them
        self.observed_at = self.updated_at = self.blocked_fields = self.compared_hash = _UNSET
        self.dropped = False

    def changed(self) -> dict[str, Any]:
        """The columns set to another value than was read (or set at all, for the others)."""
        now = _READ_COLUMNS(self)
        changed = {} if now == self.read else {
            name: value for name, value, was in zip(self.COLUMNS, now, self.read) if value != was
        }
        for name in self.SET_ONLY:
            value = getattr(self, name)
            if value is not _UNSET:
                changed[name] = value
        return changed


_READ_COLUMNS = operator.attrgetter(*_Kept.COLUMNS)
_BINDING_BY_ID = sa.update(BINDINGS).where(BINDINGS.c.id == sa.bindparam("b_id"))


_AS_READ = frozenset({"absent_since", "in_sync", "synced_at"})
"""`_Kept` columns read without their types' processing (`as_read`): only a few rows of a run
ever look at them, and a run reads every binding."""


def _kept_bindings(session: Session, provider: str) -> list[_Kept]:
    columns = [as_read(BINDINGS.c[name]) if name in _AS_READ else BINDINGS.c[name] for name in _Kept.COLUMNS]
    rows = session.execute(sa.select(*columns).where(BINDINGS.c.provider == provider))
    return [_Kept(row) for row in rows]


def _write_kept(session: Session, rows: Sequence[_Kept]) -> None:
    """Write back what changed: bindings dropped, then one statement per set of columns
    changed, for every binding that changed them."""
    dropped = [row.id for row in rows if row.dropped]
    for start in range(0, len(dropped), CHUNK):
        session.execute(sa.delete(BINDINGS).where(BINDINGS.c.id.in_(dropped[start : start + CHUNK])))
    changes: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:
        if row.dropped:
            continue
        changed = row.changed()
        if changed:
            params = changes.setdefault(tuple(sorted(changed)), [])
            params.append({"b_id": row.id, **changed})
            if len(params) >= CHUNK:  # written as they come: a run that changes every binding holds a few
                session.execute(_BINDING_BY_ID, params)
                params.clear()
    for params in changes.values():
        if params:
            session.execute(_BINDING_BY_ID, params)


def _record_bindings(
    session: Session, board: Board, rows: Sequence[_Kept], by_remote: Mapping[tuple[str, str], _Kept],
    seen: _Seen, hashes: Mapping[str, str],
) -> None:
    """What the board shows of each bound job, written only when it changed; and whether each
    pair is in sync, written only when that changed: the board's `compared_at` says when a
    pair still in sync was last found so (`Store.status_rows`), so a run that finds every
    pair as it was rewrites no binding."""
    now, plan = seen.now, seen.plan
    for remote in board.remotes.values():
        row = by_remote.get((board.name, remote.remote_id))
        if row is None:
            continue
        digest = hashes[remote.remote_id]
        if row.observed_hash != digest or row.observed_status != remote.status:
            row.observed_hash, row.observed_status = digest, remote.status
            row.observed_at = row.updated_at = now
    compared = board_state(session, board.name).compared_at
    busy = {c.pair for c in plan.board_changes} | {d.pair for d in plan.drift} | {b.pair for b in plan.blocked}
    for row in rows:
        if row.remote_id is None and row.observed_status != LINKED:
            continue
        pair = (row.posting_key, board.name)
        if pair in plan.compared:  # found in step by a full comparison: what it compared, kept
            row.compared_hash = plan.compared[pair]
        if pair in plan.evaluated and pair not in busy:
            if not row.in_sync or seen.scope is not None:  # a narrowed run leaves compared_at as it was
                row.in_sync, row.synced_at = True, now
        elif row.in_sync and (pair in plan.evaluated or seen.scope is None):
            # In sync until the last full comparison, and not found so now.
            row.in_sync = False
            row.synced_at = max((t for t in (utc_as_read(row.synced_at), compared) if t is not None), default=None)


def _record_expiring(
    session: Session, board: Board, by_remote: Mapping[tuple[str, str], _Kept], seen: _Seen
) -> None:
    """Tell each live job of a live posting that the board will expire within
    `expiring_within`: once per job and expiry date (a repost brings a new date)."""
    if seen.expiring_within is None:
        return
    live = {p.key for p in seen.postings if p.status in (Status.ACTIVE, Status.PAUSED)}
    horizon = seen.now + seen.expiring_within
    told: set[tuple[str | None, str]] | None = None
    for remote in board.remotes.values():
        row = by_remote.get((board.name, remote.remote_id))
        if row is None or row.posting_key not in live or remote.status not in ("active", "paused"):
            continue
        if remote.expires_at is None or not seen.now < remote.expires_at <= horizon:
            continue
        event = events.expiring(row.posting_key, board.name, remote.expires_at)
        if told is None:  # what the outbox holds already, read once for the board: not once a job
            told = set(session.exec(select(OutboxEvent.posting_key, OutboxEvent.title).where(
                OutboxEvent.event == event.kind, OutboxEvent.provider == board.name,
            )).all())
        if (event.posting, event.title) not in told:
            add_event(session, event, seen.now, run_id=seen.run_id)
            told.add((event.posting, event.title))


def _record_view(session: Session, board: Board, now: datetime, digest: str, *, compared: bool = False) -> None:
    """What the board showed in this read, kept for snapshots; made and rewritten only when it
    changed (`digest`: the view's, `views.digests`). `compared`: every posting was compared
    with it (a run not narrowed to some)."""
    kept = session.exec(select(KeptView.digest).where(KeptView.provider == board.name)).first()
    if kept is None:
        session.execute(insert(KeptView).values(provider=board.name, observed=views.view_text(board), digest=digest))
    elif kept != digest:
        session.exec(update(KeptView).where(col(KeptView.provider) == board.name)
                     .values(observed=views.view_text(board), digest=digest))
    row = board_state(session, board.name)
    row.observed_at = now
    if compared:
        row.compared_at = now
    session.add(row)


def views_answered(
    store: Store, boards: Mapping[str, Board], answered: Mapping[str, Mapping[str, Remote]], now: datetime
) -> None:
    """After applying: each board's kept view with the jobs as the board answered the changes
    (a job created, updated, moved), so it shows what the board holds after the run."""
    changed = {name: remotes for name, remotes in answered.items() if remotes and name in boards}
    if not changed:
        return
    with store.write() as session:
        for name, remotes in changed.items():
            board = replace(boards[name], remotes={**boards[name].remotes, **remotes})
            _record_view(session, board, now, views.digests(board)[0])


def _record_gone(board: Board, by_remote: Mapping[tuple[str, str], _Kept], now: datetime) -> None:
    """Bound jobs a read by id found gone: remembered, so they are not read again."""
    for remote_id in board.gone:
        row = by_remote.get((board.name, remote_id))
        if row is not None and row.observed_status != GONE:
            row.observed_status, row.updated_at = GONE, now


def _record_absence(board: Board, rows: Sequence[_Kept], seen: _Seen) -> None:
    """Count the runs that found a bound posting gone from the source (the grace before a
    prune closes it), and forget the count when it is back. A posting that is gone has nothing
    left to create or update, so a block it had is cleared; a binding that never reached the
    board (it only held such a block) is dropped."""
    if not board.connector.SUPPORTS_JOBS:
        return
    now = seen.now
    wanted = seen.wanted(board.name)
    for row in rows:
        if row.posting_key in wanted:
            if row.absent_since is not None or row.absent_reads:
                row.absent_since, row.absent_reads, row.updated_at = None, 0, now
            continue
        if not seen.in_scope(row.posting_key):
            continue
        if row.remote_id is None:
            row.dropped = True
            continue
        row.absent_since = row.absent_since or now
        row.absent_reads += 1
        if row.blocked_gate != SUSPENDED:
            row.blocked_reason, row.blocked_gate, row.blocked_fields = None, None, None
        row.updated_at = now


def _record_suspension(board: Board, rows: Sequence[_Kept], seen: _Seen) -> None:
    """Mark the bindings of suspended postings compared this run (as blocked, gate
    `SUSPENDED`), and unmark those whose posting is back under management."""
    suspended = {s.posting for s in seen.plan.suspended if s.provider == board.name}
    wanted = seen.wanted(board.name)
    for row in rows:
        if (row.posting_key, board.name) not in seen.plan.evaluated:
            continue
        if row.posting_key in suspended and row.blocked_gate != SUSPENDED:
            row.blocked_reason, row.blocked_gate, row.blocked_fields = SUSPEND_REASON, SUSPENDED, {}
            row.updated_at = seen.now
        elif row.posting_key in wanted and row.posting_key not in suspended and row.blocked_gate == SUSPENDED:
            row.blocked_reason, row.blocked_gate, row.blocked_fields = None, None, None
            row.updated_at = seen.now


SUSPEND_REASON = "the posting is suspended (suspend: true): read and compared, never written"


def _record_counters(
    session: Session, board: Board, by_remote: Mapping[tuple[str, str], _Kept], now: datetime
) -> None:
    """Visits per channel and applicants per posting, as the observe call already read them."""
    visits, totals = _counters(board, by_remote)
    record_counters(session, board.name, visits=visits, applicants=totals, now=now)


class _Bound(Protocol):
    """A bound row, as far as the counters read it."""

    @property
    def posting_key(self) -> str: ...


def _counters(
    board: Board, by_remote: Mapping[tuple[str, str], _Bound]
) -> tuple[dict[tuple[str, str], int], dict[tuple[str, str], int]]:
    """(visits per (posting, channel), applicants per (posting, WHOLE_POSTING)) of bound objects."""
    visits: dict[tuple[str, str], int] = {}
    totals: dict[tuple[str, str], int] = {}
    for remote in board.remotes.values():
        row = by_remote.get((board.name, remote.remote_id))
        if row is None:
            continue
        for channel in remote.channels.values():
            visits[(row.posting_key, channel.name)] = channel.visits
        totals[(row.posting_key, WHOLE_POSTING)] = remote.applications
    return visits, totals


def record_metrics(
    store: Store, board: Board, applicants: Mapping[tuple[str, str], int], now: datetime
) -> int:
    """Record a metrics read: visits and totals from the board's objects, and applicants per
    (remote id, channel) from its applicants read. The number of samples written."""
    b = BINDINGS.c
    with store.write() as session:
        # Two columns of the bound rows, not the rows as objects: those decode every payload.
        rows = session.execute(sa.select(b.posting_key, b.remote_id).where(
            b.provider == board.name, b.remote_id.is_not(None),
        ))
        by_remote = {(board.name, row.remote_id): row for row in rows}
        visits, totals = _counters(board, by_remote)
        per_channel = {
            (row.posting_key, channel or DIRECT): n
            for (remote_id, channel), n in applicants.items()
            if (row := by_remote.get((board.name, remote_id))) is not None
        }
        return record_counters(session, board.name, visits=visits, applicants={**totals, **per_channel}, now=now)


def record_counters(
    session: Session,
    provider: str,
    *,
    visits: Mapping[tuple[str, str], int],
    applicants: Mapping[tuple[str, str], int],
    now: datetime,
) -> int:
    """Write a sample for each (posting, channel) counter that differs from its last one, and
    keep it as the counter's latest (`CounterLatest`); the number of samples written."""
    written = 0
    for table, column, values in ((VisitSample, "visits", visits), (ApplicantSample, "applicants", applicants)):
        if not values:
            continue
        changed, kept = _changed(session, column, provider, values)
        if not changed:
            continue
        # One executemany a statement: a board's first read brings a sample for every channel.
        session.execute(insert(table), [
            {"posting_key": key, "provider": provider, "channel": channel, "observed_at": now, column: value}
            for (key, channel), value in changed.items()
        ])
        latest = [{"l_key": key, "l_channel": channel, "value": value} for (key, channel), value in changed.items()]
        moved = [row for row in latest if (row["l_key"], row["l_channel"]) in kept]
        connection = session.connection()
        if moved:
            connection.execute(_LATEST_OF_COUNTER,
                               [{"l_provider": provider, "l_counter": column, **row} for row in moved])
        if len(moved) < len(latest):
            connection.execute(sa.insert(LATEST), [
                {"provider": provider, "counter": column, "posting_key": row["l_key"], "channel": row["l_channel"],
                 "value": row["value"]}
                for row in latest if (row["l_key"], row["l_channel"]) not in kept
            ])
        written += len(changed)
    return written


_LATEST_OF_COUNTER = sa.update(LATEST).where(
    LATEST.c.provider == sa.bindparam("l_provider"), LATEST.c.counter == sa.bindparam("l_counter"),
    LATEST.c.posting_key == sa.bindparam("l_key"), LATEST.c.channel == sa.bindparam("l_channel"),
)


def _changed(
    session: Session, column: str, provider: str, values: Mapping[tuple[str, str], int],
) -> tuple[dict[tuple[str, str], int], set[tuple[str, str]]]:
    """The counters of `values` whose latest value is another or that have none yet, and
    those of them that have one. The latest values are compared as they are read, none of
    them kept: a board's are one or two a posting, and a run reads them all."""
    changed = dict(values)
    kept: set[tuple[str, str]] = set()
    # Run on the connection, the rows come from the cursor one by one (the ORM would fetch all first).
    for key, channel, count in session.connection().execute(_latest_query(column, provider)):
        counter = (key, channel)
        if counter not in changed:
            continue
        if changed[counter] == count:
            del changed[counter]
        else:
            kept.add(counter)
    return changed, kept


def _latest_query(column: str, provider: str) -> Any:
    """The latest value of each of a board's counters of `column`: the rows of
    `CounterLatest` under the head of its primary key, as many as there are counters."""
    return sa.select(LATEST.c.posting_key, LATEST.c.channel, LATEST.c.value).where(
        LATEST.c.provider == provider, LATEST.c.counter == column,
    )


def _record_drift(session: Session, boards: Mapping[str, Board], seen: _Seen) -> None:
    """Open a row per new drift, touch the ones still there, resolve the ones gone."""
    plan, postings, now = seen.plan, seen.postings, seen.now
    found = {(d.posting, d.provider, d.field): d for d in plan.drift if d.provider in boards}
    by_key = {p.key: p for p in postings}
    open_rows = session.exec(
        select(Drift).where(col(Drift.resolved_at).is_(None), col(Drift.provider).in_(list(boards)))
    ).all()
    for row in open_rows:
        item = found.pop((row.posting_key, row.provider, row.field), None)
        pair = (row.posting_key, row.provider)
        if item is not None:
            row.last_seen, row.desired, row.observed, row.disposition = now, item.desired, item.observed, item.disposition
        elif pair in plan.evaluated:
            current = _desired_value(boards[row.provider], by_key[row.posting_key], row.field)
            _resolve(row, "source_changed" if current != row.desired else "reverted", now)
        elif row.posting_key not in seen.wanted(row.provider) and seen.in_scope(row.posting_key):
            _resolve(row, "removed", now)
    for item in found.values():
        add_event(session, events.drift_opened(item.posting, item.provider, item.field, item.disposition), now,
                  run_id=seen.run_id)
        session.add(Drift(
            posting_key=item.posting, provider=item.provider, field=item.field, desired=item.desired,
            observed=item.observed, disposition=item.disposition, first_seen=now, last_seen=now,
        ))


def _desired_value(board: Board, posting: Posting, name: str) -> Any:
    if name == STATUS:
        return posting.status.value
    return (board.specs.get(posting.key) or {}).get(name)


def _resolve(row: Drift, resolution: str, now: datetime) -> None:
    row.resolved_at, row.resolution, row.last_seen = now, resolution, now


def resolve_drift(session: Session, pair: Pair, fields: Iterable[str], resolution: str, now: datetime) -> None:
    """Resolve the open drift rows of `fields` of a pair (after a change put them back)."""
    key, provider = pair
    rows = session.exec(select(Drift).where(
        Drift.posting_key == key, Drift.provider == provider,
        col(Drift.field).in_(list(fields)), col(Drift.resolved_at).is_(None),
    )).all()
    for row in rows:
        _resolve(row, resolution, now)


def _forget_links(session: Session, boards: Mapping[str, Board], seen: _Seen) -> None:
    """Signed links are never kept past their expiry, nor for postings that left the board or
    were closed (nothing is left to manage there); their bindings go with them."""
    quick = {"synchronize_session": False}  # nothing loaded is read after this
    session.exec(delete(SignedLink).where(col(SignedLink.expires_at) <= seen.now).execution_options(**quick))
    closed = {p.key for p in seen.postings if p.status is Status.CLOSED}
    for name, board in boards.items():
        if not board.connector.SUPPORTS_LINKS:
            continue
        wanted = seen.wanted(name) - closed
        for table in (SignedLink, Binding):
            # The keys held are read and compared here, not sent as a NOT IN list: a list of
            # every posting would pass SQLite's limit on bound parameters at 32,766 postings.
            held = session.exec(select(table.posting_key).where(col(table.provider) == name).distinct()).all()
            stale = [key for key in held if key not in wanted and seen.in_scope(key)]
            for start in range(0, len(stale), CHUNK):
                session.exec(delete(table).where(
                    col(table.provider) == name, col(table.posting_key).in_(stale[start : start + CHUNK]),
                ).execution_options(**quick))


__all__ = [
    "GONE", "LINKED", "SUSPENDED", "WHOLE_POSTING",
    "adopted", "adopted_by_hand", "audited", "calls_made", "backed_off", "backoffs_lifted", "binding", "blocked", "board_wait_kept", "bound_jobs",
    "converged", "created", "failed", "finish_run", "forgotten", "in_sync", "linked", "load_known", "record_counters",
    "pending_renames", "record_metrics", "record_observation", "recovered", "renamed", "resolve_drift", "source_ensured", "spec_hash",
    "start_run", "transitioned", "unsettled_intents", "updated", "views_answered",
]
