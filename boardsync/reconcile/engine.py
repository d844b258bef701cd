"""The run: load → observe → look up → settle → plan → record → safety → apply → finish.

`reconcile`, `plan` and `collect_metrics` are the three entry points; the command line and
the daemon both call them. A reconcile or metrics run is recorded (`_Run.recorded`: its row
begun, then finished, or failed when anything escapes). A plan, and a dry run, write nothing
at all: no run row, no observation, no settled intent, no kept wait; so they run beside a
writer at any time, on a read-only store. The caller owns the connectors and the store, and
holds the state database's writer lock while a run writes (see `boardsync.daemon.lock`).

A plan may be made against recorded reads of the boards (a snapshot: `recorded`) instead of
the boards themselves: the same steps, with observation taken from the records.
"""

from __future__ import annotations

import subprocess
import threading
from collections import Counter
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlmodel import col, select

from boardsync.config.loader import Desired
from boardsync.config.model import NotifyTarget, Posting, parse_duration
from boardsync.connectors import calls as call_log
from boardsync.connectors.base import Connector, Remote, Spec
from boardsync.errors import ConfigError, ProviderError, UnsafePlan, no_such_posting
from boardsync.log import get_logger
from boardsync.memory import give_back
from boardsync.reconcile import events, journal, pace, record, saved, verdict
from boardsync.reconcile.apply import Applier, ApplyReport, Progress
from boardsync.reconcile.compared import Compared
from boardsync.reconcile.lookup import look_up_unlisted
from boardsync.reconcile.model import (
    DEFAULT_HORIZON,
    Action,
    BlockedItem,
    Board,
    BoardError,
    BoardView,
    Change,
    Known,
    Outcome,
    Pair,
    PairState,
    Plan,
    Renamed,
    RunResult,
    Scope,
    SnapshotAge,
)
from boardsync.reconcile.observe import observe, observe_recorded
from boardsync.reconcile.planner import plan_changes
from boardsync.reconcile.safety import check_safety
from boardsync.reconcile.saved import SavedPlan
from boardsync.reconcile.upcoming import upcoming
from boardsync.reconcile.waits import BoardWaits
from boardsync.state import Binding, Store

log = get_logger(__name__)

Clock = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(UTC)


# ------------------------------------------------------------------------------ entry points


def reconcile(
    desired: Desired,
    store: Store,
    connectors: Mapping[str, Connector],
    *,
    dry_run: bool = False,
    force: bool = False,
    postings: Collection[str] | None = None,
    providers: Collection[str] | None = None,
    trigger: str = "command",
    stop: threading.Event | None = None,
    progress: Progress | None = None,
    clock: Clock = _utcnow,
    saved_plan: SavedPlan | None = None,
) -> RunResult:
    """Make the boards match `desired`. With `dry_run`, plan only, writing nothing (as `plan`).
    `force` applies a plan the safety check refused. `postings` and `providers` narrow the run.
    `clock` is the run's notion of now (backoff, link expiry, drift times); tests move it
    instead of sleeping. With `saved_plan`, the run plans as usual, refuses when that plan
    is stale (`saved.refusal`), else applies only its pairs, in its scope."""
    if saved_plan is not None:
        postings, providers = saved_plan.scope.postings, saved_plan.scope.providers
    with _Run.recorded(desired, store, connectors, "reconcile", trigger, postings, providers, clock,
                       read_only=dry_run) as run:
        boards, known, result = run.observe_and_plan(stop, force=force)
        if not force:
            result = run.checked(result, boards, known)
        left = 0
        if saved_plan is not None:  # compared before anything is sent; its refusal says more than the check's
            stale = saved.refusal(saved_plan, result)
            if stale:
                log.warning("saved_plan_refused", run=run.id, reason=stale)
                result = replace(result, refused=stale)
            elif not result.refused:
                result, left = saved.only_saved(result, saved_plan)
        if dry_run or result.refused:
            return run.finish_planned(result)
        assert run.id is not None
        report = Applier(
            store, run.connectors, boards, {p.key: p for p in run.postings},
            run_id=run.id, now=run.now, stop=stop, progress=progress, waits=run.waits,
        ).apply(result)
        report.skipped += left  # planned for pairs the saved plan does not touch: the next run's
        record.views_answered(store, boards, report.answered, run.clock())
        return run.finish(result, report=report)


