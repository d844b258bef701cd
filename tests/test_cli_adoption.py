"""Boards that already have jobs: `status --unmanaged`, `adopt`, `forget`, and renames with
`previous_keys`, against the sandbox boards over loopback."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

import pytest

from boardsync.sandbox import hirempire as hirempire_sim
from tests.reconcile_helpers import HIREMPIRE_COMPANY, SORCE_COMPANY, Workspace, writes

pytestmark = pytest.mark.slow


def _rows(ws: Workspace, query: str) -> list[tuple[Any, ...]]:
    connection = sqlite3.connect(ws.root / "state.db")
    try:
        return list(connection.execute(query))
    finally:
        connection.close()


def _hand_made_hirempire_job(ws: Workspace, title: str, description: str = "Made in the dashboard.") -> str:
    """A Hirempire job made by hand: a slug boardsync did not choose, so no posting's."""
    model = next(iter(ws.sandbox.hirempire.jobs_by_id.values())).spec  # the input a job was made from
    fields = set(hirempire_sim.REQUIRED_FIELDS + hirempire_sim.OPTIONAL_FIELDS) - {"public_slug", "job_sources"}
    body = {k: v for k, v in model.items() if k in fields}
    body.update(company_id=HIREMPIRE_COMPANY, job_title=title, job_description=description, job_sources=[],
                status="active")
    return str(ws.sandbox.hirempire.add_job(body)["job_id"])


def _hand_made_sorce_job(ws: Workspace, title: str) -> str:
    """A Sorce job made by hand, with a title no posting has."""
    model = ws.sorce_job("warehouse-associate")
    copy = {k: model[k] for k in ("description", "remoteOption", "jobType", "jobLevel", "salaryMin", "salaryMax",
                                  "salaryPeriod", "bidPerQualifiedApplicantCents")}
    made = ws.sandbox.sorce.api_create(SORCE_COMPANY, {
        **copy, "title": title, "locations": [{"locationId": loc["locationId"]} for loc in model["locations"]],
        "qualifications": [{"text": "Anything", "kind": "REQUIRED"}], "publish": True,
    })
    return str(made["id"])


def _ops_lead(**extra: Any) -> dict[str, Any]:
    return {
        "key": "ops-lead", "title": "Operations Lead", "description": "Run the clinics' front desks.",
        "status": "active", "workplace": "remote", "remote_country": "United States",
        "employment_type": "full_time", "level": "senior", "department": "Operations",
        "salary": {"min": 90000, "max": 110000, "period": "year", "currency": "USD"},
        "channels": ["careers-page"], "boards": {"hirempire": {}}, **extra,
    }


# ------------------------------------------------------------------------------ status --unmanaged


def test_status_unmanaged_lists_exactly_the_jobs_no_posting_owns(synced: Workspace) -> None:
    """Two jobs made by hand, one on Sorce and one on Hirempire, are the only jobs listed; the
    boards are only read."""
    sorce_id = _hand_made_sorce_job(synced, "Night Shift Supervisor")
    hirempire_id = _hand_made_hirempire_job(synced, "Front Desk Coordinator")
    synced.clear_counts()
    ran = synced.run("status", "--unmanaged", "--json")
    assert ran.code == 0, ran.out + ran.err
    found = json.loads(ran.out)
    assert {(j["provider"], j["remote_id"]) for j in found["jobs"]} == {("sorce", sorce_id),
                                                                          ("hirempire", hirempire_id)}
    titles = {j["remote_id"]: (j["title"], j["status"]) for j in found["jobs"]}
    assert titles == {sorce_id: ("Night Shift Supervisor", "active"), hirempire_id: ("Front Desk Coordinator", "active")}
    assert found["errors"] == []
    assert {board: writes(c) for board, c in synced.counts().items()} == {"sorce": {}, "hirempire": {},
                                                                          "recruitifi": {}}
    people = synced.run("status", "--unmanaged")
    assert sorce_id in people.out and "Front Desk Coordinator" in people.out


