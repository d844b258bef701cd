"""`boardsync plan` and `boardsync reconcile` against the three sandbox boards over loopback.

Each test starts from the example repository and an empty sandbox, and checks what reached
the boards (their own records and request counts), what the state database says, and the
exit code.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import jsonschema
import pytest

from boardsync.reconcile import collect_metrics, reconcile, waits
from boardsync.reconcile.render import load_schema
from boardsync.sandbox.core import Fault
from tests.reconcile_helpers import SORCE_COMPANY, Workspace, without_upcoming, writes

pytestmark = pytest.mark.slow

LIVE_ON_SORCE = {"backend-engineer", "intern-software-2025", "product-designer",
                 "warehouse-associate"}


def _statuses(jobs: list[dict]) -> dict[str, str]:  # type: ignore[type-arg]
    return {j["title"]: j["status"] for j in jobs}


# ------------------------------------------------------------------------------ a fresh sync


@pytest.mark.both_engines
def test_fresh_sync_of_the_examples_converges_on_every_board(ws: Workspace) -> None:
    """The first reconcile creates each posting on the boards it names, in its status, and
    exits 0; a closed posting is never created."""
    ran = ws.run("reconcile")
    assert ran.code == 0, ran.out + ran.err
    assert "converged" in ran.out
    with ws.store() as store:
        rows = {(r.posting, r.provider): r for r in store.status_rows()}
    sorce = {key for (key, provider), r in rows.items() if provider == "sorce" and r.state == "active"}
    assert sorce == LIVE_ON_SORCE
    assert rows[("support-specialist", "sorce")].state == "paused"
    assert rows[("data-analyst", "sorce")].state == "draft"
    assert ("intern-design-2024", "sorce") not in rows
    assert len(ws.sorce_jobs()) == 6 and len(ws.hirempire_jobs()) == 6
    assert {j["status"] for j in ws.hirempire_jobs()} == {"active", "paused"}
    links = [r for (key, provider), r in rows.items() if provider == "recruitifi"]
    assert len(links) == 3 and all(r.state == "linked" for r in links)


def test_plan_before_the_first_sync_exits_2_and_lists_the_creates(ws: Workspace) -> None:
    """`plan` on an empty board exits 2 and names every create, changing nothing."""
    ran = ws.run("plan")
    assert ran.code == 2
    assert "+ backend-engineer: create (live)" in ran.out
    assert ws.sorce_jobs() == [] and writes(ws.counts()["sorce"]) == {}


def test_plan_json_is_valid_against_the_schema_and_stays_off_stdout_logs(ws: Workspace) -> None:
    """`plan --json` prints one JSON document (no log lines) that the schema accepts."""
    ran = ws.run("plan", "--json")
    document = json.loads(ran.out)
    jsonschema.validate(document, load_schema())
    assert document["counts"]["create"] == 12 and document["in_sync"] is False


def test_plan_markdown_renders_a_changes_table(ws: Workspace) -> None:
    """`plan --markdown` prints a table a pull request can show."""
    ran = ws.run("plan", "--markdown")
    assert ran.code == 2
    assert "| sorce | backend-engineer | create (live) | not on the board yet |" in ran.out


# ------------------------------------------------------------------------------ steady state


@pytest.mark.both_engines
def test_second_run_plans_nothing_and_sends_no_write(synced: Workspace) -> None:
    """Right after a sync: plan exits 0, and reconcile reads each board once, asks RecruitiFi
    for one access token (which proves its secret still works) and writes nothing."""
    ran = synced.run("plan")
    assert (ran.code, without_upcoming(ran.out)) == (0, "Plan: nothing to change.\n")
    synced.clear_counts()
    assert synced.run("reconcile").code == 0
    counts = synced.counts()
    assert counts["sorce"] == {"GET /api/external/v1/jobs": 1}
    assert counts["hirempire"] == {"GET /v1/jobs": 1}
    assert counts["recruitifi"] == {"POST /v1/auth/token": 1}


def test_steady_cycle_costs_one_sorce_page_per_hundred_postings(ws: Workspace) -> None:
    """With 130 postings on Sorce, a cycle with nothing to change costs ⌈130/100⌉ = 2 Sorce
    requests, 1 Hirempire request, 1 RecruitiFi token request and no write."""
    source = (ws.postings / "backend-engineer.yaml").read_text()
    only_sorce = source[: source.index("  hirempire:")]
    for n in range(124):
        text = only_sorce.replace("key: backend-engineer", f"key: backend-{n:03d}")
        text = text.replace("title: Senior Backend Engineer (Python)", f"title: Backend Engineer {n:03d}")
        (ws.postings / f"backend-{n:03d}.yaml").write_text(text)
    assert ws.run("reconcile").code == 0
    assert len(ws.sorce_jobs()) == 130
    ws.clear_counts()
    assert ws.run("reconcile").code == 0
    assert ws.counts() == {
        "sorce": {"GET /api/external/v1/jobs": 2},
        "hirempire": {"GET /v1/jobs": 1},
        "recruitifi": {"POST /v1/auth/token": 1},
    }


# ------------------------------------------------------------------------------ source changes


def test_edited_posting_is_exactly_one_patch_per_board(synced: Workspace) -> None:
    """A title changed in the repository: plan shows it, reconcile sends exactly one PATCH to
    Sorce and one update to Hirempire, and nothing else is written."""
    synced.edit_posting("backend-engineer", "Senior Backend Engineer (Python)", "Staff Backend Engineer (Python)")
    ran = synced.run("plan")
    assert ran.code == 2
    assert '"Senior Backend Engineer (Python)" → "Staff Backend Engineer (Python)"' in ran.out
    synced.clear_counts()
    assert synced.run("reconcile").code == 0
    job_id = synced.remote_id("backend-engineer", "sorce")
    assert writes(synced.counts()["sorce"]) == {f"PATCH /api/external/v1/jobs/{job_id}": 1}
    assert writes(synced.counts()["hirempire"]) == {"PATCH /v1/update-job": 1}
    assert synced.sorce_job("backend-engineer")["title"] == "Staff Backend Engineer (Python)"
    assert synced.run("plan").code == 0


def test_removed_posting_is_reported_when_prune_is_off(synced: Workspace) -> None:
    """Deleting a posting file leaves its jobs open; reconcile reports it and exits 2, since
    the boards still show a job no posting asks for, and its summary says so."""
    synced.remove_posting("warehouse-associate")
    ran = synced.run("reconcile")
    assert ran.code == 2, ran.out
    assert "warehouse-associate: removed from the source, left open (prune is off)" in ran.out
    assert ran.out.splitlines()[-1].endswith(
        "not in sync: 2 jobs still open for postings removed from the source (`prune` is off)"), ran.out
    assert synced.sorce_job("warehouse-associate")["status"] == "ACTIVE"
    assert writes(synced.counts()["sorce"]) == {}


def test_removed_posting_is_closed_when_prune_is_on(synced: Workspace) -> None:
    """With prune on, the removed posting's jobs are closed on both boards once its grace is
    over: here no time at all, but still a second run that misses it (the first only says so)."""
    synced.write_config(prune=True, prune_after="0s")
    synced.remove_posting("warehouse-associate")
    first = synced.run("reconcile")
    assert first.code == 2 and "left open for now: gone from the source just now" in first.out, first.out
    assert writes(synced.counts()["sorce"]) == {} and writes(synced.counts()["hirempire"]) == {}
    assert synced.run("reconcile").code == 0
    assert synced.sorce_job("warehouse-associate")["status"] == "CLOSED"
    hirempire_id = synced.remote_id("warehouse-associate", "hirempire")
    assert {j["id"]: j["status"] for j in synced.hirempire_jobs()}[hirempire_id] == "closed"


def test_mass_close_is_refused_without_force(synced: Workspace) -> None:
    """Removing most postings with prune on: once their grace is over, reconcile refuses
    (exit 1, nothing closed); with --force the closes go through."""
    synced.write_config(prune=True, prune_after="0s")
    for key in ("warehouse-associate", "product-designer", "intern-software-2025"):
        synced.remove_posting(key)
    assert synced.run("reconcile").code == 2  # the first run that misses them only reports them
    ran = synced.run("reconcile")
    assert ran.code == 1
    assert "boardsync reconcile: refused: sorce: the plan closes 3 of 5 live postings (60%)" in ran.err
    assert "--force" in ran.err
    assert writes(synced.counts()["sorce"]) == {} and writes(synced.counts()["hirempire"]) == {}
    assert synced.run("reconcile", "--force").code == 0
    assert sum(j["status"] == "CLOSED" for j in synced.sorce_jobs()) == 3


def test_dry_run_plans_and_changes_nothing(synced: Workspace) -> None:
    """`reconcile --dry-run` prints the plan, exits 2 and sends no write."""
    synced.edit_posting("backend-engineer", "level: senior", "level: mid")
    ran = synced.run("reconcile", "--dry-run")
    assert ran.code == 2 and "update" in ran.out
    assert writes(synced.counts()["sorce"]) == {} and writes(synced.counts()["hirempire"]) == {}


def test_posting_and_provider_filters_narrow_the_run(synced: Workspace) -> None:
    """--posting and --provider limit the plan to those pairs; others stay pending."""
    synced.edit_posting("backend-engineer", "Senior Backend Engineer", "Staff Backend Engineer")
    synced.edit_posting("product-designer", "title: ", "title: Lead ")
    ran = synced.run("reconcile", "--posting", "backend-engineer", "--provider", "sorce")
    assert ran.code == 0
    job_id = synced.remote_id("backend-engineer", "sorce")
    assert writes(synced.counts()["sorce"]) == {f"PATCH /api/external/v1/jobs/{job_id}": 1}
    assert writes(synced.counts()["hirempire"]) == {}
    plan = json.loads(synced.run("plan", "--json").out)
    assert {(c["provider"], c["posting"]) for c in plan["changes"]} == {
        ("hirempire", "backend-engineer"), ("hirempire", "product-designer"), ("sorce", "product-designer")}


def test_unknown_filter_is_an_error(synced: Workspace) -> None:
    """A --posting or --provider that names nothing exits 1 with a message."""
    assert synced.run("plan", "--posting", "nope").code == 1
    ran = synced.run("plan", "--provider", "monster")
    assert ran.code == 1 and "not a configured board" in ran.err


# ------------------------------------------------------------------------------ gates


def test_terms_gate_blocks_publishes_on_sorce_and_the_rest_converges(ws: Workspace) -> None:
    """With Sorce's terms not accepted: the first live create meets the gate, the later ones
    are not even sent; the draft is created; Hirempire converges; exit 2; the run's report,
    status and plan show the board's message."""
    ws.sandbox.sorce.set_gates(SORCE_COMPANY, terms_accepted=False)
    ran = ws.run("reconcile")
    assert ran.code == 2
    reported = {line.split(":")[0].strip() for line in ran.out.splitlines() if "Employer Terms" in line}
    assert reported == {f"! sorce/{key}" for key in LIVE_ON_SORCE | {"support-specialist"}}, ran.out
    assert ws.counts()["sorce"]["POST /api/external/v1/jobs"] == 2  # one gated publish, one draft
    assert [j["status"] for j in ws.sorce_jobs()] == ["DRAFT"]
    assert len(ws.hirempire_jobs()) == 6
    status = json.loads(ws.run("status", "--json").out)
    blocked = {r["posting"]: r for r in status if r["provider"] == "sorce" and r["blocked_reason"]}
    assert set(blocked) == LIVE_ON_SORCE | {"support-specialist"}
    assert all(r["blocked_gate"] == "terms" and "Employer Terms" in r["blocked_reason"] for r in blocked.values())
    assert all(r["blocked_reason"] is None for r in status if r["provider"] == "hirempire")

    ws.sandbox.sorce.set_gates(SORCE_COMPANY, terms_accepted=True)
    assert ws.run("reconcile").code == 0
    status = json.loads(ws.run("status", "--json").out)
    assert all(r["blocked_reason"] is None for r in status)


