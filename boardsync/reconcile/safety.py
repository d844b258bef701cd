"""The safety rail: a plan that would close too many live postings is refused.

Per board, the closes a plan makes are compared with the postings live there (active or
paused jobs boardsync manages). More than ``policy.max_close_percent`` of them, or all of
them, is refused with `UnsafePlan` unless the run is forced. Below `SAFETY_FLOOR` live
postings the percentage does not apply (closing one of two is not a mass close), but closing
every one of two or more still is.

A board whose list is not believed (`Board.suspect`: too many bound jobs missing from it, or
none listed while jobs are bound; see `lookup`) is refused the same way: a bad read must not
become a mass of creates.
"""

from __future__ import annotations

from collections.abc import Mapping

from boardsync.config.model import Policy
from boardsync.errors import UnsafePlan
from boardsync.reconcile.model import Board, Known, Plan

SAFETY_FLOOR = 3
"""Live postings on a board below which only "all of them" is refused."""

LIVE = frozenset({"active", "paused"})


def check_safety(plan: Plan, boards: Mapping[str, Board], known: Known, policy: Policy) -> None:
    """Raise `UnsafePlan` naming every board whose closes go over the limit."""
    reasons = [reason for board in boards.values() if (reason := _board_reason(plan, board, known, policy))]
    reasons += [board.suspect for board in boards.values() if board.suspect is not None]
    if reasons:
        raise UnsafePlan("; ".join(reasons) + "; rerun with --force to apply it anyway")


def _board_reason(plan: Plan, board: Board, known: Known, policy: Policy) -> str | None:
    live = _live(board, known)
    closing = {c.remote_id for c in plan.changes if c.provider == board.name and c.closes and c.remote_id in live}
    if not closing or len(live) < 2:
        return None
    share = 100 * len(closing) / len(live)
    everything = len(closing) == len(live)
    too_many = len(live) >= SAFETY_FLOOR and share > policy.max_close_percent
    if not (everything or too_many):
        return None
    what = "all" if everything else f"{share:.0f}%"
    return (
        f"{board.name}: the plan closes {len(closing)} of {len(live)} live postings ({what}), "
        f"more than max_close_percent {policy.max_close_percent:g} allows"
    )


def _live(board: Board, known: Known) -> set[str]:
    """Remote ids of the live jobs on the board that boardsync manages."""
    bound = {s.remote_id for (_, provider), s in known.bindings.items() if provider == board.name and s.remote_id}
    return {rid for rid, remote in board.remotes.items() if rid in bound and remote.status in LIVE}
