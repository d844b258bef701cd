"""A board view's digest: stable, sensitive to any change, and made job by job."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from boardsync.connectors.base import Channel, Remote
from boardsync.log import MASK, redact
from boardsync.reconcile import record, views
from boardsync.reconcile.model import Board
from boardsync.state import KeptView, open_store

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _view(jobs: int) -> dict[str, Any]:
    return {
        "format": views.FORMAT, "gone": [], "unread": {}, "suspect": None, "learned": {},
        "jobs": [{"id": f"job_{i}", "status": "active", "spec": {"title": f"Engineer {i}", "salary": i}}
                 for i in range(jobs)],
    }


def test_the_digest_follows_the_content_not_the_key_order() -> None:
    view = _view(3)
    shuffled = dict(reversed(list(view.items())))
    assert views.digest(view) == views.digest(shuffled)
    changed = _view(3)
    changed["jobs"][1]["spec"]["salary"] = 99
    assert views.digest(changed) != views.digest(view)
    assert views.digest(_view(2)) != views.digest(view)


def test_no_string_of_the_whole_board_is_made(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each job is encoded on its own: the longest text encoded is one job's, however many."""
    lengths: list[int] = []
    dumps = json.dumps

    def measured(value: Any, **kw: Any) -> str:
        text = dumps(value, **kw)
        lengths.append(len(text))
        return text

    monkeypatch.setattr(views.json, "dumps", measured)
    views.digest(_view(500))
    one_job = len(dumps(_view(1)["jobs"][0], sort_keys=True, separators=(",", ":")))
    assert lengths and max(lengths) <= one_job + 10


def _board() -> Board:
    remotes = [
        Remote("job_2", "active",
               {"title": "Engineer", "salary": {"min": 1, "max": 2}, "when": "2026-01-02T00:00:00+00:00"},
               frozen_fields=frozenset({"salary", "title"}), expires_at=datetime(2026, 3, 1, tzinfo=UTC),
               channels={"web": Channel("web", "s1", "https://x/s1")}, posting_key="eng"),
        Remote("job_1", "paused", {"title": "Désigner", "tags": ["b", "a"]}),
    ]
    connector = SimpleNamespace(learned=lambda: {"locations": [["denver", "colorado", "us", "loc_1"]]})
    return Board("sorce", connector, remotes={r.remote_id: r for r in remotes},  # type: ignore[arg-type]
                 gone=frozenset({"job_9"}), unread={"job_8": "timed out"}, suspect="too many missing")


def test_a_board_digested_from_its_specs_as_encoded_is_digested_as_its_view() -> None:
    """The digest a run takes while it encodes each job's spec once is the digest of the
    view it would keep, and each job's hash from that encoding is `spec_hash`."""
    board = _board()
    digest, hashes = views.digests(board)
    assert digest == views.digest(views.view_of(board))
    assert hashes == {r.remote_id: record.spec_hash(r.spec, r.status) for r in board.remotes.values()}
    moved = replace(board, remotes={**board.remotes, "job_1": replace(board.remotes["job_1"], status="closed")})
    assert views.digests(moved)[0] != digest and views.digests(moved)[1]["job_1"] != hashes["job_1"]



def test_a_job_keeps_its_spec_as_text_and_hands_out_a_new_dict_at_each_read() -> None:
    """A run holds every job it read until it ends, so a job keeps its spec as JSON text:
    equal specs are equal texts whatever their key order, and a caller that changes the
    dict it was handed changes nothing the run holds."""
    job = Remote("job_1", "active", {"title": "Engineer", "salary": {"max": 2, "min": 1}, "tags": ["b", "a"]})
    assert job.spec_text == '{"salary":{"max":2,"min":1},"tags":["b","a"],"title":"Engineer"}'
    handed = job.spec
    handed["title"] = "Changed"
    assert job.spec == {"title": "Engineer", "salary": {"min": 1, "max": 2}, "tags": ["b", "a"]}
    assert job == Remote("job_1", "active", {"tags": ["b", "a"], "title": "Engineer", "salary": {"min": 1, "max": 2}})
    assert replace(job, status="closed").spec == job.spec


def test_a_spec_with_a_value_json_cannot_hold_is_refused_not_kept_as_its_string() -> None:
    """A spec is a board's payload: kept as a string, a time would come back a string and
    differ from the posting's time at every comparison."""
    with pytest.raises(TypeError, match="datetime"):
        Remote("job_1", "active", {"when": datetime(2026, 1, 2, tzinfo=UTC)})


def test_a_kept_view_is_written_a_job_at_a_time_masked_as_its_column_masks_a_value(
    state_url: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The view a run keeps is encoded job by job (a first sync of thousands of jobs never
    holds it whole as objects) and reads back as the view, with every secret masked as the
    column masks a value written whole: by the names of its keys and by its text."""
    board = _board()
    leaky = Remote("job_3", "active", {"title": "Engineer", "note": "call with Bearer abc.def-123", "token": "t-1"})
    board = replace(board, remotes={**board.remotes, "job_3": leaky})
    expected = json.loads(json.dumps(redact(views.view_of(board))))
    monkeypatch.setattr(views, "view_of", lambda board: pytest.fail("the whole view was made"))
    with open_store(state_url) as store:
        with store.write() as session:
            record._record_view(session, board, NOW, "d1")
        with store.session() as session:
            kept = session.get(KeptView, "sorce")
            assert kept is not None
            stored = kept.observed
    assert stored == expected
    job = next(j for j in stored["jobs"] if j["id"] == "job_3")
    assert job["spec"]["note"] == f"call with Bearer {MASK}" and job["spec"]["token"] == MASK
