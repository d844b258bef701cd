"""Reconcile: observe the boards, plan the changes (pure), check the plan is safe, and apply
it one journaled change at a time. The same `reconcile()` serves the command and the daemon.

    reconcile(desired, store, connectors, *, dry_run, force, postings, providers, trigger,
              stop, progress, clock) -> RunResult
    plan(desired, store, connectors, *, postings, providers, trigger, clock) -> RunResult (its .plan)
    collect_metrics(desired, store, connectors, *, trigger) -> RunResult
    fresh_links(desired, store, connectors, *, keys) / tracked_sources(desired, store, connectors, *, keys)
    render.to_text(plan, color=) / render.to_json(plan) / render.to_markdown(plan)

The names below load with the module that defines them when first used: a command that needs
one part of the run (`render` for a report, `snapshot` for the state) does not pay for the
engine and everything a run needs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

_DEFINED_IN = {
    **dict.fromkeys(["collect_metrics", "plan", "reconcile"], "engine"),
    "fresh_links": "links",
    **dict.fromkeys(
        ["Action", "BlockedItem", "BoardError", "Change", "DriftItem", "FieldDiff", "Plan", "RemovedItem", "RunResult"],
        "model",
    ),
    "plan_changes": "planner",
    **dict.fromkeys(["SourceRow", "tracked_sources"], "sources"),
}


def __getattr__(name: str) -> Any:
    if name not in _DEFINED_IN:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_DEFINED_IN[name]}"), name)
    globals()[name] = value  # looked up once
    return value


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
