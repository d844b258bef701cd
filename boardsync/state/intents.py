"""Where an intent stands (the ``intent`` table's ``state``), apart from the table itself:
the reads behind `status` ask which creates are unsettled without loading the tables."""

from __future__ import annotations

from enum import StrEnum, auto


class IntentState(StrEnum):
    """Where an intent stands: pending → in_flight → succeeded | failed | unknown (each
    stored as its lowercase name)."""

    PENDING = auto()
    """Written down; the call is not made yet."""
    IN_FLIGHT = auto()
    """The call is being made (still so when a run starts: its process died mid-call)."""
    SUCCEEDED = auto()
    FAILED = auto()
    UNKNOWN = auto()
    """The call was made and its answer lost: the object may exist."""


INTENT_STATES = tuple(s.value for s in IntentState)
UNSETTLED_INTENT_STATES = (IntentState.PENDING, IntentState.IN_FLIGHT, IntentState.UNKNOWN)
"""States of an intent whose outcome a later run must still settle."""
