"""A pair's health, apart from its sync (Argo CD's model): not whether the board matches
the source, but whether the posting is out there as it should be. Read from what the state
database already holds, so `status`, `/metrics` and `/readyz` tell it without calling a
board. The first that applies:

- ``blocked``      the board refused the pair until a person acts (a block other than a
                   suspension);
- ``pending``      a create was sent and its outcome is not known yet (the next run looks
                   the job up before anything else);
- ``backing_off``  changes failed in a row and the pair is left alone until its backoff ends;
- ``live``         a board of signed links gave the posting a link;
- ``missing``      the board has no job for it: never created, or last read found it gone;
- ``expired``      the board last showed the job expired;
- ``pending``      the job is not (yet) in the status last applied: never read since, still in
                   review, or changed on the board and waiting for the next run;
- ``live``         the board last showed the job in the status the posting asks for (a closed
                   posting that was never posted is as it asks, too).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum, auto


class Health(StrEnum):
    LIVE = auto()
    PENDING = auto()
    BLOCKED = auto()
    BACKING_OFF = auto()
    EXPIRED = auto()
    MISSING = auto()


HEALTHS = tuple(h.value for h in Health)

GONE = "gone"
"""The observed status recorded for a bound job a read by id found gone (404)."""
LINKED = "linked"
"""The observed status of a pair reached by signed links, once a link was issued."""
EXPIRED = "expired"
SUSPENDED = "suspended"
"""The block gate of a pair whose posting was suspended when last compared: kept while the
posting is gone from the source, so that its job is never closed."""


@dataclass(frozen=True)
class PairFacts:
    """What health is read from: a binding's columns, and whether a create is unsettled."""

    remote_id: str | None
    observed_status: str | None
    applied_status: str | None
    blocked_reason: str | None
    blocked_gate: str | None
    quarantine_until: datetime | None
    creating: bool
    """A create of the pair was sent (or is about to be) and its outcome is not settled."""


def health_of(facts: PairFacts, now: datetime) -> Health:
    if facts.blocked_reason and facts.blocked_gate != SUSPENDED:
        return Health.BLOCKED
    if facts.creating:  # its outcome is looked up before anything else: not a failure to wait out
        return Health.PENDING
    if facts.quarantine_until is not None and facts.quarantine_until > now:
        return Health.BACKING_OFF
    if facts.observed_status == LINKED:  # a board of signed links holds no job: a link is what it shows
        return Health.LIVE
    if facts.remote_id is None or facts.observed_status == GONE:
        return Health.MISSING
    if facts.observed_status == EXPIRED:
        return Health.EXPIRED
    if facts.observed_status is None or _not_yet(facts):
        return Health.PENDING
    return Health.LIVE


def _not_yet(facts: PairFacts) -> bool:
    observed, applied = facts.observed_status, facts.applied_status
    return applied is not None and observed != applied
