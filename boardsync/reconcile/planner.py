"""Planning: the desired postings × what each board has × what the state remembers → a Plan.

Pure: no I/O, no clock (``now`` comes in), nothing written. Board knowledge comes only from
the connector's pure parts (`lifecycle`, the ``SUPPORTS_*`` constants) and from what
`observe` read.

How a difference is judged, field by field, on the part of the field the board shows back
(`Connector.shown_back`): when the desired value is what boardsync last applied, the *board*
changed (an edit by hand) and it is drift, put back only with ``self_heal``; otherwise the
*source* changed and it is simply a change to apply. The part a board takes but does not show
back (Sorce's qualification kinds, budget windows) is compared with what was last applied
instead, so it is sent once when it changes and never again. A field the board has frozen is
drift that is never retried. A job that ended on the board (expired,
closed) while the posting should be live is drift, reposted only with ``repost_expired``.

Never a duplicate: a bound job missing from the board's list is created again only when a read
by id answered that it is gone (`Board.gone`), and before any create the board's free jobs are
searched for one that already is the posting (`identity.FreeJobs`): one is adopted, several
block the pair as ``ambiguous``.

A posting's ignore rules (`Posting.ignored`, in the posting's words, made spec fields by the
connector's `Connector.spec_fields`) take fields out of the comparison once the job exists:
they are sent by a create, never by an update, and a difference in them is counted
(`IgnoredItem`), not drift. A suspended posting is compared like any other, but what would be
done is held (`SuspendedItem`) and its drift only reported; a suspended posting's job that
leaves the source is reported, never closed (`PairState.suspended`).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from boardsync.config.model import Policy, Posting, Status, parse_duration
from boardsync.connectors.base import BoardProblem, Connector, Remote, RemoteStatus, Spec
from boardsync.reconcile.compared import Compared, OnBoard
from boardsync.reconcile.identity import ENDED, FreeJobs
from boardsync.reconcile.model import (
    CREATES,
    Action,
    BlockedItem,
    Board,
    BoardError,
    Change,
    Disposition,
    DriftItem,
    FieldDiff,
    IgnoredItem,
    Known,
    Pair,
    PairState,
    Plan,
    RemovedItem,
    SuspendedItem,
)

LINK_REFRESH_MARGIN = timedelta(minutes=3)
"""A signed link with less time left than this is fetched again when one is asked for. A run
links each pair once, fetching one link for all the pairs it links (`apply`): later links are
fetched when asked for."""
FIRST_LINK = "no signed link yet"
"""Why a pair that never had a link gets one: a link the board handed these credentials in the
same run stands for it (`apply`)."""
LINK_FAILED = "its last link was refused or failed"
"""Why a pair whose own link failed gets one: it is asked for on its own, never stood for."""

STATUS = "status"
"""The drift field for a posting's lifecycle status."""

UNSETTLED = (
    "an earlier create's answer was lost and the job has not been found yet; "
    "it is looked up again before anything is sent"
)


@dataclass(frozen=True)
class PairPlan:
    changes: tuple[Change, ...] = ()
    drift: tuple[DriftItem, ...] = ()
    blocked: tuple[BlockedItem, ...] = ()
    evaluated: bool = True
    ignored: tuple[IgnoredItem, ...] = ()
    suspended: SuspendedItem | None = None


# ------------------------------------------------------------------------------ the planner


def plan_changes(
    postings: Sequence[Posting],
    boards: Mapping[str, Board],
    known: Known,
    policy: Policy,
    now: datetime,
    *,
    scope: Collection[str] | None = None,
    digest: str | None = None,
    compared: Compared | None = None,
) -> Plan:
    """The plan for `postings` on `boards`. `scope` limits which removed postings are looked
    at (None: every posting the state knows). With `compared`, a bound pair whose digest of
    what it compares is the one kept from when it was last found in step is taken as in step
    without comparing it (`compared`), and each pair compared and found in step with another
    goes into `Plan.compared`."""
    pairs: list[tuple[Pair, PairPlan]] = []
    removed: list[RemovedItem] = []
    errors: list[BoardError] = []
    fresh: dict[Pair, str] = {}
    for board in boards.values():
        if board.error is not None:
            errors.append(BoardError(board.name, board.error))
            continue
        on_board = compared.on(board, policy) if compared is not None and board.connector.SUPPORTS_JOBS else None
        pairs += _plan_board(board, postings, known, policy, now, on_board, fresh)
        for item, changes in _plan_removed(board, postings, known, policy, now, scope):
            removed.append(item)
            pair = (item.posting, board.name)
            # A close that failed backs off like any other change, not retried every run.
            held = _hold_if_backing_off(PairPlan(changes=changes, evaluated=False), board.name, item.posting,
                                        known.bindings.get(pair), now)
            pairs.append((pair, held))
    return replace(_assemble(pairs, removed, errors, now, digest), compared=fresh)


