"""Saved plans: `plan --out FILE` keeps the JSON plan, `reconcile --plan FILE` applies exactly
it, or refuses it as stale.

A saved plan is never replayed: the run observes the boards and plans as any run does, then
compares that fresh plan with the saved one before anything is sent. They must agree on the
config (its digest), on every pair the saved plan changes (the same changes, and the board
showing the same job as when the plan was made: `Observed` digests) and on the safety check
(a refused plan stays refused). When they agree, only the saved plan's pairs are applied;
changes planned for other pairs are left for the next run.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from boardsync.errors import ConfigError
from boardsync.reconcile import render
from boardsync.reconcile.snapshot import read_document
from boardsync.reconcile.model import Action, Board, Change, Known, Observed, Pair, Plan, Scope

STATUS = "status"
"""The pseudo-field naming a job's lifecycle among the observed fields."""


@dataclass(frozen=True)
class SavedPlan:
    """A saved plan as `reconcile --plan` compares it: what it was made from and what it changes."""

    origin: str
    config_digest: str | None
    refused: str | None
    scope: Scope
    changes: Mapping[Pair, tuple[dict[str, Any], ...]]
    """Per pair with a change on its board: its changes as compared (reason aside)."""
    observed: Mapping[Pair, Observed]
    postings: Mapping[str, str] = field(default_factory=dict)
    """Posting key → digest of the posting, to name the ones edited since."""
    root_digest: str | None = None


# ------------------------------------------------------------------------------ making one


def digest(value: Any) -> str:
    encoded = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(encoded.encode("utf-8")).hexdigest()[:32]


def observed(plan: Plan, boards: Mapping[str, Board], known: Known) -> tuple[Observed, ...]:
    """What each board shows, as digests, for every pair the plan changes on its board."""
    found = []
    for pair, changes in _pairs(plan.board_changes).items():
        posting, provider = pair
        binding = known.bindings.get(pair)
        remote_id = (binding.remote_id if binding else None) or next((c.remote_id for c in changes if c.remote_id), None)
        board = boards.get(provider)
        remote = board.remotes.get(remote_id) if board is not None and remote_id else None
        if remote is None:
            found.append(Observed(provider, posting, remote_id, None))
            continue
        spec = remote.spec
        fields = {name: digest(value) for name, value in spec.items()}
        fields[STATUS] = digest(str(remote.status))
        found.append(Observed(provider, posting, remote_id, digest([str(remote.status), spec]), fields))
    return tuple(found)


def scope(postings: Iterable[str] | None, providers: Iterable[str] | None) -> Scope:
    return Scope(tuple(sorted(set(postings))) if postings is not None else None,
                 tuple(sorted(set(providers))) if providers is not None else None)


# ------------------------------------------------------------------------------ reading one


def read(path: Path) -> SavedPlan:
    """The saved plan in `path`; a `ConfigError` naming the file for anything that is not one."""
    document = read_document(path, "plan", render.FORMAT, render.VERSION, "applies")
    if not {"observed", "scope", "postings", "root_digest"} <= document.keys():
        raise ConfigError(f"{path}: a plan without what a saved plan needs (`observed`, `scope`, …): an older "
                          "boardsync made it, or it was cut; "
                          "make it again with `boardsync plan --out`")
    try:
        return _saved(document, str(path))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ConfigError(f"{path}: not a well-formed boardsync plan ({type(exc).__name__}: {exc})") from exc


def _saved(document: Mapping[str, Any], origin: str) -> SavedPlan:
    changes: dict[Pair, list[dict[str, Any]]] = {}
    for change in document["changes"]:
        if Action(change["action"]) is not Action.REFRESH_LINK:
            changes.setdefault((str(change["posting"]), str(change["provider"])), []).append(_compared(change))
    seen = (
        Observed(str(o["provider"]), str(o["posting"]), o["remote_id"], o["digest"], dict(o["fields"]))
        for o in document["observed"]
    )
    given = document["scope"]
    return SavedPlan(
        origin=origin,
        config_digest=document["config_digest"],
        refused=document["refused"],
        scope=Scope(_names(given["postings"]), _names(given["providers"])),
        changes={pair: tuple(items) for pair, items in changes.items()},
        observed={o.pair: o for o in seen},
        postings={str(k): str(v) for k, v in document["postings"].items()},
        root_digest=document["root_digest"],
    )


def _names(value: Sequence[str] | None) -> tuple[str, ...] | None:
    return None if value is None else tuple(str(v) for v in value)


def _compared(change: Mapping[str, Any]) -> dict[str, Any]:
    """A change as two plans are compared: all but its reason, which is only words."""
    return {k: v for k, v in change.items() if k != "reason"}


# ------------------------------------------------------------------------------ comparing


