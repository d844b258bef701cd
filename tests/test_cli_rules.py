"""Ignore rules, suspended postings and per-board overrides, against the sandbox boards over
loopback: what reaches the boards (their records and request counts), what the plan says,
and the exit code.
"""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

from boardsync.reconcile.render import load_schema
from tests.reconcile_helpers import Workspace, writes

pytestmark = pytest.mark.slow

DESIGNER = "product-designer"
SORCE_SECTION = "  sorce:\n    bid_cents: 1800"


def _plan(ws: Workspace) -> tuple[int, dict[str, Any]]:
    ran = ws.run("plan", "--json")
    document = json.loads(ran.out)
    jsonschema.validate(document, load_schema())
    return ran.code, document


def _no_writes(ws: Workspace) -> None:
    assert {board: writes(counts) for board, counts in ws.counts().items()} == {
        "sorce": {}, "hirempire": {}, "recruitifi": {},
    }


def _hirempire_job(ws: Workspace, key: str) -> dict[str, Any]:
    remote_id = ws.remote_id(key, "hirempire")
    return next(j for j in ws.hirempire_jobs() if j["id"] == remote_id)


# ------------------------------------------------------------------------------ ignore


def test_an_ignored_field_edited_on_the_board_is_neither_drift_nor_written(synced: Workspace) -> None:
    """With `boards.sorce.ignore: [description]`, a description edited in Sorce's dashboard
    is left there: plan exits 0 with no drift and counts one ignored difference; reconcile
    sends nothing."""
    synced.edit_posting(DESIGNER, SORCE_SECTION, "  sorce:\n    ignore: [description]\n    bid_cents: 1800")
    synced.sandbox.sorce.edit_job(synced.remote_id(DESIGNER, "sorce"), description="Written in the dashboard.")
    synced.clear_counts()
    code, plan = _plan(synced)
    assert code == 0 and plan["in_sync"] is True
    assert plan["drift"] == [] and plan["counts"]["ignored"] == 1
    assert [(i["provider"], i["posting"], i["field"], i["observed"]) for i in plan["ignored"]] == [
        ("sorce", DESIGNER, "description", "Written in the dashboard."),
    ]
    assert "Ignored on the board" in synced.run("plan").out
    assert "#### Ignored on the board" in synced.run("plan", "--markdown").out
    assert synced.run("reconcile").code == 0
    _no_writes(synced)
    assert synced.sorce_job(DESIGNER)["description"] == "Written in the dashboard."
    assert json.loads(synced.run("drift", "--open", "--json").out) == []


def test_an_ignored_field_is_sent_at_create_and_never_after(ws: Workspace) -> None:
    """A posting-level `ignore: [description]`: the create sends the description to both
    boards; a later change of it in the posting is sent to neither and counted as ignored."""
    ws.edit_posting(DESIGNER, "workplace: hybrid", "ignore: [description]\nworkplace: hybrid")
    assert ws.run("reconcile").code == 0
    created = ws.sorce_job(DESIGNER)["description"]
    assert created.startswith("Design the booking flow")
    assert _hirempire_job(ws, DESIGNER)["job_description"].startswith("Design the booking flow")
    ws.edit_posting(DESIGNER, "Design the booking flow", "Redesign the booking flow")
    ws.clear_counts()
    code, plan = _plan(ws)
    assert code == 0 and plan["counts"]["ignored"] == 2 and plan["changes"] == []
    assert ws.run("reconcile").code == 0
    _no_writes(ws)
    assert ws.sorce_job(DESIGNER)["description"] == created


