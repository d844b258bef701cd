"""Saved plans: `plan --out FILE` keeps the plan, `reconcile --plan FILE` applies exactly it, or
refuses it (exit 1, nothing sent to any board) when what it was made from has moved.

Against the three sandbox boards over loopback; what reached a board is read from the
sandbox's own records and request counters.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from boardsync.reconcile import Action
from boardsync.reconcile.render import load_schema
from boardsync.sandbox.core import Fault
from tests.reconcile_helpers import Workspace, writes

pytestmark = pytest.mark.slow

NEW_TITLE = "Senior Product Designer"
ACTIONS = [a.value for a in Action if a is not Action.REFRESH_LINK]
"""The actions that change a board (a link refresh only reads)."""


def _no_writes(ws: Workspace) -> dict[str, dict[str, int]]:
    """Per board, the requests that changed something (empty: only reads reached it)."""
    return {board: w for board, counts in ws.counts().items() if (w := writes(counts))}


def _saved(ws: Workspace, *args: str) -> tuple[Path, dict[str, Any]]:
    """`plan --out` in the workspace (exit 2: changes pending), the file and its document."""
    path = ws.root / "plan.json"
    ran = ws.run("plan", "--out", str(path), *args)
    assert ran.code == 2, ran.out + ran.err
    return path, json.loads(path.read_text())


def _retitle(ws: Workspace) -> None:
    ws.edit_posting("product-designer", "title: Product Designer", f"title: {NEW_TITLE}")


def test_a_saved_plan_applied_unchanged_makes_exactly_its_changes(synced: Workspace) -> None:
    """`plan --out` prints the plan and writes it as a schema-valid JSON plan; `reconcile --plan`
    then makes exactly its changes, exits 0, and a fresh plan finds nothing left."""
    _retitle(synced)
    path = synced.root / "plan.json"
    ran = synced.run("plan", "--out", str(path))
    assert ran.code == 2 and "product-designer" in ran.out and str(path) in ran.err
    document = json.loads(path.read_text())
    jsonschema.validate(document, load_schema())
    planned = sorted((c["provider"], c["posting"], c["action"]) for c in document["changes"])
    assert planned and {p for _, p, _ in planned} == {"product-designer"}
    assert sorted((o["provider"], o["posting"]) for o in document["observed"]) == sorted(
        (b, p) for b, p, _ in planned)
    synced.clear_counts()

    applied = synced.run("reconcile", "--plan", str(path), "--json")

    assert applied.code == 0, applied.out + applied.err
    done = json.loads(applied.out)["counts"]
    assert {a: done.get(a, 0) for a in ACTIONS} == {a: document["counts"][a] for a in ACTIONS}
    assert synced.sorce_job("product-designer")["title"] == NEW_TITLE
    assert synced.run("plan").code == 0


def test_a_hand_edit_on_a_pair_the_plan_changes_refuses_it_and_sends_nothing(synced: Workspace) -> None:
    """An edit made on the board, after the plan, to a job the plan changes makes the saved plan
    stale: exit 1 naming posting, board and field moved, and only reads reached any board."""
    _retitle(synced)
    path, _ = _saved(synced)
    job_id = synced.remote_id("product-designer", "sorce")
    synced.sandbox.sorce.edit_job(job_id, description="Edited in the dashboard.")
    synced.clear_counts()

    refused = synced.run("reconcile", "--plan", str(path))

    assert refused.code == 1, refused.out + refused.err
    assert "stale" in refused.err and "product-designer on sorce" in refused.err
    assert "description" in refused.err
    assert _no_writes(synced) == {}
    assert any(synced.counts().values())  # the boards were read: the comparison is against a fresh read
    assert synced.sorce_job("product-designer")["title"] == "Product Designer"


def test_a_board_edit_the_plan_would_not_touch_still_makes_it_stale(synced: Workspace) -> None:
    """With self_heal off a hand edit changes nothing the plan would do, yet the job the plan
    updates is no longer the one it was made against: refused, naming the field."""
    synced.write_config(self_heal=False)
    _retitle(synced)
    path, _ = _saved(synced)
    synced.sandbox.sorce.edit_job(synced.remote_id("product-designer", "sorce"), description="Edited by hand.")
    synced.clear_counts()

    refused = synced.run("reconcile", "--plan", str(path))

    assert refused.code == 1, refused.out + refused.err
    assert "product-designer on sorce: the board's job changed since the plan was made (description)" in refused.err
    assert _no_writes(synced) == {}


def test_a_posting_edited_after_the_plan_refuses_it_naming_the_posting(synced: Workspace) -> None:
    """A posting file edited after the plan was made (the config digest moved) refuses the saved
    plan, naming that posting; nothing is written to any board."""
    _retitle(synced)
    path, _ = _saved(synced)
    synced.edit_posting("backend-engineer", "title: Senior Backend Engineer (Python)",
                        "title: Staff Backend Engineer (Python)")
    synced.clear_counts()

    refused = synced.run("reconcile", "--plan", str(path))

    assert refused.code == 1
    assert "the postings changed since the plan was made" in refused.err
    assert "posting edited: backend-engineer" in refused.err
    assert _no_writes(synced) == {}


def test_a_board_that_cannot_be_read_refuses_a_plan_that_changes_it(synced: Workspace) -> None:
    """When a board the plan changes cannot be read, the plan cannot be checked against it:
    refused, naming posting and board, and nothing sent to any board."""
    _retitle(synced)
    path, _ = _saved(synced)
    synced.sandbox.sorce.faults.add(Fault("status", method="GET", path=r"/api/external/v1/jobs", status=401,
                                          times=None))
    synced.clear_counts()

    refused = synced.run("reconcile", "--plan", str(path))

    assert refused.code == 1, refused.out + refused.err
    assert "cannot be checked against the boards" in refused.err
    assert "product-designer on sorce: the board could not be read" in refused.err
    assert _no_writes(synced) == {}


@pytest.mark.parametrize(("content", "says"), [
    ("{not json", "not JSON"),
    ('{"format": "boardsync.snapshot", "version": 1}', "not a boardsync plan"),
    ('[1, 2]', "not a boardsync plan"),
    ('{"format": "boardsync.plan", "version": 2}', "a plan of version 2"),
    ('{"format": "boardsync.plan", "version": 1, "changes": []}', "make it again"),
    ('{"format": "boardsync.plan", "version": 1, "changes": [{}], "observed": [], "scope": {}, '
     '"postings": {}, "root_digest": null, "config_digest": null, "refused": null}', "not a well-formed"),
])
def test_a_file_that_is_not_a_saved_plan_is_an_error_naming_it(synced: Workspace, content: str, says: str) -> None:
    """A corrupt file, another document, another version or a cut plan: exit 1 naming the file,
    before any board is called."""
    path = synced.root / "bad-plan.json"
    path.write_text(content)

    ran = synced.run("reconcile", "--plan", str(path))

    assert ran.code == 1
    assert str(path) in ran.err and says in ran.err
    assert not any(synced.counts().values())


def test_a_missing_file_is_an_error_naming_it(synced: Workspace) -> None:
    """A saved plan that is not there: exit 1 naming the file."""
    ran = synced.run("reconcile", "--plan", str(synced.root / "nowhere.json"))
    assert ran.code == 1 and "nowhere.json" in ran.err


def test_a_plan_the_safety_check_refused_is_refused_when_applied(synced: Workspace) -> None:
    """A plan saved while the safety check refused it stays refused: `reconcile --plan` exits 1
    with the reason and closes nothing."""
    synced.write_config(prune=True, prune_after="0s")
    for key in ("warehouse-associate", "product-designer", "intern-software-2025"):
        synced.remove_posting(key)
    assert synced.run("reconcile").code == 2  # the first run only counts them missing
    path = synced.root / "plan.json"
    assert synced.run("plan", "--out", str(path)).code == 1
    assert json.loads(path.read_text())["refused"]
    synced.clear_counts()

    refused = synced.run("reconcile", "--plan", str(path))

    assert refused.code == 1
    assert "refused by the safety check" in refused.err and "max_close_percent" in refused.err
    assert _no_writes(synced) == {}


def test_a_change_on_a_pair_the_plan_does_not_touch_is_left_for_the_next_run(synced: Workspace) -> None:
    """A hand edit on another posting's job after the plan does not make it stale: only the
    plan's pair is changed, the other edit is left (exit 2), and the next run puts it back."""
    _retitle(synced)
    path, _ = _saved(synced)
    other = synced.remote_id("backend-engineer", "sorce")
    synced.sandbox.sorce.edit_job(other, title="Edited by hand")

    applied = synced.run("reconcile", "--plan", str(path))

    assert applied.code == 2, applied.out + applied.err
    assert synced.sorce_job("product-designer")["title"] == NEW_TITLE
    assert synced.sorce_job("backend-engineer")["title"] == "Edited by hand"
    assert synced.run("reconcile").code == 0
    assert synced.sorce_job("backend-engineer")["title"] == "Senior Backend Engineer (Python)"