def refusal(saved: SavedPlan, fresh: Plan) -> str | None:
    """Why `saved` may not be applied now that the boards planned `fresh`, or None when it may."""
    if saved.refused:
        return f"the saved plan {saved.origin} was refused by the safety check when it was made: {saved.refused}"
    moved = _postings_moved(saved, fresh) + _pairs_moved(saved, fresh)
    unchecked = _pairs_unread(saved, fresh)
    if moved:
        return (f"the saved plan {saved.origin} is stale: " + "; ".join(moved + unchecked)
                + "; make a new plan with `boardsync plan --out`")
    if unchecked:
        return (f"the saved plan {saved.origin} cannot be checked against the boards: " + "; ".join(unchecked)
                + "; apply it when the board answers")
    return None


def _unread(fresh: Plan) -> dict[str, str]:
    """Board → why this run could not read it."""
    return {e.provider: e.message for e in fresh.errors if e.posting is None}


def _pairs_unread(saved: SavedPlan, fresh: Plan) -> list[str]:
    unread = _unread(fresh)
    return [f"{posting} on {provider}: the board could not be read ({unread[provider]})"
            for posting, provider in sorted(saved.changes) if provider in unread]


def _postings_moved(saved: SavedPlan, fresh: Plan) -> list[str]:
    """The config the plan was made from, changed since: all of it, or for a plan narrowed
    by --posting, the root file and those postings only (another posting is no concern of it)."""
    then, now = dict(saved.postings), dict(fresh.posting_digests)
    if saved.scope.postings is not None:
        keys = set(saved.scope.postings)
        then, now = {k: v for k, v in then.items() if k in keys}, {k: v for k, v in now.items() if k in keys}
    elif saved.config_digest == fresh.config_digest:
        return []
    edited = sorted(k for k in then.keys() & now.keys() if then[k] != now[k])
    added, removed = sorted(now.keys() - then.keys()), sorted(then.keys() - now.keys())
    named = [f"{what} {', '.join(keys)}" for what, keys in
             (("posting edited:", edited), ("posting added:", added), ("posting removed:", removed)) if keys]
    if saved.root_digest != fresh.root_digest:
        named.append("the root file")
    if not named and saved.scope.postings is not None:
        return []
    # The digests name what moved; a digest of the whole that moved alone is said as that.
    return ["the postings changed since the plan was made (" + ("; ".join(named) or "config_digest") + ")"]


def _pairs_moved(saved: SavedPlan, fresh: Plan) -> list[str]:
    now_changes = {pair: tuple(_compared(render.change_document(c)) for c in changes)
                   for pair, changes in _pairs(fresh.board_changes).items()}
    now_seen = {o.pair: o for o in fresh.observed}
    unread = _unread(fresh)
    moved = []
    for pair in sorted(saved.changes):
        posting, provider = pair
        where = f"{posting} on {provider}"
        if provider in unread:  # not known to have moved: `_pairs_unread` says it
            continue
        fields = _fields_moved(saved.observed.get(pair), now_seen.get(pair))
        if fields:
            moved.append(f"{where}: the board's job changed since the plan was made ({', '.join(fields)})")
        elif now_changes.get(pair, ()) != saved.changes[pair]:
            moved.append(f"{where}: the plan for it changed ({_actions(saved.changes[pair])} → "
                         f"{_actions(now_changes.get(pair, ()))})")
    return moved


def _fields_moved(before: Observed | None, now: Observed | None) -> list[str]:
    """The fields (and ``status``) whose observed value differs; ``the job`` when one side has none."""
    then_digest = before.digest if before else None
    now_digest = now.digest if now else None
    if then_digest == now_digest:
        return []
    if before is None or now is None or then_digest is None or now_digest is None:
        return ["the job: " + ("gone" if now_digest is None else "appeared")]
    names = sorted(set(before.fields) | set(now.fields), key=lambda n: (n != STATUS, n))
    return [n for n in names if before.fields.get(n) != now.fields.get(n)] or ["the job"]


def _actions(changes: Sequence[Mapping[str, Any]]) -> str:
    return ", ".join(str(c["action"]) for c in changes) or "nothing"


# ------------------------------------------------------------------------------ applying


def only_saved(fresh: Plan, saved: SavedPlan) -> tuple[Plan, int]:
    """The fresh plan cut down to the saved plan's pairs, and how many board changes that
    leaves for the next run. Link refreshes stay: they change nothing on a board."""
    kept = tuple(c for c in fresh.changes if c.pair in saved.changes or c.action is Action.REFRESH_LINK)
    return replace(fresh, changes=kept), len(fresh.changes) - len(kept)


def _pairs(changes: Iterable[Change]) -> dict[Pair, list[Change]]:
    pairs: dict[Pair, list[Change]] = {}
    for change in changes:
        pairs.setdefault(change.pair, []).append(change)
    return pairs
