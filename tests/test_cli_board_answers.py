"""What boardsync believes of a board's answer, end to end against the sandbox over loopback.

A read answered in another shape than the board documents leaves that board unread for the
run: exit 2, nothing created, closed or updated from it, the error naming the call and the
field. What a board takes but does not show back (Sorce's qualification kinds and budget
windows) is compared with what was last sent: sent once when it changes, never again. Places
are resolved, and refused, when planning.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from boardsync.sandbox.core import Fault
from tests.reconcile_helpers import Workspace, without_upcoming, writes

pytestmark = pytest.mark.slow

JOBS = r"/api/external/v1/jobs"
SEARCH = "GET /api/external/v1/locations/search"


def _section(plan: str, heading: str) -> str:
    """The lines of a plan's text under `heading` (a board's changes), up to the next heading."""
    lines = plan.splitlines()
    start = lines.index(heading) + 1 if heading in lines else len(lines)
    end = next((i for i in range(start, len(lines)) if not lines[i].startswith(" ")), len(lines))
    return "\n".join(lines[start:end])


def _sorce_list_rewritten(ws: Workspace, **fault: object) -> None:
    ws.sandbox.sorce.faults.add(Fault("rewrite", method="GET", path=JOBS, times=None, **fault))  # type: ignore[arg-type]


# ------------------------------------------------------------------------------ answers checked


def test_a_sorce_list_with_numeric_ids_leaves_sorce_unread_and_creates_nothing(synced: Workspace) -> None:
    """`GET /jobs` answering every `id` as a number: Sorce is not read this run, exit 2, no
    job is posted again, and the error names the call and the field; Hirempire still syncs."""
    synced.edit_posting("backend-engineer", "Senior Backend Engineer (Python)", "Staff Backend Engineer (Python)")
    _sorce_list_rewritten(synced, rewrite={"items[*].id": 123})
    ran = synced.run("reconcile")
    assert ran.code == 2, ran.out
    assert "sorce: GET /jobs: items[0].id: expected a string, got 123" in ran.out, ran.out
    assert writes(synced.counts()["sorce"]) == {}
    assert len(synced.sorce_jobs()) == 6
    assert writes(synced.counts()["hirempire"]) == {"PATCH /v1/update-job": 1}
    synced.sandbox.sorce.faults.clear()
    assert synced.run("reconcile").code == 0
    assert len(synced.sorce_jobs()) == 6


def test_a_sorce_job_without_a_title_leaves_sorce_unread(synced: Workspace) -> None:
    """A job in the list without its `title` key is not a Job as documented: Sorce is not
    read, `plan` names `items[2].title` and plans nothing for Sorce, and `reconcile` exits 2
    having sent it nothing."""
    synced.edit_posting("backend-engineer", "Senior Backend Engineer (Python)", "Staff Backend Engineer (Python)")
    _sorce_list_rewritten(synced, drop=["items[2].title"])
    planned = synced.run("plan")
    assert "sorce: GET /jobs: items[2].title: missing" in planned.out, planned.out
    assert not planned.out.startswith("sorce"), planned.out  # no Sorce section of changes
    ran = synced.run("reconcile")
    assert ran.code == 2 and "sorce: GET /jobs: items[2].title: missing" in ran.out, ran.out
    assert writes(synced.counts()["sorce"]) == {}


def test_a_hirempire_list_of_the_wrong_shape_leaves_hirempire_unread(synced: Workspace) -> None:
    """Hirempire's `jobs` answered as an object instead of a list, or a job `id` as a number:
    that board is not read, exit 2, nothing created on it; Sorce still converges."""
    for fault in ({"rewrite": {"jobs": {"items": []}}}, {"rewrite": {"jobs[*].id": 7}}):
        synced.sandbox.hirempire.faults.add(
            Fault("rewrite", method="GET", path=r"/v1/jobs", times=None, **fault))  # type: ignore[arg-type]
        ran = synced.run("reconcile")
        assert ran.code == 2, ran.out
        assert "hirempire: GET /jobs: jobs" in ran.out and "expected" in ran.out, ran.out
        assert writes(synced.counts()["hirempire"]) == {} and len(synced.hirempire_jobs()) == 6
        synced.sandbox.hirempire.faults.clear()
    assert synced.run("reconcile").code == 0


def test_a_sorce_create_answered_in_another_shape_is_settled_never_sent_twice(ws: Workspace) -> None:
    """The create lands but its answer carries a numeric `id`: the outcome is unknown (exit 2,
    an unknown intent), and the next run finds the job instead of posting it again."""
    ws.sandbox.sorce.faults.add(Fault("rewrite", method="POST", path=JOBS, rewrite={"id": 5}, times=1))
    first = ws.run("reconcile")
    assert first.code == 2, first.out
    with ws.store() as store:
        assert store.metrics().intents_by_state["unknown"] == 1
    assert len(ws.sorce_jobs()) == 6
    assert ws.run("reconcile").code == 0
    assert len(ws.sorce_jobs()) == 6


# ------------------------------------------------------------------------------ what is not shown back


def test_a_second_run_sends_nothing_though_sorce_shows_no_kind_or_window(synced: Workspace) -> None:
    """The sandbox answers as documented, without qualification kinds or budget windows; the
    desired ones still match what was sent, so the next runs plan nothing and write nothing."""
    job = synced.sorce_job("backend-engineer")
    assert all("kind" not in q for q in job["qualifications"]) and all("window" not in b for b in job["budgets"])
    for _ in range(2):
        assert synced.run("reconcile").code == 0
    assert writes(synced.counts()["sorce"]) == {}
    assert without_upcoming(synced.run("plan").out) == "Plan: nothing to change.\n"


@pytest.mark.parametrize(
    ("old", "new", "field", "kept"),
    [
        ("  - text: Production experience with PostgreSQL\n",
         "  - text: Production experience with PostgreSQL\n    kind: preferred\n",
         "qualifications", ["REQUIRED", "PREFERRED", "PREFERRED"]),
        ("{window: monthly, cents: 150000}", "{window: weekly, cents: 150000}", "budgets", ["WEEKLY"]),
    ],
)
def test_a_changed_kind_or_window_is_sent_exactly_once(
    synced: Workspace, old: str, new: str, field: str, kept: list[str]
) -> None:
    """A change only in what Sorce does not show back is one PATCH carrying it, which the board
    keeps; the runs after send nothing more."""
    synced.edit_posting("backend-engineer", old, new)
    assert synced.run("reconcile").code == 0
    job_id = synced.remote_id("backend-engineer", "sorce")
    assert writes(synced.counts()["sorce"]) == {f"PATCH {JOBS}/{job_id}": 1}
    stored = synced.sandbox.sorce._jobs[job_id].content[field]  # noqa: SLF001  (kept, never shown back)
    assert [item["kind" if field == "qualifications" else "window"] for item in stored] == kept
    synced.clear_counts()
    assert synced.run("reconcile").code == 0 and synced.run("reconcile").code == 0
    assert writes(synced.counts()["sorce"]) == {}


def test_budgets_sorce_lists_in_another_order_are_no_edit_and_a_swap_of_amounts_is_sent(synced: Workspace) -> None:
    """Budgets come back without their window, so the order Sorce lists them in is not an edit
    (nothing is sent, no drift); amounts swapped between windows in the source, which a read
    cannot tell apart from the board's order, are sent, once."""
    two = "{window: monthly, cents: 150000}\n      - {window: weekly, cents: 50000}"
    synced.edit_posting("backend-engineer", "{window: monthly, cents: 150000}", two)
    assert synced.run("reconcile").code == 0
    job_id = synced.remote_id("backend-engineer", "sorce")
    listed = synced.sandbox.sorce._jobs[job_id].content["budgets"]  # noqa: SLF001  (as the board keeps them)
    synced.sandbox.sorce.edit_job(job_id, budgets=list(reversed(listed)))
    synced.clear_counts()
    ran = synced.run("reconcile")
    assert ran.code == 0, ran.out + ran.err
    assert writes(synced.counts()["sorce"]) == {}
    swapped = "{window: monthly, cents: 50000}\n      - {window: weekly, cents: 150000}"
    synced.edit_posting("backend-engineer", two, swapped)
    synced.clear_counts()
    assert synced.run("reconcile").code == 0
    assert writes(synced.counts()["sorce"]) == {f"PATCH {JOBS}/{job_id}": 1}
    stored = synced.sandbox.sorce._jobs[job_id].content["budgets"]  # noqa: SLF001
    assert {b["window"]: b["budgetCents"] for b in stored} == {"MONTHLY": 50_000, "WEEKLY": 150_000}
    synced.clear_counts()
    assert synced.run("reconcile").code == 0 and writes(synced.counts()["sorce"]) == {}