def test_a_plan_narrowed_to_a_posting_is_applied_in_that_scope(synced: Workspace) -> None:
    """A plan made with --posting records that scope and is applied in it: another posting
    edited after it neither makes it stale nor is changed on any board."""
    _retitle(synced)
    path, document = _saved(synced, "--posting", "product-designer")
    assert document["scope"] == {"postings": ["product-designer"], "providers": None}
    synced.edit_posting("backend-engineer", "title: Senior Backend Engineer (Python)",
                        "title: Staff Backend Engineer (Python)")

    applied = synced.run("reconcile", "--plan", str(path))

    assert applied.code == 0, applied.out + applied.err
    assert synced.sorce_job("product-designer")["title"] == NEW_TITLE
    assert synced.sorce_job("backend-engineer")["title"] == "Senior Backend Engineer (Python)"
    assert synced.run("plan", "--posting", "backend-engineer").code == 2


@pytest.mark.parametrize("extra", [["--posting", "product-designer"], ["--provider", "sorce"], ["--force"]])
def test_a_saved_plan_is_applied_as_made_not_narrowed_or_forced(synced: Workspace, extra: list[str]) -> None:
    """--posting, --provider or --force beside --plan is a usage error: the plan keeps its own
    scope and its own safety check."""
    _retitle(synced)
    path, _ = _saved(synced)
    ran = synced.run("reconcile", "--plan", str(path), *extra)
    assert ran.code == 1 and "--plan" in ran.err and extra[0] in ran.err
    assert _no_writes(synced) == {}
    assert synced.sorce_job("product-designer")["title"] == "Product Designer"