def _plan_board(
    board: Board, postings: Sequence[Posting], known: Known, policy: Policy, now: datetime,
    compared: OnBoard | None, fresh: dict[Pair, str],
) -> list[tuple[Pair, PairPlan]]:
    targets = [p for p in postings if p.boards.named(board.name)]
    planned = []
    taken = {s.remote_id for (_, provider), s in known.bindings.items() if provider == board.name and s.remote_id}
    free = FreeJobs.on(board.connector, board.remotes.values(), taken)
    for posting in targets:
        pair = (posting.key, board.name)
        if board.connector.SUPPORTS_JOBS:
            result = _plan_job_unless_in_step(posting, board, known, policy, free, compared, fresh)
        elif board.connector.SUPPORTS_LINKS:
            result = _plan_link(posting, board, known, now)
        else:
            continue
        if posting.suspend:  # nothing is written for it, so no backoff holds it either
            planned.append((pair, _suspended(result, board.name, posting.key)))
            continue
        planned.append((pair, _hold_if_backing_off(result, board.name, posting.key, known.bindings.get(pair), now)))
    return planned


def _suspended(result: PairPlan, provider: str, key: str) -> PairPlan:
    """A suspended posting's pair: what would be done is held, and drift is only reported."""
    if not result.evaluated:  # blocked before any comparison: nothing was held
        return result
    drift = tuple(replace(d, disposition="report") if d.disposition == "correct" else d for d in result.drift)
    return replace(result, changes=(), drift=drift, suspended=SuspendedItem(provider, key, result.changes))


def _assemble(
    pairs: Iterable[tuple[Pair, PairPlan]],
    removed: list[RemovedItem],
    errors: list[BoardError],
    now: datetime,
    digest: str | None,
) -> Plan:
    ordered = sorted(pairs, key=lambda item: (item[0][1], item[0][0]))  # provider, then posting
    return Plan(
        changes=tuple(c for _, p in ordered for c in p.changes),
        drift=tuple(d for _, p in ordered for d in p.drift),
        blocked=tuple(b for _, p in ordered for b in p.blocked),
        removed=tuple(sorted(removed, key=lambda r: (r.provider, r.posting))),
        errors=tuple(errors),
        ignored=tuple(i for _, p in ordered for i in p.ignored),
        suspended=tuple(p.suspended for _, p in ordered if p.suspended is not None),
        evaluated=frozenset(pair for pair, p in ordered if p.evaluated),
        generated_at=now,
        config_digest=digest,
    )


# ------------------------------------------------------------------------------ jobs


IN_STEP = PairPlan()
"""A pair's plan when it is in step: nothing to change, report, block or leave ignored."""


def _plan_job_unless_in_step(
    posting: Posting, board: Board, known: Known, policy: Policy, free: FreeJobs, compared: OnBoard | None,
    fresh: dict[Pair, str],
) -> PairPlan:
    """`_plan_job`, unless the pair's digest of what it compares (`compared`) is the one kept
    from when it was last found in step: then it is in step still, found without rendering or
    comparing anything. A pair compared and found in step under another digest is noted in
    `fresh`, for the run to keep."""
    pair = (posting.key, board.name)
    digest = compared.digest(posting, known) if compared is not None else None
    if digest is not None and known.bindings[pair].compared == digest:
        return IN_STEP
    ignored = board.connector.spec_fields(posting.ignored(board.name, policy))
    result = _plan_job(posting, board, known, policy, free, ignored)
    if digest is not None and result == IN_STEP:
        fresh[pair] = digest
    return result


