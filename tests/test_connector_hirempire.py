"""The Hirempire connector against the Hirempire sandbox: slugs, sources and visits,
applicants, status changes, the plan limit and how the board's errors come out."""

from __future__ import annotations

import httpx
import pytest

from boardsync.connectors.base import BoardEvent, Remote
from boardsync.connectors.hirempire import HirempireConnector, read_event
from boardsync.errors import Blocked, Malformed, Rejected
from boardsync.sandbox.core import Fault
from boardsync.sandbox import hirempire as sim
from boardsync.sandbox.server import Sandbox
from tests import connector_helpers as helpers


def created(sandbox: Sandbox, **overrides: object) -> tuple[HirempireConnector, Remote]:
    connector = helpers.hirempire(sandbox)
    p = helpers.posting(**overrides)  # type: ignore[arg-type]
    return connector, connector.create(p, connector.render(p), publish=True)


def test_create_sends_the_slug_and_one_source_per_channel(sandbox: Sandbox) -> None:
    """add-job carries bs-<key> and the channels; observe names the posting from the slug."""
    connector, remote = created(sandbox)
    (job,) = sandbox.hirempire.jobs()
    assert job["public_slug"] == "bs-backend-engineer"
    assert sorted(s["source_name"] for s in job["sources"]["items"]) == ["linkedin", "newsletter"]
    (observed,) = connector.observe()
    assert observed.posting_key == "backend-engineer" and set(observed.channels) == {"linkedin", "newsletter"}


def test_a_job_made_by_hand_names_no_posting(sandbox: Sandbox) -> None:
    """A job without a bs- slug is observed, but not claimed for any posting."""
    connector = helpers.hirempire(sandbox)
    p = helpers.posting()
    connector.create(p, {**connector.render(p), "public_slug": "careers-page-job"}, publish=False)
    assert [r.posting_key for r in connector.observe()] == [None]


def test_ensure_source_is_safe_to_repeat(sandbox: Sandbox) -> None:
    """The same channel twice is one source with one URL."""
    connector, remote = created(sandbox, channels=[])
    first = connector.ensure_source(remote, "twitter")
    again = connector.ensure_source(remote, " twitter ")
    assert first == again and first.name == "twitter" and first.url.startswith("http")
    assert [s["source_name"] for s in sandbox.hirempire.jobs()[0]["sources"]["items"]] == ["twitter"]


def test_visits_to_a_source_url_show_in_the_next_observe(sandbox: Sandbox) -> None:
    """Opening a channel's URL twice is two visits on that channel, read in one request."""
    connector, remote = created(sandbox)
    url = remote.channels["linkedin"].url
    for _ in range(2):
        assert httpx.get(url).status_code == 200
    sandbox.hirempire.requests.clear()
    (observed,) = connector.observe()
    assert observed.channels["linkedin"].visits == 2 and observed.channels["newsletter"].visits == 0
    assert sandbox.hirempire.request_counts() == {"GET /v1/jobs": 1}


def test_applicants_are_counted_per_job_and_source_in_one_request(sandbox: Sandbox) -> None:
    """Applicants by (job id, source name); prospects do not count."""
    connector, remote = created(sandbox)
    for source in ("linkedin", "linkedin", "newsletter"):
        sandbox.hirempire.add_candidate(remote.remote_id, source)
    sandbox.hirempire.add_candidate(remote.remote_id, "linkedin", type="prospect")
    sandbox.hirempire.requests.clear()
    counts = connector.applicants()
    assert counts == {(remote.remote_id, "linkedin"): 2, (remote.remote_id, "newsletter"): 1}
    assert sum(sandbox.hirempire.request_counts().values()) == 1


def test_transitions_set_the_status_through_update_job(sandbox: Sandbox) -> None:
    """pause, close and publish again each land, observed in Hirempire's output words."""
    connector, remote = created(sandbox)
    for action, status in (("pause", "paused"), ("close", "closed"), ("publish", "active")):
        remote = connector.transition(remote, action)  # type: ignore[arg-type]
        assert remote.status == status
        assert connector.observe()[0].status == status


@pytest.mark.parametrize(("answered", "expected"), [("Paused", "paused"), ("Pending", "draft"), ("Hired", "closed")])
def test_a_status_change_answered_in_input_words_is_read(sandbox: Sandbox, answered: str, expected: str) -> None:
    """Which words update-job answers its status in is not documented: the input words
    (``Pending``, ``Hired``, capitalised) are read as the output words they stand for."""
    connector, remote = created(sandbox)
    sandbox.hirempire.faults.add(Fault("rewrite", method="PATCH", path="/v1/update-job", rewrite={"status": answered}))
    assert connector.transition(remote, "pause").status == expected