def test_a_root_file_edited_after_the_plan_is_named_beside_the_postings(synced: Workspace) -> None:
    """The root file and a posting both edited after the plan: the refusal names both."""
    _retitle(synced)
    path, _ = _saved(synced)
    synced.write_config(max_close_percent=40)
    synced.edit_posting("backend-engineer", "title: Senior Backend Engineer (Python)",
                        "title: Staff Backend Engineer (Python)")
    synced.clear_counts()

    refused = synced.run("reconcile", "--plan", str(path))

    assert refused.code == 1, refused.out + refused.err
    assert "posting edited: backend-engineer" in refused.err and "the root file" in refused.err
    assert _no_writes(synced) == {}


def test_a_saved_plan_applied_twice_is_refused_the_second_time(synced: Workspace) -> None:
    """Once applied, the jobs it changed are no longer what it was made against: applying the
    same file again is refused as stale and sends nothing."""
    _retitle(synced)
    path, _ = _saved(synced)
    assert synced.run("reconcile", "--plan", str(path)).code == 0
    synced.clear_counts()

    again = synced.run("reconcile", "--plan", str(path))

    assert again.code == 1, again.out + again.err
    assert "stale" in again.err and "product-designer on sorce" in again.err
    assert _no_writes(synced) == {}


def test_a_plan_made_against_a_snapshot_is_applied_exactly(synced: Workspace) -> None:
    """`plan --snapshot --out` (no board read) saves a plan that `reconcile --plan` then applies
    against the live boards, when they still show what the snapshot held: exit 0."""
    snapshot = synced.root / "snap.json"
    assert synced.run("snapshot", "--out", str(snapshot)).code == 0
    _retitle(synced)
    synced.clear_counts()
    path, document = _saved(synced, "--snapshot", str(snapshot))
    assert document["snapshot"] is not None and document["observed"]
    assert not any(synced.counts().values())  # planned from the snapshot alone

    applied = synced.run("reconcile", "--plan", str(path))

    assert applied.code == 0, applied.out + applied.err
    assert synced.sorce_job("product-designer")["title"] == NEW_TITLE


def test_a_plan_made_against_a_snapshot_is_stale_when_the_board_moved_since(synced: Workspace) -> None:
    """A hand edit made after the snapshot, on a job the plan changes, refuses the plan saved
    from that snapshot, naming posting, board and field."""
    snapshot = synced.root / "snap.json"
    assert synced.run("snapshot", "--out", str(snapshot)).code == 0
    synced.sandbox.sorce.edit_job(synced.remote_id("product-designer", "sorce"), description="Edited by hand.")
    _retitle(synced)
    path, _ = _saved(synced, "--snapshot", str(snapshot))
    synced.clear_counts()

    refused = synced.run("reconcile", "--plan", str(path))

    assert refused.code == 1, refused.out + refused.err
    assert "product-designer on sorce: the board's job changed since the plan was made" in refused.err
    assert "description" in refused.err
    assert _no_writes(synced) == {}


def test_a_saved_plan_holds_no_credential_and_no_signed_link(synced: Workspace) -> None:
    """What the board showed is kept as digests: no secret of the environment and no signed
    link appear in the file."""
    _retitle(synced)
    path, document = _saved(synced)
    text = path.read_text()
    for value in synced.sandbox.credentials().values():
        assert value not in text
    assert "sig=" not in text and "signature" not in text.lower()
    assert all(len(d) == 32 for o in document["observed"] for d in o["fields"].values())
