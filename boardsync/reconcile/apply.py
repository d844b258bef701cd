"""Apply: carry out a plan one change at a time per board, each recorded as it happens.

Each board is worked in its own thread, at its own rate limit: a board that hangs or fails
holds up no other. On one board, changes run pair by pair in the plan's order. A pair stops
at its first failure and the board goes on with its next pair:

- `Blocked` (a gate: terms, payment, a plan limit) marks the pair blocked with the board's
  reason; a company-wide gate also stops every later publish on that board in this run.
- `Rejected` (the board refused the input) marks the pair blocked with the board's fields,
  and the pair backs off.
- `Ambiguous` (the answer was lost) leaves the create's intent unknown for the next run.
- `WaitAsked` (a 429 asking for longer than a call retries) keeps the wait (`waits`) and
  leaves the board alone until then.
- Anything else (`Transient` after the client's retries, a bug) backs the pair off
  exponentially: ``attempts`` and ``quarantine_until`` in its binding.

A pair whose changes all succeed has its binding reset: no block, no backoff, synced now.

A board whose changes fail `BOARD_DOWN_AFTER` pairs in a row with no answer at all (a
timeout, a reset, the request's deadline) or a server error is given up for the rest of the
run: each further change would spend the client's whole retry budget for nothing. An answer
such as a 409 is the board answering, and never counts. A given-up board is reported on its
own (not as a failed change); its remaining changes are counted as skipped and planned again
next run.

The database is written from every board's thread: `Store.write` serialises the writers.
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
from concurrent.futures import ThreadPoolExecutor
from itertools import groupby
from typing import Any

import structlog
from sqlmodel import Session

from boardsync.config.model import Posting
from boardsync.connectors.base import Connector, Remote, Transition
from boardsync.errors import Ambiguous, Blocked, ProviderError, Rejected, WaitAsked
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
from boardsync.reconcile.waits import BoardWaits
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
    """Changes that failed, one each."""
    blocked: list[BlockedItem] = field(default_factory=list)
    skipped: int = 0
    """Changes not attempted: the run was stopped, or their board was given up."""
    stopped: int = 0
    """Of the skipped, those not attempted because the run was stopped (every board)."""
    given_up: list[BoardError] = field(default_factory=list)
    """Boards left alone for the rest of the run, and why; not failed changes."""
    unknown: set[Pair] = field(default_factory=set)
    """Pairs whose create's outcome was lost."""

    def troubled(self) -> set[str]:
        """Providers where something did not go through."""
        return ({e.provider for e in self.failed} | {b.provider for b in self.blocked}
                | {p for _, p in self.unknown} | {e.provider for e in self.given_up})

    def merge(self, other: ApplyReport) -> None:
        self.done.update(other.done)
        self.failed += other.failed
        self.blocked += other.blocked
        self.skipped += other.skipped
        self.stopped += other.stopped
        self.given_up += other.given_up
        self.unknown |= other.unknown


Groups = list[tuple[Pair, list[Change]]]


class Applier:
    """Applies a plan: one `_BoardApplier` thread per board, sharing the store and progress."""

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
        waits: BoardWaits | None = None,
    ) -> None:
        self.store = store
        self.connectors = connectors
        self.boards = boards
        self.postings = postings
        self.run_id = run_id
        self.now = now
        self.stop = stop
        self.progress = progress
        self.waits = waits
        self.report = ApplyReport()
        self.intents: dict[Pair, int] = {}
        self._progress_lock = threading.Lock()
        self._finished = 0
        self._total = 0

    def apply(self, plan: Plan) -> ApplyReport:
        self.intents = self._journal_creates(plan)
        self._total = len(plan.changes)
        workers = [_BoardApplier(self, provider, groups) for provider, groups in _by_board(plan).items()]
        with ThreadPoolExecutor(max_workers=max(len(workers), 1), thread_name_prefix="apply") as pool:
            futures = [pool.submit(worker.run) for worker in workers]
            reports = [future.result() for future in futures]
        for report in reports:
            self.report.merge(report)
        self._close_unsent()
        return self.report

    def stopping(self) -> bool:
        return self.stop is not None and self.stop.is_set()

    def advance(self, changes: int) -> None:
        """Count `changes` as finished (done, failed or skipped) for the progress bar."""
        with self._progress_lock:
            self._finished += changes
            if self.progress is not None:
                self.progress(self._finished, self._total)

    def _journal_creates(self, plan: Plan) -> dict[Pair, int]:
        """Every create of the plan, journaled as pending in one transaction before any call."""
        creates = [(c, self.boards[c.provider].specs[c.posting]) for c in plan.changes if c.action in CREATES]
        return journal.open_intents(self.store, self.run_id, creates, self.now) if creates else {}

    def _close_unsent(self) -> None:
        """Creates never sent (the run stopped, their board was given up or gated) are not
        left pending: nothing of them reached a board."""
        if self.intents:
            journal.close_unsent(self.store, self.intents.values(), self.now)


def _by_board(plan: Plan) -> dict[str, Groups]:
    """The plan's pairs per board, each board's in the plan's order."""
    boards: dict[str, Groups] = {}
    for pair, changes in groupby(plan.changes, key=lambda c: c.pair):
        boards.setdefault(pair[1], []).append((pair, list(changes)))
    return boards