# ------------------------------------------------------------------------------ drift


def test_frozen_field_is_drift_and_the_rest_still_updates(synced: Workspace) -> None:
    """Once a Sorce job has applications its qualifications are frozen: a changed
    qualification becomes drift "frozen" and is never sent, a changed title still is; the run
    exits 2, its summary naming the frozen edit, and so does the next one, which sends nothing."""
    synced.sandbox.sorce.add_applications(synced.remote_id("backend-engineer", "sorce"), 2)
    synced.edit_posting("backend-engineer", "5+ years building", "6+ years building")
    synced.edit_posting("backend-engineer", "Senior Backend Engineer (Python)", "Backend Engineer (Python)")
    ran = synced.run("reconcile")
    assert ran.code == 2, ran.out
    assert "backend-engineer qualifications: drift (frozen on the board)" in ran.out
    assert " drifted in " in ran.out and ran.out.rstrip().endswith("not in sync: 1 edit frozen on the board")
    job = synced.sorce_job("backend-engineer")
    assert job["title"] == "Backend Engineer (Python)"
    assert job["qualifications"][0]["text"].startswith("5+ years")
    drift = json.loads(synced.run("drift", "--open", "--json").out)
    assert [(d["provider"], d["field"], d["disposition"]) for d in drift] == [("sorce", "qualifications", "frozen")]
    synced.clear_counts()
    assert synced.run("reconcile").code == 2  # the frozen field is not retried, nor forgotten
    assert writes(synced.counts()["sorce"]) == {}


