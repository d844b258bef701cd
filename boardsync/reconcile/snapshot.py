"""Snapshots: the last observed state of every board, as one JSON document, to plan against
where neither the boards nor their secrets are at hand (a pull request's check).

`take` reads it from the state database: per board, what its last read by a reconcile run
showed (`reconcile.views`), the bindings (what was applied, backoffs, removals counted), the
expiry of each stored signed link (never the link) and the creates whose outcome is still
open. `load` turns a document back into a read-only state in memory and the boards' recorded
reads, which `plan(recorded=…)` plans against with the same steps as a live plan.

Never a credential or a signed link: views keep no URL, bindings keep no link, and every
text is masked as the state database masks it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlmodel import col, select

from boardsync.errors import ConfigError
from boardsync.log import redact
from boardsync.reconcile import views
from boardsync.reconcile.model import BoardView, SnapshotAge
from boardsync.state import Binding, BoardState, Intent, KeptView, SignedLink, Store, empty_store
from boardsync.state.tables import UNSETTLED_INTENT_STATES

FORMAT = "boardsync.snapshot"
VERSION = 1

BINDING_FIELDS = (
    "remote_id", "observed_status", "applied_status", "applied_hash", "applied_spec", "attempts",
    "quarantine_until", "last_error", "absent_since", "absent_reads", "blocked_gate",
)
"""What a snapshot keeps of a binding: what planning reads of it (the block gate says whether
its posting was suspended), and what was last seen."""
TIMES = frozenset({"quarantine_until", "absent_since"})


# ------------------------------------------------------------------------------ take


def take(store: Store, now: datetime) -> dict[str, Any]:
    """The snapshot document of the state in `store`, taken at `now`; `config_digest` is the
    desired state's digest of the last reconcile run (what the boards were made to match)."""
    last = store.last_runs(limit=1, kind="reconcile")
    config_digest = last[0].config_digest if last else None
    with store.session() as session:
        states = {s.provider: s for s in session.exec(select(BoardState)).all()}
        kept = {v.provider: v.observed for v in session.exec(select(KeptView)).all()}
        bindings = session.exec(select(Binding).order_by(col(Binding.provider), col(Binding.posting_key))).all()
        links = session.exec(select(SignedLink).where(col(SignedLink.expires_at) > now)).all()
        intents = session.exec(
            select(Intent).where(col(Intent.state).in_(UNSETTLED_INTENT_STATES)).order_by(col(Intent.id))
        ).all()
    expiries = {(link.posting_key, link.provider): link.expires_at for link in links}
    names = sorted(set(states) | {b.provider for b in bindings} | {i.provider for i in intents})
    boards = {}
    for name in names:
        state = states.get(name)
        boards[name] = {
            "observed_at": _iso(state.observed_at) if state else None,
            "view": kept.get(name) if state and state.observed_at else None,
            "bindings": [_binding(b, expiries) for b in bindings if b.provider == name],
            "open_creates": [_intent(i) for i in intents if i.provider == name],
        }
    document = {
        "format": FORMAT, "version": VERSION, "taken_at": now.isoformat(),
        "config_digest": config_digest, "boards": boards,
    }
    return redact(document)  # type: ignore[no-any-return]


def to_json(document: Mapping[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False, sort_keys=False) + "\n"


def _binding(row: Binding, expiries: Mapping[tuple[str, str], datetime | None]) -> dict[str, Any]:
    kept: dict[str, Any] = {"posting": row.posting_key}
    for name in BINDING_FIELDS:
        value = getattr(row, name)
        kept[name] = _iso(value) if name in TIMES else value
    kept["link_expires_at"] = _iso(expiries.get((row.posting_key, row.provider)))
    return kept


def _intent(row: Intent) -> dict[str, Any]:
    return {"posting": row.posting_key, "action": row.action, "state": row.state, "spec": row.spec,
            "remote_id": row.remote_id}


def _iso(when: datetime | None) -> str | None:
    return when.isoformat() if when is not None else None


# ------------------------------------------------------------------------------ load


@dataclass(frozen=True)
class Loaded:
    """A snapshot made ready to plan against."""

    store: Store
    """The state it holds, in memory, read-only."""
    reads: dict[str, BoardView]
    """Each board's recorded read (boards never read are absent)."""
    age: SnapshotAge


def read(path: Path) -> Mapping[str, Any]:
    """The snapshot document in `path`; a `ConfigError` naming the file for anything else."""
    return read_document(path, "snapshot", FORMAT, VERSION, "reads")


def read_document(path: Path, kind: str, form: str, version: int, verb: str) -> dict[str, Any]:
    """A boardsync JSON document of `form` and `version` (a snapshot, a saved plan) from
    `path`; a `ConfigError` naming the file, and what is wrong, for anything else."""
    try:
        document = json.loads(path.read_text())
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the {kind}: {exc.strerror or exc}") from exc
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}:{exc.lineno}:{exc.colno}: not JSON: {exc.msg}") from exc
    if not isinstance(document, dict) or document.get("format") != form:
        raise ConfigError(f"{path}: not a boardsync {kind} (its format is not {form!r})")
    if document.get("version") != version:
        raise ConfigError(
            f"{path}: a {kind} of version {document.get('version')!r}; this boardsync {verb} version {version}"
        )
    return document


def load(document: Mapping[str, Any], origin: str = "the snapshot") -> Loaded:
    """The state and the recorded reads a snapshot document holds; a `ConfigError` naming
    `origin` and the board when a part of it cannot be read."""
    try:
        taken_at = datetime.fromisoformat(document["taken_at"])
        boards: Mapping[str, Any] = document["boards"]
        reads = {
            name: views.view_from(board["view"], datetime.fromisoformat(board["observed_at"]))
            for name, board in boards.items() if board.get("view") and board.get("observed_at")
        }
        store = _state(boards)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ConfigError(f"{origin}: cannot be read as a snapshot: {type(exc).__name__}: {exc}") from exc
    observed = [view.observed_at for view in reads.values()]
    return Loaded(store, reads, SnapshotAge(taken_at, min(observed) if observed else None))


def _state(boards: Mapping[str, Any]) -> Store:
    """A state in memory holding the snapshot's bindings, link expiries and open creates,
    then closed to writes: a plan reads it as it reads a database."""
    store = empty_store(read_only=False)
    with store.write() as session:
        for provider, board in boards.items():
            for kept in board.get("bindings", []):
                session.add(_binding_row(provider, kept))
                if kept.get("link_expires_at"):
                    expires = datetime.fromisoformat(kept["link_expires_at"])
                    # The link itself never leaves the daemon: only when it expires is known.
                    session.add(SignedLink(posting_key=kept["posting"], provider=provider, url="", expires_at=expires))
            for kept in board.get("open_creates", []):
                session.add(Intent(posting_key=kept["posting"], provider=provider, action=kept["action"],
                                   state=kept["state"], spec=kept.get("spec"), remote_id=kept.get("remote_id")))
    store.read_only = True
    return store


def _binding_row(provider: str, kept: Mapping[str, Any]) -> Binding:
    values: dict[str, Any] = {name: kept.get(name) for name in BINDING_FIELDS}
    for name in TIMES:
        values[name] = datetime.fromisoformat(values[name]) if values[name] else None
    values["attempts"] = values["attempts"] or 0
    values["absent_reads"] = values["absent_reads"] or 0
    return Binding(posting_key=kept["posting"], provider=provider, **values)
