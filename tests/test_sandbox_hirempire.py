"""The Hirempire simulator over real HTTP: every endpoint and error row of the contract,
the input/output words, idempotent sources, visits, plan limits, faults and controls."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from boardsync.sandbox.core import Fault, serve
from boardsync.sandbox.hirempire import EXPIRED_TOKEN, SANDBOX_COMPANY_ID, SANDBOX_TOKEN, HirempireSim
from boardsync.sandbox.server import Sandbox

DROP = object()
JOB_KEYS = {
    "id", "created_time", "job_title", "public_slug", "company_name", "department", "industry",
    "career_level", "job_type", "job_mode", "job_location", "salary", "salary_min", "salary_max",
    "currency", "salary_period", "is_salary_hidden", "job_description", "sources", "status", "applicants",
}
SOURCE_KEYS = {"id", "job_id", "source_name", "source_url", "code", "visits", "created_at"}
CANDIDATE_KEYS = {"id", "applied_at", "type", "name", "email", "source", "status", "job_id", "job_title"}


def job_body(**changes: Any) -> dict[str, Any]:
    """A complete AddJob body; a change set to DROP removes the field."""
    body: dict[str, Any] = {
        "company_id": SANDBOX_COMPANY_ID,
        "job_title": "Senior Product Designer",
        "job_description": "Design the tools our customers use every day.",
        "department": "Design",
        "job_country": "Germany",
        "city": "Berlin",
        "salary": 85000,
        "currency": "EUR",
        "salary_period": "Per year",
        "job_type": "Full-time",
        "workplace": "On-site",
        "career_level": "Senior",
        "job_sources": ["LinkedIn", "Newsletter"],
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not DROP}


def assert_error(response: httpx.Response, status: int, message: str) -> None:
    """The response is Hirempire's error envelope with exactly this status and text."""
    assert response.status_code == status, response.text
    assert response.json() == {"success": False, "error": message}


@pytest.fixture(scope="module")
def clients(sandbox_servers: Sandbox) -> Iterator[dict[str, httpx.Client]]:
    """One client per kind of caller for the module: building a client costs more than a request."""
    auth = {"Authorization": f"Bearer {SANDBOX_TOKEN}"}
    made = {
        "api": httpx.Client(base_url=sandbox_servers.hirempire_url, headers=auth, timeout=5),
        "controls": httpx.Client(base_url=sandbox_servers.server_url("hirempire") + "/_sandbox", timeout=5),
        "web": httpx.Client(timeout=5),
    }
    yield made
    for client in made.values():
        client.close()


@pytest.fixture
def hm(sandbox: Sandbox, clients: dict[str, httpx.Client]) -> httpx.Client:
    """The Hirempire API with the sandbox token, on a freshly reset sandbox."""
    return clients["api"]


@pytest.fixture
def controls(sandbox: Sandbox, clients: dict[str, httpx.Client]) -> httpx.Client:
    return clients["controls"]


@pytest.fixture
def web(sandbox: Sandbox, clients: dict[str, httpx.Client]) -> httpx.Client:
    """A person's browser: no credentials."""
    return clients["web"]


@pytest.fixture
def sim(sandbox: Sandbox) -> HirempireSim:
    return sandbox.hirempire


def add_job(hm: httpx.Client, **changes: Any) -> dict[str, Any]:
    response = hm.post("/add-job", json=job_body(**changes))
    assert response.status_code == 201, response.text
    return response.json()


def get_job(hm: httpx.Client, job_id: str) -> dict[str, Any]:
    response = hm.get("/get-job", params={"job_id": job_id})
    assert response.status_code == 200, response.text
    return response.json()["job"]


# ---------------------------------------------------------------------------------- auth


def test_missing_authorization_header_is_400_header_required(web: httpx.Client, sandbox: Sandbox) -> None:
    """No Authorization header answers 400 "Authorization header is required."."""
    assert_error(web.get(sandbox.hirempire_url + "/jobs"), 400, "Authorization header is required.")


@pytest.mark.parametrize("header", ["Token sk-sandbox-hirempire", "bearer sk-sandbox-hirempire", "sk-sandbox-hirempire"])
def test_authorization_without_bearer_prefix_is_400(web: httpx.Client, sandbox: Sandbox, header: str) -> None:
    """An Authorization header not starting with 'Bearer ' answers 400 with the documented text."""
    response = web.get(sandbox.hirempire_url + "/jobs", headers={"Authorization": header})
    assert_error(response, 400, "Authorization header must start with 'Bearer '.")


def test_unknown_token_is_401_invalid_token(web: httpx.Client, sandbox: Sandbox) -> None:
    """A token the workspace never issued answers 401 "Invalid token"."""
    response = web.get(sandbox.hirempire_url + "/jobs", headers={"Authorization": "Bearer sk-nobody"})
    assert_error(response, 401, "Invalid token")


def test_expired_token_is_401_token_is_expired(web: httpx.Client, sandbox: Sandbox) -> None:
    """The sandbox's expired token answers 401 "Token is expired", even after the clock is reset."""
    response = web.get(sandbox.hirempire_url + "/jobs", headers={"Authorization": f"Bearer {EXPIRED_TOKEN}"})
    assert_error(response, 401, "Token is expired")


def test_token_expired_by_control_is_refused_from_then_on(hm: httpx.Client, controls: httpx.Client) -> None:
    """POST /_sandbox/expire-token makes a working token answer 401 "Token is expired"."""
    assert hm.get("/jobs").status_code == 200
    assert controls.post("/expire-token", json={"token": SANDBOX_TOKEN}).json() == {"expired": True}
    assert_error(hm.get("/jobs"), 401, "Token is expired")


# ------------------------------------------------------------------------------ query params


def test_get_jobs_refuses_any_query_parameter(hm: httpx.Client) -> None:
    """GET /jobs with a query parameter answers 400 "Query parameters are not allowed."."""
    assert_error(hm.get("/jobs", params={"page": "2"}), 400, "Query parameters are not allowed.")


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/get-job"), ("DELETE", "/delete-job"), ("GET", "/job-sources"), ("GET", "/job-candidates")],
)
def test_job_id_endpoints_refuse_other_query_parameters(hm: httpx.Client, method: str, path: str) -> None:
    """An endpoint taking job_id refuses any other parameter with the documented text."""
    job_id = add_job(hm)["job_id"]
    response = hm.request(method, path, params={"job_id": job_id, "expand": "all"})
    assert_error(response, 400, "Only 'job_id' query parameter is allowed.")


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/get-job"), ("DELETE", "/delete-job"), ("GET", "/job-sources"), ("GET", "/job-candidates")],
)
def test_job_id_endpoints_require_job_id(hm: httpx.Client, method: str, path: str) -> None:
    """Leaving job_id out answers 400 "Query parameter 'job_id' is required."."""
    assert_error(hm.request(method, path), 400, "Query parameter 'job_id' is required.")