# ------------------------------------------------------------------------------ adopt


def test_adopt_then_plan_updates_the_differing_fields_and_reconcile_makes_no_duplicate(synced: Workspace) -> None:
    """A hand-made Hirempire job adopted for a new posting: the plan updates the fields that
    differ (no create), and the run leaves one job, bound, with a clean plan after."""
    job_id = _hand_made_hirempire_job(synced, "Operations Lead", "An old description.")
    synced.add_posting(_ops_lead())
    before = len(synced.hirempire_jobs())
    ran = synced.run("adopt", "ops-lead", "--board", "hirempire", "--id", job_id)
    assert ran.code == 0, ran.out + ran.err
    planned = json.loads(synced.run("plan", "--json", "--posting", "ops-lead").out)
    changes = [(c["provider"], c["action"]) for c in planned["changes"]]
    assert ("hirempire", "create") not in changes and ("hirempire", "update") in changes
    (update,) = [c for c in planned["changes"] if c["action"] == "update"]
    assert update["remote_id"] == job_id
    fields = {d["field"] for d in update["fields"]}
    assert {"job_description", "public_slug"} <= fields and "job_title" not in fields
    assert synced.run("reconcile").code == 0
    assert len(synced.hirempire_jobs()) == before
    assert synced.remote_id("ops-lead", "hirempire") == job_id
    job = next(j for j in synced.hirempire_jobs() if j["id"] == job_id)
    assert job["job_description"].startswith("Run the clinics")
    assert synced.run("plan").code == 0
    audit = _rows(synced, "SELECT action, ok FROM action WHERE posting_key = 'ops-lead' ORDER BY id")
    assert audit[0] == ("adopt", 1)


def test_adopt_refuses_a_bound_job_a_bound_posting_and_a_job_not_on_the_board(synced: Workspace) -> None:
    """Adopting writes nothing and exits 1, naming what is in the way, when the job is another
    posting's, the posting has a job there already, or the board has no such job."""
    synced.add_posting(_ops_lead())
    theirs = synced.remote_id("backend-engineer", "hirempire")
    ran = synced.run("adopt", "ops-lead", "--board", "hirempire", "--id", theirs)
    assert ran.code == 1 and "already bound to posting backend-engineer" in ran.err
    other = _hand_made_hirempire_job(synced, "Front Desk Coordinator")
    ran = synced.run("adopt", "backend-engineer", "--board", "hirempire", "--id", other)
    assert ran.code == 1 and f"already bound to job {theirs}" in ran.err
    ran = synced.run("adopt", "ops-lead", "--board", "hirempire", "--id", "no-such-job")
    assert ran.code == 1 and "has no job no-such-job" in ran.err
    ran = synced.run("adopt", "ops-lead", "--board", "sorce", "--id", other)
    assert ran.code == 1 and "not sent to sorce" in ran.err
    assert _rows(synced, "SELECT count(*) FROM binding WHERE posting_key = 'ops-lead'") == [(0,)]


# ------------------------------------------------------------------------------ forget


def test_forget_calls_no_board_and_leaves_the_job_live(synced: Workspace) -> None:
    """A posting removed from the config and forgotten: no request to any board, its job stays
    live, and a pruning run closes nothing (the job is unmanaged from then on)."""
    job_id = synced.remote_id("support-specialist", "sorce")
    status = next(j for j in synced.sorce_jobs() if j["id"] == job_id)["status"]
    synced.remove_posting("support-specialist")
    synced.write_config(prune=True, max_close_percent=100)
    ran = synced.run("forget", "support-specialist", "--json")
    assert ran.code == 0, ran.out + ran.err
    assert {(f["provider"], f["remote_id"]) for f in json.loads(ran.out)} >= {("sorce", job_id)}
    assert synced.counts() == {"sorce": {}, "hirempire": {}, "recruitifi": {}}
    assert synced.run("reconcile").code == 0
    synced.run("reconcile")
    job = next(j for j in synced.sorce_jobs() if j["id"] == job_id)
    assert job["status"] == status != "CLOSED"
    assert all(not k.startswith("POST") or "close" not in k for k in synced.counts()["sorce"])
    unmanaged = json.loads(synced.run("status", "--unmanaged", "--json").out)
    assert ("sorce", job_id) in {(j["provider"], j["remote_id"]) for j in unmanaged["jobs"]}