def test_expired_job_is_drift_without_repost(synced: Workspace) -> None:
    """31 days on, Sorce's live jobs have expired: drift on status, nothing created, and the
    run exits 2 (not "converged"), its summary saying why."""
    synced.sandbox.clock.advance(31 * 86400)
    ran = synced.run("reconcile")
    assert ran.code == 2, ran.out
    assert "converged" not in ran.out
    assert ran.out.rstrip().endswith("not in sync: 5 jobs expired and `repost_expired` is off"), ran.out
    assert writes(synced.counts()["sorce"]) == {}
    drift = json.loads(synced.run("drift", "--open", "--json").out)
    expired = {d["posting"] for d in drift if d["provider"] == "sorce" and d["observed"] == "expired"}
    assert expired == LIVE_ON_SORCE | {"support-specialist"}


def test_expired_job_is_reposted_when_the_policy_says_so(synced: Workspace) -> None:
    """With repost_expired, each expired job that should be live is created again, the
    binding moves to the new job, and the drift is resolved as reposted."""
    synced.write_config(repost_expired=True)
    old = synced.remote_id("backend-engineer", "sorce")
    synced.sandbox.clock.advance(31 * 86400)
    assert synced.run("reconcile").code == 0
    new = synced.remote_id("backend-engineer", "sorce")
    assert new != old
    statuses = {j["id"]: j["status"] for j in synced.sorce_jobs()}
    assert statuses[old] == "EXPIRED" and statuses[new] == "ACTIVE"
    assert statuses[synced.remote_id("support-specialist", "sorce")] == "PAUSED"
    drift = json.loads(synced.run("drift", "--json").out)
    assert {d["resolution"] for d in drift if d["field"] == "status"} == {"reposted"}
    assert synced.run("plan").code == 0