def plan(
    desired: Desired,
    store: Store,
    connectors: Mapping[str, Connector],
    *,
    postings: Collection[str] | None = None,
    providers: Collection[str] | None = None,
    trigger: str = "command",
    clock: Clock = _utcnow,
    recorded: Mapping[str, BoardView] | None = None,
    snapshot: SnapshotAge | None = None,
    horizon: timedelta = DEFAULT_HORIZON,
) -> RunResult:
    """Observe and plan; nothing is written, to a board or to the state: the store may be
    read-only. Lost creates are looked up as a run would, and one found shows as an
    adoption. With `recorded`, the boards are not called: each is planned against its
    recorded read (a snapshot, whose age `snapshot` gives and the plan carries). The
    result's plan carries the safety check's refusal, if any (`Plan.refused`), and its
    outcome says what a real run would end in (refused, or whether the boards match). Its
    upcoming items reach `horizon` ahead."""
    with _Run.recorded(desired, store, connectors, "plan", trigger, postings, providers, clock,
                       read_only=True, recorded=recorded, horizon=horizon) as run:
        boards, known, result = run.observe_and_plan(None)
        result = replace(result, snapshot=snapshot)
        result = run.checked(result, boards, known)
        return run.finish_planned(result)


def collect_metrics(
    desired: Desired,
    store: Store,
    connectors: Mapping[str, Connector],
    *,
    providers: Collection[str] | None = None,
    trigger: str = "schedule",
    clock: Clock = _utcnow,
) -> RunResult:
    """Read visits and applicants from every board that has them (or those of `providers`)
    and record the counters that changed. Costs each board's observe reads plus one
    applicants read."""
    with _Run.recorded(desired, store, connectors, "metrics", trigger, None, providers, clock) as run:
        readers = {n: c for n, c in run.connectors.items() if c.SUPPORTS_JOBS}
        boards = observe(run.postings, readers, render=False, waits=run.waits)
        errors = [BoardError(n, b.error) for n, b in boards.items() if b.error]
        written = 0
        for name, board in boards.items():
            if board.error is not None:
                continue
            try:
                applicants = board.connector.applicants() if board.connector.SUPPORTS_CHANNELS else {}
            except ProviderError as exc:
                errors.append(BoardError(name, exc.detail))
                applicants = {}
            written += record.record_metrics(store, board, applicants, run.now)
        return run.finish_metrics(errors, written)


# ------------------------------------------------------------------------------ one run


