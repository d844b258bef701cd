"""State: the SQLModel tables (bindings, intents, runs, actions, drift, visits, links), the
database engine and its schema revisions (Alembic), and the queries behind status and metrics."""

from boardsync.state.store import (
    Backoff,
    BoardWait,
    DriftRow,
    MetricsSnapshot,
    RunRow,
    StatusRow,
    Store,
    VisitRow,
    empty_store,
    open_store,
)
from boardsync.state.tables import (
    ApplicantSample,
    AuditEntry,
    BoardCall,
    Binding,
    BoardState,
    Drift,
    Intent,
    IntentState,
    Run,
    SignedLink,
    VisitSample,
)

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
