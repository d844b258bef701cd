"""The Sorce simulator, over real HTTP on loopback: the contract connectors are held to."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from boardsync.sandbox.core import RunningServer, serve
from boardsync.sandbox.sorce import API_PREFIX, SANDBOX_KEYS, SorceSim, make_app
from boardsync.sandbox.sorce_locations import LOCATIONS
from sandbox_sorce_helpers import (
    ACME,
    ACME_KEY,
    GLOBEX,
    GLOBEX_KEY,
    JOB_FIELDS,
    assert_error,
    complete_job,
    create,
    create_active,
)

DAY = 24 * 3600.0
START = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[SorceSim, RunningServer]]:
    sim = SorceSim()
    running = serve(make_app(sim))
    yield sim, running
    running.stop()


@pytest.fixture
def sim(server: tuple[SorceSim, RunningServer]) -> SorceSim:
    board = server[0]
    board.reset()
    board.clock.set(START)
    return board


def _client(server: tuple[SorceSim, RunningServer], key: str | None, prefix: str = API_PREFIX) -> httpx.Client:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.Client(base_url=server[1].url + prefix, headers=headers, timeout=5)


@pytest.fixture(scope="module")
def clients(server: tuple[SorceSim, RunningServer]) -> Iterator[dict[str, httpx.Client]]:
    # Built once: an httpx.Client costs tens of milliseconds (its TLS context), a reset board nothing.
    made = {"acme": _client(server, ACME_KEY), "globex": _client(server, GLOBEX_KEY)}
    made["control"] = _client(server, None, prefix="/_sandbox")
    yield made
    for client in made.values():
        client.close()


@pytest.fixture
def acme(clients: dict[str, httpx.Client], sim: SorceSim) -> httpx.Client:
    return clients["acme"]


@pytest.fixture
def globex(clients: dict[str, httpx.Client], sim: SorceSim) -> httpx.Client:
    return clients["globex"]


@pytest.fixture
def control(clients: dict[str, httpx.Client], sim: SorceSim) -> httpx.Client:
    return clients["control"]


def _iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# ------------------------------------------------------------------------ authentication


@pytest.mark.parametrize(
    "authorization",
    [None, ACME_KEY, f"Basic {ACME_KEY}", "Bearer", f"Bearer {ACME_KEY} extra", "Bearer sk_ext_unknown", "Bearer notakey"],
    ids=["missing", "no-scheme", "basic", "scheme-only", "two-tokens", "unknown", "malformed"],
)
def test_bad_service_key_answers_401_invalid_service_key(server: Any, sim: SorceSim, authorization: str | None) -> None:
    """Missing, malformed and unknown keys all answer the same 401 body, on every endpoint."""
    headers = {"Authorization": authorization} if authorization is not None else {}
    with httpx.Client(base_url=server[1].url + API_PREFIX, headers=headers) as client:
        for response in (client.get("/jobs"), client.post("/jobs", json={}), client.get("/locations/search")):
            assert response.status_code == 401
            assert response.json() == {"error": {"code": "INVALID_SERVICE_KEY", "message": "Invalid service key."}}


def test_revoked_key_answers_401_while_other_keys_still_work(sim: SorceSim, acme: httpx.Client, globex: httpx.Client) -> None:
    """A revoked key is refused like an unknown one; the other company's key is untouched."""
    assert acme.get("/jobs").status_code == 200
    sim.revoke_key(ACME_KEY)
    assert_error(acme.get("/jobs"), 401, "INVALID_SERVICE_KEY")
    assert globex.get("/jobs").status_code == 200


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", ""), ("PATCH", ""), ("POST", "/publish"), ("POST", "/pause"), ("POST", "/resume"), ("POST", "/close")],
)
def test_another_companys_job_answers_404_like_a_missing_one(
    acme: httpx.Client, globex: httpx.Client, method: str, path: str
) -> None:
    """A job of another company is indistinguishable from a job that never existed."""
    job = create_active(acme)
    theirs = globex.request(method, f"/jobs/{job['id']}{path}", json={"title": "Stolen"})
    missing = globex.request(method, f"/jobs/job_0000000000000000{path}", json={"title": "Stolen"})
    assert theirs.json() == missing.json() == {"error": {"code": "NOT_FOUND", "message": "Job not found."}}
    assert theirs.status_code == missing.status_code == 404
    assert acme.get(f"/jobs/{job['id']}").json() == job


def test_unknown_endpoint_answers_404_in_the_envelope(acme: httpx.Client) -> None:
    """A path or method the API does not have still answers Sorce's envelope."""
    assert_error(acme.get("/applications"), 404, "NOT_FOUND")
    assert_error(acme.delete("/jobs"), 404, "NOT_FOUND")


def test_sandbox_keys_name_two_companies() -> None:
    """The built-in keys bind at least two companies, one key each."""
    assert SANDBOX_KEYS[ACME_KEY] == ACME and SANDBOX_KEYS[GLOBEX_KEY] == GLOBEX


# ------------------------------------------------------------------------ create


def test_create_without_publish_makes_an_incomplete_draft_with_201(acme: httpx.Client) -> None:
    """Without `publish`, a draft is created even with nothing but a title."""
    response = acme.post("/jobs", json={"title": "Half an idea"})
    assert response.status_code == 201
    job = response.json()
    assert job["status"] == "DRAFT" and job["title"] == "Half an idea" and job["companyId"] == ACME
    assert job["id"].startswith("job_")
    assert job["description"] is None and job["locations"] == [] and job["bidPerQualifiedApplicantCents"] is None
    assert job["publishedAt"] is None and job["expiresAt"] is None and job["closedAt"] is None


def test_job_object_has_every_documented_field_and_no_client_reference(acme: httpx.Client) -> None:
    """The Job carries exactly the documented fields: no createdAt, no client reference, and
    its lists in the response example's shapes (no qualification kind, no budget window)."""
    job = create(acme, complete_job())
    assert set(job) == JOB_FIELDS
    assert job["applicationCounts"] == {"pending": 0, "accepted": 0, "rejected": 0}
    assert job["isFrozen"] is False and job["newApplicantCount"] == 0
    assert job["budgets"] == [{"budgetCents": 500_000, "notes": None}]
    assert job["questions"][0]["options"] == ["Yes", "No"] and job["questions"][0]["order"] == 0
    assert set(job["qualifications"][0]) == {"id", "text", "order"}
    assert set(job["questions"][0]) == {"id", "prompt", "order", "options"}


def test_a_budget_without_a_window_is_the_lifetime_budget(acme: httpx.Client) -> None:
    """The documented create example sends no window: accepted, as LIFETIME, so a second one
    without a window, or beside a LIFETIME one, is a second budget for the same window."""
    job = create(acme, {**complete_job(), "budgets": [{"budgetCents": 9_000}]})
    assert job["budgets"] == [{"budgetCents": 9_000, "notes": None}]
    for budgets in ([{"budgetCents": 1}, {"budgetCents": 2}], [{"window": "LIFETIME", "budgetCents": 1}, {"budgetCents": 2}]):
        refused = acme.patch(f"/jobs/{job['id']}", json={"budgets": budgets})
        assert refused.status_code == 422
        assert refused.json()["error"]["fields"] == {"budgets[1].window": "Only one budget per window."}