@dataclass
class _Run:
    desired: Desired
    store: Store
    connectors: dict[str, Connector]
    postings: tuple[Posting, ...]
    """The postings in scope as they are at `now`: a publish_at still ahead makes a draft, a
    close_at passed a closed posting (`Posting.as_of`)."""
    scope: frozenset[str] | None
    kind: str
    trigger: str
    clock: Clock
    now: datetime
    id: int | None
    """The run's row; None for a run that writes nothing (a plan, a dry run)."""
    waits: BoardWaits
    reads: Mapping[str, BoardView] | None = None
    """Recorded reads to plan against instead of reading the boards (a snapshot)."""
    given: Scope = Scope()
    """The --posting and --provider the run was narrowed to, as given."""
    settled_adoptions: int = 0
    """Lost creates of earlier runs found on the board and bound by this run."""
    renames: Mapping[str, str] = field(default_factory=dict)
    """Old key → new of the renames a read-only run reads the state through (a run that
    writes moves the state first, and reads it as it is)."""
    calls: call_log.CallLog = field(default_factory=call_log.CallLog)
    """The requests sent to the boards, noted at the HTTP seam and written with the run's
    rows (a run that writes nothing notes nothing)."""
    written: tuple[Posting, ...] = ()
    """The postings in scope as written, for what is upcoming."""
    horizon: timedelta = DEFAULT_HORIZON
    """How far ahead the plan's upcoming items reach."""

    @property
    def read_only(self) -> bool:
        return self.id is None

    def observe_and_plan(
        self, stop: threading.Event | None, *, force: bool = False
    ) -> tuple[dict[str, Board], Known, Plan]:
        """`force` reads bound jobs missing from a list by id even when the list is not believed.
        A read-only run records nothing of what it saw."""
        renamed = self._renamed()
        boards = self._observed(stop, force=force)
        settlement = journal.settle(self.store, boards, self.id, self.now, scope=self.scope,
                                    write=not self.read_only, renames=self.renames, ask=self.reads is None)
        self.settled_adoptions = settlement.adopted
        known = record.load_known(
            self.store, list(boards), self.now, frozenset(settlement.unsettled), settlement.candidates,
            renames=self.renames,
        )
        known = _with_adoptions(known, settlement.would_adopt)
        result = plan_changes(
            self.postings, boards, known, self.desired.root.policy, self.now,
            scope=self.scope, digest=self.desired.digest,
            compared=Compared(self.desired.posting_digests, self.desired.root_digest),
        )
        coming = upcoming(self.written, boards, known, self.desired.root.policy, self.now, self.horizon)
        result = replace(_showing_adoptions(result, settlement.would_adopt), renamed=renamed, upcoming=coming,
                         horizon=self.horizon)
        result = replace(result, observed=saved.observed(result, boards, known), scope=self.given,
                         posting_digests=self.desired.posting_digests,
                         root_digest=self.desired.root_digest)
        boards = _rendered_only_where_planned(boards, result)
        if not self.read_only:
            record.record_observation(self.store, boards, result, self.postings, self.now, scope=self.scope,
                                      run_id=self.id, calls=self.calls.take(),
                                      expiring_within=self._expiring_within())
            give_back()  # the rows recording read and wrote are freed: their pages go back
        return boards, known, result

    def _renamed(self) -> tuple[Renamed, ...]:
        """The postings renamed (``previous_keys``) since the last run: a run that writes moves
        their state to the new key before anything else; a read-only one reads it as moved."""
        renamed = record.pending_renames(self.store, self.desired.postings)
        if renamed and self.id is not None:
            record.renamed(self.store, self.id, renamed, self.now)
        elif renamed:
            self.renames = {r.old: r.new for r in renamed}
        return renamed

    def _observed(self, stop: threading.Event | None, *, force: bool) -> dict[str, Board]:
        """Each board read, and the bound jobs its list left out read by id; or, against a
        snapshot, each board as its recorded read (after its look-ups) showed it."""
        if self.reads is not None:
            return observe_recorded(self.postings, self.connectors, self.reads)
        boards = observe(self.postings, self.connectors, stop=stop, waits=self.waits)
        return look_up_unlisted(
            boards, record.bound_jobs(self.store, list(boards), renames=self.renames), self.desired.root.policy,
            scope=self.scope, force=force, stop=stop,
        )

    def checked(self, plan: Plan, boards: Mapping[str, Board], known: Known) -> Plan:
        """The plan with the safety check's refusal written into it, if it refuses."""
        try:
            check_safety(plan, boards, known, self.desired.root.policy)
        except UnsafePlan as exc:
            log.warning("plan_refused", run=self.id, reason=str(exc))
            return replace(plan, refused=str(exc))
        return plan

    @classmethod
    @contextmanager
    def recorded(
        cls,
        desired: Desired,
        store: Store,
        connectors: Mapping[str, Connector],
        kind: str,
        trigger: str,
        postings: Collection[str] | None,
        providers: Collection[str] | None,
        clock: Clock,
        *,
        read_only: bool = False,
        recorded: Mapping[str, BoardView] | None = None,
        horizon: timedelta = DEFAULT_HORIZON,
    ) -> Iterator[_Run]:
        """A run begun (its row written), and recorded as failed if anything escapes it;
        with `read_only`, a run that writes nothing, not even its row."""
        chosen = _choose_connectors(desired, connectors, providers)
        scope = _choose_postings(desired, store, postings)
        written = tuple(p for p in desired.postings if scope is None or p.key in scope)
        now = clock()
        selected = tuple(p.as_of(now) for p in written)
        run_id = None if read_only else record.start_run(
            store, kind=kind, trigger=trigger, digest=desired.digest, commit=desired.commit or config_commit(desired.path),
            now=now,
        )
        log.info("run_started", run=run_id, kind=kind, trigger=trigger, boards=sorted(chosen), postings=len(selected),
                 read_only=read_only, snapshot=recorded is not None)
        waits = BoardWaits(store, clock, keep=not read_only)
        run = cls(desired, store, chosen, selected, scope, kind, trigger, clock, now, run_id, waits, recorded,
                  given=saved.scope(postings, providers), written=written, horizon=horizon)
        try:
            with call_log.recording(None if read_only else run.calls), \
                    pace.shared(store, chosen, keep=not read_only and recorded is None):
                yield run
        except BaseException as exc:
            run._crashed(exc)
            raise

    def _crashed(self, exc: BaseException) -> None:
        """Record the run as failed on an unexpected error; the caller re-raises it."""
        text = f"{type(exc).__name__}: {exc}"[:500]
        log.error("run_crashed", run=self.id, kind=self.kind, error=text)
        if self.id is None:
            return
        record.finish_run(self.store, self.id, outcome="failed", counts={}, boards={}, error=text, now=self.clock(),
                          calls=self.calls.take())

    def finish_planned(self, plan: Plan) -> RunResult:
        """Finish a run that applies nothing (a plan, a dry run, a refused run)."""
        return self.finish(plan, outcome=self._planned_outcome(plan), error=plan.refused)

    def _planned_outcome(self, plan: Plan) -> Outcome:
        """For a plan, a dry run or a refused run: failed when no board could be read,
        refused when the safety check says no, partial when some board could not be read or
        pairs are blocked, pending with changes to make, drifted when the policy leaves a
        difference, else converged."""
        if self.connectors and len(plan.errors) >= len(self.connectors):
            return "failed"
        if plan.refused:
            return "refused"
        if plan.errors or plan.blocked:
            return "partial"
        if not plan.empty:
            return "pending"
        return "drifted" if verdict.boards_left_apart(plan) else "converged"

    def finish(
        self, plan: Plan, *, outcome: Outcome | None = None, report: ApplyReport | None = None,
        error: str | None = None,
    ) -> RunResult:
        applied = report is not None
        boards = self._board_outcomes(plan, report or ApplyReport(), applied=applied)
        report = report or ApplyReport()
        if outcome is None:
            outcome = _applied_outcome(boards, report)
        done = report.done + Counter({Action.ADOPT.value: self.settled_adoptions})
        counts = {
            **dict(done),
            "failed": len(report.failed),
            "blocked": len(plan.blocked) + len(report.blocked),
            "drift": len(plan.drift),
            "removed": len(plan.removed),
            "errors": len(plan.errors),
            "skipped": report.skipped,
            "given_up": len(report.given_up),
            "pending": len(plan.board_changes) if outcome in ("pending", "refused") else 0,
        }
        errors = (*plan.errors, *report.given_up, *report.failed)
        apart = verdict.not_in_sync(plan, pending=not applied, failed=report.failed,
                                    blocked=report.blocked, skipped=report.skipped)
        return self._close(outcome, counts, boards, errors, plan, error, (*plan.blocked, *report.blocked), apart)

    def finish_metrics(self, errors: list[BoardError], written: int) -> RunResult:
        boards = {name: "converged" for name in self.connectors if self.connectors[name].SUPPORTS_JOBS}
        boards |= {e.provider: "failed" for e in errors}
        outcome: Outcome = "converged" if not errors else ("failed" if len(errors) >= len(boards) else "partial")
        return self._close(outcome, {"samples": written, "failed": len(errors)}, boards, tuple(errors), None, None)

    def _close(
        self, outcome: Outcome, counts: Mapping[str, int], boards: Mapping[str, str],
        errors: tuple[BoardError, ...], plan: Plan | None, error: str | None,
        blocked: tuple[BlockedItem, ...] = (),
        not_in_sync: tuple[str, ...] = (),
    ) -> RunResult:
        finished = self.clock()
        if self.id is not None:
            told = [events.refused(plan.refused, self.id)] if plan is not None and plan.refused else []
            record.finish_run(self.store, self.id, outcome=outcome, counts=counts, boards=boards,
                              error=error or _first_error(errors), now=finished, calls=self.calls.take(),
                              told=told, outages=self._outages(plan))
        result = RunResult(
            run_id=self.id, kind=self.kind, trigger=self.trigger, outcome=outcome, counts=dict(counts),
            plan=plan, errors=errors, started_at=self.now, finished_at=finished, boards=dict(boards), error=error,
            blocked=blocked, not_in_sync=not_in_sync,
        )
        log.info("run_finished", run=self.id, kind=self.kind, outcome=outcome,
                 duration_s=round(result.duration, 3), summary=result.summary())
        return result

    def _expiring_within(self) -> timedelta | None:
        """How far ahead a job's expiry is told: the longest `days` of the targets told of
        `expiring`; None when no target is, or when an expired job is reposted anyway."""
        root = self.desired.root
        days = [t.days for t in root.notify if "expiring" in t.events]
        if not days or root.policy.repost_expired:
            return None
        return timedelta(days=max(days))

    def _outages(self, plan: Plan | None) -> record.Outages | None:
        """The boards a reconcile run read and those it could not, for the outage they tell;
        None for a run that read no board itself (metrics keep no outage, a snapshot read none)."""
        if self.kind != "reconcile" or plan is None or self.reads is not None:
            return None
        failed = {e.provider: e.message for e in plan.errors if e.posting is None and e.provider in self.connectors}
        read = [name for name in self.connectors if name not in failed]
        return record.Outages(read, failed, self.now, down_after(self.desired.root.notify))

    def _board_outcomes(self, plan: Plan, report: ApplyReport, *, applied: bool) -> dict[str, str]:
        troubled = report.troubled() | {b.provider for b in plan.blocked}
        if report.stopped:  # a board given up is troubled by itself; a stop leaves every board short
            troubled |= set(self.connectors)
        if not applied:  # a plan, a dry run or a refusal: boards with changes are pending
            waiting = {c.provider for c in plan.board_changes}
        else:
            waiting = set()
        failed = {e.provider for e in plan.errors}
        apart = verdict.boards_left_apart(plan)

        def outcome(name: str) -> str:
            if name in failed:
                return "failed"
            if name in troubled:
                return "partial"
            if name in waiting:
                return "pending"
            return "drifted" if name in apart else "converged"

        return {name: outcome(name) for name in self.connectors}