def test_forget_refuses_a_posting_still_sent_to_the_board(synced: Workspace) -> None:
    """Forgetting a posting the config still sends to a board is refused (exit 1): the next run
    would only find its job again; nothing is dropped."""
    ran = synced.run("forget", "backend-engineer", "--board", "sorce")
    assert ran.code == 1 and "still sent to sorce" in ran.err
    assert synced.remote_id("backend-engineer", "sorce")


# ------------------------------------------------------------------------------ renames


def _rename(ws: Workspace, old: str, new: str) -> None:
    path = ws.posting_file(old)
    path.write_text(path.read_text().replace(f"key: {old}\n", f"key: {new}\nprevious_keys: [{old}]\n", 1))


def test_a_rename_closes_nothing_creates_nothing_and_moves_the_history(synced: Workspace) -> None:
    """`previous_keys` renames a posting: the plan shows the rename and writes nothing; the run
    moves its bindings, audit and drift to the new key with no close and no create; the plan
    after is clean."""
    jobs = {board: synced.remote_id("backend-engineer", board) for board in ("sorce", "hirempire")}
    _rename(synced, "backend-engineer", "backend-engineer-python")
    planned = json.loads(synced.run("plan", "--json").out)
    assert planned["renamed"] == [{"old": "backend-engineer", "new": "backend-engineer-python",
                                   "providers": ["hirempire", "recruitifi", "sorce"]}]
    actions = {c["action"] for c in planned["changes"]}
    assert not actions & {"create", "close", "repost", "adopt"} and planned["removed"] == []
    assert "backend-engineer -> backend-engineer-python" in synced.run("plan").out
    assert _rows(synced, "SELECT count(*) FROM binding WHERE posting_key = 'backend-engineer-python'") == [(0,)]
    ran = synced.run("reconcile")
    assert ran.code == 0, ran.out + ran.err
    assert {board: synced.remote_id("backend-engineer-python", board) for board in jobs} == jobs
    assert not any(k.startswith("POST /api/external/v1/jobs") and k.endswith("/jobs")
                   for k in synced.counts()["sorce"])
    assert synced.counts()["hirempire"].get("POST /v1/add-job", 0) == 0
    assert _rows(synced, "SELECT count(*) FROM action WHERE posting_key = 'backend-engineer'") == [(0,)]
    assert _rows(synced, "SELECT count(*) FROM binding WHERE posting_key = 'backend-engineer'") == [(0,)]
    renamed = _rows(synced, "SELECT provider FROM action WHERE action = 'rename' ORDER BY provider")
    assert renamed == [("hirempire",), ("recruitifi",), ("sorce",)]
    assert synced.run("plan").code == 0


def test_previous_keys_that_clash_are_refused_naming_file_and_line(ws: Workspace) -> None:
    """A previous key that is a posting's key now, or that two postings claim, fails
    validation with the file and line of each."""
    path = ws.posting_file("data-analyst")
    path.write_text(path.read_text().replace("key: data-analyst\n", "key: data-analyst\nprevious_keys: [product-designer]\n"))
    ran = ws.run("validate")
    assert ran.code == 1
    assert "data-analyst.yaml:" in ran.out + ran.err and "'product-designer' is a posting's key now" in ran.out + ran.err
    path.write_text(path.read_text().replace("previous_keys: [product-designer]", "previous_keys: [old-role]"))
    other = ws.posting_file("warehouse-associate")
    other.write_text(other.read_text().replace("key: warehouse-associate\n",
                                               "key: warehouse-associate\nprevious_keys: [old-role]\n"))
    ran = ws.run("validate")
    assert ran.code == 1 and "also a previous key of" in ran.out + ran.err
