"""Apply: carry out a plan one change at a time, each recorded as it happens.

Changes run pair by pair, in the plan's order. A pair stops at its first failure and the run
goes on with the next pair:

- `Blocked` (a gate: terms, payment, a plan limit) marks the pair blocked with the board's
  reason; a company-wide gate also stops every later publish on that board in this run.
- `Rejected` (the board refused the input) marks the pair blocked with the board's fields,
  and the pair backs off.
- `Ambiguous` (the answer was lost) leaves the create's intent unknown for the next run.
- Anything else (`Transient` after the client's retries, a bug) backs the pair off
  exponentially: ``attempts`` and ``quarantine_until`` in its binding.

A pair whose changes all succeed has its binding reset: no block, no backoff, synced now.

A board that fails `BOARD_DOWN_AFTER` pairs in a row with `Transient` or `Ambiguous` (it
stopped answering mid-run) is left alone for the rest of the run: each further change would
spend the client's whole retry budget for nothing. Its remaining changes are counted as
skipped and planned again next run.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import groupby
from typing import Any

import httpx
import structlog
from sqlmodel import Session

from boardsync.config.model import Posting
from boardsync.connectors.base import Connector, Remote, Transition
from boardsync.errors import Ambiguous, Blocked, ProviderError, Rejected, Transient
from boardsync.reconcile import journal
from boardsync.reconcile.model import (
    CREATES,
    TRANSITIONS,
    Action,
    BlockedItem,
    BoardError,
    Change,
    Pair,
    Plan,
)
from boardsync.reconcile.planner import Board
from boardsync.reconcile.record import bind_remote, binding, resolve_drift, spec_hash, store_link
from boardsync.state import Action as ActionRow
from boardsync.state import Binding, Store

log = structlog.get_logger(__name__)

BACKOFF_BASE = timedelta(minutes=1)
BACKOFF_CAP = timedelta(hours=6)
ERROR_TEXT_LIMIT = 500
BOARD_DOWN_AFTER = 3

Progress = Callable[[int, int], None]


def backoff(attempts: int) -> timedelta:
    """How long a pair waits after `attempts` failures in a row: 1 min, 2, 4, … up to 6 h."""
    return min(BACKOFF_BASE * (1 << max(attempts - 1, 0)), BACKOFF_CAP)


@dataclass
class ApplyReport:
    done: Counter[str] = field(default_factory=Counter)
    """Changes carried out, by action."""
    failed: list[BoardError] = field(default_factory=list)
    blocked: list[BlockedItem] = field(default_factory=list)
    skipped: int = 0
    """Changes not attempted: the run was stopped, or their board stopped answering."""
    unknown: set[Pair] = field(default_factory=set)
    """Pairs whose create's outcome was lost."""

    def troubled(self) -> set[str]:
        """Providers where something did not go through."""
        return {e.provider for e in self.failed} | {b.provider for b in self.blocked} | {p for _, p in self.unknown}