def test_policy_ignore_leaves_one_board_alone_and_not_the_other(synced: Workspace) -> None:
    """`policy.ignore: {hirempire: [title]}`: a title edited on Hirempire stays, while the
    same edit on Sorce is drift and put back."""
    synced.write_config(ignore={"hirempire": ["title"]})
    synced.sandbox.hirempire.edit_job(synced.remote_id(DESIGNER, "hirempire"), job_title="Designer (by hand)")
    synced.sandbox.sorce.edit_job(synced.remote_id(DESIGNER, "sorce"), title="Designer (by hand)")
    synced.clear_counts()
    code, plan = _plan(synced)
    assert code == 2
    assert [(d["provider"], d["field"]) for d in plan["drift"]] == [("sorce", "title")]
    assert [(i["provider"], i["field"]) for i in plan["ignored"]] == [("hirempire", "job_title")]
    assert synced.run("reconcile").code == 0
    assert writes(synced.counts()["hirempire"]) == {}
    assert _hirempire_job(synced, DESIGNER)["job_title"] == "Designer (by hand)"
    assert synced.sorce_job(DESIGNER)["title"] == "Product Designer"


def test_an_unknown_ignore_field_is_a_validate_error_with_its_line(ws: Workspace) -> None:
    """A misspelt field in a posting's `ignore`, in a board's and in the policy's is refused
    by validate, each at its file and line, with the nearest name."""
    ws.edit_posting(DESIGNER, "workplace: hybrid", "ignore: [descripton]\nworkplace: hybrid")
    ws.edit_posting(DESIGNER, SORCE_SECTION, "  sorce:\n    ignore: [budget]\n    bid_cents: 1800")
    ws.write_config(ignore={"sorc": ["title"]})
    ran = ws.run("validate")
    assert ran.code == 1
    lines = (ran.out + ran.err).splitlines()
    path = ws.posting_file(DESIGNER)
    line_of = {text.strip(): n for n, text in enumerate(path.read_text().splitlines(), start=1)}
    assert any(
        x.startswith(f"{path}:{line_of['ignore: [descripton]']}:") and "ignore[0]" in x
        and "did you mean 'description'?" in x
        for x in lines
    ), lines
    assert any(
        x.startswith(f"{path}:{line_of['ignore: [budget]']}:") and "boards.sorce.ignore[0]" in x and "did you mean 'budgets'?" in x
        for x in lines
    ), lines
    assert any("boardsync.yaml:" in x and "policy.ignore.sorc" in x and "did you mean 'sorce'?" in x for x in lines), lines


# ------------------------------------------------------------------------------ suspend


def test_a_suspended_posting_edited_on_the_board_is_reported_and_never_written(synced: Workspace) -> None:
    """`suspend: true`, then a title edited on Sorce: plan and reconcile report the drift and
    exit 2 with "suspended" in the reason; nothing is sent, and the edit stays."""
    synced.edit_posting(DESIGNER, "workplace: hybrid", "suspend: true\nworkplace: hybrid")
    synced.sandbox.sorce.edit_job(synced.remote_id(DESIGNER, "sorce"), title="Edited by hand")
    synced.clear_counts()
    code, plan = _plan(synced)
    assert code == 2 and plan["changes"] == []
    assert [(d["provider"], d["field"], d["disposition"]) for d in plan["drift"]] == [("sorce", "title", "report")]
    assert any("the posting is suspended" in reason for reason in plan["not_in_sync"]), plan["not_in_sync"]
    ran = synced.run("reconcile")
    assert ran.code == 2 and "(the posting is suspended)" in ran.out, ran.out
    _no_writes(synced)
    assert synced.sorce_job(DESIGNER)["title"] == "Edited by hand"
    assert [d["field"] for d in json.loads(synced.run("drift", "--open", "--json").out)] == ["title"]


def test_a_suspended_posting_edited_in_the_config_is_held_not_sent(synced: Workspace) -> None:
    """A suspended posting whose title and status change in the source: the plan holds an
    update and a pause on each board (exit 2), and reconcile writes nothing."""
    synced.edit_posting(DESIGNER, "workplace: hybrid", "suspend: true\nworkplace: hybrid")
    synced.edit_posting(DESIGNER, "title: Product Designer", "title: Senior Product Designer")
    synced.edit_posting(DESIGNER, "status: active", "status: paused")
    code, plan = _plan(synced)
    assert code == 2 and plan["changes"] == []
    held = {s["provider"]: [c["action"] for c in s["held"]] for s in plan["suspended"]}
    assert held == {"sorce": ["update", "pause"], "hirempire": ["update", "pause"], "recruitifi": []}
    assert "4 changes held for 1 suspended posting" in plan["not_in_sync"]
    ran = synced.run("reconcile")
    assert ran.code == 2, ran.out
    _no_writes(synced)
    assert synced.sorce_job(DESIGNER)["title"] == "Product Designer"
    assert synced.sorce_job(DESIGNER)["status"] == "ACTIVE"