def _plan_job(
    posting: Posting, board: Board, known: Known, policy: Policy, free: FreeJobs, ignored: frozenset[str]
) -> PairPlan:
    pair = (posting.key, board.name)
    spec = board.payload(posting.key)
    if isinstance(spec, tuple):
        return _refused_by_board(board.name, posting.key, spec)
    if pair in known.unsettled:
        return _unsettled(board, posting.key, known.candidates.get(pair, ()))
    state = known.bindings.get(pair)
    if state is not None and state.remote_id is not None:
        remote = board.remotes.get(state.remote_id)
        if remote is not None:
            planned = _compare(posting, board, spec, remote, state, policy, ignored)  # a repost, maybe
        elif state.remote_id in board.gone:
            planned = _missing(posting, board, spec, state.remote_id, policy)
        else:
            return _unread(board, posting.key, state.remote_id)
        return _before_create(posting, board, spec, policy, free, planned, ignored)
    named = free.named(posting.key)
    if named is not None:
        free.claim(named)
        why = f"already on the board as {named.remote_id}; taking it over instead of creating"
        return _adopted(posting, board, spec, named, policy, why, ignored)
    if posting.status is Status.CLOSED:
        return PairPlan()
    created = PairPlan(changes=_create(posting, board, spec, Action.CREATE, "not on the board yet"))
    return _before_create(posting, board, spec, policy, free, created, ignored)


def _before_create(
    posting: Posting, board: Board, spec: Spec, policy: Policy, free: FreeJobs, planned: PairPlan,
    ignored: frozenset[str],
) -> PairPlan:
    """A create (or repost) is the last resort: a free job that already is this posting is
    adopted instead — on a board that names its postings, one that carries the handle the
    create would send (a slug the posting gives itself); on one that cannot, one with the same
    title and place — and several such jobs block the pair, since any create could be a
    duplicate."""
    if not any(c.action in CREATES for c in planned.changes):
        return planned
    names = board.connector.NAMES_ITS_POSTINGS
    found = free.sent(spec) if names else free.alike(spec)
    if not found:
        return planned
    if len(found) > 1:
        return _ambiguous(board, posting.key, found)
    free.claim(found[0])
    what = "the slug this posting's job is given" if names else "this posting's title and place"
    why = f"{found[0].remote_id} on the board has {what}; taking it over instead of creating"
    return _adopted(posting, board, spec, found[0], policy, why, ignored)


def _adopted(
    posting: Posting, board: Board, spec: Spec, found: Remote, policy: Policy, why: str, ignored: frozenset[str]
) -> PairPlan:
    """Take `found` over, then whatever brings it to the posting (its binding is new: every
    difference is the source's to apply, none is drift; an ignored field is left as found)."""
    adopt = Change(board.name, posting.key, Action.ADOPT, why, remote_id=found.remote_id)
    rest = _compare(posting, board, spec, found, None, policy, ignored)
    return replace(rest, changes=(adopt, *rest.changes))


def _ambiguous(board: Board, key: str, found: Sequence[Remote]) -> PairPlan:
    ids = ", ".join(r.remote_id for r in found)
    why = "the same slug" if board.connector.NAMES_ITS_POSTINGS else "same title and place"
    reason = f"{len(found)} jobs on the board could be this posting ({why}): {ids}; {_until_one_is_left(board)}"
    return PairPlan(blocked=(BlockedItem(board.name, key, reason, gate="ambiguous"),), evaluated=False)


def _unsettled(board: Board, key: str, candidates: Sequence[str]) -> PairPlan:
    if not candidates:
        return PairPlan(blocked=(BlockedItem(board.name, key, UNSETTLED),), evaluated=False)
    reason = (
        f"an earlier create's answer was lost and {len(candidates)} jobs on the board could be it: "
        f"{', '.join(candidates)}; {_until_one_is_left(board)}"
    )
    return PairPlan(blocked=(BlockedItem(board.name, key, reason, gate="ambiguous"),), evaluated=False)


def _until_one_is_left(board: Board) -> str:
    """What a person does so that only one job can be the posting's: on a board that names its
    postings a job is one by its slug, whatever its status; elsewhere a closed job is not."""
    if board.connector.NAMES_ITS_POSTINGS:
        return "nothing is created until all but one are deleted on the board or given another slug"
    return "nothing is created until all but one are closed on the board"


def _unread(board: Board, key: str, remote_id: str) -> PairPlan:
    """The bound job is not in the board's list and no read by id said it is gone: nothing is
    decided for the pair (a create could be a duplicate) until it is read."""
    why = board.unread.get(remote_id, "it was not read by id")
    reason = f"the job {remote_id} is missing from the board's list: {why}"
    return PairPlan(blocked=(BlockedItem(board.name, key, reason, gate="unread"),), evaluated=False)