def test_candidates_refuses_other_parameters_and_unknown_types(hm: httpx.Client) -> None:
    """GET /candidates takes only `type`, and only applicant, prospect or upload."""
    assert_error(hm.get("/candidates", params={"job_id": "x"}), 400, "Only 'type' query parameter is allowed.")
    assert_error(
        hm.get("/candidates", params={"type": "recruiter"}),
        400, "Invalid type: 'recruiter'. Must be one of: applicant, prospect, upload",
    )


# ---------------------------------------------------------------------------------- add-job


def test_add_job_answers_documented_body_with_one_application_per_source(hm: httpx.Client, sandbox: Sandbox) -> None:
    """add-job answers 201 {success, job_id, job_status, total_applications, applications[]},
    one application entry per source, each pointing at the source's public URL."""
    answer = add_job(hm)
    assert set(answer) == {"success", "job_id", "job_status", "total_applications", "applications"}
    assert answer["success"] is True and answer["job_status"] == "draft"
    assert uuid.UUID(answer["job_id"])
    assert answer["total_applications"] == 2
    assert [a["source"] for a in answer["applications"]] == ["LinkedIn", "Newsletter"]
    sources = {s["id"]: s for s in get_job(hm, answer["job_id"])["sources"]["items"]}
    for application in answer["applications"]:
        assert set(application) == {"id", "created_at", "source", "application_url"}
        assert application["application_url"] == sources[application["id"]]["source_url"]
        assert application["application_url"].startswith(sandbox.server_url("hirempire") + "/p/sandbox-company/")


def test_added_job_reads_back_in_output_words(hm: httpx.Client) -> None:
    """The Job object uses the output words: full-time, job_mode onsite, senior, draft,
    is_salary_hidden, "City, Country", a salary display string and salary_min = salary_max."""
    job = get_job(hm, add_job(hm, hide_salary=True, industry="Software", status="Pending")["job_id"])
    assert set(job) == JOB_KEYS
    assert job["job_type"] == "full-time"
    assert job["job_mode"] == "onsite"
    assert job["career_level"] == "senior"
    assert job["status"] == "draft"
    assert job["is_salary_hidden"] is True
    assert job["job_location"] == "Berlin, Germany"
    assert job["salary"] == "EUR 85,000 per year"
    assert (job["salary_min"], job["salary_max"], job["currency"]) == (85000, 85000, "EUR")
    assert job["salary_period"] == "Per year"
    assert job["department"] == "Design" and job["industry"] == "Software"
    assert job["company_name"] == "Sandbox Company"
    assert job["applicants"] == 0
    assert job["sources"]["count"] == 2
    assert set(job["sources"]["items"][0]) == {"id", "source_name", "source_url", "visits", "created_at"}


@pytest.mark.parametrize(
    ("field", "value", "key", "shown"),
    [
        ("job_type", "Part-time", "job_type", "part-time"),
        ("job_type", "Project-based", "job_type", "project-based"),
        ("workplace", "Remote", "job_mode", "remote"),
        ("workplace", "Hybrid", "job_mode", "hybrid"),
        ("career_level", "Team Leader", "career_level", "team-leader"),
        ("career_level", "Mid-level", "career_level", "mid-level"),
        ("career_level", "C-level", "career_level", "c-level"),
        ("career_level", "VP", "career_level", "vp"),
        ("status", "Pending", "status", "draft"),
        ("status", "pending", "status", "draft"),
        ("status", "Active", "status", "active"),
        ("status", "paused", "status", "paused"),
        ("status", "Hired", "status", "closed"),
        ("status", "closed", "status", "closed"),
        ("city", None, "job_location", "Germany"),
        ("salary", 27.5, "salary", "EUR 27.50 per year"),
    ],
)
def test_input_words_become_output_words(hm: httpx.Client, field: str, value: Any, key: str, shown: Any) -> None:
    """Each documented input word reads back as its output word."""
    assert get_job(hm, add_job(hm, **{field: value})["job_id"])[key] == shown


def test_omitted_status_is_draft_and_hide_salary_false(hm: httpx.Client) -> None:
    """Without status the job is a draft; without hide_salary the salary is shown."""
    job = get_job(hm, add_job(hm)["job_id"])
    assert (job["status"], job["is_salary_hidden"], job["industry"]) == ("draft", False, None)


@pytest.mark.parametrize(
    "field",
    ["company_id", "job_title", "job_description", "department", "job_country", "salary", "currency",
     "salary_period", "job_type", "workplace", "career_level", "job_sources"],
)
def test_add_job_names_a_missing_required_field(hm: httpx.Client, field: str) -> None:
    """Leaving out a required field answers 400 "Missing required field: <f>"."""
    assert_error(hm.post("/add-job", json=job_body(**{field: DROP})), 400, f"Missing required field: {field}")


def test_add_job_treats_null_and_blank_as_missing_and_names_the_first(hm: httpx.Client) -> None:
    """null and blank strings are missing; with several gone, the first in the table is named."""
    assert_error(hm.post("/add-job", json=job_body(job_title="  ")), 400, "Missing required field: job_title")
    body = job_body(salary=None, department=DROP)
    assert_error(hm.post("/add-job", json=body), 400, "Missing required field: department")


@pytest.mark.parametrize(
    ("field", "value", "allowed"),
    [
        ("job_type", "full-time", "Full-time, Part-time, Contract, Freelance, Internship, Temporary, Project-based"),
        ("workplace", "onsite", "On-site, Remote, Hybrid"),
        ("career_level", "senior", "Junior, Mid-level, Senior, Team Leader, Manager, Director, VP, C-level"),
        ("salary_period", "Yearly", "Per hour, Per day, Per week, Bi-weekly, Per month, Per year"),
        ("status", "draft", "Pending, Active, Paused, Hired, Closed"),
    ],
)
def test_add_job_refuses_words_outside_the_enums(hm: httpx.Client, field: str, value: str, allowed: str) -> None:
    """An enum value that is not a documented input word answers 400 naming the field and the words."""
    response = hm.post("/add-job", json=job_body(**{field: value}))
    assert_error(response, 400, f"Invalid {field}: '{value}'. Must be one of: {allowed}")