class _BoardApplier:
    """One board's share of a plan, applied in its own thread; its own report."""

    def __init__(self, applier: Applier, provider: str, groups: Groups) -> None:
        self.applier = applier
        self.provider = provider
        self.groups = groups
        self.store = applier.store
        self.connectors = applier.connectors
        self.boards = applier.boards
        self.postings = applier.postings
        self.run_id = applier.run_id
        self.now = applier.now
        self.report = ApplyReport()
        self.gate: Blocked | None = None
        self._last_call: tuple[int, int | None] = (0, None)
        self._resolution = "corrected"
        self._finishing = False
        self._pair_recorded = False
        self._strikes: list[ProviderError] = []
        """The failures in a row for want of an answer."""
        self._given_up: str | None = None
        """Why the board is left alone for the rest of the run."""
        self._left_alone = 0
        """Changes not tried after the board was given up."""

    def run(self) -> ApplyReport:
        self._apply_groups()
        self._report_given_up()
        return self.report

    def _apply_groups(self) -> None:
        for i, (pair, changes) in enumerate(self.groups):
            if self.applier.stopping():
                remaining = sum(len(c) for _, c in self.groups[i:])
                self.report.skipped += remaining
                self.report.stopped += remaining
                self.applier.advance(remaining)
                log.info("apply_stopped", provider=self.provider, remaining=remaining)
                return
            if self._given_up is None and self.applier.waits is not None:
                self._given_up = self.applier.waits.holding(self.provider)
            if self._given_up is not None:
                self._left_alone += len(changes)
            else:
                self._apply_pair(pair, changes)
            self.applier.advance(len(changes))

    def _report_given_up(self) -> None:
        if self._given_up is None or not self._left_alone:  # nothing was left undone for it
            return
        self.report.skipped += self._left_alone
        more = f"{self._left_alone} more change{'s' if self._left_alone != 1 else ''} left for the next run"
        self.report.given_up.append(BoardError(self.provider, f"{self._given_up}; {more}"))
        log.warning("board_given_up", provider=self.provider, reason=self._given_up, skipped=self._left_alone)

    def _count_strike(self, exc: ProviderError) -> None:
        """A failure with no answer (or a server error) counts towards giving the board up;
        any other answer, a 409 say, shows the board is there and starts the count again."""
        if not (exc.unanswered or (exc.status or 0) >= 500):
            self._strikes.clear()
            return
        self._strikes.append(exc)
        if len(self._strikes) >= BOARD_DOWN_AFTER:
            self._given_up = _down_reason(self._strikes)

    # -- one pair ---------------------------------------------------------------------------

    def _apply_pair(self, pair: Pair, changes: Sequence[Change]) -> None:
        remote = self._observed(changes[0])
        # Drift healed by a repost, or by the steps after it, is resolved as "reposted".
        self._resolution = "reposted" if any(c.action is Action.REPOST for c in changes) else "corrected"
        self._pair_recorded = False
        for i, change in enumerate(changes):
            self._finishing = i == len(changes) - 1
            if self.gate is not None and change.publishes:
                self._blocked(change, self.gate, called=False)
                return
            try:
                remote = self._apply_one(change, remote)
            except WaitAsked as exc:
                self._failed(change, exc)
                self._given_up = self.applier.waits.asked(self.provider, exc) if self.applier.waits else exc.detail
                return
            except ProviderError as exc:
                self._failed(change, exc)
                self._count_strike(exc)
                return
            except Exception as exc:  # a bug must cost this pair only, never the whole run
                log.exception("change_crashed", provider=change.provider, posting=change.posting)
                self._failed(change, exc)
                return
        self._strikes.clear()
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
        intent = self.applier.intents[change.pair]
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
            # An unknown outcome is settled next run, not retried; a wait asked is kept for the board.
            if not isinstance(exc, (Ambiguous, WaitAsked)):
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
            self.gate = exc
        log.warning("change_blocked", provider=change.provider, posting=change.posting, gate=exc.gate,
                    company_wide=exc.company_wide, called=called)
        self.report.blocked.append(BlockedItem(change.provider, change.posting, exc.reason, gate=exc.gate, fields=fields))

    # -- the audit log ----------------------------------------------------------------------

    @contextmanager
    def _timed(self) -> Iterator[None]:
        """Time one call and catch its HTTP status, for the audit row written after it."""
        connector = self.connectors[self.provider]
        connector.forget_status()
        started = time.monotonic()
        try:
            yield
        finally:
            self._last_call = (int((time.monotonic() - started) * 1000), connector.last_status())

    def _audit(self, session: Any, change: Change, exc: BaseException | None = None) -> None:
        ms, status = self._last_call
        session.add(ActionRow(
            run_id=self.run_id, posting_key=change.posting, provider=change.provider, action=change.action.value,
            ok=exc is None, http_status=getattr(exc, "status", None) or status,
            error_code=getattr(exc, "code", None), message=_text(exc) if exc is not None else None,
            duration_ms=ms, at=self.now,
        ))


def _down_reason(strikes: Sequence[ProviderError]) -> str:
    """What happened to the changes that made a board be given up, in the board's own terms."""
    last = strikes[-1]
    if all(e.unanswered for e in strikes):
        what = f"stopped answering ({len(strikes)} changes in a row got no answer"
    else:
        statuses = ", ".join(sorted({str(e.status) if e.status else "no answer" for e in strikes}))
        what = f"failing ({len(strikes)} changes in a row failed with {statuses}"
    return f"{what}; the last: {_text(last)})"


def _text(exc: BaseException) -> str:
    """The error as it is stored and shown beside its board: without the board's name again."""
    text = exc.detail if isinstance(exc, ProviderError) else str(exc) or type(exc).__name__
    return text[:ERROR_TEXT_LIMIT]
