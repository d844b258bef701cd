"""Reconcile: observe the boards, plan the changes (pure), check the plan is safe, and apply
it one journaled change at a time. The same `reconcile()` serves the command and the daemon.

    reconcile(desired, store, connectors, *, dry_run, force, postings, providers, trigger,
              stop, progress, clock) -> RunResult
    plan(desired, store, connectors, *, postings, providers, trigger, clock) -> RunResult (its .plan)
    collect_metrics(desired, store, connectors, *, trigger) -> RunResult
    fresh_links(desired, store, connectors, *, keys) / tracked_sources(desired, store, connectors, *, keys)
    render.to_text(plan, color=) / render.to_json(plan) / render.to_markdown(plan)
"""

from boardsync.reconcile.engine import collect_metrics, plan, reconcile
from boardsync.reconcile.links import fresh_links
from boardsync.reconcile.model import (
    Action,
    BlockedItem,
    BoardError,
    Change,
    DriftItem,
    FieldDiff,
    Plan,
    RemovedItem,
    RunResult,
)
from boardsync.reconcile.planner import plan_changes
from boardsync.reconcile.sources import SourceRow, tracked_sources

__all__ = [
    "Action",
    "BlockedItem",
    "BoardError",
    "Change",
    "DriftItem",
    "FieldDiff",
    "Plan",
    "RemovedItem",
    "RunResult",
    "SourceRow",
    "collect_metrics",
    "fresh_links",
    "plan",
    "plan_changes",
    "reconcile",
    "tracked_sources",
]