def test_create_with_publish_true_makes_an_active_job_expiring_in_30_days(acme: httpx.Client) -> None:
    """`publish: true` with every gate passing creates an ACTIVE job, published now."""
    job = create(acme, complete_job(publish=True))
    assert job["status"] == "ACTIVE"
    published = _iso(job["publishedAt"])
    assert abs(published - START) < timedelta(seconds=5)
    assert _iso(job["expiresAt"]) - published == timedelta(days=30)
    assert job["publishedAt"].endswith("Z")


def test_publish_on_an_empty_draft_names_every_gap_at_once(acme: httpx.Client) -> None:
    """Gate 1 names every missing field in one answer, not only the first."""
    job = create(acme, {})
    assert_error(acme.post(f"/jobs/{job['id']}/publish"), 422, "VALIDATION_FAILED", fields={
        "title": "Add a title.",
        "description": "Add a description.",
        "remoteOption": "Choose REMOTE, HYBRID or IN_PERSON.",
        "jobType": "Choose a job type.",
        "jobLevel": "Choose a job level.",
        "salaryMin": "Add a minimum salary.",
        "salaryMax": "Add a maximum salary.",
        "salaryPeriod": "Choose ANNUAL or HOURLY.",
        "bidPerQualifiedApplicantCents": "Set a bid per qualified applicant above zero.",
        "qualifications": "Add at least one REQUIRED qualification.",
    })
    assert acme.get(f"/jobs/{job['id']}").json()["status"] == "DRAFT"


@pytest.mark.parametrize(
    ("overrides", "gaps"),
    [
        ({"title": "   "}, {"title"}),
        ({"remoteOption": "REMOTE", "locations": []}, {"remoteCountry"}),
        ({"remoteOption": "REMOTE", "remoteCountry": "Germany", "locations": []}, set()),
        ({"remoteOption": "HYBRID", "locations": []}, {"locations"}),
        ({"remoteOption": "IN_PERSON", "locations": []}, {"locations"}),
        ({"locations": [{"displayName": "Somewhere, NY"}]}, {"locations"}),
        ({"salaryMin": 200_000, "salaryMax": 100_000}, {"salaryMax"}),
        ({"salaryMin": 100_000, "salaryMax": 100_000}, set()),
        ({"salaryPeriod": None}, {"salaryPeriod"}),
        ({"bidPerQualifiedApplicantCents": 0}, {"bidPerQualifiedApplicantCents"}),
        ({"qualifications": [{"text": "Nice to have", "kind": "PREFERRED"}]}, {"qualifications"}),
        ({"jobType": None, "jobLevel": None}, {"jobType", "jobLevel"}),
    ],
    ids=[
        "blank-title", "remote-no-country", "remote-complete", "hybrid-no-location", "in-person-no-location",
        "location-not-picked", "min-above-max", "min-equals-max", "no-period", "zero-bid",
        "only-preferred", "no-type-level",
    ],
)
def test_gate1_names_each_kind_of_gap(acme: httpx.Client, overrides: dict[str, Any], gaps: set[str]) -> None:
    """Each rule of Gate 1, one at a time: exactly the gaps it should find, nothing else."""
    response = acme.post("/jobs", json=complete_job(publish=True, **overrides))
    if not gaps:
        assert response.status_code == 201 and response.json()["status"] == "ACTIVE"
    else:
        assert_error(response, 422, "VALIDATION_FAILED", fields=gaps)


def test_gate1_messages_for_locations_and_salary_order(acme: httpx.Client) -> None:
    """An unpicked location and min > max have their own documented messages."""
    body = complete_job(publish=True, locations=[{"city": "Springfield"}], salaryMin=9, salaryMax=1)
    error = assert_error(acme.post("/jobs", json=body), 422, "VALIDATION_FAILED", fields={"locations", "salaryMax"})
    assert error["fields"]["locations"] == "Pick each location from the search suggestions."
    assert error["fields"]["salaryMax"] == "Must be at least salaryMin."
    body = complete_job(publish=True, remoteOption="HYBRID", locations=[])
    error = assert_error(acme.post("/jobs", json=body), 422, "VALIDATION_FAILED", fields={"locations"})
    assert error["fields"]["locations"] == "Add at least one location."


def test_gates_answer_in_order_and_only_the_first_failing_one(sim: SorceSim, acme: httpx.Client) -> None:
    """Completeness, then terms, then payment: the first gate that fails is the answer."""
    sim.set_gates(ACME, terms_accepted=False, payment_method=False)
    assert_error(acme.post("/jobs", json={"publish": True}), 422, "VALIDATION_FAILED", fields={
        "title", "description", "remoteOption", "jobType", "jobLevel", "salaryMin", "salaryMax",
        "salaryPeriod", "bidPerQualifiedApplicantCents", "qualifications",
    })
    assert_error(acme.post("/jobs", json=complete_job(publish=True)), 409, "AGREEMENT_OUTDATED")
    sim.set_gates(ACME, terms_accepted=True)
    assert_error(acme.post("/jobs", json=complete_job(publish=True)), 402, "PAYMENT_METHOD_REQUIRED")
    sim.set_gates(ACME, payment_method=True)
    assert acme.post("/jobs", json=complete_job(publish=True)).status_code == 201


@pytest.mark.parametrize(
    ("body", "gates", "status", "code"),
    [
        ({"title": "Only a title", "publish": True}, {}, 422, "VALIDATION_FAILED"),
        (complete_job(publish=True), {"terms_accepted": False}, 409, "AGREEMENT_OUTDATED"),
        (complete_job(publish=True), {"payment_method": False}, 402, "PAYMENT_METHOD_REQUIRED"),
    ],
    ids=["gate1", "gate2", "gate3"],
)
def test_create_with_publish_is_atomic_when_a_gate_fails(
    sim: SorceSim, acme: httpx.Client, body: dict[str, Any], gates: dict[str, bool], status: int, code: str
) -> None:
    """A create that fails any gate leaves nothing behind, not even a draft."""
    sim.set_gates(ACME, **gates)
    assert_error(acme.post("/jobs", json=body), status, code, fields=None if status != 422 else set(_gaps(body)))
    assert acme.get("/jobs").json() == {"items": [], "nextCursor": None}
    assert sim.jobs() == []


def _gaps(body: dict[str, Any]) -> set[str]:
    return {
        "description", "remoteOption", "jobType", "jobLevel", "salaryMin", "salaryMax", "salaryPeriod",
        "bidPerQualifiedApplicantCents", "qualifications",
    } - set(body)