def _compare(
    posting: Posting, board: Board, spec: Spec, remote: Remote, state: PairState | None, policy: Policy,
    ignored: frozenset[str],
) -> PairPlan:
    closing = posting.status is Status.CLOSED
    transitions = board.connector.lifecycle(posting.status.value, remote.status)
    if not transitions and remote.status in ENDED and not closing:
        return _ended(posting, board, spec, remote, policy)
    status_changes, status_drift = _status(posting, board, remote, state, policy, transitions)
    if closing:  # the content of a job being closed does not matter any more
        return PairPlan(changes=status_changes, drift=status_drift)
    visible = {name: value for name, value in spec.items() if name not in ignored} if ignored else spec
    update, content_drift = _content(posting, board, visible, remote, state, policy)
    changes = (*([update] if update else []), *status_changes, *_sources(posting, board, remote))
    return PairPlan(
        changes=changes, drift=(*content_drift, *status_drift), ignored=_ignored(posting, board, spec, remote, ignored)
    )


def _ignored(
    posting: Posting, board: Board, spec: Spec, remote: Remote, ignored: frozenset[str]
) -> tuple[IgnoredItem, ...]:
    """The ignored fields on which the board shows something else than the posting asks."""
    if not ignored:
        return ()
    shown, have = board.connector.shown_back, remote.spec
    return tuple(
        IgnoredItem(board.name, posting.key, name, spec[name], have.get(name))
        for name in spec
        if name in ignored and shown(name, spec[name]) != shown(name, have.get(name))
    )


def _content(
    posting: Posting, board: Board, spec: Spec, remote: Remote, state: PairState | None, policy: Policy
) -> tuple[Change | None, tuple[DriftItem, ...]]:
    """The update that brings the board's content to `spec` (less the ignored fields), and
    the drift found on the way."""
    applied: Mapping[str, Any] | None = None
    looked = False
    diffs: list[FieldDiff] = []
    heals: list[str] = []
    drift: list[DriftItem] = []
    connector = board.connector
    shown = remote.spec
    for name, want in spec.items():
        have = shown.get(name)
        if want == have:
            continue
        if not looked:  # what was applied is decoded only for a pair that differs somewhere
            applied, looked = (state.applied() if state is not None else None), True
        on_board = connector.shown_back(name, want) != connector.shown_back(name, have)
        if not on_board and _sent(connector, name, want, applied):
            continue  # it differs only in what the board does not show back, and that was sent
        if name in remote.frozen_fields:
            drift.append(DriftItem(board.name, posting.key, name, want, have, "frozen"))
            continue
        if on_board and _still_applied(connector, name, want, applied):
            # The source still says what was applied: the board was edited by hand.
            drift.append(DriftItem(board.name, posting.key, name, want, have, _heal_or_report(policy)))
            if not policy.self_heal:
                continue
            heals.append(name)
        diffs.append(FieldDiff(name, have, want))
    if not diffs:
        return None, tuple(drift)
    change = Change(
        board.name, posting.key, Action.UPDATE, _update_reason(diffs, heals),
        diffs=tuple(diffs), remote_id=remote.remote_id, heals=tuple(heals),
    )
    return change, tuple(drift)


def _still_applied(connector: Connector, name: str, want: Any, applied: Mapping[str, Any] | None) -> bool:
    """Whether the part of `want` the board shows back is what was last applied."""
    if applied is None or name not in applied:
        return False
    return applied[name] == want or bool(connector.shown_back(name, applied[name]) == connector.shown_back(name, want))


def _sent(connector: Connector, name: str, want: Any, applied: Mapping[str, Any] | None) -> bool:
    """Whether the part of `want` the board does not show back is what was last applied. Not
    when nothing is known to have been sent: then it is sent, once."""
    if applied is None or name not in applied:
        return False
    return applied[name] == want or bool(
        connector.not_shown_back(name, applied[name]) == connector.not_shown_back(name, want)
    )


def _update_reason(diffs: list[FieldDiff], heals: list[str]) -> str:
    if not heals:
        return "the source changed"
    if len(heals) == len(diffs):
        return "undo an edit made on the board"
    return "the source changed, and undo an edit made on the board"


