"""What one board's changes that went through leave in the state, held in memory and written
together: a first sync makes creates and links by the thousand, and a batch of them is a few
statements, not a few per change.

Only the changes whose record may wait are held (`apply` says which): a create, whose intent
stays in flight until this is written (a process that dies first leaves the create to be
looked up, `journal`), and a signed link, fetched again when its record is lost.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session

from boardsync.reconcile import journal, record


@dataclass
class Held:
    """One board's held records, by table."""

    provider: str
    now: datetime
    changes: int = 0
    """Changes held."""
    created: list[tuple[int, str]] = field(default_factory=list)
    """(intent id, the job's remote id) of each create that succeeded."""
    bindings: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Posting key → the columns to set on its binding."""
    links: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Posting key → its new signed link (`record.link_values`)."""
    audits: list[dict[str, Any]] = field(default_factory=list)
    later: list[Callable[[Session], None]] = field(default_factory=list)
    """Anything else, written after the rest in the order held (the drift a change healed)."""

    def binding(self, key: str, values: dict[str, Any]) -> None:
        """Set `values` on the binding of `key` (after those held for it already)."""
        self.bindings.setdefault(key, {}).update(values)

    def write(self, session: Session) -> None:
        """Write everything held, inside the caller's transaction (`clear` once committed)."""
        journal.succeeded(session, self.created, self.now)
        record.bindings_written(session, self.provider, self.bindings)
        record.links_kept(session, self.provider, self.links)
        record.audits_written(session, self.audits)
        for write in self.later:
            write(session)

    def clear(self) -> None:
        self.changes = 0
        self.created, self.bindings, self.links, self.audits, self.later = [], {}, {}, [], []