def test_publish_endpoint_runs_the_gates_and_keeps_the_draft_on_failure(sim: SorceSim, acme: httpx.Client) -> None:
    """POST /jobs/{id}/publish refuses with the failing gate and leaves the job a DRAFT."""
    job = create(acme, complete_job())
    sim.set_gates(ACME, terms_accepted=False)
    assert_error(acme.post(f"/jobs/{job['id']}/publish"), 409, "AGREEMENT_OUTDATED")
    sim.set_gates(ACME, terms_accepted=True, payment_method=False)
    assert_error(acme.post(f"/jobs/{job['id']}/publish"), 402, "PAYMENT_METHOD_REQUIRED")
    assert acme.get(f"/jobs/{job['id']}").json()["status"] == "DRAFT"
    sim.set_gates(ACME, payment_method=True)
    published = acme.post(f"/jobs/{job['id']}/publish")
    assert published.status_code == 200
    assert published.json()["status"] == "ACTIVE"
    assert _iso(published.json()["expiresAt"]) - _iso(published.json()["publishedAt"]) == timedelta(days=30)


def test_gates_belong_to_one_company(sim: SorceSim, acme: httpx.Client, globex: httpx.Client) -> None:
    """One company's missing card does not block another company."""
    sim.set_gates(GLOBEX, payment_method=False)
    assert_error(globex.post("/jobs", json=complete_job(publish=True)), 402, "PAYMENT_METHOD_REQUIRED")
    assert acme.post("/jobs", json=complete_job(publish=True)).status_code == 201


# ------------------------------------------------------------------------ input validation


def test_bad_types_and_enums_answer_422_naming_every_field(acme: httpx.Client) -> None:
    """Plain input checks name every bad field at once and create nothing."""
    body = {
        "title": 7, "remoteOption": "ANYWHERE", "jobType": "full_time", "jobLevel": "PRINCIPAL",
        "salaryMin": 1.5, "salaryMax": -1, "salaryPeriod": "MONTHLY", "bidPerQualifiedApplicantCents": True,
        "locations": "New York", "budgets": {}, "wage": 3, "id": "job_mine", "status": "ACTIVE",
    }
    error = assert_error(acme.post("/jobs", json=body), 422, "VALIDATION_FAILED", fields={
        "title", "remoteOption", "jobType", "jobLevel", "salaryMin", "salaryMax", "salaryPeriod",
        "bidPerQualifiedApplicantCents", "locations", "budgets", "wage", "id", "status",
    })
    assert error["fields"]["remoteOption"] == "Must be one of REMOTE, HYBRID, IN_PERSON."
    assert error["fields"]["wage"] == "Unknown field."
    assert error["fields"]["id"] == "Read-only field."
    assert acme.get("/jobs").json()["items"] == []


@pytest.mark.parametrize("value", [1.5, 100.0, -1, True, "100"], ids=["fraction", "float", "negative", "bool", "string"])
def test_money_fields_must_be_whole_non_negative_numbers(acme: httpx.Client, value: Any) -> None:
    """Money is a whole number of zero or more: no floats, strings, booleans or negatives."""
    for name in ("salaryMin", "salaryMax", "bidPerQualifiedApplicantCents"):
        error = assert_error(acme.post("/jobs", json={name: value}), 422, "VALIDATION_FAILED", fields={name})
        assert error["fields"][name] == "Must be a whole number of zero or more."


def test_nested_items_are_checked_and_named_by_position(acme: httpx.Client) -> None:
    """Bad list items are named like `qualifications[0].kind`."""
    body = {
        "qualifications": [{"text": "", "kind": "REQUIRED"}, {"text": "Go", "kind": "MUST"}],
        "questions": [{"prompt": "Why?", "options": [""]}, {"options": []}],
        "budgets": [
            {"window": "DAILY", "budgetCents": 100}, {"window": "DAILY", "budgetCents": 200},
            {"window": "YEARLY", "budgetCents": -5, "notes": 1},
        ],
        "locations": [{"locationId": "loc_xx_nowhere"}, {}, {"locationId": "loc_us_ny_new_york", "zip": "10001"}],
    }
    assert_error(acme.post("/jobs", json=body), 422, "VALIDATION_FAILED", fields={
        "qualifications[0].text", "qualifications[1].kind",
        "questions[0].options", "questions[1].prompt",
        "budgets[1].window", "budgets[2].window", "budgets[2].budgetCents", "budgets[2].notes",
        "locations[0].locationId", "locations[1]", "locations[2].zip",
    })


def test_the_same_location_twice_is_refused(acme: httpx.Client) -> None:
    """A location id may appear once in a job."""
    locations = [{"locationId": "loc_us_ny_new_york"}, {"locationId": "loc_us_ny_new_york"}]
    assert_error(acme.post("/jobs", json={"locations": locations}), 422, "VALIDATION_FAILED", fields={"locations[1].locationId"})


@pytest.mark.parametrize("raw", [b"[1, 2]", b"{not json", b'"title"'], ids=["array", "garbled", "string"])
def test_a_body_that_is_not_a_json_object_is_422(acme: httpx.Client, raw: bytes) -> None:
    """Create and update both refuse a body that is not a JSON object."""
    assert_error(acme.post("/jobs", content=raw), 422, "VALIDATION_FAILED", fields={"body": "Send a JSON object."})
    job = create(acme, {})
    assert_error(acme.patch(f"/jobs/{job['id']}", content=raw), 422, "VALIDATION_FAILED", fields={"body"})


def test_publish_flag_must_be_a_boolean(acme: httpx.Client) -> None:
    """`publish: "yes"` is refused, not read as true."""
    assert_error(acme.post("/jobs", json=complete_job(publish="yes")), 422, "VALIDATION_FAILED", fields={"publish"})
    assert acme.get("/jobs").json()["items"] == []


def test_location_with_a_known_id_is_stored_as_the_search_table_has_it(acme: httpx.Client) -> None:
    """A picked location comes back whole, whatever else the client sent with its id."""
    job = create(acme, {"locations": [{"locationId": "loc_gb_eng_london", "displayName": "Londres"}]})
    assert job["locations"] == [{
        "locationId": "loc_gb_eng_london", "displayName": "London, England, United Kingdom",
        "city": "London", "stateProvince": "England", "country": "United Kingdom",
    }]


# ------------------------------------------------------------------------ lifecycle


def test_pause_resume_and_close_follow_the_lifecycle(acme: httpx.Client) -> None:
    """ACTIVE → PAUSED → ACTIVE → CLOSED, each answering the job."""
    job = create_active(acme)
    paused = acme.post(f"/jobs/{job['id']}/pause")
    assert paused.status_code == 200 and paused.json()["status"] == "PAUSED"
    resumed = acme.post(f"/jobs/{job['id']}/resume")
    assert resumed.status_code == 200 and resumed.json()["status"] == "ACTIVE"
    assert resumed.json()["expiresAt"] == job["expiresAt"]
    closed = acme.post(f"/jobs/{job['id']}/close")
    assert closed.status_code == 200 and closed.json()["status"] == "CLOSED"
    assert abs(_iso(closed.json()["closedAt"]) - START) < timedelta(seconds=5)