class Applier:
    def __init__(
        self,
        store: Store,
        connectors: Mapping[str, Connector],
        boards: Mapping[str, Board],
        postings: Mapping[str, Posting],
        *,
        run_id: int,
        now: datetime,
        stop: threading.Event | None = None,
        progress: Progress | None = None,
    ) -> None:
        self.store = store
        self.connectors = connectors
        self.boards = boards
        self.postings = postings
        self.run_id = run_id
        self.now = now
        self.stop = stop
        self.progress = progress
        self.gated: dict[str, Blocked] = {}
        self.report = ApplyReport()
        self._statuses = _LastStatus()
        self._last_call: tuple[int, int | None] = (0, None)
        self._resolution = "corrected"
        self._finishing = False
        self._pair_recorded = False
        self._intents: dict[Pair, int] = {}
        self._strikes: Counter[str] = Counter()
        """Pairs in a row that failed on each board for want of an answer."""
        self._left_alone: Counter[str] = Counter()
        """Changes not tried on each board after it was given up for this run."""

    def apply(self, plan: Plan) -> ApplyReport:
        groups = [(pair, list(changes)) for pair, changes in groupby(plan.changes, key=lambda c: c.pair)]
        self._intents = self._journal_creates(plan)
        total, finished = len(plan.changes), 0
        with self._statuses.watching(self.connectors.values()):
            for pair, changes in groups:
                if self.stop is not None and self.stop.is_set():
                    self.report.skipped = total - finished
                    log.info("apply_stopped", remaining=self.report.skipped)
                    break
                if self._strikes[pair[1]] >= BOARD_DOWN_AFTER:
                    self._left_alone[pair[1]] += len(changes)
                else:
                    self._apply_pair(pair, changes)
                finished += len(changes)
                if self.progress is not None:
                    self.progress(finished, total)
        self._report_left_alone()
        return self.report

    def _report_left_alone(self) -> None:
        for provider, count in self._left_alone.items():
            self.report.skipped += count
            message = (f"stopped answering ({BOARD_DOWN_AFTER} changes in a row failed); "
                       f"{count} more left for the next run")
            self.report.failed.append(BoardError(provider, message))
            log.warning("board_given_up", provider=provider, skipped=count)

    def _journal_creates(self, plan: Plan) -> dict[Pair, int]:
        """Every create of the plan, journaled as pending in one transaction before any call."""
        creates = [(c, self.boards[c.provider].specs[c.posting]) for c in plan.changes if c.action in CREATES]
        return journal.open_intents(self.store, self.run_id, creates, self.now) if creates else {}

    # -- one pair ---------------------------------------------------------------------------

    def _apply_pair(self, pair: Pair, changes: Sequence[Change]) -> None:
        remote = self._observed(changes[0])
        # Drift healed by a repost, or by the steps after it, is resolved as "reposted".
        self._resolution = "reposted" if any(c.action is Action.REPOST for c in changes) else "corrected"
        self._pair_recorded = False
        for i, change in enumerate(changes):
            self._finishing = i == len(changes) - 1
            gate = self.gated.get(change.provider)
            if gate is not None and change.publishes:
                self._blocked(change, gate, called=False)
                return
            try:
                remote = self._apply_one(change, remote)
            except ProviderError as exc:
                self._failed(change, exc)
                unanswered = isinstance(exc, (Transient, Ambiguous))
                self._strikes[change.provider] = self._strikes[change.provider] + 1 if unanswered else 0
                return
            except Exception as exc:  # a bug must cost this pair only, never the whole run
                log.exception("change_crashed", provider=change.provider, posting=change.posting)
                self._failed(change, exc)
                return
        self._strikes[pair[1]] = 0
        if not self._pair_recorded:
            with self.store.write() as session:
                self._converged(session, pair)

    def _observed(self, change: Change) -> Remote | None:
        board = self.boards.get(change.provider)
        if board is None or change.remote_id is None:
            return None
        return board.remotes.get(change.remote_id)

    def _apply_one(self, change: Change, remote: Remote | None) -> Remote | None:
        self._last_call = (0, None)
        if change.action is Action.ADOPT:
            return self._adopt(change)
        if change.action in CREATES:
            return self._create(change)
        if change.action is Action.REFRESH_LINK:
            self._refresh_link(change)
            return remote
        if remote is None:
            raise RuntimeError(f"{change.action.value} needs the job on the board, and none is known")
        if change.action is Action.UPDATE:
            return self._update(change, remote)
        if change.action in TRANSITIONS:
            return self._transition(change, remote)
        if change.action is Action.ENSURE_SOURCE:
            assert change.channel is not None
            return self._ensure_source(change, remote, change.channel)
        raise ValueError(f"no way to apply {change.action.value}")

    # -- the verbs --------------------------------------------------------------------------

    def _adopt(self, change: Change) -> Remote:
        remote = self.boards[change.provider].remotes[change.remote_id or ""]
        self._record(change, lambda row: bind_remote(row, remote, None, self.now), audit=False)
        return remote

    def _create(self, change: Change) -> Remote:
        posting = self.postings[change.posting]
        spec = self.boards[change.provider].specs[change.posting]
        intent = self._intents[change.pair]
        journal.mark(self.store, intent, "in_flight", self.now)
        try:
            with self._timed():
                remote = self.connectors[change.provider].create(posting, spec, publish=change.publish)
        except (Rejected, Blocked) as exc:  # refused: certainly nothing was created
            journal.mark(self.store, intent, "failed", self.now, error=_text(exc))
            raise
        except BaseException as exc:
            # A lost answer, a 5xx, a crash after sending: the job may exist. Look it up
            # next run; never send the create again blindly.
            journal.mark(self.store, intent, "unknown", self.now, error=_text(exc))
            self.report.unknown.add(change.pair)
            raise
        missing = [name for name in change.channels if name not in remote.channels]
        finishing, self._finishing = self._finishing, self._finishing and not missing
        self._record(
            change, lambda row: bind_remote(row, remote, spec, self.now),
            also=lambda session: journal.succeed(session, intent, remote.remote_id, self.now),
            remote_id=remote.remote_id,
        )
        for i, name in enumerate(missing):
            self._finishing = finishing and i == len(missing) - 1
            source = dataclasses.replace(change, action=Action.ENSURE_SOURCE, channel=name, channels=(), heals=())
            remote = self._ensure_source(source, remote, name)
        return remote

    def _update(self, change: Change, remote: Remote) -> Remote:
        fields = {d.field: d.after for d in change.diffs}
        with self._timed():
            after = self.connectors[change.provider].update(remote, fields)

        def applied(row: Binding) -> None:
            row.applied_spec = {**(row.applied_spec or {}), **fields}

        self._record(change, applied)
        return after

    def _transition(self, change: Change, remote: Remote) -> Remote:
        action: Transition = change.action.value  # type: ignore[assignment]
        with self._timed():
            after = self.connectors[change.provider].transition(remote, action)

        def moved(row: Binding) -> None:
            row.observed_status = row.applied_status = after.status

        self._record(change, moved)
        return after

    def _ensure_source(self, change: Change, remote: Remote, name: str) -> Remote:
        with self._timed():
            channel = self.connectors[change.provider].ensure_source(remote, name)
        self._record(change)
        return dataclasses.replace(remote, channels={**remote.channels, name: channel})

    def _refresh_link(self, change: Change) -> None:
        posting = self.postings[change.posting]
        with self._timed():
            link = self.connectors[change.provider].link(posting)

        def linked(row: Binding) -> None:
            row.observed_status, row.observed_at = "linked", self.now

        self._record(change, linked,
                     also=lambda session: store_link(session, change.pair, link.url, link.expires_at, self.now))

    # -- outcomes ---------------------------------------------------------------------------

    def _record(
        self,
        change: Change,
        update: Callable[[Binding], None] | None = None,
        *,
        also: Callable[[Session], None] | None = None,
        audit: bool = True,
        **logged: Any,
    ) -> None:
        """Record a change that succeeded, in one transaction: its binding, the audit row,
        the drift it healed, and — after a pair's last change — the pair's clean slate."""
        with self.store.write() as session:
            row = binding(session, change.pair, self.now)
            if update is not None:
                update(row)
            row.updated_at = self.now
            if also is not None:
                also(session)
            if audit:
                self._audit(session, change)
            if change.heals:
                resolve_drift(session, change.pair, change.heals, self._resolution, self.now)
            if self._finishing:
                self._converged(session, change.pair, row)
        self.report.done[change.action.value] += 1
        log.info("change_applied", provider=change.provider, posting=change.posting,
                 action=change.action.value, **logged)

    def _converged(self, session: Session, pair: Pair, row: Binding | None = None) -> None:
        """Every change of the pair went through: no block, no backoff, in sync now."""
        row = row or binding(session, pair, self.now)
        row.attempts, row.quarantine_until, row.last_error = 0, None, None
        row.blocked_reason, row.blocked_gate, row.blocked_fields = None, None, None
        row.synced_at = row.updated_at = self.now
        posting = self.postings.get(pair[0])
        spec = self.boards[pair[1]].specs.get(pair[0]) if pair[1] in self.boards else None
        if posting is not None and spec is not None:
            row.applied_hash = spec_hash(spec, posting.status.value)
        self._pair_recorded = True

    def _failed(self, change: Change, exc: BaseException) -> None:
        if isinstance(exc, Blocked):
            self._blocked(change, exc, called=True)
            return
        message = _text(exc)
        bound = log.bind(provider=change.provider, posting=change.posting, action=change.action.value)
        with self.store.write() as session:
            row = binding(session, change.pair, self.now)
            row.last_error, row.updated_at = message, self.now
            if isinstance(exc, Rejected):
                row.blocked_reason, row.blocked_gate, row.blocked_fields = exc.reason, "rejected", dict(exc.fields)
                self.report.blocked.append(BlockedItem(
                    change.provider, change.posting, exc.reason, gate="rejected", fields=dict(exc.fields)))
            if not isinstance(exc, Ambiguous):  # an unknown outcome is settled next run, not retried
                row.attempts += 1
                row.quarantine_until = self.now + backoff(row.attempts)
            self._audit(session, change, exc)
        bound.warning("change_failed", error=message, unknown=isinstance(exc, Ambiguous))
        self.report.failed.append(BoardError(change.provider, message, change.posting, change.action.value))

    def _blocked(self, change: Change, exc: Blocked, *, called: bool) -> None:
        fields = dict(getattr(exc, "fields", {}) or {})
        with self.store.write() as session:
            row = binding(session, change.pair, self.now)
            row.blocked_reason, row.blocked_gate, row.blocked_fields = exc.reason, exc.gate, fields
            row.updated_at = self.now
            if called:
                self._audit(session, change, exc)
        if called and exc.company_wide:
            self.gated[change.provider] = exc
        log.warning("change_blocked", provider=change.provider, posting=change.posting, gate=exc.gate,
                    company_wide=exc.company_wide, called=called)
        self.report.blocked.append(BlockedItem(change.provider, change.posting, exc.reason, gate=exc.gate, fields=fields))

    # -- the audit log ----------------------------------------------------------------------

    @contextmanager
    def _timed(self) -> Iterator[None]:
        """Time one call and catch its HTTP status, for the audit row written after it."""
        self._statuses.clear()
        started = time.monotonic()
        try:
            yield
        finally:
            self._last_call = (int((time.monotonic() - started) * 1000), self._statuses.last)

    def _audit(self, session: Any, change: Change, exc: BaseException | None = None) -> None:
        ms, status = self._last_call
        session.add(ActionRow(
            run_id=self.run_id, posting_key=change.posting, provider=change.provider, action=change.action.value,
            ok=exc is None, http_status=getattr(exc, "status", None) or status,
            error_code=getattr(exc, "code", None), message=_text(exc) if exc is not None else None,
            duration_ms=ms, at=self.now,
        ))


class _LastStatus:
    """The HTTP status of the last response a connector's client received, for the audit
    log: connectors return objects, not responses."""

    def __init__(self) -> None:
        self.last: int | None = None

    def clear(self) -> None:
        self.last = None

    def _hook(self, response: httpx.Response) -> None:
        self.last = response.status_code

    @contextmanager
    def watching(self, connectors: Any) -> Iterator[None]:
        clients = [c.client for c in connectors if isinstance(getattr(c, "client", None), httpx.Client)]
        for client in clients:
            client.event_hooks = {**client.event_hooks, "response": [*client.event_hooks["response"], self._hook]}
        try:
            yield
        finally:
            for client in clients:
                hooks = [h for h in client.event_hooks["response"] if h != self._hook]
                client.event_hooks = {**client.event_hooks, "response": hooks}


def _text(exc: BaseException) -> str:
    """The error as it is stored and shown beside its board: without the board's name again."""
    text = exc.detail if isinstance(exc, ProviderError) else str(exc) or type(exc).__name__
    return text[:ERROR_TEXT_LIMIT]
