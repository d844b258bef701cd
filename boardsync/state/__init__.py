"""State: the SQLModel tables (bindings, intents, runs, actions, drift, visits, links), the
database engine and its schema revisions (Alembic), and the queries behind status and metrics.

The names below are loaded when first asked for, not with the package: `status` reads the
state through `boardsync.state.direct` and must not load SQLAlchemy on the way to it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from boardsync.state.status import BoardWait, RunRow, StatusRow
    from boardsync.state.store import Backoff, DriftRow, MetricsSnapshot, Store, VisitRow, empty_store, open_store
    from boardsync.state.tables import (
        ApplicantSample,
        AuditEntry,
        Binding,
        BoardCall,
        BoardState,
        Drift,
        Intent,
        IntentState,
        KeptView,
        Run,
        SignedLink,
        VisitSample,
    )

_MODULE_OF = {
    **dict.fromkeys(["BoardWait", "RunRow", "StatusRow"], "status"),
    **dict.fromkeys(["Backoff", "DriftRow", "MetricsSnapshot", "Store", "VisitRow", "empty_store", "open_store"],
                    "store"),
    **dict.fromkeys(["ApplicantSample", "AuditEntry", "BoardCall", "Binding", "BoardState", "Drift", "Intent",
                     "IntentState", "KeptView", "Run", "SignedLink", "VisitSample"], "tables"),
}


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


__all__ = [
    "ApplicantSample",
    "AuditEntry",
    "BoardCall",
    "Backoff",
    "Binding",
    "BoardState",
    "BoardWait",
    "Drift",
    "DriftRow",
    "Intent",
    "IntentState",
    "KeptView",
    "MetricsSnapshot",
    "Run",
    "RunRow",
    "SignedLink",
    "StatusRow",
    "Store",
    "VisitRow",
    "VisitSample",
    "empty_store",
    "open_store",
]