@pytest.mark.both_engines
def test_hand_edit_is_drift_and_corrected_with_self_heal(synced: Workspace) -> None:
    """A title edited in Sorce's dashboard is put back, and its drift row is resolved."""
    job_id = synced.remote_id("product-designer", "sorce")
    original = synced.sorce_job("product-designer")["title"]
    synced.sandbox.sorce.edit_job(job_id, title="Edited by hand")
    assert synced.run("reconcile").code == 0
    assert synced.sorce_job("product-designer")["title"] == original
    drift = json.loads(synced.run("drift", "--json").out)
    assert [(d["field"], d["observed"], d["resolution"]) for d in drift] == [("title", "Edited by hand", "corrected")]
    assert json.loads(synced.run("drift", "--open", "--json").out) == []


def test_hand_edit_is_only_reported_without_self_heal(synced: Workspace) -> None:
    """With self_heal off the hand edit stays, reported as open drift (exit 2); a later change
    in the source to the same field wins and resolves it as source_changed (exit 0)."""
    synced.write_config(self_heal=False)
    job_id = synced.remote_id("product-designer", "sorce")
    synced.sandbox.sorce.edit_job(job_id, title="Edited by hand")
    ran = synced.run("reconcile")
    assert ran.code == 2 and ran.out.rstrip().endswith(
        "not in sync: 1 edit made on the board left as it is (`self_heal` is off)"), ran.out
    assert synced.sorce_job("product-designer")["title"] == "Edited by hand"
    assert [d["field"] for d in json.loads(synced.run("drift", "--open", "--json").out)] == ["title"]
    synced.edit_posting("product-designer", "title: ", "title: Principal ")
    assert synced.run("reconcile").code == 0
    assert synced.sorce_job("product-designer")["title"].startswith("Principal ")
    (row,) = json.loads(synced.run("drift", "--json").out)
    assert row["resolution"] == "source_changed"


