"""The intent journal: what makes a create safe against a lost answer or a killed process.

Before a create is sent, an intent row is committed (pending), then marked in_flight before
the call. The call's answer settles it: succeeded, failed, or — when the answer was lost —
unknown. An intent still in_flight when a run starts belongs to a process that died before
it wrote the create's outcome (only one run writes at a time): it is unknown too.

Every create of a run is journaled pending in one transaction before the first call. A
board's creates are then marked in_flight a batch at a time (`launched`): one transaction
before the first create of the batch is sent, so each create is in flight, durably, before
its call, and a board's thousand creates commit a few dozen times instead of a thousand. A
create marked in flight may not have been sent when the process dies: the next run looks it
up like any other (and finds nothing: the pair is free to create); a run that ends normally
marks those never sent failed (`unsent`). What the creates that succeeded made (the
binding, the intent succeeded) is held in memory and written with the board's next
transaction, at the latest with the next batch's marks: a process that dies first leaves
those creates in_flight, which the next run settles below exactly as lost answers.

An unknown create is never resent. The next run looks it up (`settle`) among what `observe`
already read: by the board's own handle (a slug) or, on a board that keeps no reference of
ours, by identity (the title and place of the payload that was sent; see `identity`), never
taking a job bound to another posting. A board whose list may hide some
statuses (Sorce's, asked for no status) is asked once more for what it did not show, before a
create is taken for never made (`Connector.lost_candidates`). Found: the job is adopted, with
an audit row. Not found: the create never happened, the intent is failed, and the planner may
create again. Several candidates, or a board that could not be read (or whose list is not
believed): the pair stays unsettled and nothing is created for it in this run. A posting
removed from the source since is settled all the same, so its job is bound and reported.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from boardsync.connectors.base import Remote
from boardsync.errors import ProviderError
from boardsync.reconcile.identity import FreeJobs
from boardsync.log import get_logger
from boardsync.reconcile import record
from boardsync.reconcile.model import CREATES, Action, Board, Change, Pair
from boardsync.reconcile.planner import STATUS
from boardsync.state import Intent, IntentState, Store

log = get_logger(__name__)


INTENTS = Intent.__table__  # type: ignore[attr-defined]
"""The table itself: the journal writes it with plain statements, one row each, never
through loaded objects (a first sync writes thousands)."""
_INTENT = sa.update(INTENTS).where(INTENTS.c.id == sa.bindparam("b_id"))
"""An intent's columns set from the parameters beside its ``b_id``: compiled once."""


def intend(
    store: Store, run_id: int, creates: Sequence[tuple[Change, Mapping[str, Any]]], now: datetime
) -> dict[Pair, int]:
    """Commit a pending intent for each create, with the payload it will send; the intent
    id per pair. One transaction: the run's journal is written before its first call."""
    rows = [
        {"run_id": run_id, "posting_key": c.posting, "provider": c.provider, "action": c.action.value,
         "state": IntentState.PENDING.value, "spec": dict(spec), "created_at": now, "updated_at": now}
        for c, spec in creates
    ]
    with store.write() as session:
        if rows:
            session.execute(sa.insert(INTENTS), rows)
        written = session.execute(
            sa.select(INTENTS.c.id, INTENTS.c.posting_key, INTENTS.c.provider)
            .where(INTENTS.c.run_id == run_id, INTENTS.c.state == IntentState.PENDING.value)
        ).all()
    return {(key, provider): intent_id for intent_id, key, provider in written}


def mark(store: Store, intent_id: int, state: IntentState, now: datetime, *, remote_id: str | None = None,
         error: str | None = None) -> None:
    with store.write() as session:
        marked(session, intent_id, state, now, remote_id=remote_id, error=error)


def marked(session: Session, intent_id: int, state: IntentState, now: datetime, *, remote_id: str | None = None,
           error: str | None = None) -> None:
    """An intent's new state, inside the caller's transaction."""
    values: dict[str, Any] = {"state": state.value, "updated_at": now}
    if remote_id is not None:
        values["remote_id"] = remote_id
    if error is not None:
        values["error"] = error
    session.execute(_INTENT, {"b_id": intent_id, **values})