def _status(
    posting: Posting,
    board: Board,
    remote: Remote,
    state: PairState | None,
    policy: Policy,
    transitions: Sequence[str],
) -> tuple[tuple[Change, ...], tuple[DriftItem, ...]]:
    if _same_status(posting.status, remote.status):
        return (), ()
    desired = posting.status.value
    drift = DriftItem(board.name, posting.key, STATUS, desired, remote.status, _heal_or_report(policy))
    if not transitions:  # the board cannot go there (a live job back to draft)
        return (), (replace(drift, disposition="report"),)
    by_hand = state is not None and state.applied_status == desired
    if not by_hand:
        return _transitions(board.name, posting.key, remote.remote_id, transitions, f"the source says {desired}"), ()
    if not policy.self_heal:
        return (), (drift,)
    reason = f"put back the status changed on the board ({remote.status} → {desired})"
    return _transitions(board.name, posting.key, remote.remote_id, transitions, reason, heals=(STATUS,)), (drift,)


def _same_status(desired: Status, observed: RemoteStatus) -> bool:
    """Whether the board shows the status the posting asks for (an expired job is closed)."""
    return observed == desired.value or (desired is Status.CLOSED and observed == "expired")


def _transitions(
    provider: str, key: str, remote_id: str | None, transitions: Sequence[str], reason: str,
    *, heals: tuple[str, ...] = (),
) -> tuple[Change, ...]:
    """One change per transition; the last one carries what they heal together."""
    last = len(transitions) - 1
    return tuple(
        Change(provider, key, Action(t), reason, remote_id=remote_id, heals=heals if i == last else ())
        for i, t in enumerate(transitions)
    )


def _sources(posting: Posting, board: Board, remote: Remote) -> tuple[Change, ...]:
    if not board.connector.SUPPORTS_CHANNELS or remote.status in ENDED:
        return ()
    return tuple(
        Change(
            board.name, posting.key, Action.ENSURE_SOURCE, f"channel {name!r} has no source URL yet",
            remote_id=remote.remote_id, channel=name,
        )
        for name in posting.channels
        if name not in remote.channels
    )


def _ended(posting: Posting, board: Board, spec: Spec, remote: Remote, policy: Policy) -> PairPlan:
    """The job expired or was closed on the board, yet the posting should be there."""
    disposition: Disposition = "correct" if policy.repost_expired else "report"
    drift = DriftItem(board.name, posting.key, STATUS, posting.status.value, remote.status, disposition)
    if not policy.repost_expired:
        return PairPlan(drift=(drift,))
    reason = f"the job {remote.remote_id} is {remote.status} on the board; repost_expired is on"
    return PairPlan(changes=_create(posting, board, spec, Action.REPOST, reason, heals=(STATUS,)), drift=(drift,))


def _missing(posting: Posting, board: Board, spec: Spec, remote_id: str, policy: Policy) -> PairPlan:
    """The job boardsync made is no longer on the board at all: a read by id answered 404."""
    if posting.status is Status.CLOSED:
        return PairPlan()
    drift = DriftItem(board.name, posting.key, STATUS, posting.status.value, "missing", _heal_or_report(policy))
    if not policy.self_heal:
        return PairPlan(drift=(drift,))
    reason = f"the job {remote_id} is gone from the board"
    return PairPlan(changes=_create(posting, board, spec, Action.CREATE, reason, heals=(STATUS,)), drift=(drift,))


def _create(
    posting: Posting, board: Board, spec: Spec, action: Action, reason: str, *, heals: tuple[str, ...] = ()
) -> tuple[Change, ...]:
    """A create (live at once when the board's first step from draft is publish), then the
    transitions still needed to reach the posting's status."""
    path = board.connector.lifecycle(posting.status.value, "draft")
    publish = bool(path) and path[0] == "publish"
    rest = list(path[1:] if publish else path)
    channels = tuple(posting.channels) if board.connector.SUPPORTS_CHANNELS else ()
    create = Change(
        board.name, posting.key, action, reason,
        diffs=tuple(FieldDiff(k, None, v) for k, v in spec.items() if v not in (None, [], {})),
        publish=publish, channels=channels, heals=() if rest else heals,
    )
    return (create, *_transitions(board.name, posting.key, None, rest, f"after the {action.value}", heals=heals))


def _refused_by_board(provider: str, key: str, problems: Sequence[BoardProblem]) -> PairPlan:
    fields = {p.field: p.message for p in problems}
    item = BlockedItem(provider, key, f"{provider} would refuse this posting", gate="invalid", fields=fields)
    return PairPlan(blocked=(item,), evaluated=False)


def _heal_or_report(policy: Policy) -> Disposition:
    return "correct" if policy.self_heal else "report"


