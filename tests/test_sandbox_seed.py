"""The sandbox's seed controls: many jobs on Sorce and Hirempire in one request, each as the
board's create would make it, all or none (the benchmark's largest boards start this way)."""

from __future__ import annotations

import httpx
import pytest

from boardsync.sandbox.server import Sandbox
from tests.sandbox_sorce_helpers import ACME, ACME_KEY, complete_job
from tests.test_sandbox_hirempire import SANDBOX_TOKEN, job_body


def _controls(sandbox: Sandbox, board: str) -> httpx.Client:
    return httpx.Client(base_url=sandbox.server_url(board) + "/_sandbox", timeout=10)


def test_sorce_seed_creates_every_job_as_post_jobs_would(sandbox: Sandbox) -> None:
    bodies = [complete_job(title=f"Engineer {i}", publish=True) for i in range(3)] + [complete_job(title="Draft")]
    with _controls(sandbox, "sorce") as controls:
        answer = controls.post("/seed", json={"key": ACME_KEY, "jobs": bodies})
    assert answer.status_code == 200 and answer.json() == {"added": 4}
    jobs = {j["title"]: j for j in sandbox.sorce.jobs(ACME)}
    assert {jobs[f"Engineer {i}"]["status"] for i in range(3)} == {"ACTIVE"} and jobs["Draft"]["status"] == "DRAFT"
    assert jobs["Engineer 0"]["expiresAt"] is not None
    assert sandbox.sorce.request_counts() == {}  # a control, not API requests: no rate limit spent


def test_sorce_seed_is_all_or_nothing_and_names_the_gate(sandbox: Sandbox) -> None:
    bodies = [complete_job(publish=True), complete_job(title=None, publish=True)]
    with _controls(sandbox, "sorce") as controls:
        answer = controls.post("/seed", json={"key": ACME_KEY, "jobs": bodies})
        unknown = controls.post("/seed", json={"key": "sk_ext_nobody", "jobs": []})
    assert answer.status_code == 422 and "VALIDATION_FAILED" in answer.json()["error"]
    assert unknown.status_code == 422 and "INVALID_SERVICE_KEY" in unknown.json()["error"]
    assert sandbox.sorce.jobs(ACME) == []


def test_hirempire_seed_adds_jobs_with_their_sources_as_add_job_would(sandbox: Sandbox) -> None:
    bodies = [job_body(public_slug=f"designer-{i}", status="Active") for i in range(3)]
    with _controls(sandbox, "hirempire") as controls:
        answer = controls.post("/seed", json={"jobs": bodies})
    assert answer.status_code == 201 and answer.json() == {"added": 3}
    with httpx.Client(base_url=sandbox.hirempire_url, headers={"Authorization": f"Bearer {SANDBOX_TOKEN}"}) as api:
        jobs = api.get("/jobs").json()["jobs"]
    assert sorted(j["public_slug"] for j in jobs) == ["designer-0", "designer-1", "designer-2"]
    assert all(j["status"] == "active" and len(j["sources"]) == 2 for j in jobs)


@pytest.mark.parametrize(("bodies", "status"), [
    ([job_body(public_slug="same"), job_body(public_slug="same")], 409),
    ([job_body()], 409),  # no slug of its own
    ([job_body(public_slug="ok"), job_body(public_slug="bad", department="Nope")], 400),
])
def test_hirempire_seed_refuses_a_bad_batch_whole(sandbox: Sandbox, bodies: list[dict[str, object]], status: int) -> None:
    with _controls(sandbox, "hirempire") as controls:
        answer = controls.post("/seed", json={"jobs": bodies})
    assert answer.status_code == status, answer.text
    assert sandbox.hirempire.jobs() == []


def test_hirempire_seed_keeps_the_active_job_limit(sandbox: Sandbox) -> None:
    sandbox.hirempire.set_limits(active_jobs=2)
    bodies = [job_body(public_slug=f"s-{i}", status="Active") for i in range(3)]
    with _controls(sandbox, "hirempire") as controls:
        answer = controls.post("/seed", json={"jobs": bodies})
    assert answer.status_code == 402 and sandbox.hirempire.jobs() == []