def launched(session: Session, intent_ids: Sequence[int], now: datetime) -> None:
    """Mark in_flight, inside the caller's transaction, each of `intent_ids` still pending:
    their creates are about to be sent, one after another."""
    _moved(session, intent_ids, IntentState.PENDING, {"state": IntentState.IN_FLIGHT.value, "updated_at": now})


def unsent(session: Session, intent_ids: Iterable[int], now: datetime) -> None:
    """Mark failed, inside the caller's transaction, each of `intent_ids` marked in_flight
    whose create was never sent after all (the run stopped, the board was given up)."""
    _moved(session, list(intent_ids), IntentState.IN_FLIGHT, _never_sent(now))


def close_unsent(store: Store, intent_ids: Iterable[int], now: datetime) -> None:
    """Mark failed every one of `intent_ids` still pending: its create was never sent."""
    with store.write() as session:
        _moved(session, list(intent_ids), IntentState.PENDING, _never_sent(now))


def _never_sent(now: datetime) -> dict[str, Any]:
    return {"state": IntentState.FAILED.value, "updated_at": now, "error": "never sent"}


def _moved(session: Session, ids: Sequence[int], state: IntentState, values: Mapping[str, Any]) -> None:
    """Set `values` on each of the intents `ids` that is in `state`."""
    for start in range(0, len(ids), record.CHUNK):
        session.execute(
            sa.update(INTENTS)
            .where(INTENTS.c.id.in_(ids[start : start + record.CHUNK]), INTENTS.c.state == state.value)
            .values(**values)
        )


def succeeded(session: Session, created: Sequence[tuple[int, str]], now: datetime) -> None:
    """Mark each intent of `created` (intent id, the job's remote id) succeeded, inside the
    caller's transaction (with the bindings they made)."""
    if created:
        session.connection().execute(_INTENT, [
            {"b_id": intent_id, "state": IntentState.SUCCEEDED.value, "remote_id": remote_id, "updated_at": now}
            for intent_id, remote_id in created
        ])


@dataclass
class Settlement:
    """What settling the open intents of earlier runs left."""

    unsettled: set[Pair] = field(default_factory=set)
    """Pairs whose create's outcome is still unknown: nothing is created for them this run."""
    candidates: dict[Pair, tuple[str, ...]] = field(default_factory=dict)
    """Unsettled pairs with several jobs that could each be the lost create."""
    adopted: int = 0
    """Lost creates found on the board and bound."""
    would_adopt: dict[Pair, tuple[Remote, Mapping[str, Any] | None]] = field(default_factory=dict)
    """Without `write` (a plan): the lost creates found on the board, not bound, with the
    payload each create sent; the plan shows their adoption."""


def settle(
    store: Store,
    boards: Mapping[str, Board],
    run_id: int | None,
    now: datetime,
    *,
    scope: Collection[str] | None = None,
    write: bool = True,
    renames: Mapping[str, str] | None = None,
    ask: bool = True,
) -> Settlement:
    """Settle every open intent of earlier runs on these boards, for the postings in `scope`
    (None: all, including postings gone from the source). Without `write` (a plan), decide
    the same and write nothing: an intent found not created leaves its pair free to create,
    and a job found is kept in `Settlement.would_adopt` instead of bound. `renames` (old key →
    new, for a plan) reads the state as a run will have moved it. Without `ask` (a plan against
    recorded reads, which sends nothing), a board is not asked for the jobs its list did not
    show: what was recorded is all there is to look through."""
    settlement = Settlement()
    intents = [  # outside this run's postings: settled by a run that includes them
        intent for intent in record.unsettled_intents(store, list(boards), before_run=run_id, renames=renames)
        if scope is None or intent.posting_key in scope
    ]
    if not intents:  # the usual run: the jobs bound are read only to settle something
        return settlement
    taken = {
        provider: {job.remote_id: job.posting for job in jobs}
        for provider, jobs in record.bound_jobs(store, list(boards), renames=renames).items()
    }
    unlisted = _Unlisted(ask)
    for intent in intents:
        _settle_one(store if write else None, intent, boards[intent.provider],
                    taken.setdefault(intent.provider, {}), settlement, run_id, now, unlisted)
    return settlement