def test_a_draft_can_be_closed_but_not_paused_or_resumed(acme: httpx.Client) -> None:
    """A draft closes straight away; pause and resume need a published job."""
    job = create(acme, {})
    assert_error(acme.post(f"/jobs/{job['id']}/pause"), 409, "INVALID_TRANSITION")
    assert_error(acme.post(f"/jobs/{job['id']}/resume"), 409, "INVALID_TRANSITION")
    closed = acme.post(f"/jobs/{job['id']}/close").json()
    assert closed["status"] == "CLOSED" and closed["closedAt"] is not None and closed["publishedAt"] is None


@pytest.mark.parametrize(
    ("setup", "verb"),
    [
        ([], "publish"), ([], "resume"),
        (["pause"], "pause"), (["pause"], "publish"),
        (["close"], "close"), (["close"], "resume"), (["close"], "pause"), (["close"], "publish"),
    ],
    ids=[
        "publish-active", "resume-active", "pause-paused", "publish-paused",
        "close-closed", "resume-closed", "pause-closed", "publish-closed",
    ],
)
def test_illegal_transitions_answer_409_invalid_transition(acme: httpx.Client, setup: list[str], verb: str) -> None:
    """Every move the lifecycle does not have is refused and changes nothing."""
    job = create_active(acme)
    for step in setup:
        assert acme.post(f"/jobs/{job['id']}/{step}").status_code == 200
    before = acme.get(f"/jobs/{job['id']}").json()
    assert_error(acme.post(f"/jobs/{job['id']}/{verb}"), 409, "INVALID_TRANSITION")
    assert acme.get(f"/jobs/{job['id']}").json() == before


def test_active_job_reads_expired_30_days_after_publish(sim: SorceSim, acme: httpx.Client) -> None:
    """Expiry is read off the clock: ACTIVE until expiresAt, EXPIRED from then on."""
    job = create_active(acme)
    sim.clock.advance(30 * DAY - 60)
    assert acme.get(f"/jobs/{job['id']}").json()["status"] == "ACTIVE"
    sim.clock.advance(120)
    assert acme.get(f"/jobs/{job['id']}").json()["status"] == "EXPIRED"
    assert acme.get("/jobs").json()["items"][0]["status"] == "EXPIRED"


def test_a_paused_job_expires_too(sim: SorceSim, acme: httpx.Client) -> None:
    """Pausing does not stop the 30 days."""
    job = create_active(acme)
    acme.post(f"/jobs/{job['id']}/pause")
    sim.clock.advance(30 * DAY)
    assert acme.get(f"/jobs/{job['id']}").json()["status"] == "EXPIRED"


def test_an_expired_job_is_terminal(sim: SorceSim, acme: httpx.Client) -> None:
    """An expired job cannot be resumed, paused, published, closed or edited."""
    job = create_active(acme)
    sim.clock.advance(31 * DAY)
    for verb in ("resume", "pause", "publish", "close"):
        assert_error(acme.post(f"/jobs/{job['id']}/{verb}"), 409, "INVALID_TRANSITION")
    assert_error(acme.patch(f"/jobs/{job['id']}", json={"title": "Again"}), 409, "JOB_NOT_EDITABLE")


def test_drafts_and_closed_jobs_never_expire(sim: SorceSim, acme: httpx.Client) -> None:
    """Only published, unclosed jobs expire."""
    draft = create(acme, {})
    closed = create_active(acme)
    acme.post(f"/jobs/{closed['id']}/close")
    sim.clock.advance(60 * DAY)
    assert acme.get(f"/jobs/{draft['id']}").json()["status"] == "DRAFT"
    assert acme.get(f"/jobs/{closed['id']}").json()["status"] == "CLOSED"


# ------------------------------------------------------------------------ PATCH


def test_patch_on_a_draft_changes_only_the_fields_sent(acme: httpx.Client) -> None:
    """A partial update leaves every other field as it was."""
    job = create(acme, complete_job())
    response = acme.patch(f"/jobs/{job['id']}", json={"title": "Senior Backend Engineer", "jobLevel": "SENIOR"})
    assert response.status_code == 200
    updated = response.json()
    assert updated["title"] == "Senior Backend Engineer" and updated["jobLevel"] == "SENIOR"
    assert {k: v for k, v in updated.items() if k not in ("title", "jobLevel")} == {
        k: v for k, v in job.items() if k not in ("title", "jobLevel")
    }
    assert acme.patch(f"/jobs/{job['id']}", json={}).json() == updated


def test_patch_replaces_array_fields_whole_and_a_retry_converges(acme: httpx.Client) -> None:
    """Lists are replaced, never merged, so sending the same PATCH twice gives the same job."""
    job = create(acme, complete_job())
    change = {
        "locations": [{"locationId": "loc_de_be_berlin"}],
        "qualifications": [{"text": "Rust", "kind": "REQUIRED"}],
        "questions": [],
        "budgets": [{"window": "DAILY", "budgetCents": 1_000, "notes": "test week"}],
    }
    first = acme.patch(f"/jobs/{job['id']}", json=change).json()
    assert [loc["locationId"] for loc in first["locations"]] == ["loc_de_be_berlin"]
    assert [(q["text"], q["order"]) for q in first["qualifications"]] == [("Rust", 0)]
    assert first["questions"] == []
    assert first["budgets"] == [{"budgetCents": 1_000, "notes": "test week"}]
    assert acme.patch(f"/jobs/{job['id']}", json=change).json() == first


def test_items_get_server_ids_and_unchanged_items_keep_theirs(acme: httpx.Client) -> None:
    """The server assigns qualification and question ids; a job read back can be sent again
    as it is, with the kinds it does not show."""
    job = create(acme, complete_job())
    ids = [q["id"] for q in job["qualifications"]]
    assert all(i.startswith("qal_") for i in ids) and len(set(ids)) == 2
    assert job["questions"][0]["id"].startswith("qst_")
    kinds = [q["kind"] for q in complete_job()["qualifications"]]
    qualifications = [{**q, "kind": kind} for q, kind in zip(job["qualifications"], kinds, strict=True)]
    resent = acme.patch(f"/jobs/{job['id']}", json={
        "qualifications": qualifications, "questions": job["questions"],
    }).json()
    assert resent == job
    reordered = acme.patch(f"/jobs/{job['id']}", json={"qualifications": qualifications[::-1]}).json()
    assert [(q["id"], q["order"]) for q in reordered["qualifications"]] == [(ids[1], 0), (ids[0], 1)]


