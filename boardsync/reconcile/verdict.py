"""Whether the boards match the postings, and when they do not, what keeps them apart, in
words a person reads at the end of a run or a plan.

One rule serves every command's exit code: 0 the boards match the postings; 2 they do not
(changes pending, a difference the policy leaves on a board, a blocked or failed pair, a
board that could not be read); 1 an error or a refused plan. A difference the policy leaves
is still a difference: an expired job that `repost_expired` does not post again is a job
that should be live and is not, whatever the run did right.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Sequence

from boardsync.reconcile.model import BlockedItem, BoardError, DriftItem, Pair, Plan, RemovedItem, SuspendedItem
from boardsync.reconcile.identity import ENDED
from boardsync.reconcile.planner import STATUS


def drift_left(plan: Plan) -> tuple[DriftItem, ...]:
    """Drift this run leaves on the board: only reported, or frozen there."""
    return tuple(d for d in plan.drift if d.disposition != "correct")


def removed_left(plan: Plan) -> tuple[RemovedItem, ...]:
    """Jobs still open on a board for postings gone from the source (prune is off, or its
    grace period is not over)."""
    return tuple(r for r in plan.removed if not r.closing)


def held(plan: Plan) -> tuple[SuspendedItem, ...]:
    """Suspended pairs that hold a change to their board."""
    return tuple(s for s in plan.suspended if s.board_changes)


def boards_left_apart(plan: Plan) -> set[str]:
    """The boards on which the plan leaves a difference as the policy (or a suspended
    posting) says."""
    return (
        {d.provider for d in drift_left(plan)} | {r.provider for r in removed_left(plan)}
        | {s.provider for s in held(plan)}
    )


def in_sync(plan: Plan) -> bool:
    """The plan's boards match the postings: nothing to change, nothing left, every board read."""
    return plan.empty and not plan.blocked and not plan.errors and not plan.refused and not boards_left_apart(plan)


def not_in_sync(
    plan: Plan,
    *,
    pending: bool,
    failed: Sequence[BoardError] = (),
    blocked: Sequence[BlockedItem] = (),
    skipped: int = 0,
) -> tuple[str, ...]:
    """Everything that keeps the boards from matching the postings, most pressing first.
    `pending` counts the plan's changes as not made (a plan, a dry run, a refused run);
    `failed`, `blocked` and `skipped` are what applying it ran into."""
    reasons = [f"{e.provider} unavailable: {e.message}" for e in (*plan.errors, *failed) if e.posting is None]
    changes = len(plan.board_changes)
    if pending and changes:
        reasons.append(_count(changes, "change") + " pending")
    failures = sum(1 for e in failed if e.posting is not None)
    if failures:
        reasons.append(_count(failures, "change") + " failed")
    if skipped:
        reasons.append(_count(skipped, "change") + " left for the next run")
    reasons += _blocked(plan.blocked, blocked)
    suspended = {s.pair for s in plan.suspended}
    reasons += _drift(drift_left(plan), suspended)
    reasons += _held(held(plan))
    left = removed_left(plan)
    waiting = sum(1 for r in left if r.waiting)
    kept = sum(1 for r in left if r.suspended)
    if len(left) - waiting - kept:
        reasons.append(
            f"{_count(len(left) - waiting - kept, 'job')} still open for postings removed from the source "
            "(`prune` is off)"
        )
    if kept:
        reasons.append(f"{_count(kept, 'job')} of suspended postings removed from the source left open (never closed)")
    if waiting:
        reasons.append(
            f"{_count(waiting, 'job')} of postings removed from the source left open until `prune_after` has passed"
        )
    return tuple(reasons)


def _blocked(*groups: Iterable[BlockedItem]) -> list[str]:
    pairs: dict[str, set[str]] = defaultdict(set)
    gates: dict[str, set[str]] = defaultdict(set)
    for item in (b for group in groups for b in group):
        pairs[item.provider].add(item.posting)
        if item.gate:
            gates[item.provider].add(item.gate)
    return [
        f"{_count(len(keys), 'posting')} blocked on {provider}"
        + (f" ({', '.join(sorted(gates[provider]))})" if gates[provider] else "")
        for provider, keys in sorted(pairs.items())
    ]


def _held(items: Sequence[SuspendedItem]) -> list[str]:
    changes = sum(len(s.board_changes) for s in items)
    if not changes:
        return []
    return [f"{_count(changes, 'change')} held for {_count(len({s.posting for s in items}), 'suspended posting')}"]


def _drift(items: Sequence[DriftItem], suspended: Collection[Pair] = ()) -> list[str]:
    """Drift left on the boards, by what it means for the posting."""
    kinds: Counter[str] = Counter()
    for item in items:
        kinds["suspended" if item.pair in suspended else _drift_kind(item)] += 1
    words = {
        "suspended": lambda n: f"{_count(n, 'difference')} on the board left as {_it(n)} (the posting is suspended)",
        "expired": lambda n: f"{_count(n, 'job')} expired and `repost_expired` is off",
        "closed": lambda n: f"{_count(n, 'job')} closed on the board and `repost_expired` is off",
        "missing": lambda n: f"{_count(n, 'job')} gone from the board and `self_heal` is off",
        "status": lambda n: f"{_count(n, 'status', 'statuses')} on the board left as {_it(n)} (the board "
                            "cannot go back, or `self_heal` is off)",
        "edit": lambda n: f"{_count(n, 'edit')} made on the board left as {_it(n)} (`self_heal` is off)",
        "frozen": lambda n: f"{_count(n, 'edit')} frozen on the board",
    }
    return [words[kind](kinds[kind]) for kind in words if kinds[kind]]


def _drift_kind(item: DriftItem) -> str:
    if item.disposition == "frozen":
        return "frozen"
    if item.field != STATUS:
        return "edit"
    if item.observed in ENDED:
        return str(item.observed)
    return "missing" if item.observed == "missing" else "status"


def _count(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word if n == 1 else plural or word + 's'}"


def _it(n: int) -> str:
    return "it is" if n == 1 else "they are"