class _Unlisted:
    """Per board, the jobs a lost create may have made that its list did not show
    (`Connector.lost_candidates`), asked of the board once per settling and only when a lost
    create was not found in the list: whether a list shows every status is not always
    documented, and a create taken for not made is sent again."""

    def __init__(self, ask: bool) -> None:
        self._ask = ask
        """Whether the boards may be asked at all (not in a plan against recorded reads)."""
        self._jobs: dict[str, list[Remote] | ProviderError] = {}

    def of(self, board: Board) -> list[Remote]:
        """The board's jobs its list did not show; the board's error when it could not say."""
        if not self._ask:
            return []
        if board.name not in self._jobs:
            try:
                more = board.connector.lost_candidates()
            except ProviderError as exc:
                self._jobs[board.name] = exc
            else:
                self._jobs[board.name] = [r for r in more if r.remote_id not in board.remotes]
        jobs = self._jobs[board.name]
        if isinstance(jobs, ProviderError):
            raise jobs
        return jobs


def _settle_one(
    store: Store | None, intent: Intent, board: Board, taken: dict[str, str], settlement: Settlement,
    run_id: int | None, now: datetime, unlisted: _Unlisted,
) -> None:
    """Settle one intent; with no `store` (a plan), only decide."""
    pair = (intent.posting_key, intent.provider)
    bound = log.bind(provider=intent.provider, posting=intent.posting_key, intent=intent.id)
    if intent.action not in CREATES:
        _finish(store, intent, IntentState.FAILED, now, error="settled by observing the board")
        return
    if intent.state == IntentState.PENDING:  # committed, but the call was never made
        _finish(store, intent, IntentState.FAILED, now, error="never sent")
        return
    if board.error is not None or board.suspect is not None:
        settlement.unsettled.add(pair)  # what the board holds is not known well enough now
        return
    spec = intent.spec or board.specs.get(intent.posting_key)
    if not spec and not board.connector.NAMES_ITS_POSTINGS:
        bound.warning("intent_without_payload")
        settlement.unsettled.add(pair)  # nothing to recognise the job by
        return
    others = [rid for rid, key in taken.items() if key != intent.posting_key]
    found = FreeJobs.on(board.connector, board.remotes.values(), others).candidates(intent.posting_key, spec or {})
    if not found:  # not in the list: maybe in a status the list hides
        try:
            more = unlisted.of(board)
        except ProviderError as exc:
            bound.warning("intent_unsettled", reason="the jobs the list did not show could not be read", error=str(exc))
            settlement.unsettled.add(pair)  # nothing is created while the create may have happened
            return
        found = FreeJobs.on(board.connector, more, others).candidates(intent.posting_key, spec or {})
    if not found:
        bound.info("intent_settled", outcome="not_created")
        _finish(store, intent, IntentState.FAILED, now, error="not found on the board: the create did not happen")
    elif len(found) > 1:
        bound.warning("intent_ambiguous", candidates=[r.remote_id for r in found])
        settlement.unsettled.add(pair)
        settlement.candidates[pair] = tuple(r.remote_id for r in found)
    else:
        taken[found[0].remote_id] = intent.posting_key
        if store is None:
            settlement.would_adopt[pair] = (found[0], intent.spec)
            return
        assert run_id is not None
        bound.info("intent_settled", outcome="adopted", remote_id=found[0].remote_id)
        _adopt(store, intent, found[0], run_id, now)
        settlement.adopted += 1


def _adopt(store: Store, intent: Intent, remote: Remote, run_id: int, now: datetime) -> None:
    """Bind the job a lost create made, and say so in the audit log like any change."""
    pair = (intent.posting_key, intent.provider)
    with store.write() as session:
        record.recovered(record.binding(session, pair, now), remote, intent.spec, now)
        record.resolve_drift(session, pair, [STATUS], "corrected", now)
        assert intent.id is not None
        marked(session, intent.id, IntentState.SUCCEEDED, now, remote_id=remote.remote_id,
               error="adopted after a lost answer")
        record.audited(session, run_id, pair, Action.ADOPT.value, now, ok=True,
                       message=f"{remote.remote_id}: the job of a create whose answer was lost")


def _finish(store: Store | None, intent: Intent, state: IntentState, now: datetime, *, error: str) -> None:
    assert intent.id is not None
    if store is not None:
        mark(store, intent.id, state, now, error=error)
