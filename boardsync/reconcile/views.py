"""A board's last read, kept: what planning compares, and nothing else.

`view_of` turns a board as a run observed it into a JSON-safe value, and `digest` hashes one:
they say what a view is. A run never makes a view whole: it keeps `view_text`, the same view
masked and encoded a job at a time, per board (table ``board_view``, which a snapshot
carries), and rewrites it only when `digests`, the same digest taken job by job, changed
(`tests/test_views_digest.py` holds each to its definition). `view_from` turns a kept view
back into a `BoardView`, which `observe.observe_recorded` plans against without calling the
board.

Kept of each job: its id, status, spec (the shape `render` gives), frozen fields, expiry, the
posting it names, and the names of its channels. Never a source URL, a visit count or a
signed link: a snapshot leaves the machine, and planning needs none of them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any, cast

from boardsync.connectors.base import Channel, Remote, RemoteStatus
from boardsync.log import redact, redacts_nothing_in
from boardsync.reconcile.model import Board, BoardView
from boardsync.state.tables import RedactedJSONText

FORMAT = 1
"""The version of a kept view's shape; a view of another version is not read."""


def view_of(board: Board) -> dict[str, Any]:
    """The JSON-safe view of what `board` showed in this run's read (after look-ups by id)."""
    rest = _view_rest(board)
    jobs = [remote_json(r) for r in sorted(board.remotes.values(), key=lambda r: r.remote_id)]
    return {"format": rest.pop("format"), "jobs": jobs, **rest}


def view_text(board: Board) -> RedactedJSONText:
    """`view_of(board)` as the JSON text the state database keeps, each value masked as the
    column masks one, made a job at a time: each job's spec is decoded, masked, encoded and
    dropped before the next. Made whole, the view of a first sync of thousands of jobs (every
    spec decoded at once) was the most it held."""
    rest = redact(_view_rest(board))
    jobs = ",".join(_masked_job(r) for r in sorted(board.remotes.values(), key=lambda r: r.remote_id))
    return RedactedJSONText(f'{encode(rest)[:-1]},"jobs":[{jobs}]}}')


def _masked_job(remote: Remote) -> str:
    """``encode(redact(remote_json(remote)))``: the job's text as it is when nothing in it is
    a secret, which a look over the whole text tells in a fraction of a walk through its
    values (at thousands of jobs, the walk was most of what keeping a view cost)."""
    job = remote_json(remote)
    text = encode(job)
    return text if redacts_nothing_in(text) else encode(redact(job))


def _view_rest(board: Board) -> dict[str, Any]:
    """The view of `board` but its jobs."""
    return {
        "format": FORMAT,
        "gone": sorted(board.gone),
        "unread": dict(sorted(board.unread.items())),
        "suspect": board.suspect,
        "learned": dict(board.connector.learned()),
    }


def digest(view: Mapping[str, Any]) -> str:
    """A stable digest of a view: it is written again only when it changed. Each job is
    encoded and hashed on its own, so a board of many jobs never sits in memory as one
    string."""
    hashed = hashlib.sha256()
    for name in sorted(view):
        if name == "jobs":
            for job in view[name]:
                hashed.update(_encoded(job))
        else:
            hashed.update(_encoded({name: view[name]}))
    return hashed.hexdigest()[:32]


def _encoded(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, default=str, separators=(",", ":")).encode() + b"\n"


encode = json.JSONEncoder(sort_keys=True, default=str, separators=(",", ":")).encode
"""JSON text as `digest` encodes each part (without its newline)."""


def digests(board: Board) -> tuple[str, Mapping[str, str]]:
    """`digest(view_of(board))`, and each job's `spec_hash` by job id (`Board.spec_hashes`),
    without making the view: each job's spec text (`Remote.spec_text`) is hashed as it is."""
    rest = _view_rest(board)
    hashed = hashlib.sha256()
    for name in sorted([*rest, "jobs"]):
        if name != "jobs":
            hashed.update(_encoded({name: rest[name]}))
            continue
        for remote in sorted(board.remotes.values(), key=lambda r: r.remote_id):
            hashed.update(_job_text(remote, remote.spec_text))
    return hashed.hexdigest()[:32], board.spec_hashes


def _job_text(remote: Remote, spec: str) -> bytes:
    """`_encoded(remote_json(remote))` with the spec's text given, written key by key in
    sorted order: a run takes it of every job it read, and the encoder's walk over a dict
    made for the purpose cost twice as much."""
    channels = ",".join(f'{encode(name)}:{{"id":{encode(c.remote_id)}}}' for name, c in sorted(remote.channels.items()))
    expires = encode(remote.expires_at.isoformat()) if remote.expires_at else "null"
    frozen = ",".join(encode(name) for name in sorted(remote.frozen_fields))
    posting = encode(remote.posting_key) if remote.posting_key is not None else "null"
    return (
        f'{{"channels":{{{channels}}},"expires_at":{expires},"frozen_fields":[{frozen}],'
        f'"id":{encode(remote.remote_id)},"posting":{posting},"spec":{spec},"status":{encode(remote.status)}}}\n'
    ).encode()


def view_from(data: Mapping[str, Any], observed_at: datetime) -> BoardView:
    """The view `view_of` wrote, read at `observed_at`. A `ValueError` for another shape."""
    if data.get("format") != FORMAT:
        raise ValueError(f"a board view of format {data.get('format')!r}; this boardsync reads format {FORMAT}")
    remotes = [remote_from(job) for job in data.get("jobs", [])]
    return BoardView(
        observed_at=observed_at,
        remotes={r.remote_id: r for r in remotes},
        gone=frozenset(data.get("gone", [])),
        unread=dict(data.get("unread", {})),
        suspect=data.get("suspect"),
        learned=dict(data.get("learned", {})),
    )


def remote_json(remote: Remote) -> dict[str, Any]:
    return {"id": remote.remote_id, "status": remote.status, "spec": remote.spec, **_job_rest(remote)}


def _job_rest(remote: Remote) -> dict[str, Any]:
    """A job's view but its id, status and spec."""
    return {
        "frozen_fields": sorted(remote.frozen_fields),
        "expires_at": remote.expires_at.isoformat() if remote.expires_at else None,
        "posting": remote.posting_key,
        "channels": {name: {"id": c.remote_id} for name, c in sorted(remote.channels.items())},
    }


def remote_from(data: Mapping[str, Any]) -> Remote:
    expires = data.get("expires_at")
    return Remote(
        remote_id=str(data["id"]),
        status=cast(RemoteStatus, data["status"]),
        spec=dict(data.get("spec") or {}),
        frozen_fields=frozenset(data.get("frozen_fields", [])),
        expires_at=datetime.fromisoformat(expires) if expires else None,
        channels={
            name: Channel(name=name, remote_id=str(channel["id"]), url="")
            for name, channel in (data.get("channels") or {}).items()
        },
        posting_key=data.get("posting"),
    )
