"""A board view's digest: stable, sensitive to any change, and made job by job."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from boardsync.connectors.base import Channel, Remote
from boardsync.log import MASK, redact, register_secret
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


SECRET_VALUE = 'p@ss w/rd"é+x-0123456789'
"""A registered secret with every character an encoding changes (as `test_redaction_values`)."""
PLAIN_SECRET = "tok_0123456789abcdef"


@pytest.mark.parametrize("spec", [
    {"title": "Engineer", "description": "Builds and runs services.", "salary": 100, "remote": None},
    {"title": "Engineer", "description": f"mail {PLAIN_SECRET} to apply"},  # a plain secret in the text
    {"title": "Engineer", "description": f"say {SECRET_VALUE}"},  # one written with escapes
    {"title": "Ingénieur", "description": "naïve ü"},  # escaped as \u in the JSON text
    {"title": 'a "quoted" title', "description": "back\\slash"},
    {"title": "Engineer", "description": "send with Bearer abc.def-123"},  # a pattern's word
    {"title": "Engineer", "description": "see ?token=abc&x=1"},
    {"title": "Engineer", "Token": "t-1"},  # a key whose value is masked, in any case
    {"title": "Designer", "description": "a keyboard"},  # words that merely hold a pattern's word
    {"title": "p@ss w/rd", "description": "+x-0123456789"},  # a secret's pieces apart is no secret
])
def test_a_job_is_kept_exactly_as_masking_each_value_keeps_it(spec: dict[str, Any]) -> None:
    """Each job of a kept view is written as `redact` leaves its values, whether a secret, a
    pattern's word, an escape or nothing of the kind is in it."""
    register_secret(SECRET_VALUE, PLAIN_SECRET)
    job = Remote("job_1", "active", spec, channels={"web": Channel("web", "s1", "https://x/s1")}, posting_key="eng")
    assert views._masked_job(job) == views.encode(redact(views.remote_json(job)))


def test_a_job_with_nothing_to_mask_is_not_walked_value_by_value(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keeping a view of thousands of jobs was mostly walking their values for secrets: a job
    in which a look over its whole text finds none is kept as it is, and only one in which
    it finds something is walked."""
    register_secret(PLAIN_SECRET)
    walked: list[Any] = []
    monkeypatch.setattr(views, "redact", lambda value: walked.append(value) or redact(value))
    clean = [Remote(f"job_{i}", "active", {"title": f"Engineer {i}", "salary": i}) for i in range(50)]
    leaky = Remote("job_x", "active", {"title": "Engineer", "description": f"use {PLAIN_SECRET}"})
    board = Board("sorce", SimpleNamespace(learned=dict),  # type: ignore[arg-type]
                  remotes={r.remote_id: r for r in [*clean, leaky]})
    kept = json.loads(views.view_text(board))
    assert len(walked) == 2  # the view's own fields, and the one job with a secret in it
    assert [j["spec"].get("description") for j in kept["jobs"] if j["id"] == "job_x"] == [f"use {MASK}"]
