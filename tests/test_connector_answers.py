"""Each connector reads its board's documented answers through a model, over real HTTP on
loopback: an answer in another shape is `Malformed` naming the call and the field (or, for a
create, `Ambiguous`), and what boardsync sends carries what the documents show it sending."""

from __future__ import annotations

import json
from datetime import UTC, timedelta
from typing import Any

import pytest

from boardsync.connectors import hirempire
from boardsync.connectors.hirempire import HirempireJob
from boardsync.connectors.sorce import SorceConnector
from boardsync.errors import Ambiguous, Malformed
from boardsync.sandbox.core import Fault
from boardsync.sandbox.server import Sandbox
from tests import connector_helpers as helpers

JOBS = "/api/external/v1/jobs"


def _sorce_created(sandbox: Sandbox) -> tuple[SorceConnector, Any]:
    connector = helpers.sorce(sandbox)
    p = helpers.posting()
    connector.prepare([p])
    return connector, connector.create(p, connector.render(p), publish=True)


def _rewrite(sim: Any, method: str, path: str, **fault: Any) -> None:
    sim.faults.add(Fault("rewrite", method=method, path=path, times=None, **fault))


# ------------------------------------------------------------------------------ Sorce


@pytest.mark.parametrize(
    ("fault", "field", "says"),
    [
        ({"rewrite": {"items[*].id": 123}}, "items[0].id", "expected a string, got 123"),
        ({"drop": ["items[0].title"]}, "items[0].title", "missing"),
        ({"rewrite": {"items[0].status": "LIVE"}}, "items[0].status", "expected one of"),
        ({"rewrite": {"items[0].qualifications[1].text": None}}, "items[0].qualifications[1].text",
         "expected a string, got null"),
        ({"rewrite": {"items": {"0": {}}}}, "items", "expected a list"),
        ({"drop": ["items"]}, "items", "missing"),
    ],
)
def test_a_sorce_list_in_another_shape_is_malformed_naming_the_field(
    sandbox: Sandbox, fault: dict[str, Any], field: str, says: str
) -> None:
    """`observe` refuses the whole list, naming the call and the first field that is wrong."""
    connector, _ = _sorce_created(sandbox)
    _rewrite(sandbox.sorce, "GET", JOBS, **fault)
    with pytest.raises(Malformed) as caught:
        connector.observe()
    assert caught.value.field == field and caught.value.call == "GET /jobs"
    assert str(caught.value).startswith(f"sorce GET /jobs: {field}: {says}")


def test_unknown_fields_and_a_time_without_offset_are_read(sandbox: Sandbox) -> None:
    """Fields the documents do not show are ignored; an `expiresAt` without an offset is UTC."""
    connector, created = _sorce_created(sandbox)
    naive = created.expires_at.astimezone(UTC).replace(tzinfo=None).isoformat()
    _rewrite(sandbox.sorce, "GET", JOBS, rewrite={"items[*].extra": {"new": 1}, "items[*].expiresAt": naive})
    (observed,) = connector.observe()
    assert observed.expires_at == created.expires_at


def test_a_create_answered_in_another_shape_is_ambiguous(sandbox: Sandbox) -> None:
    """The job was made but its answer has a numeric id: the outcome is unknown, not an error
    to retry, and the board holds the one job."""
    connector = helpers.sorce(sandbox)
    p = helpers.posting()
    connector.prepare([p])
    _rewrite(sandbox.sorce, "POST", JOBS, rewrite={"id": 5})
    with pytest.raises(Ambiguous) as caught:
        connector.create(p, connector.render(p), publish=True)
    assert "id: expected a string, got 5" in str(caught.value)
    assert len(sandbox.sorce.jobs()) == 1