def test_status_changed_by_hand_on_hirempire_is_put_back(synced: Workspace) -> None:
    """A Hirempire job closed by hand while its posting is active is reopened (self_heal)."""
    job_id = synced.remote_id("backend-engineer", "hirempire")
    synced.sandbox.hirempire.edit_job(job_id, status="closed")
    assert synced.run("reconcile").code == 0
    assert {j["id"]: j["status"] for j in synced.hirempire_jobs()}[job_id] == "active"
    (row,) = json.loads(synced.run("drift", "--json").out)
    assert (row["field"], row["observed"], row["resolution"]) == ("status", "closed", "corrected")


# ------------------------------------------------------------------------------ failures


@pytest.mark.both_engines
def test_lost_create_is_adopted_next_run_never_duplicated(ws: Workspace) -> None:
    """Sorce commits a create but the answer is lost: the run does not converge and records
    an unknown intent; the next run finds the job and adopts it; exactly one job exists."""
    ws.sandbox.sorce.faults.add(Fault("lost_response", method="POST", path=r".*/jobs", times=1))
    first = ws.run("reconcile")
    assert first.code == 2
    with ws.store() as store:
        assert store.metrics().intents_by_state["unknown"] == 1
    assert len(ws.sorce_jobs()) == 6  # the lost one was created on the board
    assert ws.run("reconcile").code == 0
    assert len(ws.sorce_jobs()) == 6
    with ws.store() as store:
        snapshot = store.metrics()
    assert snapshot.intents_by_state["unknown"] == 0 and snapshot.intents_by_state["failed"] == 0
    assert ws.run("plan").code == 0


def test_one_board_failing_leaves_the_others_converged_and_state_intact(synced: Workspace) -> None:
    """Hirempire answering 500 to everything: plan and the dry run exit 2, Sorce still
    converges, the exit code is 2, the run is recorded as partial, its summary counts the
    board it could not read, and Hirempire's bindings are untouched; once it recovers, the
    next run converges."""
    synced.edit_posting("backend-engineer", "level: senior", "level: mid")
    with synced.store() as store:
        before = [r for r in store.status_rows() if r.provider == "hirempire"]
    synced.sandbox.hirempire.faults.add(Fault("status", status=500, times=None))
    assert synced.run("plan").code == 2
    assert synced.run("reconcile", "--dry-run").code == 2
    ran = synced.run("reconcile")
    assert ran.code == 2 and "hirempire: GET /jobs: 500" in ran.out, ran.out
    assert ran.out.splitlines()[-1].endswith(
        ": 1 update; 1 board error — not in sync: hirempire unavailable: GET /jobs: 500: Injected fault."), ran.out
    assert writes(synced.counts()["sorce"]) != {}
    with synced.store() as store:
        after = [r for r in store.status_rows() if r.provider == "hirempire"]
        (run,) = store.last_runs(limit=1)
    assert [(r.posting, r.remote_id, r.state) for r in after] == [(r.posting, r.remote_id, r.state) for r in before]
    assert run.outcome == "partial" and run.boards == {"sorce": "converged", "hirempire": "failed",
                                                        "recruitifi": "converged"}
    synced.sandbox.hirempire.faults.clear()
    assert synced.run("reconcile").code == 0
    assert synced.run("plan").code == 0