def test_add_job_refuses_an_unknown_department(hm: httpx.Client) -> None:
    """department must be one of Hirempire's department names."""
    response = hm.post("/add-job", json=job_body(department="Dev"))
    assert response.status_code == 400
    assert response.json()["error"].startswith("Invalid department: 'Dev'. Must be one of: Accounting/Auditing, ")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("salary", "85000", "salary must be a non-negative number"),
        ("salary", -1, "salary must be a non-negative number"),
        ("salary", True, "salary must be a non-negative number"),
        ("currency", "eur", "currency must be an ISO 4217 code such as USD, EUR or GBP"),
        ("currency", "EURO", "currency must be an ISO 4217 code such as USD, EUR or GBP"),
        ("hide_salary", "yes", "hide_salary must be a boolean"),
        ("job_sources", "LinkedIn", "job_sources must be an array of non-empty strings"),
        ("job_sources", ["LinkedIn", " "], "job_sources must be an array of non-empty strings"),
        ("job_title", 42, "job_title must be a string"),
        ("public_slug", "  ", "public_slug must be a non-empty string"),
        ("surprise", 1, "Unknown field: surprise"),
    ],
)
def test_add_job_refuses_malformed_values(hm: httpx.Client, field: str, value: Any, message: str) -> None:
    """Values of the wrong type or shape, and unknown fields, answer 400 with a precise text."""
    assert_error(hm.post("/add-job", json=job_body(**{field: value})), 400, message)


@pytest.mark.parametrize("raw", ["not json", "[1, 2]"])
def test_add_job_body_must_be_a_json_object(hm: httpx.Client, raw: str) -> None:
    """A body that is not a JSON object answers 400."""
    response = hm.post("/add-job", content=raw, headers={"content-type": "application/json"})
    assert_error(response, 400, "Request body must be a JSON object.")


def test_add_job_for_another_company_is_401_invalid_company_id(hm: httpx.Client, sim: HirempireSim) -> None:
    """A company_id outside the workspace answers 401 "Invalid company id" and creates nothing."""
    assert_error(hm.post("/add-job", json=job_body(company_id="cmp_other")), 401, "Invalid company id")
    assert sim.jobs() == []


def test_default_public_slug_is_the_title_plus_four_random_characters(hm: httpx.Client) -> None:
    """Without public_slug the job gets '<title-slug>-xxxx', and two such jobs differ."""
    first = get_job(hm, add_job(hm, job_title="Senior Product Designer!")["job_id"])["public_slug"]
    second = get_job(hm, add_job(hm, job_title="Senior Product Designer!")["job_id"])["public_slug"]
    assert re.fullmatch(r"senior-product-designer-[a-z0-9]{4}", first)
    assert first != second


def test_public_slug_in_use_is_409_and_a_deleted_job_frees_it(hm: httpx.Client, sim: HirempireSim) -> None:
    """A second add-job with the same public_slug answers 409; once the first is deleted it is free."""
    first = add_job(hm, public_slug="designer-berlin")["job_id"]
    assert_error(hm.post("/add-job", json=job_body(public_slug="designer-berlin")), 409, "public_slug already in use")
    assert len(sim.jobs()) == 1
    assert hm.delete("/delete-job", params={"job_id": first}).status_code == 200
    assert get_job(hm, add_job(hm, public_slug="designer-berlin")["job_id"])["public_slug"] == "designer-berlin"


def test_adding_an_active_job_past_the_plan_limit_is_402(hm: httpx.Client, sim: HirempireSim) -> None:
    """With the active-jobs limit reached, an active add-job answers 402; a draft is still accepted."""
    sim.set_limits(active_jobs=1)
    add_job(hm, status="Active")
    response = hm.post("/add-job", json=job_body(status="active"))
    assert_error(response, 402, "Active jobs limit reached. Upgrade to add more, or close one of your jobs.")
    assert add_job(hm, status="Pending")["job_status"] == "draft"
    assert [j["status"] for j in sim.jobs()] == ["active", "draft"]


# ----------------------------------------------------------------------- get-job, GET /jobs


def test_get_job_of_unknown_or_malformed_id_is_404(hm: httpx.Client) -> None:
    """get-job for an id the workspace does not have answers 404 "Job not found"."""
    assert_error(hm.get("/get-job", params={"job_id": str(uuid.uuid4())}), 404, "Job not found")
    assert_error(hm.get("/get-job", params={"job_id": "nope"}), 404, "Job not found")


def test_get_jobs_lists_every_job_oldest_first_with_sources_and_visits(hm: httpx.Client, sim: HirempireSim) -> None:
    """GET /jobs answers {success, total_jobs, jobs} with each job's sources and their visits."""
    assert hm.get("/jobs").json() == {"success": True, "total_jobs": 0, "jobs": []}
    first = add_job(hm, job_title="First")
    add_job(hm, job_title="Second", job_sources=[])
    sim.add_visits(first["applications"][0]["id"], 3)
    answer = hm.get("/jobs").json()
    assert answer["success"] is True and answer["total_jobs"] == 2
    assert [j["job_title"] for j in answer["jobs"]] == ["First", "Second"]
    assert [s["visits"] for s in answer["jobs"][0]["sources"]["items"]] == [3, 0]
    assert answer["jobs"][1]["sources"] == {"count": 0, "items": []}


# ---------------------------------------------------------------------------------- update-job


def test_update_job_changes_fields_and_answers_id_and_status(hm: httpx.Client) -> None:
    """update-job answers {success, id, status} and the job reads back with the change."""
    job_id = add_job(hm)["job_id"]
    response = hm.patch("/update-job", json={"job_id": job_id, "job_title": "Lead Designer", "status": "Paused",
                                             "workplace": "Remote", "salary": 90000, "hide_salary": True})
    assert response.status_code == 200
    assert response.json() == {"success": True, "id": job_id, "status": "paused"}
    job = get_job(hm, job_id)
    assert (job["job_title"], job["job_mode"], job["salary_max"], job["is_salary_hidden"]) == (
        "Lead Designer", "remote", 90000, True)


def test_update_job_of_unknown_job_is_401_invalid_job_id(hm: httpx.Client) -> None:
    """An unknown job id on update-job answers 401 "Invalid job id" (sic), not 404."""
    response = hm.patch("/update-job", json={"job_id": str(uuid.uuid4()), "job_title": "X"})
    assert_error(response, 401, "Invalid job id")


def test_update_job_without_an_updatable_field_is_400(hm: httpx.Client) -> None:
    """update-job with only job_id answers 400 "At least one updatable field must be provided"."""
    job_id = add_job(hm)["job_id"]
    assert_error(hm.patch("/update-job", json={"job_id": job_id}), 400, "At least one updatable field must be provided")