def test_patch_refuses_status_and_publish_with_422(acme: httpx.Client) -> None:
    """Status moves only through the lifecycle endpoints, never through PATCH."""
    job = create(acme, complete_job())
    assert_error(acme.patch(f"/jobs/{job['id']}", json={"status": "ACTIVE"}), 422, "VALIDATION_FAILED", fields={"status"})
    assert_error(acme.patch(f"/jobs/{job['id']}", json={"publish": True}), 422, "VALIDATION_FAILED", fields={"publish"})
    assert_error(
        acme.patch(f"/jobs/{job['id']}", json={"companyId": GLOBEX, "extra": 1}), 422, "VALIDATION_FAILED",
        fields={"companyId": "Read-only field.", "extra": "Unknown field."},
    )
    assert acme.get(f"/jobs/{job['id']}").json() == job


def test_patch_checks_the_body_before_it_looks_the_job_up(acme: httpx.Client) -> None:
    """As every endpoint: a bad body is 422 even on a missing job; a good one there is 404."""
    assert_error(acme.patch("/jobs/job_missing", json={"title": 5}), 422, "VALIDATION_FAILED", fields={"title"})
    assert_error(acme.patch("/jobs/job_missing", json={"title": "Fine"}), 404, "NOT_FOUND")


@pytest.mark.parametrize("paused", [False, True], ids=["active", "paused"])
def test_a_live_edit_that_leaves_the_job_incomplete_is_rejected_whole(acme: httpx.Client, paused: bool) -> None:
    """A live job is re-checked against Gate 1; a failing edit changes nothing at all."""
    job = create_active(acme)
    if paused:
        job = acme.post(f"/jobs/{job['id']}/pause").json()
    edit = {"title": "Renamed", "description": "", "qualifications": [], "bidPerQualifiedApplicantCents": 0}
    assert_error(acme.patch(f"/jobs/{job['id']}", json=edit), 422, "VALIDATION_FAILED", fields={
        "description", "qualifications", "bidPerQualifiedApplicantCents",
    })
    assert acme.get(f"/jobs/{job['id']}").json() == job


def test_a_live_edit_that_keeps_the_job_complete_is_applied(acme: httpx.Client) -> None:
    """A live job stays editable while it stays complete."""
    job = create_active(acme)
    updated = acme.patch(f"/jobs/{job['id']}", json={"salaryMax": 160_000, "remoteOption": "REMOTE", "remoteCountry": "United States"})
    assert updated.status_code == 200
    assert updated.json()["salaryMax"] == 160_000 and updated.json()["status"] == "ACTIVE"


def test_a_draft_edit_may_leave_the_job_incomplete(acme: httpx.Client) -> None:
    """Gate 1 does not apply to drafts."""
    job = create(acme, complete_job())
    assert acme.patch(f"/jobs/{job['id']}", json={"description": None, "qualifications": []}).status_code == 200


def test_editing_a_closed_job_is_job_not_editable(acme: httpx.Client) -> None:
    """A closed job refuses every edit with 409 JOB_NOT_EDITABLE."""
    job = create_active(acme)
    acme.post(f"/jobs/{job['id']}/close")
    assert_error(acme.patch(f"/jobs/{job['id']}", json={"title": "Again"}), 409, "JOB_NOT_EDITABLE")


def test_applications_freeze_the_job_and_are_counted(sim: SorceSim, acme: httpx.Client) -> None:
    """Applications show in the counts and freeze the job."""
    job = create_active(acme)
    sim.add_applications(job["id"], 3)
    seen = acme.get(f"/jobs/{job['id']}").json()
    assert seen["applicationCounts"] == {"pending": 3, "accepted": 0, "rejected": 0}
    assert seen["isFrozen"] is True and seen["newApplicantCount"] == 3


@pytest.mark.parametrize("name", ["qualifications", "questions"])
def test_a_frozen_job_refuses_a_different_set(sim: SorceSim, acme: httpx.Client, name: str) -> None:
    """Once there are applications, changing qualifications or questions is 409 JOB_FROZEN."""
    job = create_active(acme)
    sim.add_applications(job["id"])
    different = {
        "qualifications": [{"text": "Three years of Python", "kind": "REQUIRED"}],
        "questions": [{"prompt": "Can you work in New York?", "options": ["Yes", "No", "Maybe"]}],
    }[name]
    assert_error(acme.patch(f"/jobs/{job['id']}", json={name: different, "title": "New"}), 409, "JOB_FROZEN")
    assert acme.get(f"/jobs/{job['id']}").json()["title"] == job["title"]


def test_a_frozen_job_accepts_the_identical_set_and_other_edits(sim: SorceSim, acme: httpx.Client) -> None:
    """Sending the same qualifications and questions again is fine, and so is any other field."""
    body = complete_job(publish=True)
    job = create(acme, body)
    sim.add_applications(job["id"])
    response = acme.patch(f"/jobs/{job['id']}", json={
        "qualifications": body["qualifications"], "questions": body["questions"], "title": "Renamed",
        "budgets": [], "bidPerQualifiedApplicantCents": 3_000,
    })
    assert response.status_code == 200
    updated = response.json()
    assert updated["title"] == "Renamed" and updated["bidPerQualifiedApplicantCents"] == 3_000
    assert updated["qualifications"] == job["qualifications"] and updated["questions"] == job["questions"]


# ------------------------------------------------------------------------ listing


def test_get_job_answers_the_job(acme: httpx.Client) -> None:
    """GET /jobs/{id} answers the same Job the create answered."""
    job = create(acme, complete_job())
    response = acme.get(f"/jobs/{job['id']}")
    assert response.status_code == 200 and response.json() == job


def test_list_shows_only_the_companys_jobs_newest_first(acme: httpx.Client, globex: httpx.Client) -> None:
    """Each key sees its own company's jobs, the newest first."""
    ids = [create(acme, {"title": f"Job {i}"})["id"] for i in range(3)]
    create(globex, {"title": "Theirs"})
    listing = acme.get("/jobs").json()
    assert [job["id"] for job in listing["items"]] == ids[::-1]
    assert listing["nextCursor"] is None
    assert [job["title"] for job in globex.get("/jobs").json()["items"]] == ["Theirs"]


def test_pages_neither_skip_nor_repeat_while_jobs_are_created_between_them(acme: httpx.Client) -> None:
    """A cursor names a place in the list: new jobs appear on a fresh listing, not mid-walk."""
    ids = [create(acme, {"title": f"Job {i}"})["id"] for i in range(7)]
    seen: list[str] = []
    page = acme.get("/jobs", params={"limit": 3}).json()
    while True:
        seen += [job["id"] for job in page["items"]]
        create(acme, {"title": "Created between pages"})
        if page["nextCursor"] is None:
            break
        page = acme.get("/jobs", params={"limit": 3, "cursor": page["nextCursor"]}).json()
    assert seen == ids[::-1]
    assert len(acme.get("/jobs").json()["items"]) == 10