# ------------------------------------------------------------------------------ places


def test_a_state_abbreviation_costs_no_search_on_a_steady_cycle(ws: Workspace) -> None:
    """Austin, TX without a Sorce location id: searched once on the first sync; the job then
    shows Austin, Texas, which is the same place, so the next cycle sends no search."""
    ws.edit_posting("warehouse-associate", "    state: Texas\n    country: United States\n"
                    "    sorce_location_id: loc_us_tx_austin\n", "    state: TX\n    country: United States\n")
    assert ws.run("reconcile").code == 0
    assert [p["locationId"] for p in ws.sorce_job("warehouse-associate")["locations"]] == ["loc_us_tx_austin"]
    ws.clear_counts()
    assert ws.run("reconcile").code == 0
    assert ws.counts()["sorce"] == {"GET /api/external/v1/jobs": 1}


def test_a_city_sorce_cannot_find_is_blocked_when_planning_and_nothing_is_sent(ws: Workspace) -> None:
    """A city Sorce's location search does not know: `plan` shows the pair blocked on
    `locations`, naming the city; reconcile sends nothing for it to Sorce, exit 2."""
    ws.edit_posting("warehouse-associate", "  - city: Austin\n    state: Texas\n    country: United States\n"
                    "    sorce_location_id: loc_us_tx_austin\n", "  - city: Atlantis\n    country: United States\n")
    planned = ws.run("plan")
    assert planned.code == 2
    assert "sorce/warehouse-associate" in planned.out and "locations: " in planned.out, planned.out
    assert "'Atlantis, United States'" in planned.out, planned.out
    assert "warehouse-associate" not in _section(planned.out, "sorce"), planned.out
    assert "warehouse-associate" in _section(planned.out, "hirempire"), planned.out
    ran = ws.run("reconcile")
    assert ran.code == 2
    assert writes(ws.counts()["sorce"])["POST /api/external/v1/jobs"] == 5
    assert all(j["title"] != "Warehouse Associate (Part-time, Evenings)" for j in ws.sorce_jobs())


# ------------------------------------------------------------------------------ links


def test_a_link_expiry_without_an_offset_is_read_as_utc(ws: Workspace) -> None:
    """RecruitiFi answering `expiresAt` without an offset: `links` does not crash, exits 0,
    and stores the link as expiring at that time in UTC."""
    expires = (ws.sandbox.clock.now() + timedelta(minutes=15)).replace(tzinfo=None, microsecond=0)
    ws.sandbox.recruitifi.faults.add(Fault(
        "rewrite", method="GET", path=r"/v1/links/job", rewrite={"expiresAt": expires.isoformat()}, times=None))
    ran = ws.run("links")
    assert ran.code == 0, ran.out + ran.err
    assert expires.strftime("%H:%M") in ran.out, ran.out