def test_update_job_without_job_id_is_400(hm: httpx.Client) -> None:
    """update-job needs job_id."""
    assert_error(hm.patch("/update-job", json={"job_title": "X"}), 400, "Missing required field: job_id")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"company_id": SANDBOX_COMPANY_ID}, "Field cannot be updated: company_id"),
        ({"job_sources": ["X"]}, "Field cannot be updated: job_sources"),
        ({"salary_max": 1}, "Unknown field: salary_max"),
        ({"job_title": ""}, "Missing required field: job_title"),
        ({"job_type": "full-time"}, "Invalid job_type: 'full-time'. Must be one of: Full-time, Part-time, Contract, "
                                    "Freelance, Internship, Temporary, Project-based"),
    ],
)
def test_update_job_refuses_fields_it_cannot_take(hm: httpx.Client, changes: dict[str, Any], message: str) -> None:
    """update-job refuses non-updatable, unknown, blank required and non-enum values with 400."""
    job_id = add_job(hm)["job_id"]
    assert_error(hm.patch("/update-job", json={"job_id": job_id, **changes}), 400, message)


def test_update_job_to_another_jobs_slug_is_409_but_its_own_is_fine(hm: httpx.Client) -> None:
    """Taking another job's public_slug answers 409; sending a job's own slug back is accepted."""
    add_job(hm, public_slug="taken")
    job_id = add_job(hm, public_slug="mine")["job_id"]
    assert_error(hm.patch("/update-job", json={"job_id": job_id, "public_slug": "taken"}), 409, "public_slug already in use")
    assert hm.patch("/update-job", json={"job_id": job_id, "public_slug": "mine"}).status_code == 200


def test_activating_past_the_plan_limit_on_update_is_402(hm: httpx.Client, sim: HirempireSim) -> None:
    """update-job to active with the limit reached answers 402; an already active job stays editable."""
    sim.set_limits(active_jobs=1)
    active = add_job(hm, status="Active")["job_id"]
    draft = add_job(hm)["job_id"]
    response = hm.patch("/update-job", json={"job_id": draft, "status": "Active"})
    assert_error(response, 402, "Active jobs limit reached. Upgrade to add more, or close one of your jobs.")
    assert get_job(hm, draft)["status"] == "draft"
    assert hm.patch("/update-job", json={"job_id": active, "status": "active", "job_title": "Y"}).status_code == 200
    assert hm.patch("/update-job", json={"job_id": active, "status": "Closed"}).json()["status"] == "closed"
    assert hm.patch("/update-job", json={"job_id": draft, "status": "Active"}).json()["status"] == "active"


def test_any_status_may_follow_any_other(hm: httpx.Client) -> None:
    """There are no lifecycle rules: closed back to draft, draft to paused, and so on."""
    job_id = add_job(hm, status="Closed")["job_id"]
    for word, shown in [("Pending", "draft"), ("Paused", "paused"), ("Active", "active"), ("Hired", "closed"), ("Active", "active")]:
        assert hm.patch("/update-job", json={"job_id": job_id, "status": word}).json()["status"] == shown


# ---------------------------------------------------------------------------------- delete-job


def test_delete_job_is_soft_and_the_job_then_answers_404_everywhere(hm: httpx.Client, sim: HirempireSim) -> None:
    """delete-job answers {success, job_id, message, deleted}; the job leaves GET /jobs and answers
    404 on get-job, delete-job, job-sources and create-source, 401 on update-job."""
    job_id = add_job(hm)["job_id"]
    response = hm.delete("/delete-job", params={"job_id": job_id})
    assert response.status_code == 200
    assert response.json() == {"success": True, "job_id": job_id, "message": "Job deleted successfully", "deleted": True}
    assert hm.get("/jobs").json()["total_jobs"] == 0
    assert_error(hm.get("/get-job", params={"job_id": job_id}), 404, "Job not found")
    assert_error(hm.delete("/delete-job", params={"job_id": job_id}), 404, "Job not found")
    assert_error(hm.get("/job-sources", params={"job_id": job_id}), 404, "Job not found")
    assert_error(hm.post("/create-source", json={"job_id": job_id, "source_name": "X"}), 404, "Job not found")
    assert_error(hm.patch("/update-job", json={"job_id": job_id, "job_title": "X"}), 401, "Invalid job id")
    assert sim.snapshot()["deleted_jobs"] == [job_id]


def test_deleting_an_active_job_frees_its_place_under_the_limit(hm: httpx.Client, sim: HirempireSim) -> None:
    """A deleted active job no longer counts towards the active-jobs limit."""
    sim.set_limits(active_jobs=1)
    job_id = add_job(hm, status="Active")["job_id"]
    hm.delete("/delete-job", params={"job_id": job_id})
    assert add_job(hm, status="Active")["job_status"] == "active"


# ---------------------------------------------------------------------------------- sources


def test_create_source_is_201_when_new_and_200_with_the_same_source_after_trimming(hm: httpx.Client) -> None:
    """create-source makes a Source (201); the same pair again, padded with spaces, answers 200
    with that very source and makes no duplicate."""
    job_id = add_job(hm, job_sources=[])["job_id"]
    created = hm.post("/create-source", json={"job_id": job_id, "source_name": "Careers page"})
    assert created.status_code == 201
    source = created.json()["source"]
    assert created.json()["success"] is True
    assert set(source) == SOURCE_KEYS
    assert (source["job_id"], source["source_name"], source["visits"]) == (job_id, "Careers page", 0)
    assert re.fullmatch(r"[A-Z0-9]{4}", source["code"])
    again = hm.post("/create-source", json={"job_id": job_id, "source_name": "  Careers page \t"})
    assert again.status_code == 200
    assert again.json() == {"success": True, "source": source}
    assert hm.get("/job-sources", params={"job_id": job_id}).json()["total_sources"] == 1


def test_create_source_match_is_case_sensitive(hm: httpx.Client) -> None:
    """'LinkedIn' and 'linkedin' are two sources of the same job."""
    job_id = add_job(hm, job_sources=["LinkedIn"])["job_id"]
    response = hm.post("/create-source", json={"job_id": job_id, "source_name": "linkedin"})
    assert response.status_code == 201
    names = [s["source_name"] for s in hm.get("/job-sources", params={"job_id": job_id}).json()["sources"]]
    assert names == ["LinkedIn", "linkedin"]