def test_concurrent_creates_each_get_their_own_job(sim: SorceSim, server: Any) -> None:
    """Creates racing from several threads all land, with distinct ids and a consistent list."""
    def create_one(i: int) -> str:
        with _client(server, ACME_KEY) as client:
            return str(create(client, {"title": f"Parallel {i}"})["id"])

    with ThreadPoolExecutor(max_workers=8) as pool:
        ids = set(pool.map(create_one, range(24)))
    assert len(ids) == 24
    assert {job["id"] for job in sim.jobs(ACME)} == ids


def test_a_full_last_page_has_no_next_cursor(acme: httpx.Client) -> None:
    """nextCursor is null exactly when nothing is left."""
    for i in range(4):
        create(acme, {"title": f"Job {i}"})
    first = acme.get("/jobs", params={"limit": 2}).json()
    second = acme.get("/jobs", params={"limit": 2, "cursor": first["nextCursor"]}).json()
    assert isinstance(first["nextCursor"], str) and len(second["items"]) == 2 and second["nextCursor"] is None


def test_default_page_size_is_50(sim: SorceSim, acme: httpx.Client) -> None:
    """Without `limit` a page holds 50 jobs; `limit=100` holds them all."""
    with sim.lock:
        for i in range(60):
            sim.api_create(ACME, {"title": f"Job {i}"})
    page = acme.get("/jobs").json()
    assert len(page["items"]) == 50 and page["nextCursor"] is not None
    assert len(acme.get("/jobs", params={"limit": 100}).json()["items"]) == 60


def test_status_filter_lists_only_that_status_including_expired(sim: SorceSim, acme: httpx.Client) -> None:
    """`status` filters on the status as read now, expiry included."""
    draft = create(acme, {})
    old = create_active(acme)
    sim.clock.advance(20 * DAY)
    fresh = create_active(acme)
    paused = create_active(acme)
    acme.post(f"/jobs/{paused['id']}/pause")
    sim.clock.advance(11 * DAY)

    def listed(status: str) -> list[str]:
        return [job["id"] for job in acme.get("/jobs", params={"status": status}).json()["items"]]

    assert listed("DRAFT") == [draft["id"]]
    assert listed("EXPIRED") == [old["id"]]
    assert listed("ACTIVE") == [fresh["id"]]
    assert listed("PAUSED") == [paused["id"]]
    assert listed("CLOSED") == []


def test_statuses_hidden_by_default_leave_only_the_list_asked_for_no_status(
    acme: httpx.Client, control: httpx.Client
) -> None:
    """``list-hides`` models a list that shows only some statuses unless asked for one: the
    drafts leave the list asked for no status and stay in the list of their own status."""
    draft, live = create(acme, {}), create_active(acme)
    assert control.post("/list-hides", json={"statuses": ["DRAFT"]}).json() == {"statuses": ["DRAFT"]}
    assert [job["id"] for job in acme.get("/jobs").json()["items"]] == [live["id"]]
    assert [job["id"] for job in acme.get("/jobs", params={"status": "DRAFT"}).json()["items"]] == [draft["id"]]
    assert control.post("/list-hides", json={"statuses": ["SOON"]}).status_code == 422
    control.post("/list-hides", json={"statuses": []})
    assert len(acme.get("/jobs").json()["items"]) == 2


@pytest.mark.parametrize(
    ("params", "fields"),
    [
        ({"limit": "0"}, {"limit"}), ({"limit": "101"}, {"limit"}), ({"limit": "ten"}, {"limit"}),
        ({"limit": "-5"}, {"limit"}), ({"cursor": "not-a-cursor"}, {"cursor"}), ({"cursor": "eyJ2IjoyfQ"}, {"cursor"}),
        ({"status": "OPEN"}, {"status"}), ({"status": "active", "limit": "500"}, {"status", "limit"}),
    ],
    ids=["limit-0", "limit-101", "limit-word", "limit-negative", "cursor-garbage", "cursor-foreign", "status-unknown", "both"],
)
def test_bad_list_parameters_answer_422(acme: httpx.Client, params: dict[str, str], fields: set[str]) -> None:
    """Out-of-range limits, garbled cursors and unknown statuses are refused by name."""
    assert_error(acme.get("/jobs", params=params), 422, "VALIDATION_FAILED", fields=fields)


# ------------------------------------------------------------------------ locations


def test_location_search_defaults_to_the_united_states(acme: httpx.Client) -> None:
    """Without `country`, only US cities are suggested."""
    items = acme.get("/locations/search", params={"q": "port"}).json()["items"]
    assert [loc["locationId"] for loc in items] == ["loc_us_or_portland", "loc_us_me_portland"]
    assert all(loc["country"] == "United States" for loc in items)


def test_location_search_matches_any_case_prefix_before_substring(acme: httpx.Client) -> None:
    """A prefix match ranks before a match inside the name; case does not matter."""
    items = acme.get("/locations/search", params={"q": "NEW", "country": "india"}).json()["items"]
    assert [loc["city"] for loc in items] == ["New Delhi"]
    items = acme.get("/locations/search", params={"q": "AT", "country": "United States"}).json()["items"]
    assert [loc["city"] for loc in items] == ["Atlanta", "Seattle"]  # the table lists Seattle first
    assert acme.get("/locations/search", params={"q": "york"}).json()["items"][0]["locationId"] == "loc_us_ny_new_york"


def test_location_search_answers_whole_location_objects(acme: httpx.Client) -> None:
    """Each suggestion is exactly what a job's `locations[]` holds, with a stable id."""
    response = acme.get("/locations/search", params={"q": "new y"})
    assert response.status_code == 200
    assert response.json() == {"items": [{
        "locationId": "loc_us_ny_new_york", "displayName": "New York, New York, United States",
        "city": "New York", "stateProvince": "New York", "country": "United States",
    }]}


def test_location_search_in_another_country_and_an_unknown_one(acme: httpx.Client) -> None:
    """`country` picks the table's country by name; an unknown country finds nothing."""
    items = acme.get("/locations/search", params={"q": "mun", "country": "Germany"}).json()["items"]
    assert [loc["locationId"] for loc in items] == ["loc_de_by_munich"]
    assert acme.get("/locations/search", params={"q": "a", "country": "Atlantis"}).json() == {"items": []}


def test_location_table_covers_the_documented_countries() -> None:
    """The table holds real cities in each of the eleven countries, with unique ids."""
    countries = {loc["country"] for loc in LOCATIONS.values()}
    assert countries == {
        "United States", "Canada", "United Kingdom", "Germany", "France", "Netherlands", "Spain",
        "Portugal", "Ireland", "India", "Australia",
    }
    assert len(LOCATIONS) >= 40


# ------------------------------------------------------------------------ rate limit


