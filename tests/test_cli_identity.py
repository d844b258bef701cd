"""Never a duplicate job: `boardsync reconcile` against the sandbox when the state does not say
which job is a posting's (a fresh, lost or second state database, a lost create answer) or the
board's list does not show a bound job.

Sorce keeps no reference of ours, so there a job is recognised by its title and place; a bound
job missing from the list is read by id, and only a 404 lets it be created again.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

import pytest

from boardsync.sandbox.core import Fault
from tests.reconcile_helpers import SORCE_COMPANY, Workspace, writes

pytestmark = pytest.mark.slow

JOBS = "/api/external/v1/jobs"


def _forget_state(ws: Workspace) -> None:
    for path in ws.root.glob("state.db*"):
        path.unlink()


def _sorce_ids(ws: Workspace) -> list[str]:
    return sorted(j["id"] for j in ws.sorce_jobs())


def _rows(ws: Workspace, query: str, db: str = "state.db") -> list[tuple[Any, ...]]:
    connection = sqlite3.connect(ws.root / db)
    try:
        return list(connection.execute(query))
    finally:
        connection.close()


def _sorce_bindings(ws: Workspace, db: str = "state.db") -> dict[str, str]:
    return dict(_rows(ws, "SELECT posting_key, remote_id FROM binding WHERE provider = 'sorce'", db))  # type: ignore[arg-type]


def _no_writes(ws: Workspace) -> None:
    assert {board: writes(counts) for board, counts in ws.counts().items()} == {
        "sorce": {}, "hirempire": {}, "recruitifi": {},
    }


# ------------------------------------------------------------------------------ without a record


def test_fresh_state_and_an_edited_posting_update_the_job_instead_of_posting_it_twice(synced: Workspace) -> None:
    """The state database is lost and a posting's description edited: Sorce's job is found by
    its title and place and updated, no second job is posted, and the next plan is clean."""
    before = _sorce_ids(synced)
    _forget_state(synced)
    synced.edit_posting("backend-engineer", "make on-call boring", "make on-call quiet")
    ran = synced.run("reconcile")
    assert ran.code == 0, ran.out + ran.err
    assert _sorce_ids(synced) == before
    assert synced.counts()["sorce"].get(f"POST {JOBS}", 0) == 0
    assert "make on-call quiet" in synced.sorce_job("backend-engineer")["description"]
    assert synced.run("plan").code == 0


def test_two_jobs_that_could_be_the_posting_block_it_as_ambiguous(synced: Workspace) -> None:
    """With no state, two live Sorce jobs with one posting's title and place: nothing is
    created or adopted for it, the pair is blocked as ambiguous, and both ids are named."""
    first = synced.sorce_job("warehouse-associate")
    copy = {k: first[k] for k in ("title", "description", "remoteOption", "jobType", "jobLevel", "salaryMin",
                                  "salaryMax", "salaryPeriod", "bidPerQualifiedApplicantCents")}
    second = synced.sandbox.sorce.api_create(SORCE_COMPANY, {
        **copy, "locations": [{"locationId": loc["locationId"]} for loc in first["locations"]],
        "qualifications": [{"text": "Anything", "kind": "REQUIRED"}], "publish": True,
    })
    before = _sorce_ids(synced)
    _forget_state(synced)
    ran = synced.run("reconcile")
    assert ran.code == 2
    assert _sorce_ids(synced) == before
    assert "warehouse-associate" not in _sorce_bindings(synced)
    planned = json.loads(synced.run("plan", "--json").out)
    (blocked,) = [b for b in planned["blocked"] if b["posting"] == "warehouse-associate"]
    assert blocked["gate"] == "ambiguous" and first["id"] in blocked["reason"] and second["id"] in blocked["reason"]


def test_a_second_state_database_on_the_same_boards_posts_nothing_twice(synced: Workspace) -> None:
    """A second database (a CI job's own) reconciling the same boards, one job of which was
    edited in Sorce's dashboard, adopts every job: no new job on any board, the edit is put
    back, and both databases then plan nothing."""
    edited = synced.remote_id("product-designer", "sorce")
    synced.sandbox.sorce.edit_job(edited, description="Edited in the dashboard.")
    sorce_before, hirempire_before = _sorce_ids(synced), len(synced.hirempire_jobs())
    config = synced.root / "boardsync.yaml"
    original = config.read_text()
    config.write_text(original.replace("sqlite:///state.db", "sqlite:///other.db"))
    assert synced.run("reconcile").code == 0
    assert _sorce_ids(synced) == sorce_before and len(synced.hirempire_jobs()) == hirempire_before
    assert _sorce_bindings(synced, "other.db") == _sorce_bindings(synced, "state.db")
    assert synced.sorce_job("product-designer")["description"] != "Edited in the dashboard."
    assert synced.run("plan").code == 0
    config.write_text(original)
    assert synced.run("plan").code == 0


# ------------------------------------------------------------------------------ missing from the list


def test_a_bound_job_hidden_from_the_list_is_read_by_id_and_not_posted_again(synced: Workspace) -> None:
    """GET /jobs leaves one bound job out: it is read once by id, nothing is created or
    written, and the run converges."""
    hidden = synced.remote_id("product-designer", "sorce")
    synced.sandbox.sorce.set_listed(hidden, False)
    ran = synced.run("reconcile")
    assert ran.code == 0, ran.out + ran.err
    sorce = synced.counts()["sorce"]
    assert sorce.get(f"GET {JOBS}/{hidden}") == 1 and writes(sorce) == {}
    assert len(synced.sorce_jobs()) == 6


def test_bound_jobs_of_a_status_the_list_hides_are_listed_by_status_not_read_one_by_one(synced: Workspace) -> None:
    """A list that hides closed jobs unless asked for them: one closed job still bound is read
    by id (one read costs less than a list); three are found in one list of the closed status,
    not read by id one request each, every run."""
    synced.sandbox.sorce.hide_by_default(["CLOSED"])
    synced.edit_posting("backend-engineer", "status: active", "status: closed")
    assert synced.run("reconcile").code == 0
    synced.clear_counts()
    assert synced.run("reconcile").code == 0
    sorce = synced.counts()["sorce"]
    hidden = synced.remote_id("backend-engineer", "sorce")
    assert sorce.get(f"GET {JOBS}/{hidden}") == 1 and sorce[f"GET {JOBS}"] == 1

    for key in ("product-designer", "warehouse-associate"):
        synced.edit_posting(key, "status: active", "status: closed")
    assert synced.run("reconcile", "--force").code == 0  # two of the live postings closing: a mass close
    synced.clear_counts()
    ran = synced.run("reconcile")
    assert ran.code == 0, ran.out + ran.err
    sorce = synced.counts()["sorce"]
    assert [k for k in sorce if k.startswith(f"GET {JOBS}/")] == [] and writes(sorce) == {}
    assert sorce[f"GET {JOBS}"] == 2  # the list asked for no status, then the closed jobs'


def test_a_status_list_that_fails_leaves_its_jobs_to_be_read_by_id(synced: Workspace) -> None:
    """The list of the closed status is refused: the closed jobs it would have shown are read
    by id instead, one each, and the run goes on as before."""
    synced.sandbox.sorce.hide_by_default(["CLOSED"])
    for key in ("backend-engineer", "product-designer", "warehouse-associate"):
        synced.edit_posting(key, "status: active", "status: closed")
    assert synced.run("reconcile", "--force").code == 0
    synced.clear_counts()
    synced.sandbox.sorce.faults.add(Fault("latency", method="GET", path=f"{JOBS}$", latency_ms=0))  # the first list
    synced.sandbox.sorce.faults.add(Fault("status", status=422, method="GET", path=f"{JOBS}$"))  # the closed jobs'
    ran = synced.run("reconcile")
    assert ran.code == 0, ran.out + ran.err
    sorce = synced.counts()["sorce"]
    closed = {j["id"] for j in synced.sorce_jobs() if j["status"] == "CLOSED"}
    assert len(closed) == 3 and {k.rsplit("/", 1)[1] for k in sorce if k.startswith(f"GET {JOBS}/")} == closed
    assert writes(sorce) == {}


def test_a_bound_job_deleted_on_hirempire_is_created_again_after_a_404(synced: Workspace) -> None:
    """A job deleted on Hirempire is missing from its list; get-job answers 404, so it is
    gone and created again (self_heal)."""
    gone = synced.remote_id("backend-engineer", "hirempire")
    synced.sandbox.hirempire.delete_job(gone)
    assert synced.run("reconcile").code == 0
    hirempire = synced.counts()["hirempire"]
    assert hirempire.get("GET /v1/get-job") == 1 and hirempire.get("POST /v1/add-job") == 1
    assert synced.remote_id("backend-engineer", "hirempire") != gone


def test_a_job_found_gone_is_not_read_again(ws: Workspace) -> None:
    """Without self_heal a deleted Hirempire job stays missing: it is read by id once, and
    later runs remember the 404 instead of asking again."""
    ws.write_config(self_heal=False)
    assert ws.run("reconcile").code == 0
    ws.sandbox.hirempire.delete_job(ws.remote_id("backend-engineer", "hirempire"))
    for reads in ({"GET /v1/jobs": 1, "GET /v1/get-job": 1}, {"GET /v1/jobs": 1}):
        ws.clear_counts()
        ran = ws.run("reconcile")
        assert "hirempire/backend-engineer status" in ran.out  # the missing job, reported
        assert ws.counts()["hirempire"] == reads


def test_an_empty_list_while_jobs_are_bound_refuses_the_run(synced: Workspace) -> None:
    """Sorce's list comes back empty while six jobs are bound: no job is read one by one,
    the run is refused (exit 1) and nothing is written to any board; --force reads each job
    by id, finds them all, and creates nothing."""
    bound = list(_sorce_bindings(synced).values())
    for remote_id in bound:
        synced.sandbox.sorce.set_listed(remote_id, False)
    ran = synced.run("reconcile")
    assert ran.code == 1, ran.out + ran.err
    assert "came back empty" in ran.out + ran.err
    _no_writes(synced)
    assert [k for k in synced.counts()["sorce"] if k.startswith(f"GET {JOBS}/")] == []
    synced.clear_counts()
    forced = synced.run("reconcile", "--force")
    assert forced.code == 0, forced.out + forced.err
    sorce = synced.counts()["sorce"]
    assert sorted(k for k in sorce if k.startswith(f"GET {JOBS}/")) == sorted(f"GET {JOBS}/{i}" for i in bound)
    _no_writes(synced)


def test_too_many_bound_jobs_missing_from_the_list_refuse_the_run(synced: Workspace) -> None:
    """Two of Sorce's four bound live jobs missing from the list (50%, over the 30% allowed):
    none is read by id, the run is refused naming the share, and nothing is written."""
    live = [synced.remote_id(key, "sorce") for key in ("backend-engineer", "product-designer")]
    for remote_id in live:
        synced.sandbox.sorce.set_listed(remote_id, False)
    ran = synced.run("reconcile")
    assert ran.code == 1 and "missing from the list" in ran.out + ran.err
    assert [k for k in synced.counts()["sorce"] if k.startswith(f"GET {JOBS}/")] == []
    _no_writes(synced)


def test_a_failing_read_by_id_blocks_the_pair_and_creates_nothing(synced: Workspace) -> None:
    """A bound job missing from the list whose read by id fails (500s): its pair is blocked
    for this run, no job is created, and the exit code says the boards do not match."""
    hidden = synced.remote_id("product-designer", "sorce")
    synced.sandbox.sorce.set_listed(hidden, False)
    synced.sandbox.sorce.faults.add(Fault("status", status=500, method="GET", path=f"{JOBS}/{hidden}", times=None))
    ran = synced.run("reconcile")
    assert ran.code == 2
    assert writes(synced.counts()["sorce"]) == {} and len(synced.sorce_jobs()) == 6
    planned = json.loads(synced.run("plan", "--json").out)
    (blocked,) = [b for b in planned["blocked"] if b["posting"] == "product-designer"]
    assert blocked["gate"] == "unread" and hidden in blocked["reason"]


# ------------------------------------------------------------------------------ lost creates


def _courier(key: str, city: str, state: str) -> dict[str, Any]:
    return {
        "key": key, "title": "Courier", "status": "active", "description": "Deliver supplies to our clinics.",
        "workplace": "on_site", "locations": [{"city": city, "state": state, "country": "United States"}],
        "employment_type": "full_time", "level": "entry", "department": "Operations",
        "salary": {"min": 40_000, "max": 48_000, "period": "year", "currency": "USD"},
        "qualifications": [{"text": "A driving licence"}], "boards": {"sorce": {"bid_cents": 400}},
    }


def test_two_postings_differing_only_in_city_each_keep_their_own_job_after_lost_creates(ws: Workspace) -> None:
    """Both creates' answers are lost: the next run binds each posting to the job in its own
    city (never both to one), writes an audit row for each adoption and counts them."""
    ws.add_posting(_courier("courier-denver", "Denver", "Colorado"))
    ws.add_posting(_courier("courier-austin", "Austin", "Texas"))
    only = ("--provider", "sorce", "--posting", "courier-denver", "--posting", "courier-austin")
    ws.sandbox.sorce.faults.add(Fault("lost_response", method="POST", path=r".*/jobs", times=2))
    assert ws.run("reconcile", *only).code == 2
    assert len(ws.sorce_jobs()) == 2
    assert ws.run("reconcile", *only).code == 0
    bindings = _sorce_bindings(ws)
    assert len(ws.sorce_jobs()) == 2 and bindings["courier-denver"] != bindings["courier-austin"]
    cities = {j["id"]: j["locations"][0]["city"] for j in ws.sorce_jobs()}
    assert cities[bindings["courier-denver"]] == "Denver" and cities[bindings["courier-austin"]] == "Austin"
    assert _rows(ws, "SELECT state FROM intent ORDER BY id") == [("succeeded",), ("succeeded",)]
    adopted = _rows(ws, "SELECT posting_key, ok FROM action WHERE action = 'adopt' ORDER BY posting_key")
    assert adopted == [("courier-austin", 1), ("courier-denver", 1)]
    ((counts,),) = _rows(ws, "SELECT counts FROM run ORDER BY id DESC LIMIT 1")
    assert json.loads(counts)["adopt"] == 2
    assert ws.run("plan", *only).code == 0


def test_a_lost_create_whose_posting_is_then_removed_is_bound_and_reported(ws: Workspace) -> None:
    """The create's answer is lost, then the posting file is removed: the next run still
    settles the intent, binds the job and reports it as removed from the source."""
    only = ("--provider", "sorce", "--posting", "warehouse-associate")
    ws.sandbox.sorce.faults.add(Fault("lost_response", method="POST", path=r".*/jobs", times=1))
    assert ws.run("reconcile", *only).code == 2
    (job,) = ws.sorce_jobs()
    ws.remove_posting("warehouse-associate")
    ws.run("reconcile", "--provider", "sorce")
    assert _rows(ws, "SELECT state FROM intent ORDER BY id")[0] == ("succeeded",)
    assert _sorce_bindings(ws)["warehouse-associate"] == job["id"]
    planned = json.loads(ws.run("plan", "--json", "--provider", "sorce").out)
    assert [(r["posting"], r["remote_id"]) for r in planned["removed"]] == [("warehouse-associate", job["id"])]


def test_a_lost_create_in_a_status_the_list_hides_is_found_there_and_never_sent_again(ws: Workspace) -> None:
    """Whether Sorce's list asked for no status shows every status is not documented. A create
    whose answer was lost made a job in a status that list leaves out: the next run looks in
    the list of each status a create leaves, adopts the job, and the create is sent once, ever.
    (The list then comes back empty while a job is bound, which refuses a run until `--force`
    reads the job by id.)"""
    only = ("--provider", "sorce", "--posting", "warehouse-associate")
    ws.sandbox.sorce.faults.add(Fault("lost_response", method="POST", path=r".*/jobs", times=1))
    assert ws.run("reconcile", *only).code == 2
    (job,) = ws.sorce_jobs()
    ws.sandbox.sorce.hide_by_default([job["status"]])
    ws.run("reconcile", *only)
    assert ws.counts()["sorce"]["POST /api/external/v1/jobs"] == 1
    assert [j["id"] for j in ws.sorce_jobs()] == [job["id"]]
    assert _sorce_bindings(ws)["warehouse-associate"] == job["id"]
    assert _rows(ws, "SELECT state FROM intent ORDER BY id") == [("succeeded",)]
    assert _rows(ws, "SELECT posting_key FROM action WHERE action = 'adopt'") == [("warehouse-associate",)]
    ran = ws.run("reconcile", "--force", *only)
    assert ran.code == 0, ran.out + ran.err
    assert ws.counts()["sorce"]["POST /api/external/v1/jobs"] == 1


def test_a_lost_hirempire_create_with_its_own_slug_is_adopted_never_sent_again(ws: Workspace) -> None:
    """A posting that gives its own public_slug: add-job's answer is lost, and the next run
    finds the job by the slug the create sent and adopts it; add-job is called once, ever."""
    ws.edit_posting("warehouse-associate", "career_level: Junior\n",
                    "career_level: Junior\n    public_slug: evening-shifts-austin\n")
    only = ("--provider", "hirempire", "--posting", "warehouse-associate")
    ws.sandbox.hirempire.faults.add(Fault("lost_response", method="POST", path=r".*/add-job", times=1))
    assert ws.run("reconcile", *only).code == 2
    (job,) = ws.hirempire_jobs()
    assert job["public_slug"] == "evening-shifts-austin"

    ran = ws.run("reconcile", *only)
    assert ran.code == 0, ran.out + ran.err
    assert ws.counts()["hirempire"]["POST /v1/add-job"] == 1
    assert [j["id"] for j in ws.hirempire_jobs()] == [job["id"]]
    assert ws.remote_id("warehouse-associate", "hirempire") == job["id"]
    assert _rows(ws, "SELECT state FROM intent ORDER BY id") == [("succeeded",)]
    assert _rows(ws, "SELECT posting_key FROM action WHERE action = 'adopt'") == [("warehouse-associate",)]


def test_a_create_whose_slug_is_on_another_postings_job_never_takes_that_job(synced: Workspace) -> None:
    """Another posting's job was given this posting's slug by hand: the create's 409 finds
    that job, which is bound to the other posting, so the create is refused and the pair
    blocked, naming that posting, instead of both postings bound to one job."""
    taken = synced.remote_id("backend-engineer", "hirempire")
    synced.sandbox.hirempire.edit_job(taken, public_slug="walk-in-clinic")
    synced.add_posting({
        "key": "a-walk-in-clinic", "title": "Walk-in Clinic Nurse", "status": "active",
        "description": "See walk-in patients.", "workplace": "remote", "remote_country": "United States",
        "employment_type": "full_time", "level": "mid", "department": "Health Care Provider",
        "salary": {"min": 80_000, "max": 90_000, "period": "year", "currency": "USD"}, "channels": ["indeed"],
        "boards": {"hirempire": {"public_slug": "walk-in-clinic"}},
    })
    ran = synced.run("reconcile", "--provider", "hirempire")
    assert ran.code == 2
    blocked = json.loads(synced.run("plan", "--json", "--provider", "hirempire").out)["blocked"]
    assert [b["posting"] for b in blocked] == ["a-walk-in-clinic"] and "backend-engineer" in blocked[0]["reason"]
    assert _rows(synced, "SELECT posting_key FROM binding WHERE provider = 'hirempire' AND remote_id = "
                 f"'{taken}'") == [("backend-engineer",)]
    assert _rows(synced, "SELECT state FROM intent WHERE posting_key = 'a-walk-in-clinic'") == [("failed",)]
    assert next(j for j in synced.hirempire_jobs() if j["id"] == taken)["public_slug"] == "bs-backend-engineer"


def test_a_plan_after_a_lost_create_shows_the_adoption_and_writes_nothing(ws: Workspace) -> None:
    """The create's answer is lost: `plan` shows the job found on the board as an adoption
    (exit 2, no create) and records nothing — the intent stays unknown and the pair is bound
    to no job — so the run after it still settles the intent, and Sorce keeps one job."""
    only = ("--provider", "sorce", "--posting", "warehouse-associate")
    ws.sandbox.sorce.faults.add(Fault("lost_response", method="POST", path=r".*/jobs", times=1))
    assert ws.run("reconcile", *only).code == 2
    (job,) = ws.sorce_jobs()
    before = _rows(ws, "SELECT state FROM intent ORDER BY id")

    planned = ws.run("plan", "--json", *only)
    assert planned.code == 2, planned.err
    actions = [(c["action"], c["posting"]) for c in json.loads(planned.out)["changes"]]
    assert ("adopt", "warehouse-associate") in actions and ("create", "warehouse-associate") not in actions, actions
    assert _rows(ws, "SELECT state FROM intent ORDER BY id") == before != [("succeeded",)]
    assert _sorce_bindings(ws).get("warehouse-associate") is None  # the pair's row holds no job id yet

    assert ws.run("reconcile", *only).code == 0
    assert [j["id"] for j in ws.sorce_jobs()] == [job["id"]]
    assert _sorce_bindings(ws)["warehouse-associate"] == job["id"]