def test_add_job_sources_are_made_exactly_like_create_source(hm: httpx.Client) -> None:
    """job_sources are trimmed and collapse like create-source, and create-source finds them."""
    answer = add_job(hm, job_sources=[" LinkedIn ", "LinkedIn", "Indeed"])
    assert [a["source"] for a in answer["applications"]] == ["LinkedIn", "Indeed"]
    again = hm.post("/create-source", json={"job_id": answer["job_id"], "source_name": "LinkedIn"})
    assert again.status_code == 200
    assert again.json()["source"]["id"] == answer["applications"][0]["id"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"source_name": "X"}, "job_id is required and must be a UUID"),
        ({"job_id": "job-1", "source_name": "X"}, "job_id is required and must be a UUID"),
        ({"job_id": 7, "source_name": "X"}, "job_id is required and must be a UUID"),
        ({"job_id": str(uuid.uuid4())}, "source_name is required and must be a non-empty string"),
        ({"job_id": str(uuid.uuid4()), "source_name": "   "}, "source_name is required and must be a non-empty string"),
        ({"job_id": str(uuid.uuid4()), "source_name": 3}, "source_name is required and must be a non-empty string"),
    ],
)
def test_create_source_refuses_bad_input_with_400(hm: httpx.Client, body: dict[str, Any], message: str) -> None:
    """create-source's two documented 400 texts."""
    assert_error(hm.post("/create-source", json=body), 400, message)


def test_create_source_for_unknown_job_is_404(hm: httpx.Client) -> None:
    """A well-formed job id the workspace does not have answers 404 "Job not found"."""
    response = hm.post("/create-source", json={"job_id": str(uuid.uuid4()), "source_name": "X"})
    assert_error(response, 404, "Job not found")


def test_job_sources_lists_a_jobs_sources_in_creation_order(hm: httpx.Client) -> None:
    """job-sources answers {success, job_id, total_sources, sources:[Source]}."""
    job_id = add_job(hm)["job_id"]
    answer = hm.get("/job-sources", params={"job_id": job_id}).json()
    assert answer["success"] is True and answer["job_id"] == job_id and answer["total_sources"] == 2
    assert [s["source_name"] for s in answer["sources"]] == ["LinkedIn", "Newsletter"]
    assert all(set(s) == SOURCE_KEYS for s in answer["sources"])
    assert_error(hm.get("/job-sources", params={"job_id": str(uuid.uuid4())}), 404, "Job not found")


# ---------------------------------------------------------------------------------- visits


def test_opening_a_public_source_url_adds_one_visit(web: httpx.Client, hm: httpx.Client) -> None:
    """Each GET of a source_url (no auth) adds one to that source only; a HEAD adds nothing."""
    answer = add_job(hm)
    url, other = (a["application_url"] for a in answer["applications"])
    for _ in range(2):
        page = web.get(url)
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        assert "Senior Product Designer" in page.text
    assert web.head(url).status_code == 200
    visits = {s["source_url"]: s["visits"] for s in get_job(hm, answer["job_id"])["sources"]["items"]}
    assert visits == {url: 2, other: 0}
    sources = hm.get("/job-sources", params={"job_id": answer["job_id"]}).json()["sources"]
    assert [s["visits"] for s in sources] == [2, 0]


def test_public_page_of_a_deleted_or_unknown_source_is_404(web: httpx.Client, hm: httpx.Client, sim: HirempireSim, sandbox: Sandbox) -> None:
    """A deleted job's source URL, an unknown source and a wrong company slug answer 404."""
    answer = add_job(hm)
    url = answer["applications"][0]["application_url"]
    assert web.get(url.replace("/sandbox-company/", "/other-company/")).status_code == 404
    assert web.get(f"{sandbox.server_url('hirempire')}/p/sandbox-company/{uuid.uuid4()}").status_code == 404
    hm.delete("/delete-job", params={"job_id": answer["job_id"]})
    assert web.get(url).status_code == 404


def test_public_pages_do_not_spend_the_hourly_limit(web: httpx.Client, hm: httpx.Client, sim: HirempireSim) -> None:
    """Visits are not API calls: opening source URLs leaves the workspace's budget alone."""
    url = add_job(hm)["applications"][0]["application_url"]
    sim.set_limits(requests_per_hour=2)  # add-job above spent one
    for _ in range(5):
        assert web.get(url).status_code == 200
    assert hm.get("/jobs").status_code == 200
    assert hm.get("/jobs").status_code == 429


# ---------------------------------------------------------------------------------- candidates


def test_candidates_carry_their_source_name_and_filter_by_type(hm: httpx.Client, sim: HirempireSim) -> None:
    """GET /candidates lists every candidate with `source` = the source name; `type` narrows it."""
    job_id = add_job(hm)["job_id"]
    applicant = sim.add_candidate(job_id, "LinkedIn", name="Ada Example")
    sim.add_candidate(job_id, "Newsletter", type="prospect")
    sim.add_candidate(job_id, "Direct", type="upload")
    everyone = hm.get("/candidates").json()
    assert everyone["success"] is True and everyone["total_candidates"] == 3
    assert everyone["candidates"][0] == applicant
    assert set(applicant) == CANDIDATE_KEYS
    assert (applicant["source"], applicant["type"], applicant["job_id"], applicant["job_title"], applicant["name"]) == (
        "LinkedIn", "applicant", job_id, "Senior Product Designer", "Ada Example")
    for kind, source in [("applicant", "LinkedIn"), ("prospect", "Newsletter"), ("upload", "Direct")]:
        answer = hm.get("/candidates", params={"type": kind}).json()
        assert answer["total_candidates"] == 1 and answer["candidates"][0]["source"] == source


def test_job_candidates_lists_one_jobs_candidates(hm: httpx.Client, sim: HirempireSim) -> None:
    """job-candidates answers {success, total_candidates, candidates} for that job only."""
    mine, other = add_job(hm)["job_id"], add_job(hm)["job_id"]
    sim.add_candidate(mine, "LinkedIn")
    sim.add_candidate(other, "LinkedIn")
    answer = hm.get("/job-candidates", params={"job_id": mine}).json()
    assert set(answer) == {"success", "total_candidates", "candidates"}
    assert answer["total_candidates"] == 1 and answer["candidates"][0]["job_id"] == mine
    assert_error(hm.get("/job-candidates", params={"job_id": str(uuid.uuid4())}), 404, "Job not found")


def test_applicants_counts_only_applicants_and_deleted_jobs_take_theirs_along(hm: httpx.Client, sim: HirempireSim) -> None:
    """A job's `applicants` counts candidates of type applicant; a deleted job's leave /candidates."""
    job_id = add_job(hm)["job_id"]
    sim.add_candidate(job_id, "LinkedIn")
    sim.add_candidate(job_id, "LinkedIn", type="prospect")
    assert get_job(hm, job_id)["applicants"] == 1
    hm.delete("/delete-job", params={"job_id": job_id})
    assert hm.get("/candidates").json()["total_candidates"] == 0


# ---------------------------------------------------------------------------------- rate limit