def test_a_create_answered_with_its_status_in_input_words_is_read(sandbox: Sandbox) -> None:
    """add-job answering ``job_status: "Active"`` (the input word) is a job made live, not an
    answer that cannot be read (which would leave the create's outcome unknown)."""
    connector = helpers.hirempire(sandbox)
    p = helpers.posting()
    sandbox.hirempire.faults.add(Fault("rewrite", method="POST", path="/v1/add-job", rewrite={"job_status": "Active"}))
    assert connector.create(p, connector.render(p), publish=True).status == "active"


def test_a_field_change_needs_no_status_from_its_answer(sandbox: Sandbox) -> None:
    """update-job answering a change of fields is taken whatever its status says: the
    change needs only to have been taken, and the next read shows the job."""
    connector, remote = created(sandbox)
    sandbox.hirempire.faults.add(Fault("rewrite", method="PATCH", path="/v1/update-job", rewrite={"status": "On hold"}))
    connector.update(remote, {"job_title": "Staff Engineer"})
    assert connector.observe()[0].spec["job_title"] == "Staff Engineer"


def test_unpublish_takes_a_job_back_to_draft(sandbox: Sandbox) -> None:
    """update-job with ``Pending``: the job reads back as a draft."""
    connector, remote = created(sandbox)
    assert connector.transition(remote, "unpublish").status == "draft"
    assert connector.observe()[0].status == "draft"


def test_an_update_in_input_words_reads_back_equal(sandbox: Sandbox) -> None:
    """A changed job type and workplace go as input words and come back equal after
    normalising the output words."""
    connector, remote = created(sandbox)
    changed = helpers.posting(employment_type="part_time", workplace="hybrid")
    desired = connector.render(changed)
    diff = {k: v for k, v in desired.items() if remote.spec.get(k) != v}
    assert set(diff) == {"job_type", "workplace"}
    connector.update(remote, diff)
    assert connector.observe()[0].spec == desired


def test_a_department_and_pay_period_read_back_in_other_case_or_spacing_are_not_a_change(sandbox: Sandbox) -> None:
    """The documents give output words for neither: ``information-technology`` and
    ``per year`` read back as the ``Information Technology`` and ``Per year`` sent."""
    connector = helpers.hirempire(sandbox)
    p = helpers.posting(department="Information Technology")
    desired = connector.render(p)
    connector.create(p, desired, publish=True)
    assert desired["salary_period"] == "Per year"
    rewrite = {"jobs[*].department": "information-technology", "jobs[*].salary_period": "per year"}
    sandbox.hirempire.faults.add(Fault("rewrite", method="GET", path="/v1/jobs", rewrite=rewrite))
    (observed,) = connector.observe()
    assert {k: observed.spec[k] for k in ("department", "salary_period")} == {
        "department": "Information Technology", "salary_period": "Per year"}


def test_any_409_on_add_job_looks_the_slug_up_whatever_its_text(sandbox: Sandbox) -> None:
    """A resend answered 409 is the sign to look the slug up, not only with the documented
    text: the job that holds the slug is handed back, and nothing is made twice."""
    connector, remote = created(sandbox)
    p = helpers.posting()
    sandbox.hirempire.faults.add(Fault("status", status=409, method="POST", path="/v1/add-job", message="Slug taken."))
    again = connector.create(p, connector.render(p), publish=True)
    assert again.remote_id == remote.remote_id and len(sandbox.hirempire.jobs()) == 1


def test_a_409_for_another_reason_with_no_job_on_the_slug_stays_the_boards_refusal(sandbox: Sandbox) -> None:
    """No job holds the slug after a 409 whose text is not the documented one: nothing was
    made, so the refusal stands (the pair is blocked and backs off), not an unknown outcome
    that would send the create again next run."""
    connector = helpers.hirempire(sandbox)
    p = helpers.posting()
    sandbox.hirempire.faults.add(Fault("status", status=409, method="POST", path="/v1/add-job", message="Busy."))
    with pytest.raises(Rejected) as caught:
        connector.create(p, connector.render(p), publish=True)
    assert caught.value.reason == "Busy." and sandbox.hirempire.jobs() == []


def test_the_active_jobs_limit_blocks_on_the_plan(sandbox: Sandbox) -> None:
    """402 past the plan's active jobs: Blocked(plan_limit), company-wide."""
    sandbox.hirempire.set_limits(active_jobs=0)
    with pytest.raises(Blocked) as caught:
        created(sandbox)
    assert (caught.value.gate, caught.value.company_wide, caught.value.status) == ("plan_limit", True, 402)
    assert sandbox.hirempire.jobs() == []