def test_a_board_that_stops_answering_is_left_alone_for_the_rest_of_the_run(ws: Workspace) -> None:
    """Hirempire failing every create with 503: after three in a row the run sends it no more
    changes (each would spend the whole retry budget), says what happened, counts the three
    failed changes apart from the board given up, and Sorce still converges; once it answers
    again, the changes left alone go through while the failed ones back off."""
    ws.sandbox.hirempire.faults.add(Fault("status", method="POST", path=r".*/add-job", status=503, times=None))
    ran = ws.run("reconcile")
    assert ran.code == 2
    assert ("hirempire: failing (3 changes in a row failed with 503; the last: POST /add-job: 503: "
            "Injected fault.); 4 more changes left for the next run") in ran.out
    assert ran.out.rstrip().endswith(
        "3 failed, 4 skipped, 1 board given up — not in sync: 3 changes failed; 4 changes left for the next run"
    ), ran.out
    assert ran.out.count("  ! hirempire/") == 3  # one line per failed change, the board on its own line
    assert ws.counts()["hirempire"]["POST /v1/add-job"] == 3
    assert {j["status"] for j in ws.sorce_jobs()} == {"ACTIVE", "DRAFT", "PAUSED"}

    ws.sandbox.hirempire.faults.clear()
    again = ws.run("reconcile")  # the three that failed back off; the ones left alone do not
    assert again.out.count("backing off after 1 failed attempt") == 3, again.out
    slugs = [j["public_slug"] for j in ws.hirempire_jobs()]
    assert len(slugs) == 3 and len(set(slugs)) == 3


def test_a_city_without_a_location_id_costs_no_search_once_a_job_shows_it(ws: Workspace) -> None:
    """A posting giving city, state and country but no Sorce location id is searched for on the
    first sync; afterwards its job shows the place, so a steady cycle sends no search at all."""
    ws.edit_posting("warehouse-associate", "    sorce_location_id: loc_us_tx_austin\n", "")
    ws.clear_counts()
    assert ws.run("reconcile").code == 0
    assert ws.counts()["sorce"]["GET /api/external/v1/locations/search"] == 1
    assert [p["locationId"] for p in ws.sorce_job("warehouse-associate")["locations"]] == ["loc_us_tx_austin"]
    ws.clear_counts()
    assert ws.run("reconcile").code == 0
    assert ws.counts()["sorce"] == {"GET /api/external/v1/jobs": 1}


def test_a_board_answering_409_is_never_said_to_have_stopped_answering(ws: Workspace) -> None:
    """Hirempire answering every create 409 (a slug in use that its list does not show) is
    answering: every create is tried, each counted once as failed, no board given up, and
    nothing says it stopped answering."""
    ws.sandbox.hirempire.faults.add(Fault("status", method="POST", path=r".*/add-job", status=409,
                                          message="public_slug already in use", times=None))
    ran = ws.run("reconcile")
    assert ran.code == 2
    assert "stopped answering" not in ran.out and "given up" not in ran.out, ran.out
    tried = ws.counts()["hirempire"]["POST /v1/add-job"]
    assert tried == 6 and ran.out.count("  ! hirempire/") == tried  # every Hirempire posting, past the give-up count
    assert ran.out.rstrip().endswith(f"; {tried} failed — not in sync: {tried} changes failed"), ran.out


# ------------------------------------------------------------------------------ a wait a board asked for