def test_requests_past_the_hourly_limit_are_429_with_retry_after(hm: httpx.Client, sim: HirempireSim) -> None:
    """Over the limit: 429 {"success": false, "error": "Rate limit exceeded"} and Retry-After in seconds;
    an hour later on the clock, requests pass again."""
    sim.set_limits(requests_per_hour=3)
    for _ in range(3):
        assert hm.get("/jobs").status_code == 200
    refused = hm.get("/jobs")
    assert_error(refused, 429, "Rate limit exceeded")
    assert 3590 <= int(refused.headers["retry-after"]) <= 3600
    sim.clock.advance(3600)
    assert hm.get("/jobs").status_code == 200


def test_the_hourly_window_slides(hm: httpx.Client, sim: HirempireSim) -> None:
    """The window is a sliding hour: a request frees its place exactly an hour after it was made."""
    sim.set_limits(requests_per_hour=2)
    hm.get("/jobs")
    sim.clock.advance(1800)
    hm.get("/jobs")
    refused = hm.get("/jobs")
    assert refused.status_code == 429
    assert 1790 <= int(refused.headers["retry-after"]) <= 1800
    sim.clock.advance(1801)
    assert hm.get("/jobs").status_code == 200
    assert hm.get("/jobs").status_code == 429


def test_every_authenticated_request_counts_but_refused_auth_does_not(web: httpx.Client, hm: httpx.Client, sim: HirempireSim) -> None:
    """A 400 or 404 answer spends the budget; a request that fails authentication does not."""
    sim.set_limits(requests_per_hour=2)
    for _ in range(5):
        web.get(hm.base_url.join("jobs"), headers={"Authorization": "Bearer sk-nobody"})
    assert hm.get("/get-job", params={"job_id": "x"}).status_code == 404
    assert hm.get("/jobs", params={"x": "1"}).status_code == 400
    assert hm.get("/jobs").status_code == 429


@pytest.mark.parametrize(("plan", "per_hour", "active"), [
    ("free", 100, 2), ("starter", 500, 10), ("pro", 1000, 25), ("Premium", 5000, 100),
])
def test_plans_set_the_documented_hourly_limits(sim: HirempireSim, plan: str, per_hour: int, active: int) -> None:
    """Free 100, Starter 500, Pro 1,000, Premium 5,000 requests an hour; active jobs 2/10/25/100."""
    sim.set_plan(plan)
    assert sim.snapshot()["limits"] == {"requests_per_hour": per_hour, "active_jobs": active}


def test_the_sandbox_starts_on_pro_and_free_allows_exactly_100_requests(hm: httpx.Client, sim: HirempireSim) -> None:
    """The default plan is Pro; on Free, the 101st request within the hour is refused."""
    assert sim.snapshot()["plan"] == "pro"
    sim.set_plan("free")
    answers = [hm.get("/jobs").status_code for _ in range(101)]
    assert answers == [200] * 100 + [429]


def test_unknown_plan_is_refused(sim: HirempireSim) -> None:
    """set_plan takes only the four plans."""
    with pytest.raises(ValueError):
        sim.set_plan("enterprise")


# ---------------------------------------------------------------------------------- webhooks


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[dict[str, Any]], dict[str, bool]]]:
    """A loopback webhook endpoint: (url, bodies received, {"echo": answer the challenge?})."""
    received: list[dict[str, Any]] = []
    behaviour = {"echo": True}

    async def hook(request: Request) -> JSONResponse:
        body = await request.json()
        received.append(body)
        if "challenge" not in body:
            return JSONResponse({})  # an event
        return JSONResponse({"challenge": body["challenge"] if behaviour["echo"] else "wrong"})

    server = serve(Starlette(routes=[Route("/hook", hook, methods=["POST"])]))
    yield f"{server.url}/hook", received, behaviour
    server.stop()


def test_create_webhook_verifies_a_loopback_url_with_a_challenge(hm: httpx.Client, receiver: Any) -> None:
    """create-webhook POSTs {challenge, type: url_verification} to a loopback URL and, when the same
    challenge comes back, answers 201 {success, data:{id, events}}."""
    url, received, _ = receiver
    response = hm.post("/create-webhook", json={"request_url": url, "events": ["job_added", "applicant_applied"]})
    assert response.status_code == 201
    answer = response.json()
    assert answer["success"] is True
    assert answer["data"]["events"] == ["job_added", "applicant_applied"]
    assert len(received) == 1 and received[0]["type"] == "url_verification" and received[0]["challenge"]


def test_create_webhook_fails_when_the_loopback_endpoint_does_not_echo(hm: httpx.Client, receiver: Any, sim: HirempireSim) -> None:
    """A loopback endpoint that answers another challenge (or none) makes create-webhook 400."""
    url, _, behaviour = receiver
    behaviour["echo"] = False
    response = hm.post("/create-webhook", json={"request_url": url, "events": ["job_added"]})
    assert_error(response, 400, "Webhook URL verification failed")
    dead = hm.post("/create-webhook", json={"request_url": "http://127.0.0.1:9/hook", "events": ["job_added"]})
    assert_error(dead, 400, "Webhook URL verification failed")
    assert hm.get("/webhooks").json()["total_webhooks"] == 0


def test_webhook_to_a_non_loopback_url_is_stored_unverified(hm: httpx.Client, sim: HirempireSim) -> None:
    """The sandbox never calls out of the machine: an outside URL is stored without verification."""
    response = hm.post("/create-webhook", json={"request_url": "https://hooks.example.com/in", "events": ["job_deleted"]})
    assert response.status_code == 201
    assert sim.snapshot()["webhooks"][0]["verified"] is False


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"events": ["job_added"]}, "request_url is required and must be an http(s) URL"),
        ({"request_url": "ftp://x/y", "events": ["job_added"]}, "request_url is required and must be an http(s) URL"),
        ({"request_url": "https://hooks.example.com"}, "events is required and must be a non-empty array"),
        ({"request_url": "https://hooks.example.com", "events": []}, "events is required and must be a non-empty array"),
        ({"request_url": "https://hooks.example.com", "events": ["job_hired"]},
         "Invalid event: 'job_hired'. Must be one of: job_added, job_activated, job_deactivated, job_deleted, "
         "applicant_applied, cv_upload_completed, meeting_booked"),
    ],
)
def test_create_webhook_refuses_bad_input_with_400(hm: httpx.Client, body: dict[str, Any], message: str) -> None:
    """create-webhook's 400 answers."""
    assert_error(hm.post("/create-webhook", json=body), 400, message)