def test_an_update_answered_without_a_readable_job_reads_the_job_again(sandbox: Sandbox) -> None:
    """A PATCH the board took but answered without a readable Job is not taken for a failed
    change: the job is read again by id, and only a read of the wrong shape too is Malformed."""
    connector, created = _sorce_created(sandbox)
    _rewrite(sandbox.sorce, "PATCH", rf"{JOBS}/.*", rewrite={"isFrozen": "no"})
    updated = connector.update(created, {"title": "Platform Engineer"})
    assert updated.spec["title"] == "Platform Engineer" and updated.remote_id == created.remote_id
    reads = {route: n for route, n in sandbox.sorce.request_counts().items() if route.startswith(f"GET {JOBS}/")}
    assert list(reads.values()) == [1], reads
    sandbox.sorce.faults.clear()
    _rewrite(sandbox.sorce, "PATCH", rf"{JOBS}/.*", rewrite={"isFrozen": "no"})
    _rewrite(sandbox.sorce, "GET", rf"{JOBS}/.*", rewrite={"isFrozen": "no"})
    with pytest.raises(Malformed) as caught:
        connector.update(updated, {"title": "Staff Engineer"})
    assert caught.value.field == "isFrozen" and caught.value.call.startswith("GET ")


def test_a_location_search_in_another_shape_is_malformed(sandbox: Sandbox) -> None:
    """Search suggestions whose `locationId` is a number are not taken for a place."""
    connector = helpers.sorce(sandbox)
    _rewrite(sandbox.sorce, "GET", r".*/locations/search", rewrite={"items[*].locationId": 42})
    with pytest.raises(Malformed) as caught:
        connector.prepare([helpers.posting(locations=[{"city": "Chicago", "country": "United States"}])])
    assert caught.value.call == "GET /locations/search" and caught.value.field == "items[0].locationId"


def test_qualifications_and_questions_are_sent_with_their_order(sandbox: Sandbox) -> None:
    """The create carries `order` on every qualification and question, as the documented create
    example does, counting from 0 in the posting's order; a budget carries its window."""
    connector = helpers.sorce(sandbox)
    sent: list[dict[str, Any]] = []
    connector.client.event_hooks["request"].append(
        lambda request: sent.append(json.loads(request.content)) if request.method == "POST" else None)
    p = helpers.posting()
    connector.prepare([p])
    connector.create(p, connector.render(p), publish=True)
    (body,) = sent
    assert [(q["text"], q["kind"], q["order"]) for q in body["qualifications"]] == [
        ("Three years of Python", "REQUIRED", 0), ("Has run PostgreSQL in production", "PREFERRED", 1)]
    assert [(q["prompt"], q["order"]) for q in body["questions"]] == [("Can you work in New York?", 0)]
    assert body["budgets"] == [{"window": "MONTHLY", "budgetCents": 500_000, "notes": None}]


# ------------------------------------------------------------------------------ Hirempire


@pytest.mark.parametrize(
    ("fault", "field"),
    [
        ({"rewrite": {"jobs[*].id": 7}}, "jobs[0].id"),
        ({"drop": ["jobs[0].job_title"]}, "jobs[0].job_title"),
        ({"rewrite": {"jobs[0].sources.items[0].visits": "many"}}, "jobs[0].sources.items[0].visits"),
        ({"rewrite": {"jobs": None}}, "jobs"),
    ],
)
def test_a_hirempire_list_in_another_shape_is_malformed(sandbox: Sandbox, fault: dict[str, Any], field: str) -> None:
    """`GET /jobs` of the wrong shape: Malformed naming the field, nothing believed."""
    connector = helpers.hirempire(sandbox)
    p = helpers.posting()
    connector.create(p, connector.render(p), publish=True)
    _rewrite(sandbox.hirempire, "GET", r"/v1/jobs", **fault)
    with pytest.raises(Malformed) as caught:
        connector.observe()
    assert (caught.value.provider, caught.value.call, caught.value.field) == ("hirempire", "GET /jobs", field)


def test_a_wrong_job_past_the_first_of_a_hirempire_list_is_named_by_its_place(sandbox: Sandbox) -> None:
    """Each job of the list is read on its own, and a wrong one is still named by its place
    in the whole answer, not in itself."""
    connector = helpers.hirempire(sandbox)
    for key in ("a", "b", "c"):
        p = helpers.posting(key=key)
        connector.create(p, connector.render(p), publish=True)
    _rewrite(sandbox.hirempire, "GET", r"/v1/jobs", rewrite={"jobs[2].status": "gone"})
    with pytest.raises(Malformed) as caught:
        connector.observe()
    assert caught.value.field == "jobs[2].status"
    assert "expected one of" in str(caught.value)


