"""Shared helpers for the Sorce simulator's tests: bodies and assertions on Sorce's envelope."""

from __future__ import annotations

from typing import Any

import httpx

ACME_KEY, ACME = "sk_ext_sandbox_acme", "cmp_acme"
GLOBEX_KEY, GLOBEX = "sk_ext_sandbox_globex", "cmp_globex"

JOB_FIELDS = {
    "id", "title", "status", "description", "remoteOption", "remoteCountry", "jobType", "jobLevel",
    "salaryMin", "salaryMax", "salaryPeriod", "bidPerQualifiedApplicantCents", "companyId",
    "locations", "qualifications", "questions", "budgets", "applicationCounts", "isFrozen",
    "newApplicantCount", "publishedAt", "expiresAt", "closedAt",
}


def complete_job(**overrides: Any) -> dict[str, Any]:
    """A body that passes Gate 1: an in-person job in New York."""
    body: dict[str, Any] = {
        "title": "Backend Engineer",
        "description": "Build the APIs our customers rely on.",
        "remoteOption": "IN_PERSON",
        "locations": [{"locationId": "loc_us_ny_new_york"}],
        "jobType": "FULL_TIME",
        "jobLevel": "MID",
        "salaryMin": 120_000,
        "salaryMax": 150_000,
        "salaryPeriod": "ANNUAL",
        "bidPerQualifiedApplicantCents": 2_500,
        "qualifications": [
            {"text": "Three years of Python", "kind": "REQUIRED"},
            {"text": "Has run PostgreSQL in production", "kind": "PREFERRED"},
        ],
        "questions": [{"prompt": "Can you work in New York?", "options": ["Yes", "No"]}],
        "budgets": [{"window": "MONTHLY", "budgetCents": 500_000, "notes": None}],
    }
    body.update(overrides)
    return body


def assert_error(
    response: httpx.Response, status: int, code: str, *, fields: dict[str, str] | set[str] | None = None
) -> dict[str, Any]:
    """The response is Sorce's envelope with this status and code; `fields` exactly as given
    (a set compares the field names only), or absent when None."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert error["code"] == code, error
    assert isinstance(error["message"], str) and error["message"], error
    if fields is None:
        assert "fields" not in error, error
    elif isinstance(fields, set):
        assert set(error["fields"]) == fields, error["fields"]
    else:
        assert error["fields"] == fields, error["fields"]
    return error


def create(client: httpx.Client, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/jobs", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def create_active(client: httpx.Client, **overrides: Any) -> dict[str, Any]:
    job = create(client, complete_job(publish=True, **overrides))
    assert job["status"] == "ACTIVE"
    return job