def test_activating_past_the_limit_blocks_too(sandbox: Sandbox) -> None:
    """update-job to Active past the limit is the same gate."""
    connector = helpers.hirempire(sandbox)
    p = helpers.posting()
    draft = connector.create(p, connector.render(p), publish=False)
    sandbox.hirempire.set_limits(active_jobs=0)
    with pytest.raises(Blocked, match="plan"):
        connector.transition(draft, "publish")


def test_a_wrong_token_blocks_on_credentials_without_showing_it(sandbox: Sandbox) -> None:
    """401 Invalid token is Blocked(credentials); the token is not in the message."""
    connector = helpers.hirempire(sandbox, token="sk-not-a-real-token")
    with pytest.raises(Blocked) as caught:
        connector.observe()
    assert caught.value.gate == "credentials" and "sk-not-a-real-token" not in str(caught.value)


def test_an_expired_token_blocks_on_credentials(sandbox: Sandbox) -> None:
    """401 Token is expired is the same operator problem."""
    with pytest.raises(Blocked, match="expired"):
        helpers.hirempire(sandbox, token=sim.EXPIRED_TOKEN).observe()


def test_updating_a_job_that_is_gone_is_rejected_not_blocked(sandbox: Sandbox) -> None:
    """update-job's 401 "Invalid job id" means the job is gone, not that the token is bad."""
    connector = helpers.hirempire(sandbox)
    with pytest.raises(Rejected) as caught:
        connector.transition(Remote("7c9e6679-7425-40de-944b-e07fc1f90ae7", "active", {}), "pause")
    assert caught.value.code == "job_not_found"


def test_a_bad_enum_is_rejected_with_the_field_named(sandbox: Sandbox) -> None:
    """A department Hirempire does not list comes back as Rejected naming `department`."""
    connector = helpers.hirempire(sandbox)
    p = helpers.posting()
    with pytest.raises(Rejected) as caught:
        connector.create(p, {**connector.render(p), "department": "Platform"}, publish=False)
    assert set(caught.value.fields) == {"department"}


# ------------------------------------------------------------------------------ events


@pytest.mark.parametrize(("body", "expected"), [
    ({"challenge": "abc", "type": "url_verification"}, BoardEvent("challenge", "url_verification", reply={"challenge": "abc"})),
    ({"type": "job_deactivated", "job_id": "j-1"}, BoardEvent("job", "job_deactivated", remote_id="j-1")),
    ({"type": "job_deleted", "job_id": "j-1", "more": 1}, BoardEvent("job", "job_deleted", remote_id="j-1")),
    ({"type": "applicant_applied", "job_id": "j-1"}, BoardEvent("applicants", "applicant_applied")),
    ({"type": "applicant_applied"}, BoardEvent("applicants", "applicant_applied")),
    ({"type": "meeting_booked"}, BoardEvent("other", "meeting_booked")),
    ({"type": "job_activated"}, BoardEvent("board", "job_activated")),
    ({"type": "job_activated", "job_id": 7}, BoardEvent("board", "job_activated")),
    ({"event": "job_activated", "data": {"id": "j-1"}}, BoardEvent("board", "unreadable")),
    ({"type": "url_verification"}, BoardEvent("board", "url_verification")),
])
def test_an_event_is_read_in_boardsyncs_words(body: dict[str, object], expected: BoardEvent) -> None:
    """The documented challenge and event names are read; the job only from `job_id`, and an
    event that does not say its job that way asks for a run of the whole board."""
    assert read_event(body) == expected


def test_webhooks_are_added_listed_and_removed(sandbox: Sandbox) -> None:
    """create-webhook, GET /webhooks and delete-webhook; removing one already gone is no error."""
    connector = helpers.hirempire(sandbox)
    made = connector.add_webhook("https://boardsync.example.com/hooks/hirempire/t", HirempireConnector.EVENTS)
    assert connector.webhooks() == [made]
    assert made.events == HirempireConnector.EVENTS
    connector.remove_webhook(made.remote_id)
    connector.remove_webhook(made.remote_id)
    assert connector.webhooks() == []


def test_a_webhook_list_in_another_shape_is_malformed_not_empty(sandbox: Sandbox) -> None:
    """GET /webhooks' answer is not documented: one without `webhooks` is an error, never
    taken for "no webhook" (which would make hooks install add a second one)."""
    connector = helpers.hirempire(sandbox)
    connector.add_webhook("https://boardsync.example.com/hooks/hirempire/t", ["job_deleted"])
    sandbox.hirempire.faults.add(Fault("rewrite", method="GET", path="/v1/webhooks", drop=["webhooks"]))
    with pytest.raises(Malformed):
        connector.webhooks()