def test_the_61st_request_in_a_minute_is_rate_limited(acme: httpx.Client) -> None:
    """The documented limit: 60 requests a minute per key."""
    for _ in range(60):
        assert acme.get("/locations/search").status_code == 200
    assert_error(acme.get("/jobs"), 429, "RATE_LIMITED")


def test_rate_limited_answers_carry_retry_after_in_body_and_header(sim: SorceSim, acme: httpx.Client) -> None:
    """429 says in whole seconds, in the body and in Retry-After, when to come back."""
    sim.set_rate_limit(2)
    acme.get("/jobs")
    sim.clock.advance(20.5)
    acme.get("/jobs")
    error = assert_error(acme.get("/jobs"), 429, "RATE_LIMITED")
    response = acme.get("/jobs")
    assert error["retryAfterSeconds"] == 40  # 39.5 s until the first request leaves the window, rounded up
    assert response.headers["retry-after"] == "40"
    assert set(error) == {"code", "message", "retryAfterSeconds"}


def test_the_rate_window_slides_with_the_clock(sim: SorceSim, acme: httpx.Client) -> None:
    """A request leaves the window 60 seconds after it was made, not at a minute boundary."""
    sim.set_rate_limit(3)
    acme.get("/jobs")
    sim.clock.advance(30)
    acme.get("/jobs")
    acme.get("/jobs")
    assert acme.get("/jobs").status_code == 429
    sim.clock.advance(30.5)
    assert acme.get("/jobs").status_code == 200
    assert acme.get("/jobs").status_code == 429
    sim.clock.advance(30)
    assert acme.get("/jobs").status_code == 200


def test_the_rate_limit_is_per_key(sim: SorceSim, acme: httpx.Client, globex: httpx.Client) -> None:
    """One key at its limit does not slow another."""
    sim.set_rate_limit(1)
    acme.get("/jobs")
    assert acme.get("/jobs").status_code == 429
    assert globex.get("/jobs").status_code == 200


def test_rejected_keys_and_refused_requests_do_not_use_up_the_limit(server: Any, sim: SorceSim, acme: httpx.Client) -> None:
    """401s count against no key and a 429 does not extend the wait."""
    sim.set_rate_limit(1)
    with _client(server, "sk_ext_unknown") as stranger:
        assert stranger.get("/jobs").status_code == 401
    acme.get("/jobs")
    for _ in range(5):
        assert acme.get("/jobs").status_code == 429
    sim.clock.advance(60)
    assert acme.get("/jobs").status_code == 200


# ------------------------------------------------------------------------ faults


def test_injected_500_answers_the_sorce_envelope(sim: SorceSim, acme: httpx.Client, control: httpx.Client) -> None:
    """A status fault answers Sorce's INTERNAL body and leaves state alone."""
    control.post("/faults", json={"kind": "status", "status": 500, "method": "POST", "path": "/api/external/v1/jobs"})
    assert_error(acme.post("/jobs", json={}), 500, "INTERNAL")
    assert acme.get("/jobs").json()["items"] == []
    assert acme.post("/jobs", json={}).status_code == 201


def test_injected_429_carries_the_faults_retry_after(acme: httpx.Client, control: httpx.Client) -> None:
    """A 429 fault puts the same whole seconds in the body and the header."""
    control.post("/faults", json={"kind": "status", "status": 429, "retry_after": 7})
    error = assert_error(acme.get("/jobs"), 429, "RATE_LIMITED")
    assert error["retryAfterSeconds"] == 7
    control.post("/faults", json={"kind": "status", "status": 429})
    response = acme.get("/jobs")
    assert response.json()["error"]["retryAfterSeconds"] == 1 and response.headers["retry-after"] == "1"


@pytest.mark.parametrize(
    ("status", "code"),
    [(401, "INVALID_SERVICE_KEY"), (402, "PAYMENT_METHOD_REQUIRED"), (404, "NOT_FOUND"), (409, "INVALID_TRANSITION"), (503, "INTERNAL")],
)
def test_injected_statuses_use_the_matching_code(acme: httpx.Client, control: httpx.Client, status: int, code: str) -> None:
    """Each injected status reads like the board's own answer for it."""
    control.post("/faults", json={"kind": "status", "status": status})
    assert_error(acme.get("/jobs"), status, code)


def test_an_injected_401_is_indistinguishable_from_a_real_one(sim: SorceSim, acme: httpx.Client, control: httpx.Client) -> None:
    """The documented 401 body is always the same, injected or not."""
    control.post("/faults", json={"kind": "status", "status": 401})
    injected = acme.get("/jobs")
    sim.revoke_key(ACME_KEY)
    real = acme.get("/jobs")
    assert injected.status_code == real.status_code == 401 and injected.json() == real.json()


def test_injected_422_carries_an_empty_fields_map(acme: httpx.Client, control: httpx.Client) -> None:
    """A validation failure always has `fields`, even an injected one."""
    control.post("/faults", json={"kind": "status", "status": 422})
    assert_error(acme.get("/jobs"), 422, "VALIDATION_FAILED", fields={})


def test_latency_fault_delays_the_answer(acme: httpx.Client, control: httpx.Client) -> None:
    """A latency fault answers normally, late."""
    control.post("/faults", json={"kind": "latency", "latency_ms": 150})
    started = time.monotonic()
    assert acme.get("/jobs").status_code == 200
    assert time.monotonic() - started >= 0.15


def test_reset_fault_drops_the_connection_and_creates_nothing(acme: httpx.Client, control: httpx.Client) -> None:
    """A reset never reaches the board: the client sees a transport error, nothing exists."""
    control.post("/faults", json={"kind": "reset", "method": "POST"})
    with pytest.raises(httpx.TransportError):
        acme.post("/jobs", json=complete_job(publish=True))
    assert acme.get("/jobs").json()["items"] == []


def test_lost_response_creates_the_job_although_the_client_got_an_error(acme: httpx.Client, control: httpx.Client) -> None:
    """The lost response: the create is committed, the reply never arrives."""
    control.post("/faults", json={"kind": "lost_response", "method": "POST", "path": "/api/external/v1/jobs"})
    with pytest.raises(httpx.TransportError):
        acme.post("/jobs", json=complete_job(publish=True, title="Lost reply"))
    items = acme.get("/jobs").json()["items"]
    assert [(job["title"], job["status"]) for job in items] == [("Lost reply", "ACTIVE")]