def _rendered_only_where_planned(boards: Mapping[str, Board], plan: Plan) -> dict[str, Board]:
    """Each board holding the payloads of the pairs `plan` changes or finds drift on, and no
    others: applying reads a change's and recording a drift's. Planning rendered each and
    kept none (`observe.Rendered`); these are rendered again, once, so that applying sends
    the payloads planned even where a write teaches the connector something new."""
    planned = {c.pair for c in plan.changes} | {d.pair for d in plan.drift}
    return {name: board.with_specs(_payloads(board, planned)) for name, board in boards.items()}


def _payloads(board: Board, pairs: Collection[Pair]) -> dict[str, Spec]:
    """The payloads of `pairs` on `board`, rendered once more; none for a posting the board
    refuses (a change planned for it comes from what the board showed, not from a payload)."""
    kept = {}
    for key in board.specs:
        if (key, board.name) in pairs:
            payload = board.payload(key)
            if not isinstance(payload, tuple):
                kept[key] = payload
    return kept


def _with_adoptions(known: Known, found: Mapping[Pair, tuple[Remote, Mapping[str, Any] | None]]) -> Known:
    """`known` with each lost create a plan found bound as settling it would bind it
    (`record.recovered`), so the plan goes on from there as the run would."""
    if not found:
        return known
    bound = {
        pair: PairState(remote_id=remote.remote_id, applied_status=remote.status,
                        applied_spec=dict(remote.spec if sent is None else sent))
        for pair, (remote, sent) in found.items()
    }
    return replace(known, bindings={**known.bindings, **bound})