def test_a_hirempire_list_is_read_one_job_at_a_time(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each job of the one answer is read as its model and made a job before the next is
    read: at thousands of jobs, the answer read whole as models was the largest thing a run
    held."""
    connector = helpers.hirempire(sandbox)
    for key in ("a", "b", "c"):
        p = helpers.posting(key=key)
        connector.create(p, connector.render(p), publish=True)
    done: list[str] = []
    read, made = HirempireJob.model_validate, hirempire._remote

    def reading(cls: type[HirempireJob], body: Any, **kw: Any) -> HirempireJob:
        done.append("read")
        return read(body, **kw)

    def making(job: HirempireJob) -> Any:
        done.append("made")
        return made(job)

    monkeypatch.setattr(HirempireJob, "model_validate", classmethod(reading))
    monkeypatch.setattr(hirempire, "_remote", making)
    assert len(connector.observe()) == 3
    assert done == ["read", "made"] * 3


def test_hirempire_writes_answered_in_another_shape(sandbox: Sandbox) -> None:
    """add-job without a readable `job_id` is Ambiguous (the job may exist); update-job,
    create-source and candidates answers of the wrong shape are Malformed."""
    connector = helpers.hirempire(sandbox)
    p = helpers.posting()
    _rewrite(sandbox.hirempire, "POST", r"/v1/add-job", rewrite={"job_id": 1})
    with pytest.raises(Ambiguous):
        connector.create(p, connector.render(p), publish=True)
    sandbox.hirempire.faults.clear()
    (remote,) = connector.observe()
    cases = [
        (r"/v1/update-job", "PATCH", {"status": "live"}, lambda: connector.transition(remote, "pause"), "status"),
        (r"/v1/create-source", "POST", {"source": []}, lambda: connector.ensure_source(remote, "x"), "source"),
        (r"/v1/candidates", "GET", {"candidates[*]": 3}, connector.applicants, "candidates"),
    ]
    sandbox.hirempire.add_candidate(remote.remote_id, "linkedin")
    for path, method, rewrite, call, field in cases:
        _rewrite(sandbox.hirempire, method, path, rewrite=rewrite)
        with pytest.raises(Malformed) as caught:
            call()
        assert caught.value.field.startswith(field), caught.value
        sandbox.hirempire.faults.clear()


# ------------------------------------------------------------------------------ RecruitiFi


def test_a_link_expiry_without_an_offset_is_utc(sandbox: Sandbox) -> None:
    """`expiresAt` without an offset is read as UTC, so it compares with any other time."""
    connector = helpers.recruitifi(sandbox)
    expires = (sandbox.clock.now() + timedelta(minutes=15)).astimezone(UTC).replace(tzinfo=None, microsecond=0)
    _rewrite(sandbox.recruitifi, "GET", r"/v1/links/job", rewrite={"expiresAt": expires.isoformat()})
    link = connector.link(helpers.posting())
    assert link.expires_at == expires.replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("path", "rewrite", "field"),
    [
        (r"/v1/auth/token", {"access_token": 12345}, "access_token"),
        (r"/v1/links/job", {"expiresAt": "soon"}, "expiresAt"),
        (r"/v1/links/job", {"url": None}, "url"),
    ],
)
def test_recruitifi_answers_in_another_shape_are_malformed(
    sandbox: Sandbox, path: str, rewrite: dict[str, Any], field: str
) -> None:
    """A token or link answer of the wrong shape is Malformed naming the field."""
    connector = helpers.recruitifi(sandbox)
    _rewrite(sandbox.recruitifi, "*", path, rewrite=rewrite)
    with pytest.raises(Malformed) as caught:
        connector.link(helpers.posting())
    assert caught.value.field == field and caught.value.provider == "recruitifi"


def test_malformed_answers_are_counted_as_their_own_kind(sandbox: Sandbox) -> None:
    """The request tally counts a Malformed answer as `Malformed`, not as a transport failure."""
    connector, _ = _sorce_created(sandbox)
    before = connector.http.tally.error_snapshot().get(("sorce", "Malformed"), 0)
    _rewrite(sandbox.sorce, "GET", JOBS, rewrite={"items[*].id": 1})
    with pytest.raises(Malformed):
        connector.observe()
    assert connector.http.tally.error_snapshot()[("sorce", "Malformed")] == before + 1