def test_a_suspended_posting_is_not_created(ws: Workspace) -> None:
    """A posting suspended before it ever reached the boards is not created there."""
    ws.edit_posting(DESIGNER, "workplace: hybrid", "suspend: true\nworkplace: hybrid")
    assert ws.run("reconcile").code == 2
    titles = {j["title"] for j in ws.sorce_jobs()} | {j["job_title"] for j in ws.hirempire_jobs()}
    assert "Product Designer" not in titles and len(ws.sorce_jobs()) == 5


def test_a_suspended_posting_removed_from_the_source_is_never_closed(synced: Workspace) -> None:
    """Suspended, then removed from the source with prune on and no grace: its jobs stay
    open run after run, reported as left open (exit 2); a posting removed unsuspended next to
    it is closed."""
    synced.write_config(prune=True, prune_after="0s", max_close_percent=100)
    synced.edit_posting(DESIGNER, "workplace: hybrid", "suspend: true\nworkplace: hybrid")
    assert synced.run("reconcile").code == 0  # suspended, and nothing differs
    synced.remove_posting(DESIGNER)
    synced.remove_posting("backend-engineer")
    for _ in range(3):
        ran = synced.run("reconcile")
        assert ran.code == 2, ran.out
    assert "of suspended postings removed from the source left open" in ran.out
    assert synced.sorce_job(DESIGNER)["status"] == "ACTIVE"
    assert _hirempire_job(synced, DESIGNER)["status"] == "active"
    assert synced.sorce_job("backend-engineer")["status"] == "CLOSED"


# ------------------------------------------------------------------------------ overrides


def test_a_board_override_reaches_that_board_only(ws: Workspace) -> None:
    """`boards.sorce.title` and `.salary`: Sorce gets them, Hirempire the posting's own; the
    next plan finds nothing to change."""
    ws.edit_posting(
        DESIGNER, SORCE_SECTION,
        "  sorce:\n    title: Product Designer (Healthcare)\n"
        "    salary: {min: 125000, max: 150000, period: year}\n    bid_cents: 1800",
    )
    assert ws.run("reconcile").code == 0
    sorce = ws.sorce_job(DESIGNER)
    assert (sorce["title"], sorce["salaryMin"], sorce["salaryMax"]) == ("Product Designer (Healthcare)", 125000, 150000)
    hirempire = _hirempire_job(ws, DESIGNER)
    assert hirempire["job_title"] == "Product Designer" and "145,000" in hirempire["salary"]
    assert ws.run("plan").code == 0


def test_an_override_is_checked_like_the_field_it_replaces(ws: Workspace) -> None:
    """A weekly salary under `boards.sorce` is what Sorce would refuse: validate names the
    override's own line and field, not the posting's salary."""
    ws.edit_posting(
        DESIGNER, SORCE_SECTION,
        "  sorce:\n    salary: {min: 2000, max: 2500, period: week}\n    bid_cents: 1800",
    )
    ran = ws.run("validate")
    assert ran.code == 1
    path = ws.posting_file(DESIGNER)
    line = next(n for n, text in enumerate(path.read_text().splitlines(), start=1) if "period: week" in text)
    problems = [x for x in (ran.out + ran.err).splitlines() if "boards.sorce.salary.period" in x]
    assert len(problems) == 1 and problems[0].startswith(f"{path}:{line}:"), ran.out + ran.err
    assert "yearly or hourly" in problems[0]