def _showing_adoptions(plan: Plan, found: Mapping[Pair, tuple[Remote, Mapping[str, Any] | None]]) -> Plan:
    """The plan with an adoption first for each lost create found: a run binds it before
    anything else of its pair."""
    if not found:
        return plan
    adoptions = tuple(
        Change(provider, key, Action.ADOPT, "the job of an earlier create whose answer was lost",
               remote_id=remote.remote_id)
        for (key, provider), (remote, _) in sorted(found.items())
    )
    return replace(plan, changes=(*adoptions, *plan.changes))


DOWN_AFTER = timedelta(minutes=30)
"""How long a board must be unreadable before it is told, when no target says (`after`)."""


def down_after(targets: Sequence[NotifyTarget]) -> timedelta:
    """The shortest `after` of the targets told of board_down: one outage is one event."""
    afters = [parse_duration(t.after) for t in targets if "board_down" in t.events]
    return min(afters, default=DOWN_AFTER)


def _applied_outcome(boards: Mapping[str, str], report: ApplyReport) -> Outcome:
    if boards and all(v == "failed" for v in boards.values()):
        return "failed"
    if report.skipped or any(v not in ("converged", "drifted") for v in boards.values()):
        return "partial"
    return "drifted" if "drifted" in boards.values() else "converged"


