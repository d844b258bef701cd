"""The intent journal: what makes a create safe against a lost answer or a killed process.

Before a create is sent, an intent row is committed (pending), then marked in_flight just
before the call. The call's answer settles it: succeeded, failed, or — when the answer was
lost — unknown. An intent still in_flight when a run starts belongs to a process that died
mid-call (only one run writes at a time): it is unknown too.

An unknown create is never resent. The next run looks it up (`settle`): on the board's own
handle (a slug, from what `observe` already read) or with the connector's `find`. Found: the
job is adopted. Not found: the create never happened, the intent is failed, and the planner
may create again. If the lookup itself fails, the pair stays unsettled and nothing is
created for it in this run.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import structlog

from boardsync.config.model import Posting
from boardsync.connectors.base import Connector, Remote
from boardsync.errors import ProviderError
from boardsync.reconcile.model import CREATES, Change, Pair
from boardsync.reconcile.planner import Board
from boardsync.reconcile.record import bind_remote, binding, resolve_drift
from boardsync.reconcile.record import open_intents as unsettled_intents
from boardsync.state import Intent, Store

log = structlog.get_logger(__name__)


def open_intents(
    store: Store, run_id: int, creates: Sequence[tuple[Change, Mapping[str, Any]]], now: datetime
) -> dict[Pair, int]:
    """Commit a pending intent for each create, with the payload it will send; the intent
    id per pair. One transaction: the run's journal is written before its first call."""
    with store.write() as session:
        rows = [
            Intent(run_id=run_id, posting_key=c.posting, provider=c.provider, action=c.action.value,
                   state="pending", spec=dict(spec), created_at=now, updated_at=now)
            for c, spec in creates
        ]
        session.add_all(rows)
        session.flush()
        return {(row.posting_key, row.provider): row.id for row in rows if row.id is not None}


def mark(store: Store, intent_id: int, state: str, now: datetime, *, remote_id: str | None = None,
         error: str | None = None) -> None:
    with store.write() as session:
        _set(session.get(Intent, intent_id), state, now, remote_id=remote_id, error=error)


def close_unsent(store: Store, intent_ids: Iterable[int], now: datetime) -> None:
    """Mark failed every one of `intent_ids` still pending: its create was never sent."""
    with store.write() as session:
        for intent_id in intent_ids:
            intent = session.get(Intent, intent_id)
            if intent is not None and intent.state == "pending":
                _set(intent, "failed", now, error="never sent")


def succeed(session: Any, intent_id: int, remote_id: str, now: datetime) -> None:
    """Mark an intent succeeded inside the caller's transaction (with the binding it made)."""
    _set(session.get(Intent, intent_id), "succeeded", now, remote_id=remote_id)


def _set(intent: Intent | None, state: str, now: datetime, *, remote_id: str | None = None,
         error: str | None = None) -> None:
    if intent is None:
        return
    intent.state, intent.updated_at = state, now
    if remote_id is not None:
        intent.remote_id = remote_id
    if error is not None:
        intent.error = error


def settle(
    store: Store,
    boards: Mapping[str, Board],
    postings: Mapping[str, Posting],
    connectors: Mapping[str, Connector],
    run_id: int,
    now: datetime,
) -> frozenset[Pair]:
    """Settle every open intent of earlier runs for these boards and postings; the pairs
    whose outcome is still unknown afterwards."""
    unsettled: set[Pair] = set()
    for intent in unsettled_intents(store, list(boards), before_run=run_id):
        pair = (intent.posting_key, intent.provider)
        if intent.posting_key not in postings:
            continue  # outside this run's postings; settled by a run that includes it
        board = boards[intent.provider]
        if board.error is not None or not _settle_one(store, intent, board, postings[intent.posting_key],
                                                       connectors[intent.provider], now):
            unsettled.add(pair)
    return frozenset(unsettled)


def _settle_one(store: Store, intent: Intent, board: Board, posting: Posting, connector: Connector,
                now: datetime) -> bool:
    """True when the intent is settled now."""
    bound = log.bind(provider=intent.provider, posting=intent.posting_key, intent=intent.id)
    if intent.action not in {a.value for a in CREATES}:
        _finish(store, intent, "failed", now, error="settled by observing the board")
        return True
    if intent.state == "pending":  # committed, but the call was never made
        _finish(store, intent, "failed", now, error="never sent")
        return True
    try:
        found = _named_by_board(board, intent.posting_key) or connector.find(posting, intent.spec or {})
    except ProviderError as exc:
        bound.warning("intent_lookup_failed", error=str(exc))
        return False
    if found is None:
        bound.info("intent_settled", outcome="not_created")
        _finish(store, intent, "failed", now, error="not found on the board: the create did not happen")
        return True
    bound.info("intent_settled", outcome="adopted", remote_id=found.remote_id)
    _adopt(store, intent, found, now)
    return True


def _named_by_board(board: Board, key: str) -> Remote | None:
    """The object the board itself says belongs to the posting, from what observe read."""
    return next((r for r in board.remotes.values() if r.posting_key == key), None)


def _adopt(store: Store, intent: Intent, remote: Remote, now: datetime) -> None:
    with store.write() as session:
        row = binding(session, (intent.posting_key, intent.provider), now)
        bind_remote(row, remote, intent.spec, now)
        row.last_error = None
        resolve_drift(session, (intent.posting_key, intent.provider), ["status"], "corrected", now)
        _set(session.get(Intent, intent.id), "succeeded", now, remote_id=remote.remote_id,
             error="adopted after a lost answer")


def _finish(store: Store, intent: Intent, state: str, now: datetime, *, error: str) -> None:
    assert intent.id is not None
    mark(store, intent.id, state, now, error=error)