def test_an_unexpected_exception_answers_500_internal(sim: SorceSim, acme: httpx.Client, monkeypatch: pytest.MonkeyPatch) -> None:
    """A bug inside the simulator still answers the envelope, never a bare traceback."""

    def broken(*args: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(sim, "api_list", broken)
    error = assert_error(acme.get("/jobs"), 500, "INTERNAL")
    assert "boom" not in error["message"]


# ------------------------------------------------------------------------ controls


def test_gates_control_route_sets_and_reports_the_companys_gates(acme: httpx.Client, control: httpx.Client) -> None:
    """POST /_sandbox/companies/{id}/gates flips Gate 2 and Gate 3."""
    response = control.post(f"/companies/{ACME}/gates", json={"terms_accepted": False})
    assert response.json() == {"companyId": ACME, "terms_accepted": False, "payment_method": True}
    assert_error(acme.post("/jobs", json=complete_job(publish=True)), 409, "AGREEMENT_OUTDATED")
    control.post(f"/companies/{ACME}/gates", json={"terms_accepted": True, "payment_method": False})
    assert_error(acme.post("/jobs", json=complete_job(publish=True)), 402, "PAYMENT_METHOD_REQUIRED")
    assert control.post("/companies/cmp_nobody/gates", json={}).status_code == 404
    assert control.post(f"/companies/{ACME}/gates", json={"terms_accepted": "yes"}).status_code == 422


def test_applications_control_route_freezes_the_job(acme: httpx.Client, control: httpx.Client) -> None:
    """POST /_sandbox/jobs/{id}/applications adds pending applications."""
    job = create_active(acme)
    response = control.post(f"/jobs/{job['id']}/applications", json={"count": 2})
    assert response.status_code == 200 and response.json()["applicationCounts"]["pending"] == 2
    assert acme.get(f"/jobs/{job['id']}").json()["isFrozen"] is True
    assert control.post("/jobs/job_missing/applications", json={}).status_code == 404
    assert control.post(f"/jobs/{job['id']}/applications", json={"count": 0}).status_code == 422
    draft = create(acme, {})
    assert control.post(f"/jobs/{draft['id']}/applications", json={}).status_code == 422


def test_hand_edit_control_route_skips_the_gates(acme: httpx.Client, control: httpx.Client) -> None:
    """PATCH /_sandbox/jobs/{id} changes a live job as a person would, even leaving it incomplete."""
    job = create_active(acme)
    response = control.patch(f"/jobs/{job['id']}", json={"title": "Edited by hand", "description": None})
    assert response.status_code == 200
    seen = acme.get(f"/jobs/{job['id']}").json()
    assert seen["title"] == "Edited by hand" and seen["description"] is None and seen["status"] == "ACTIVE"
    assert control.patch(f"/jobs/{job['id']}", json={"status": "PAUSED"}).json()["status"] == "PAUSED"
    assert control.patch(f"/jobs/{job['id']}", json={"salaryMin": -1}).status_code == 422
    assert control.patch(f"/jobs/{job['id']}", json={"status": "EXPIRED"}).status_code == 422
    assert control.patch("/jobs/job_missing", json={}).status_code == 404


def test_hand_edit_can_publish_a_draft_without_gates(sim: SorceSim, acme: httpx.Client) -> None:
    """The dashboard can publish a draft the API would refuse; the job then lives 30 days."""
    draft = create(acme, {"title": "Hand-published"})
    job = sim.edit_job(draft["id"], status="ACTIVE")
    assert job["status"] == "ACTIVE" and _iso(job["expiresAt"]) - _iso(job["publishedAt"]) == timedelta(days=30)
    assert sim.edit_job(draft["id"], status="CLOSED")["closedAt"] is not None
    with pytest.raises(ValueError, match="JOB_NOT_EDITABLE"):
        sim.edit_job(draft["id"], title="After closing")


def test_rate_limit_control_route_sets_the_limit(acme: httpx.Client, control: httpx.Client) -> None:
    """POST /_sandbox/rate-limit changes requests per minute per key."""
    assert control.post("/rate-limit", json={"per_minute": 1}).json() == {"per_minute": 1}
    acme.get("/jobs")
    assert acme.get("/jobs").status_code == 429
    assert control.post("/rate-limit", json={"per_minute": 0}).status_code == 422
    assert control.post("/rate-limit", json={}).status_code == 422


def test_revoke_control_route_revokes_a_key(acme: httpx.Client, control: httpx.Client) -> None:
    """POST /_sandbox/keys/{key}/revoke makes the key answer 401."""
    assert control.post(f"/keys/{ACME_KEY}/revoke").json() == {"revoked": True}
    assert_error(acme.get("/jobs"), 401, "INVALID_SERVICE_KEY")
    assert control.post("/keys/sk_ext_nobody/revoke").status_code == 404


def test_reset_restores_keys_gates_limit_and_forgets_jobs(sim: SorceSim, acme: httpx.Client, control: httpx.Client) -> None:
    """POST /_sandbox/reset brings back a fresh board on the same clock."""
    create(acme, {})
    sim.revoke_key(ACME_KEY)
    sim.set_gates(ACME, terms_accepted=False)
    sim.set_rate_limit(1)
    assert control.post("/reset").json() == {"reset": True}
    assert acme.get("/jobs").json() == {"items": [], "nextCursor": None}
    assert acme.get("/jobs").status_code == 200
    assert acme.post("/jobs", json=complete_job(publish=True)).status_code == 201


def test_state_jobs_clock_faults_and_requests_controls(sim: SorceSim, acme: httpx.Client, control: httpx.Client) -> None:
    """The shared controls work on this board: state, jobs, clock, faults, request counts."""
    job = create(acme, {"title": "Counted"})
    state = control.get("/state").json()
    assert state["board"] == "sorce" and state["rate_limit_per_minute"] == 60
    assert [j["id"] for j in state["jobs"]] == [job["id"]]
    assert state["companies"][ACME] == {"terms_accepted": True, "payment_method": True}
    assert [j["id"] for j in control.get("/jobs").json()["jobs"]] == [job["id"]]
    moved = control.post("/clock", json={"advance_seconds": 3600}).json()
    assert _iso(moved["now"]) - START >= timedelta(hours=1)
    control.post("/faults", json={"kind": "status", "status": 500, "times": 2})
    assert len(control.get("/faults").json()["faults"]) == 1
    assert control.delete("/faults").json() == {"faults": []}
    counts = control.get("/requests").json()["requests"]
    assert counts == {"POST /api/external/v1/jobs": 1}
    assert control.delete("/requests").json() == {"requests": {}}


def test_python_controls_match_the_api_view(sim: SorceSim, acme: httpx.Client, globex: httpx.Client) -> None:
    """`jobs()` shows the same Job objects as the API, filtered by company."""
    mine = create(acme, complete_job())
    theirs = create(globex, {})
    assert sim.jobs(ACME) == [mine]
    assert [j["id"] for j in sim.jobs()] == [theirs["id"], mine["id"]]
    assert sim.edit_job(mine["id"], title="By hand")["title"] == "By hand"
    assert acme.get(f"/jobs/{mine['id']}").json()["title"] == "By hand"


def test_a_key_without_the_sk_ext_prefix_is_refused_at_construction() -> None:
    """Simulated keys look like Sorce's, so a connector's format checks hold."""
    with pytest.raises(ValueError):
        SorceSim(keys={"plain": "cmp_x"})