def _first_error(errors: tuple[BoardError, ...]) -> str | None:
    return str(errors[0])[:500] if errors else None


# ------------------------------------------------------------------------------ scope


def _choose_connectors(
    desired: Desired, connectors: Mapping[str, Connector], providers: Collection[str] | None
) -> dict[str, Connector]:
    configured = [name for name in desired.root.providers.names() if name in connectors]
    if providers is None:
        return {name: connectors[name] for name in configured}
    unknown = sorted(set(providers) - set(configured))
    if unknown:
        raise ConfigError(
            f"--provider {', '.join(unknown)}: not a configured board (configured: {', '.join(configured) or 'none'})"
        )
    return {name: connectors[name] for name in configured if name in providers}


def _choose_postings(desired: Desired, store: Store, postings: Collection[str] | None) -> frozenset[str] | None:
    """The --posting filter; a key may also name a posting removed from the source that the
    state still binds (to prune it alone)."""
    if postings is None:
        return None
    wanted = frozenset(postings)
    known = {p.key for p in desired.postings}
    missing = wanted - known
    if missing:
        with store.session() as session:
            bound = set(session.exec(select(Binding.posting_key).where(col(Binding.posting_key).in_(missing))).all())
        if missing - bound:
            raise no_such_posting(missing - bound, known, option="--posting")
    return wanted


def config_commit(root_file: Path) -> str | None:
    """The git commit of the folder holding the root file, when it is in a git work tree."""
    try:
        done = subprocess.run(
            ["git", "-C", str(Path(root_file).resolve().parent), "rev-parse", "--verify", "-q", "HEAD"],
            capture_output=True, text=True, timeout=5, check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = done.stdout.strip()
    return commit if done.returncode == 0 and len(commit) >= 40 else None