def test_webhooks_can_be_listed_updated_and_deleted(hm: httpx.Client, receiver: Any) -> None:
    """GET /webhooks, PATCH /webhook (a new loopback URL is verified again) and DELETE /delete-webhook."""
    url, received, _ = receiver
    hook_id = hm.post("/create-webhook", json={"request_url": "https://hooks.example.com/a", "events": ["job_added"]}).json()["data"]["id"]
    listed = hm.get("/webhooks").json()
    assert listed["success"] is True and listed["total_webhooks"] == 1
    assert listed["webhooks"][0]["id"] == hook_id and listed["webhooks"][0]["request_url"] == "https://hooks.example.com/a"
    updated = hm.patch("/webhook", json={"id": hook_id, "request_url": url, "events": ["job_deleted"]})
    assert updated.status_code == 200
    assert updated.json() == {"success": True, "data": {"id": hook_id, "request_url": url, "events": ["job_deleted"]}}
    assert len(received) == 1
    assert_error(hm.patch("/webhook", json={"id": hook_id}), 400, "At least one updatable field must be provided")
    assert_error(hm.patch("/webhook", json={"events": ["job_added"]}), 400, "Missing required field: id")
    assert_error(hm.patch("/webhook", json={"id": "nope", "events": ["job_added"]}), 404, "Webhook not found")
    assert_error(hm.delete("/delete-webhook", params={"id": hook_id, "x": "1"}), 400, "Only 'id' query parameter is allowed.")
    assert_error(hm.delete("/delete-webhook"), 400, "Query parameter 'id' is required.")
    deleted = hm.delete("/delete-webhook", params={"id": hook_id})
    assert deleted.json() == {"success": True, "id": hook_id, "deleted": True, "message": "Webhook deleted successfully"}
    assert_error(hm.delete("/delete-webhook", params={"id": hook_id}), 404, "Webhook not found")
    assert hm.get("/webhooks").json()["total_webhooks"] == 0


def _received(received: list[dict[str, Any]], count: int) -> list[dict[str, Any]]:
    """The first `count` bodies the receiver got, polled for: events leave from a thread."""
    deadline = time.monotonic() + 10
    while len(received) < count and time.monotonic() < deadline:
        time.sleep(0.02)
    return received[:count]


def _delivered(sim: HirempireSim, count: int) -> list[dict[str, Any]]:
    """The snapshot's deliveries once `count` are recorded (a delivery is recorded after its answer)."""
    deadline = time.monotonic() + 10
    while len(sim.snapshot()["deliveries"]) < count and time.monotonic() < deadline:
        time.sleep(0.02)
    return list(sim.snapshot()["deliveries"])


def test_events_reach_a_verified_webhook_in_order_whoever_made_the_change(
    hm: httpx.Client, controls: httpx.Client, receiver: Any, sim: HirempireSim
) -> None:
    """A verified webhook gets {type, job_id} for each event it is subscribed to, in the order
    of the changes, from the API and from hand edits alike; others are not sent, and each
    delivery's answer is in the snapshot."""
    url, received, _ = receiver
    events = ["job_activated", "job_deactivated", "applicant_applied"]
    assert hm.post("/create-webhook", json={"request_url": url, "events": events}).status_code == 201
    job_id = hm.post("/add-job", json=job_body(status="Active")).json()["job_id"]  # job_added: not subscribed
    assert controls.patch(f"/jobs/{job_id}", json={"status": "Closed"}).status_code == 200
    hm.patch("/update-job", json={"job_id": job_id, "job_title": "Lead Product Designer"})  # no status change
    hm.patch("/update-job", json={"job_id": job_id, "status": "Active"})
    controls.post("/candidates", json={"job_id": job_id, "source_name": "LinkedIn"})
    hm.delete("/delete-job", params={"job_id": job_id})  # job_deleted: not subscribed
    # The last event marks the end: events leave in order, so nothing else is on its way.
    last = hm.post("/add-job", json=job_body(status="Active", public_slug="last")).json()["job_id"]
    controls.patch(f"/jobs/{last}", json={"status": "Paused"})
    bodies = _received(received, 5)[1:]  # the first is the challenge
    assert bodies == [
        *({"type": e, "job_id": job_id} for e in ("job_deactivated", "job_activated", "applicant_applied")),
        {"type": "job_deactivated", "job_id": last},
    ]
    deliveries = _delivered(sim, 4)
    assert [d["type"] for d in deliveries] == ["job_deactivated", "job_activated", "applicant_applied", "job_deactivated"]
    assert {d["status"] for d in deliveries} == {200}


def test_events_are_never_sent_to_an_unverified_webhook(hm: httpx.Client, receiver: Any, sim: HirempireSim) -> None:
    """A webhook stored unverified (a URL beyond loopback) is never called; a verified one
    subscribed to the same event is."""
    url, received, _ = receiver
    hm.post("/create-webhook", json={"request_url": "https://hooks.example.com/in", "events": ["job_added"]})
    verified = hm.post("/create-webhook", json={"request_url": url, "events": ["job_added"]}).json()["data"]["id"]
    hm.post("/add-job", json=job_body())
    assert [d["webhook_id"] for d in _delivered(sim, 1)] == [verified]


# ---------------------------------------------------------------------------------- faults


def test_injected_status_fault_answers_hirempire_envelope_and_changes_nothing(hm: httpx.Client, controls: httpx.Client, sim: HirempireSim) -> None:
    """A status fault on add-job answers that status in Hirempire's envelope; no job is made."""
    assert controls.post("/faults", json={"kind": "status", "path": "/v1/add-job", "status": 503}).status_code == 201
    assert_error(hm.post("/add-job", json=job_body()), 503, "Injected fault.")
    assert sim.jobs() == []
    assert hm.post("/add-job", json=job_body()).status_code == 201


def test_injected_429_reads_like_the_real_one(hm: httpx.Client, controls: httpx.Client) -> None:
    """An injected 429 carries "Rate limit exceeded" and Retry-After (the fault's own, or 1)."""
    controls.post("/faults", json={"kind": "status", "path": "/v1/jobs", "status": 429, "times": 2})
    assert_error(first := hm.get("/jobs"), 429, "Rate limit exceeded")
    assert first.headers["retry-after"] == "1"
    controls.post("/faults", json={"kind": "status", "path": "/v1/jobs", "status": 429, "retry_after": 30})
    assert hm.get("/jobs").headers["retry-after"] == "1"  # the first fault still had one hit left
    assert hm.get("/jobs").headers["retry-after"] == "30"


def test_injected_latency_delays_the_answer(hm: httpx.Client, sim: HirempireSim) -> None:
    """A latency fault holds the request, then answers normally."""
    sim.faults.add(Fault(kind="latency", path="/v1/jobs", latency_ms=150))
    started = time.monotonic()
    assert hm.get("/jobs").status_code == 200
    assert time.monotonic() - started >= 0.15