# ------------------------------------------------------------------------------ removed


def _plan_removed(
    board: Board, postings: Sequence[Posting], known: Known, policy: Policy, now: datetime,
    scope: Collection[str] | None,
) -> list[tuple[RemovedItem, tuple[Change, ...]]]:
    """Bound jobs still open on the board whose posting is gone from the source (or no longer
    names this board): closed when the policy prunes and the grace period is over, else only
    reported."""
    if not board.connector.SUPPORTS_JOBS:
        return []
    wanted = {p.key for p in postings if p.boards.named(board.name)}
    gone = [
        (key, state.remote_id, state) for (key, provider), state in known.bindings.items()
        if provider == board.name and state.remote_id is not None and key not in wanted
        and (scope is None or key in scope)
    ]
    gone.sort(key=lambda pair: pair[0])  # few or none: sorted after the filter, not every pair of every board
    found = []
    for key, remote_id, state in gone:
        remote = board.remotes.get(remote_id)
        if remote is None or remote.status in ENDED:
            continue
        path = board.connector.lifecycle(Status.CLOSED.value, remote.status)
        since = state.absent_since or now
        item = RemovedItem(board.name, key, remote.remote_id, remote.status, False, absent_since=since,
                           suspended=state.suspended)
        if policy.prune and path and not state.suspended:
            item = _graced(item, state, policy, now)
        reason = "removed from the source; prune is on and its grace period is over"
        found.append((item, _transitions(board.name, key, remote.remote_id, path, reason) if item.closing else ()))
    return found


PRUNE_READS = 2
"""Runs in a row that must find a posting gone from the source before it is closed: one bad
read (a file missing for a moment) never closes anything."""


def _graced(item: RemovedItem, state: PairState, policy: Policy, now: datetime) -> RemovedItem:
    """`item` closing when its posting has been gone for `policy.prune_after` and missed by
    `PRUNE_READS` runs (this one included); else waiting, with when it may close."""
    since = item.absent_since or now
    after = since + parse_duration(policy.prune_after)
    reads = state.absent_reads + 1
    if now >= after and reads >= PRUNE_READS:
        return replace(item, closing=True)
    gone_for = _ago(now - since)
    waiting = (
        f"gone from the source {gone_for}; closed once gone for {policy.prune_after.strip()} "
        f"and missed by {PRUNE_READS} runs (not before {after:%Y-%m-%d %H:%M} UTC)"
    )
    return replace(item, closes_after=after, waiting=waiting)


def _ago(elapsed: timedelta) -> str:
    seconds = int(elapsed.total_seconds())
    if seconds < 60:
        return "just now" if seconds < 1 else f"{seconds}s ago"
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    return f"{seconds / 3600:.1f} h ago"


# ------------------------------------------------------------------------------ links


def _plan_link(posting: Posting, board: Board, known: Known, now: datetime) -> PairPlan:
    refused = board.refused(posting.key)
    if refused:
        return _refused_by_board(board.name, posting.key, refused)
    if posting.status is Status.CLOSED:
        return IN_STEP
    expires = known.links.get((posting.key, board.name))
    if expires is not None and expires - now > LINK_REFRESH_MARGIN:
        return IN_STEP
    state = known.bindings.get((posting.key, board.name))
    if state is not None and state.linked:  # the pair works: later links are fetched when asked for
        return IN_STEP
    if state is not None and state.last_error:  # its own link failed: asked for on its own (`apply`)
        reason = f"{LINK_FAILED}: {state.last_error}"
    else:
        reason = FIRST_LINK if expires is None else "the signed link expires soon"
    return PairPlan(changes=(Change(board.name, posting.key, Action.REFRESH_LINK, reason),))


# ------------------------------------------------------------------------------ backoff


def _hold_if_backing_off(
    result: PairPlan, provider: str, key: str, state: PairState | None, now: datetime
) -> PairPlan:
    """A pair that failed recently keeps its drift but gets no changes until its backoff ends."""
    if state is None or state.quarantine_until is None or state.quarantine_until <= now or not result.changes:
        return result
    reason = f"backing off after {state.attempts} failed attempt{'s' if state.attempts != 1 else ''}"
    if state.last_error:
        reason += f": {state.last_error}"
    held = BlockedItem(provider, key, reason, gate="backoff", until=state.quarantine_until)
    return replace(result, changes=(), blocked=(*result.blocked, held))
