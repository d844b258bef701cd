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

The applier decides; `record` writes (each binding field, the audit row) through functions
named for what happened. What one pair's changes share (how healed drift resolves, which
change is its last, a call's timing) is passed from step to step, never kept on the applier.
The database is written from every board's thread: `Store.write` serialises the writers.
A board's creates are marked in flight `BATCH` at a time, in one transaction before the first
of them is sent (`journal.launched`). What a create or a link fetch that went through leaves
is not committed on its own: it is held (`held`) and written with the board's next
transaction (the next batch's marks, say), so a first sync commits a few dozen times, not
once or twice per create, and the intent of every create is still durable before its call.
A process that dies before that commit leaves the create in_flight, settled by the next run
as a lost answer (`journal`), and a link unrecorded, fetched again. At most `BATCH` changes
are held, and whatever is held is written when the board's thread ends, with the creates
marked in flight but never sent marked failed.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from concurrent.futures import ThreadPoolExecutor
from itertools import groupby
from typing import Any

from sqlmodel import Session

from boardsync.config.model import Posting
from boardsync.connectors.base import Connector, Remote, Transition
from boardsync.connectors.calls import in_context
from boardsync.errors import Ambiguous, Blocked, ProviderError, Rejected, WaitAsked
from boardsync.log import get_logger
from boardsync.reconcile import events, journal, record
from boardsync.reconcile.held import Held
from boardsync.reconcile.planner import FIRST_LINK
from boardsync.reconcile.model import (
    CREATES,
    TRANSITIONS,
    Action,
    BlockedItem,
    Board,
    BoardError,
    Change,
    Pair,
    Plan,
)
from boardsync.reconcile.waits import BoardWaits
from boardsync.state import Binding, IntentState, Store
from boardsync.state.outbox import add_event

log = get_logger(__name__)

BACKOFF_BASE = timedelta(minutes=1)
BACKOFF_CAP = timedelta(hours=6)
ERROR_TEXT_LIMIT = 500
BOARD_DOWN_AFTER = 3
BATCH = 100
"""Creates marked in flight in one transaction, and successes held back at most before they
are committed on their own."""

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
    answered: dict[str, dict[str, Remote]] = field(default_factory=dict)
    """provider → remote id → the job as the board answered a change that succeeded: what the
    board shows now, beside what its read showed before the changes."""

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
        for provider, remotes in other.answered.items():
            self.answered.setdefault(provider, {}).update(remotes)


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
            futures = [pool.submit(in_context(worker.run)) for worker in workers]
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
        return journal.intend(self.store, self.run_id, creates, self.now) if creates else {}

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
        """A company-wide gate met in this run: no later change that publishes is sent."""
        self._strikes: list[ProviderError] = []
        """The failures in a row for want of an answer."""
        self._given_up: str | None = None
        """Why the board is left alone for the rest of the run."""
        self._left_alone = 0
        """Changes not tried after the board was given up."""
        self._held = Held(provider, self.now)
        """Successes recorded in memory, written with the board's next transaction."""
        self._creates = [applier.intents[pair] for pair, changes in groups
                         if pair in applier.intents and any(c.action in CREATES for c in changes)]
        """The intents of this board's creates, in the order they are sent."""
        self._place = {intent: i for i, intent in enumerate(self._creates)}
        self._unsent: set[int] = set()
        """Intents marked in flight whose create is not sent yet."""
        self._handed: str | None = None
        """On a board reached through links: the posting whose link it handed out in this run,
        which stands for the other postings' (`_refresh_link`)."""
        self._handed_back: dict[str, str] = {}
        """Jobs the board held before a create of this run handed them back → the posting
        given each: its binding may be held, not written yet (`_nobody_elses`)."""

    def run(self) -> ApplyReport:
        try:
            self._apply_groups()
        finally:
            self._write_last()
        self._report_given_up()
        return self.report

    @contextmanager
    def _write(self) -> Iterator[Session]:
        """A write transaction that first records the successes held back (`_hold`)."""
        with self.store.write() as session:
            self._held.write(session)
            yield session
        self._held.clear()

    def _held_one(self) -> None:
        """One more success held, written with the board's next transaction (soon: `BATCH`)."""
        self._held.changes += 1
        if self._held.changes >= BATCH:
            with self._write():
                pass

    def _write_last(self) -> None:
        """What is held, and the creates marked in flight that were never sent after all."""
        if self._held.changes or self._unsent:
            with self._write() as session:
                journal.unsent(session, self._unsent, self.now)
            self._unsent.clear()

    def _launch(self, intent: int) -> None:
        """Make `intent` durably in flight, its create about to be sent: unless an earlier
        batch marked it, with the board's next creates (`BATCH`) in one transaction."""
        if intent not in self._unsent:
            start = self._place[intent]
            batch = self._creates[start:start + BATCH]
            with self._write() as session:
                journal.launched(session, batch, self.now)
            self._unsent.update(batch)
        self._unsent.discard(intent)

    def _apply_groups(self) -> None:
        for i, (_, changes) in enumerate(self.groups):
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
                self._apply_pair(changes)
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

    def _apply_pair(self, changes: Sequence[Change]) -> None:
        """The pair's changes in order, each recorded as it succeeds; the first failure ends
        the pair. Changes a success brings along (the sources a create did not make) run next."""
        remote = self._observed(changes[0])
        # Drift healed by a repost, or by the steps after it, is resolved as "reposted".
        resolution = "reposted" if any(c.action is Action.REPOST for c in changes) else "corrected"
        todo = deque(changes)
        while todo:
            change = todo.popleft()
            if self.gate is not None and change.publishes:
                self._blocked(change, self.gate, None)
                return
            call = _Call()
            try:
                done = self._apply_one(change, remote, call)
            except WaitAsked as exc:
                self._failed(change, exc, call)
                self._given_up = self.applier.waits.asked(self.provider, exc) if self.applier.waits else exc.detail
                return
            except ProviderError as exc:
                self._failed(change, exc, call)
                self._count_strike(exc)
                return
            except Exception as exc:  # a bug must cost this pair only, never the whole run
                log.exception("change_crashed", provider=change.provider, posting=change.posting)
                self._failed(change, exc, call)
                return
            todo.extendleft(reversed(done.then))
            self._succeeded(change, done, call, resolution, last=not todo)
            remote = done.remote
        self._strikes.clear()

    def _observed(self, change: Change) -> Remote | None:
        board = self.boards.get(change.provider)
        if board is None or change.remote_id is None:
            return None
        return board.remotes.get(change.remote_id)

    def _apply_one(self, change: Change, remote: Remote | None, call: _Call) -> _Done:
        if change.action is Action.ADOPT:
            return self._adopt(change)
        if change.action in CREATES:
            return self._create(change, call)
        if change.action is Action.REFRESH_LINK:
            return self._refresh_link(change, remote, call)
        if remote is None:
            raise RuntimeError(f"{change.action.value} needs the job on the board, and none is known")
        if change.action is Action.UPDATE:
            return self._update(change, remote, call)
        if change.action in TRANSITIONS:
            return self._transition(change, remote, call)
        if change.action is Action.ENSURE_SOURCE:
            return self._ensure_source(change, remote, call)
        raise ValueError(f"no way to apply {change.action.value}")

    # -- the verbs: each makes its call and says what the pair's binding records of it ------

    def _adopt(self, change: Change) -> _Done:
        remote = self.boards[change.provider].remotes[change.remote_id or ""]
        return _Done(remote, lambda session, row: record.adopted(row, remote, self.now), audit=False)

    def _create(self, change: Change, call: _Call) -> _Done:
        posting = self.postings[change.posting].on_board(change.provider)
        spec = self.boards[change.provider].specs[change.posting]
        intent = self.applier.intents[change.pair]
        self._launch(intent)  # durable before the call
        try:
            with self._timed(call):
                remote = self.connectors[change.provider].create(posting, spec, publish=change.publish)
            self._nobody_elses(change, remote)
        except (Rejected, Blocked) as exc:  # refused: certainly nothing was created
            self._mark(intent, IntentState.FAILED, _text(exc))
            raise
        except BaseException as exc:
            # A lost answer, a 5xx, a crash after sending: the job may exist. Look it up
            # next run; never send the create again blindly.
            self._mark(intent, IntentState.UNKNOWN, _text(exc))
            self.report.unknown.add(change.pair)
            raise

        def held(outcomes: Held) -> dict[str, Any]:
            outcomes.created.append((intent, remote.remote_id))
            return record.bound_values(remote, spec, self.now)

        missing = tuple(
            dataclasses.replace(change, action=Action.ENSURE_SOURCE, channel=name, channels=(), heals=())
            for name in change.channels if name not in remote.channels
        )
        return _Done(remote, _no_row, then=missing, logged={"remote_id": remote.remote_id}, held=held)

    def _nobody_elses(self, change: Change, remote: Remote) -> None:
        """A create may hand back a job the board already held (Hirempire: the job a slug in
        use names). One bound to another posting, or handed to one earlier in this run, is
        never bound to this one too: the create is refused, as the board refused it."""
        if remote.remote_id not in self.boards[change.provider].remotes:
            return  # a job this create made
        owner = self._handed_back.get(remote.remote_id) or self.store.posting_of(change.provider, remote.remote_id)
        if owner is not None and owner != change.posting:
            raise Rejected(
                f"the board answered with the job {remote.remote_id}, which is posting {owner}'s (it holds what "
                "this create sends to name its job, such as a slug): two postings never share one job",
                provider=change.provider, call="create", code="job_of_another_posting",
            )
        self._handed_back[remote.remote_id] = change.posting

    def _mark(self, intent: int, state: IntentState, error: str) -> None:
        with self._write() as session:
            journal.marked(session, intent, state, self.now, error=error)

    def _update(self, change: Change, remote: Remote, call: _Call) -> _Done:
        fields = {d.field: d.after for d in change.diffs}
        with self._timed(call):
            after = self.connectors[change.provider].update(remote, fields)
        return _Done(after, lambda session, row: record.updated(row, fields, self.now))

    def _transition(self, change: Change, remote: Remote, call: _Call) -> _Done:
        action: Transition = change.action.value  # type: ignore[assignment]
        with self._timed(call):
            after = self.connectors[change.provider].transition(remote, action)
        return _Done(after, lambda session, row: record.transitioned(row, after.status, self.now))

    def _ensure_source(self, change: Change, remote: Remote, call: _Call) -> _Done:
        name = change.channel
        assert name is not None
        with self._timed(call):
            channel = self.connectors[change.provider].ensure_source(remote, name)
        sourced = dataclasses.replace(remote, channels={**remote.channels, name: channel})
        return _Done(sourced, lambda session, row: record.source_ensured(row, self.now))

    def _refresh_link(self, change: Change, remote: Remote | None, call: _Call) -> _Done:
        """A pair's first link. The board hands a link out for any job id its `check` lets
        through: once it has handed one to these credentials in this run, the other postings
        that never had one are linked without a call of their own, and each one's link is
        fetched when it is asked for (`links`, the daemon's ``/links/KEY``), as every later
        link is. A pair whose own link failed is always asked for on its own."""
        if self._handed is not None and change.reason == FIRST_LINK:
            return _Done(remote, _no_row, audit=False, logged={"as_for": self._handed},
                         held=lambda outcomes: record.linked_values(self.now))
        posting = self.postings[change.posting].on_board(change.provider)
        with self._timed(call):
            link = self.connectors[change.provider].link(posting)
        self._handed = change.posting

        def held(outcomes: Held) -> dict[str, Any]:
            outcomes.links[change.posting] = record.link_values(link, self.now)
            return record.linked_values(self.now)

        return _Done(remote, _no_row, held=held)

    # -- outcomes ---------------------------------------------------------------------------

    def _succeeded(self, change: Change, done: _Done, call: _Call, resolution: str, *, last: bool) -> None:
        """Record a change that succeeded, in one transaction: its binding, the audit row,
        the drift it healed (as `resolution`), and — after the pair's `last` change — the
        pair's clean slate. A create's or a link's is held for the board's next transaction;
        any other is committed now (a next run must not take the change for a hand edit)."""
        applied_hash = self._applied_hash(change.pair) if last else None
        if done.held is not None:
            converged = record.converged_values(applied_hash, self.now) if last else {}
            self._hold(change, done, call, resolution, converged)
        else:
            with self._write() as session:
                row = record.binding(session, change.pair, self.now)
                done.write(session, row)
                if last:
                    record.converged(row, applied_hash, self.now)
                if done.audit:
                    self._audit(session, change, call)
                if change.heals:
                    record.resolve_drift(session, change.pair, change.heals, resolution, self.now)
        self.report.done[change.action.value] += 1
        if done.remote is not None:
            self.report.answered.setdefault(change.provider, {})[done.remote.remote_id] = done.remote
        log.info("change_applied", provider=change.provider, posting=change.posting,
                 action=change.action.value, **done.logged)

    def _hold(self, change: Change, done: _Done, call: _Call, resolution: str, converged: dict[str, Any]) -> None:
        """`_succeeded` for a change whose record waits for the board's next transaction, by
        plain statements (a first sync makes thousands); `converged`: the pair's clean slate
        after its last change."""
        assert done.held is not None
        self._held.binding(change.posting, done.held(self._held) | converged)
        if done.audit:
            self._held.audits.append(self._audit_row(change, call))
        if change.heals:
            heals, pair, now = change.heals, change.pair, self.now
            self._held.later.append(lambda session: record.resolve_drift(session, pair, heals, resolution, now))
        self._held_one()

    def _applied_hash(self, pair: Pair) -> str | None:
        """The digest of what the pair's board is now in step with: its spec and status."""
        key, provider = pair
        posting = self.postings.get(key)
        spec = self.boards[provider].specs.get(key) if provider in self.boards else None
        if posting is None or spec is None:
            return None
        return record.spec_hash(spec, posting.status.value)

    def _failed(self, change: Change, exc: BaseException, call: _Call) -> None:
        if isinstance(exc, Blocked):
            self._blocked(change, exc, call)
            return
        message = _text(exc)
        bound = log.bind(provider=change.provider, posting=change.posting, action=change.action.value)
        with self._write() as session:
            row = record.binding(session, change.pair, self.now)
            if change.action is Action.REFRESH_LINK and row.last_error is None:  # told once per failing streak
                add_event(session, events.link_failing(change.posting, change.provider, message), self.now,
                          run_id=self.run_id)
            record.failed(row, message, self.now)
            if isinstance(exc, Rejected):
                record.blocked(session, row, exc.reason, "rejected", exc.fields, self.now, run_id=self.run_id)
                self.report.blocked.append(BlockedItem(
                    change.provider, change.posting, exc.reason, gate="rejected", fields=dict(exc.fields)))
            # An unknown outcome is settled next run, not retried; a wait asked is kept for the board.
            if not isinstance(exc, (Ambiguous, WaitAsked)):
                record.backed_off(row, backoff, self.now)
            self._audit(session, change, call, exc)
        bound.warning("change_failed", error=message, unknown=isinstance(exc, Ambiguous))
        self.report.failed.append(BoardError(change.provider, message, change.posting, change.action.value))

    def _blocked(self, change: Change, exc: Blocked, call: _Call | None) -> None:
        """The pair blocked by `exc`: met by its `call`, or, with None, by a company-wide gate
        met earlier in the run (nothing was sent)."""
        fields = dict(getattr(exc, "fields", {}) or {})
        with self._write() as session:
            row = record.binding(session, change.pair, self.now)
            record.blocked(session, row, exc.reason, exc.gate, fields, self.now, run_id=self.run_id)
            if call is not None:
                self._audit(session, change, call, exc)
        if call is not None and exc.company_wide:
            self.gate = exc
        log.warning("change_blocked", provider=change.provider, posting=change.posting, gate=exc.gate,
                    company_wide=exc.company_wide, called=call is not None)
        self.report.blocked.append(BlockedItem(change.provider, change.posting, exc.reason, gate=exc.gate, fields=fields))

    # -- the audit log ----------------------------------------------------------------------

    @contextmanager
    def _timed(self, call: _Call) -> Iterator[None]:
        """Time one call and catch its HTTP status into `call`, for the audit row written after it."""
        connector = self.connectors[self.provider]
        connector.forget_status()
        started = time.monotonic()
        try:
            yield
        finally:
            call.ms, call.status = int((time.monotonic() - started) * 1000), connector.last_status()

    def _audit(self, session: Session, change: Change, call: _Call, exc: BaseException | None = None) -> None:
        record.audits_written(session, [self._audit_row(change, call, exc)])

    def _audit_row(self, change: Change, call: _Call, exc: BaseException | None = None) -> dict[str, Any]:
        return record.audit_row(
            self.run_id, change.pair, change.action.value, self.now, ok=exc is None,
            http_status=getattr(exc, "status", None) or call.status, error_code=getattr(exc, "code", None),
            message=_text(exc) if exc is not None else _fields_sent(change), duration_ms=call.ms,
        )


def _fields_sent(change: Change) -> str | None:
    """What a change that went through carried, for the posting's story (`boardsync log`)."""
    if change.action is Action.UPDATE and change.diffs:
        return "fields: " + ", ".join(d.field for d in change.diffs)
    return None


@dataclass
class _Call:
    """One call to a board as its audit row tells it: how long it took, the HTTP status."""

    ms: int = 0
    status: int | None = None


Write = Callable[[Session, Binding], None]
"""What a pair's binding records of a change that succeeded (through `record`)."""


@dataclass(frozen=True)
class _Done:
    """A change the board carried out: the job as it is now, what to record of it, and the
    changes that follow from it."""

    remote: Remote | None
    write: Write
    then: tuple[Change, ...] = ()
    """Changes to make next for the same pair: the sources a create did not make."""
    audit: bool = True
    """Whether a call was made (an adoption makes none)."""
    logged: Mapping[str, Any] = field(default_factory=dict)
    held: Callable[[Held], dict[str, Any]] | None = None
    """Instead of `write`, for a change whose record waits for the board's next transaction:
    holds what it leaves besides its binding, and returns what to set on the binding."""


def _no_row(session: Session, row: Binding) -> None:
    """The `write` of a change whose binding is written from its `_Done.held`."""


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