def test_injected_reset_drops_the_connection_and_creates_nothing(hm: httpx.Client, sim: HirempireSim) -> None:
    """A reset fault drops the connection before the board sees the request."""
    sim.faults.add(Fault(kind="reset", method="POST", path="/v1/add-job"))
    with pytest.raises(httpx.TransportError):
        hm.post("/add-job", json=job_body())
    assert sim.jobs() == []


def test_lost_response_commits_the_job_but_never_answers(hm: httpx.Client, sim: HirempireSim) -> None:
    """A lost response on add-job: the job exists (GET /jobs finds it by slug), the reply never came."""
    sim.faults.add(Fault(kind="lost_response", method="POST", path="/v1/add-job"))
    with pytest.raises(httpx.TransportError):
        hm.post("/add-job", json=job_body(public_slug="posting-designer"))
    assert [j["public_slug"] for j in hm.get("/jobs").json()["jobs"]] == ["posting-designer"]
    assert_error(hm.post("/add-job", json=job_body(public_slug="posting-designer")), 409, "public_slug already in use")


# ---------------------------------------------------------------------------------- controls


def test_control_plan_and_limits(controls: httpx.Client, hm: httpx.Client) -> None:
    """POST /_sandbox/plan switches plan; POST /_sandbox/limits overrides one limit at a time."""
    assert controls.post("/plan", json={"plan": "starter"}).json() == {
        "plan": "starter", "requests_per_hour": 500, "active_jobs": 10}
    assert controls.post("/plan", json={"plan": "gold"}).status_code == 422
    assert controls.post("/limits", json={"active_jobs": 0}).json() == {"requests_per_hour": 500, "active_jobs": 0}
    assert hm.post("/add-job", json=job_body(status="Active")).status_code == 402
    assert controls.post("/limits", json={"requests_per_hour": 1}).json() == {"requests_per_hour": 1, "active_jobs": 0}
    assert hm.get("/jobs").status_code == 429


@pytest.mark.parametrize(
    ("limits", "message"),
    [
        ({"requests_per_hour": 0}, "requests_per_hour must be at least 1"),
        ({"requests_per_hour": "lots"}, "requests_per_hour must be a whole number"),
        ({"active_jobs": -1}, "active_jobs must be 0 or more"),
    ],
)
def test_control_limits_refuses_a_limit_the_board_could_not_keep(
    controls: httpx.Client, hm: httpx.Client, limits: dict[str, object], message: str
) -> None:
    """A limit of no requests at all (or a negative count) is 422, and the API keeps answering."""
    answer = controls.post("/limits", json=limits)
    assert answer.status_code == 422 and message in answer.json()["error"]
    assert hm.get("/jobs").status_code == 200


def test_a_control_missing_a_field_names_it(controls: httpx.Client) -> None:
    """POST /_sandbox/candidates without job_id says that job_id is missing."""
    answer = controls.post("/candidates", json={"source_name": "linkedin"})
    assert answer.status_code == 422
    assert answer.json() == {"error": "bad control request: missing 'job_id'"}


def test_control_visits_candidates_and_jobs(controls: httpx.Client, hm: httpx.Client) -> None:
    """POST /_sandbox/visits and /_sandbox/candidates act like people; GET /_sandbox/jobs shows the result."""
    answer = add_job(hm)
    source_id = answer["applications"][0]["id"]
    assert controls.post("/visits", json={"source_id": source_id, "count": 5}).json() == {"source_id": source_id, "visits": 5}
    assert controls.post("/visits", json={"source_id": str(uuid.uuid4())}).status_code == 404
    made = controls.post("/candidates", json={"job_id": answer["job_id"], "source_name": "LinkedIn", "name": "Sam Doe"})
    assert made.status_code == 201 and made.json()["source"] == "LinkedIn" and made.json()["name"] == "Sam Doe"
    assert controls.post("/candidates", json={"job_id": "nope", "source_name": "X"}).status_code == 404
    assert controls.post("/candidates", json={"job_id": answer["job_id"], "source_name": "X", "type": "bot"}).status_code == 400
    job = controls.get("/jobs").json()["jobs"][0]
    assert job["sources"]["items"][0]["visits"] == 5 and job["applicants"] == 1


def test_control_hand_edit_changes_the_job_as_the_dashboard_would(controls: httpx.Client, hm: httpx.Client, sim: HirempireSim) -> None:
    """PATCH /_sandbox/jobs/{id} edits in input words and the API shows the edit; bad values are refused."""
    job_id = add_job(hm)["job_id"]
    edited = controls.patch(f"/jobs/{job_id}", json={"job_title": "Edited by hand", "workplace": "Hybrid"})
    assert edited.status_code == 200 and edited.json()["job_mode"] == "hybrid"
    assert get_job(hm, job_id)["job_title"] == "Edited by hand"
    assert controls.patch(f"/jobs/{job_id}", json={"workplace": "Office"}).status_code == 400
    assert controls.patch(f"/jobs/{uuid.uuid4()}", json={"job_title": "X"}).status_code == 404
    assert sim.edit_job(job_id, status="Paused")["status"] == "paused"


def test_shared_controls_state_clock_requests_and_reset(controls: httpx.Client, hm: httpx.Client, sim: HirempireSim) -> None:
    """The shared controls answer on Hirempire: state, clock, request counts, faults list, reset."""
    add_job(hm)
    hm.get("/jobs")
    state = controls.get("/state").json()
    assert state["board"] == "hirempire" and len(state["jobs"]) == 1 and state["plan"] == "pro"
    assert controls.get("/requests").json()["requests"] == {"POST /v1/add-job": 1, "GET /v1/jobs": 1}
    moved = controls.post("/clock", json={"advance_seconds": 7200}).json()["now"]
    assert 7200 <= (datetime.fromisoformat(moved) - datetime.fromisoformat(state["now"])).total_seconds() < 7260
    controls.post("/faults", json={"kind": "status", "path": "/v1/jobs"})
    assert len(controls.get("/faults").json()["faults"]) == 1
    assert controls.post("/reset").json() == {"reset": True}
    assert controls.get("/state").json()["jobs"] == [] and controls.get("/faults").json()["faults"] == []
    assert hm.get("/jobs").status_code == 200


def test_unknown_paths_and_methods_answer_in_the_envelope(hm: httpx.Client) -> None:
    """An unknown endpoint is 404 and a wrong method 405, both in Hirempire's error shape."""
    assert_error(hm.get("/jobs/123"), 404, "Not found")
    assert_error(hm.post("/jobs"), 405, "Method not allowed")