def test_a_429_asking_an_hour_is_kept_shown_and_honoured_until_it_is_over(ws: Workspace) -> None:
    """Sorce answering its list with 429 and Retry-After 3600: the call is not retried, the
    wait is kept, and the next run sends Sorce nothing at all — the board counted as not
    read with the time it asked for, exit 2 — while `status` shows the wait; once the hour
    is over a run reads Sorce again and converges."""
    ws.sandbox.sorce.faults.add(Fault("status", method="GET", path=r".*/jobs", status=429, retry_after=3600))
    first = ws.run("reconcile")
    assert first.code == 2
    assert ws.counts()["sorce"] == {"GET /api/external/v1/jobs": 1}
    now = datetime.now(UTC)
    until = waits.when(now + timedelta(seconds=3600), now)  # the date is named past midnight
    assert f"sorce: asked to wait until {until} (429)" in first.out, first.out

    ws.clear_counts()
    again = ws.run("reconcile")
    assert again.code == 2 and ws.counts()["sorce"] == {}
    assert f"sorce: asked to wait until {until} (429)" in again.out, again.out
    assert f"sorce: asked to wait until {until} (429)" in ws.run("status").out

    ws.sandbox.clock.advance(3601)
    with ws.opened() as (desired, store, connectors):
        result = reconcile(desired, store, connectors, clock=ws.sandbox.clock.now)
    assert result.outcome == "converged", result.summary()
    assert {j["title"] for j in ws.sorce_jobs()} and ws.counts()["sorce"]["GET /api/external/v1/jobs"] >= 1


def test_a_429_wait_met_while_applying_leaves_the_board_alone_and_the_others_converge(ws: Workspace) -> None:
    """Sorce answering its first create with 429 and Retry-After 3600: no further Sorce change
    is tried in this run (they are skipped, the board reported as waiting), Hirempire still
    converges, and the next run sends Sorce nothing."""
    ws.sandbox.sorce.faults.add(Fault("status", method="POST", path=r".*/jobs", status=429, retry_after=3600))
    ran = ws.run("reconcile")
    assert ran.code == 2
    assert ws.counts()["sorce"].get("POST /api/external/v1/jobs") == 1
    assert "sorce: asked to wait until" in ran.out and "more changes left for the next run" in ran.out
    assert len(ws.hirempire_jobs()) == 6 and ws.sorce_jobs() == []
    with ws.store() as store:
        (run,) = store.last_runs(limit=1)
    assert run.boards["hirempire"] == "converged" and run.counts["failed"] == 1 and run.counts["given_up"] == 1

    ws.clear_counts()
    assert ws.run("reconcile").code == 2
    assert ws.counts()["sorce"] == {}


def test_a_kept_wait_is_honoured_by_links_and_metrics_too(ws: Workspace) -> None:
    """RecruitiFi answering a link with 429 and Retry-After 3600: `links` keeps the wait and
    the next `links` sends RecruitiFi nothing, saying why; a metrics run honours a kept
    Sorce wait the same way (the daemon's link and metrics jobs go through these)."""
    ws.sandbox.recruitifi.faults.add(Fault("status", method="GET", path=r"/v1/links/job", status=429, retry_after=3600))
    first = ws.run("links", "backend-engineer")
    assert first.code == 1 and "recruitifi: asked to wait until" in first.out, first.out
    ws.clear_counts()
    again = ws.run("links", "backend-engineer")
    assert again.code == 1 and "recruitifi: asked to wait until" in again.out
    assert ws.counts()["recruitifi"] == {}

    ws.sandbox.sorce.faults.add(Fault("status", method="GET", path=r".*/jobs", status=429, retry_after=3600))
    with ws.opened() as (desired, store, connectors):
        assert collect_metrics(desired, store, connectors).boards["sorce"] == "failed"
        ws.clear_counts()
        result = collect_metrics(desired, store, connectors)
    assert result.boards["sorce"] == "failed" and ws.counts()["sorce"] == {}
    assert "sorce: asked to wait until" in str(result.errors[0])
