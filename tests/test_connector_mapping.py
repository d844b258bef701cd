"""Pure tests of every mapping, both ways: posting → board payload, board answer → spec,
the boards' checks, and the lifecycle tables. No network."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from boardsync.connectors import REGISTRY, build_connectors
from boardsync.connectors.base import Connector
from boardsync.connectors.hirempire import HirempireConnector, HirempireJob, HirempireSettings, key_from_slug, slug_for
from boardsync.connectors.hirempire import job_spec as hirempire_job_spec
from boardsync.connectors.recruitifi import RecruitifiConnector, RecruitifiSettings, job_id_for
from boardsync.connectors.sorce import SorceConnector, SorceJob, SorceSettings
from boardsync.connectors.sorce import job_spec as sorce_job_spec
from boardsync.config.model import providers_model
from tests.connector_helpers import posting


def _offline() -> httpx.Client:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"a pure test made a call: {request.method} {request.url}")

    return httpx.Client(transport=httpx.MockTransport(refuse))


def sorce() -> SorceConnector:
    return SorceConnector(SorceSettings(api_key=SecretStr("sk_ext_test")), _offline())


def hirempire() -> HirempireConnector:
    return HirempireConnector(HirempireSettings(token=SecretStr("sk-test"), company_id="cmp"), _offline())


def recruitifi() -> RecruitifiConnector:
    settings = RecruitifiSettings(
        client_id="id", client_secret=SecretStr("s"), connector_id="con_a", client="cli_b", user="usr_c"
    )
    return RecruitifiConnector(settings, _offline())


def fields(problems: list[Any]) -> set[str]:
    return {p.field for p in problems}


# ------------------------------------------------------------------------------ registry


def test_registry_names_the_three_boards_by_their_config_names() -> None:
    """REGISTRY maps each `providers:` name to the class whose `name` it is."""
    assert set(REGISTRY) == {"sorce", "hirempire", "recruitifi"}
    assert all(cls.name == name and issubclass(cls, Connector) for name, cls in REGISTRY.items())


def test_build_connectors_makes_one_per_configured_provider_only() -> None:
    """A provider left out of the config gets no connector."""
    providers = providers_model()(sorce=SorceSettings(api_key=SecretStr("sk_ext_x")))
    built = build_connectors(providers, transport=httpx.MockTransport(lambda r: httpx.Response(500)))
    assert list(built) == ["sorce"] and isinstance(built["sorce"], SorceConnector)
    built["sorce"].close()


def test_capabilities_say_what_each_board_supports() -> None:
    """Jobs on Sorce and Hirempire, channels on Hirempire, links on RecruitiFi, expiry on Sorce."""
    assert (SorceConnector.SUPPORTS_JOBS, SorceConnector.SUPPORTS_EXPIRY) == (True, True)
    assert (HirempireConnector.SUPPORTS_JOBS, HirempireConnector.SUPPORTS_CHANNELS) == (True, True)
    assert RecruitifiConnector.SUPPORTS_LINKS and not RecruitifiConnector.SUPPORTS_JOBS


# ------------------------------------------------------------------------------ Sorce check


def test_sorce_check_passes_a_complete_active_posting() -> None:
    """The helper's posting meets Gate 1: nothing to report."""
    assert SorceConnector.check(posting()) == []


def test_sorce_check_names_every_gate_one_gap_by_posting_path() -> None:
    """Each gap is reported at once, at the path an operator edits in the posting file."""
    bad = posting(
        salary=None,
        qualifications=[{"text": "Nice to have", "kind": "preferred"}],
        employment_type="freelance",
        boards={"sorce": {}},
    )
    problems = SorceConnector.check(bad)
    assert fields(problems) == {"salary", "boards.sorce.bid_cents", "qualifications", "employment_type"}
    assert all("Sorce" in p.message for p in problems)


def test_sorce_check_refuses_a_salary_period_sorce_cannot_express() -> None:
    """Only yearly and hourly salaries exist on Sorce; a monthly one is named with the fix."""
    problems = SorceConnector.check(posting(salary={"min": 1, "max": 2, "period": "month"}))
    assert [(p.field, "'year' or 'hour'" in p.message) for p in problems] == [("salary.period", True)]


def test_sorce_check_counts_a_zero_bid_as_missing() -> None:
    """A bid must be above zero cents to publish."""
    assert fields(SorceConnector.check(posting(boards={"sorce": {"bid_cents": 0}}))) == {"boards.sorce.bid_cents"}


@pytest.mark.parametrize("status", ["draft", "closed"])
def test_sorce_check_lets_a_draft_or_closed_posting_be_incomplete(status: str) -> None:
    """Gate 1 applies to postings meant to be live only."""
    assert SorceConnector.check(posting(status=status, salary=None, boards={"sorce": {}})) == []


# ------------------------------------------------------------------------------ Sorce render


def test_sorce_render_maps_every_word_to_sorce() -> None:
    """workplace, employment type, level, salary period, kinds and windows take Sorce's words."""
    connector = sorce()
    p = posting(
        workplace="remote", remote_country="Canada", locations=[], employment_type="contract", level="senior",
        salary={"min": 50, "max": 80, "period": "hour"},
        boards={"sorce": {"bid_cents": 900, "level": "entry", "budgets": [
            {"window": "lifetime", "cents": 10}, {"window": "daily", "cents": 5, "notes": " cap "}]}},
    )
    spec = connector.render(p)
    assert spec["remoteOption"] == "REMOTE" and spec["remoteCountry"] == "Canada"
    assert (spec["jobType"], spec["jobLevel"]) == ("CONTRACT", "ENTRY")  # the board's level wins
    assert (spec["salaryMin"], spec["salaryMax"], spec["salaryPeriod"]) == (50, 80, "HOURLY")
    assert spec["bidPerQualifiedApplicantCents"] == 900
    assert [q["kind"] for q in spec["qualifications"]] == ["REQUIRED", "PREFERRED"]
    assert spec["budgets"] == [
        {"window": "DAILY", "budgetCents": 5, "notes": "cap"},
        {"window": "LIFETIME", "budgetCents": 10, "notes": None},
    ]


@pytest.mark.parametrize(("workplace", "word"), [("hybrid", "HYBRID"), ("on_site", "IN_PERSON")])
def test_sorce_render_maps_places_people_work_from(workplace: str, word: str) -> None:
    """hybrid and on_site become HYBRID and IN_PERSON, with the location's given id."""
    p = posting(workplace=workplace, locations=[{"city": "X", "country": "Y", "sorce_location_id": "loc_1"}])
    spec = sorce().render(p)
    assert (spec["remoteOption"], spec["locations"]) == (word, [{"locationId": "loc_1"}])


def test_sorce_render_without_prepare_refuses_a_city_it_has_not_looked_up() -> None:
    """A location given by city needs `prepare`; rendering without it is a programming error."""
    with pytest.raises(LookupError, match="city search was not made"):
        sorce().render(posting())


def test_sorce_render_is_identical_for_an_unchanged_posting_and_strips_text() -> None:
    """Rendering twice gives equal specs; trailing whitespace of a YAML block is not content."""
    connector = sorce()
    p = posting(locations=[{"city": "X", "country": "Y", "sorce_location_id": "loc_1"}])
    assert connector.render(p) == connector.render(p)
    assert connector.render(p)["description"] == "Build the APIs our customers rely on."


def test_sorce_render_leaves_out_a_salary_period_it_cannot_express() -> None:
    """A draft with a monthly salary renders no salary rather than a wrong one."""
    p = posting(status="draft", salary={"min": 1, "max": 2, "period": "month"},
                locations=[{"city": "X", "country": "Y", "sorce_location_id": "loc_1"}])
    spec = sorce().render(p)
    assert (spec["salaryMin"], spec["salaryMax"], spec["salaryPeriod"]) == (None, None, None)


# ------------------------------------------------------------------------------ Sorce observe


def _sorce_job(**overrides: Any) -> SorceJob:
    job: dict[str, Any] = {
        "id": "job_1", "status": "ACTIVE", "title": " Backend Engineer ", "description": "Build.\n",
        "remoteOption": "IN_PERSON", "remoteCountry": None, "jobType": "FULL_TIME", "jobLevel": "MID",
        "salaryMin": 1, "salaryMax": 2, "salaryPeriod": "ANNUAL", "bidPerQualifiedApplicantCents": 3,
        "companyId": "cmp", "locations": [
            {"locationId": "loc_b", "displayName": "B", "city": "B", "stateProvince": "S", "country": "C"},
            {"locationId": "loc_a", "displayName": "A", "city": "A", "stateProvince": "S", "country": "C"},
        ],
        "qualifications": [
            {"id": "q2", "text": "second", "kind": "PREFERRED", "order": 1},
            {"id": "q1", "text": "first", "kind": "REQUIRED", "order": 0},
        ],
        "questions": [{"id": "x", "prompt": "Why?", "order": 0, "options": []}],
        "budgets": [{"window": "WEEKLY", "budgetCents": 7, "notes": ""}],
        "applicationCounts": {"pending": 2, "accepted": 1, "rejected": 4}, "isFrozen": True,
        "newApplicantCount": 2, "publishedAt": "2025-01-01T00:00:00.000Z",
        "expiresAt": "2025-01-31T00:00:00.000Z", "closedAt": None,
    }
    job.update(overrides)
    return SorceJob.model_validate(job)


def test_sorce_observed_job_drops_server_ids_and_orders_like_render() -> None:
    """Server ids and display fields go; qualifications follow `order`, each item's `order`
    is its position, locations sort."""
    spec = sorce_job_spec(_sorce_job())
    assert spec["title"] == "Backend Engineer" and spec["description"] == "Build."
    assert spec["locations"] == [{"locationId": "loc_a"}, {"locationId": "loc_b"}]
    assert spec["qualifications"] == [{"text": "first", "kind": "REQUIRED", "order": 0},
                                      {"text": "second", "kind": "PREFERRED", "order": 1}]
    assert spec["questions"] == [{"prompt": "Why?", "options": [], "order": 0}]
    assert spec["budgets"] == [{"window": "WEEKLY", "budgetCents": 7, "notes": None}]


def test_sorce_job_in_the_documented_response_shape_reads_without_kind_or_window() -> None:
    """Qualifications as {text, order, id} and budgets as {budgetCents, notes}, as the response
    example shows them: read as they are, an `order` counted from 1 read as the position."""
    spec = sorce_job_spec(_sorce_job(
        qualifications=[{"id": "q2", "text": "second", "order": 2}, {"id": "q1", "text": "first", "order": 1}],
        budgets=[{"budgetCents": 7, "notes": None}],
    ))
    assert spec["qualifications"] == [{"text": "first", "order": 0}, {"text": "second", "order": 1}]
    assert spec["budgets"] == [{"budgetCents": 7, "notes": None}]


def test_sorce_shows_back_all_but_qualification_kinds_and_budget_windows() -> None:
    """The connector declares what a read does not show: only those parts are left out of a
    comparison with the board, and only they are compared with what was last sent. A budget's
    window goes with its amount, so the budgets are compared with what was sent whole, and with
    the board as a set."""
    connector = sorce()
    spec = connector.render(posting(locations=[{"city": "X", "country": "Y", "sorce_location_id": "loc_1"}]))
    assert connector.shown_back("qualifications", spec["qualifications"]) == [
        {"text": "Three years of Python", "order": 0}, {"text": "Has run PostgreSQL in production", "order": 1}]
    kinds = connector.not_shown_back("qualifications", spec["qualifications"])
    assert kinds == [{"kind": "REQUIRED"}, {"kind": "PREFERRED"}]
    assert connector.not_shown_back("budgets", spec["budgets"]) == spec["budgets"]
    two = [{"budgetCents": 9, "notes": None}, {"budgetCents": 5, "notes": "x"}]
    assert connector.shown_back("budgets", [{"window": "WEEKLY", **two[0]}, {"window": "DAILY", **two[1]}]) == [
        two[1], two[0]]
    assert connector.shown_back("title", spec["title"]) == spec["title"]
    assert connector.not_shown_back("title", spec["title"]) is None


def test_sorce_render_and_observe_agree_on_a_job_made_from_the_render() -> None:
    """A job carrying exactly the rendered fields reads back as the same spec."""
    connector = sorce()
    p = posting(locations=[{"city": "X", "country": "Y", "sorce_location_id": "loc_1"}])
    spec = connector.render(p)
    job = {**spec, "id": "job_9", "status": "DRAFT",
           "qualifications": [{**q, "id": f"q{i}", "order": i} for i, q in enumerate(spec["qualifications"])],
           "locations": [{**loc, "displayName": "X", "city": "X", "stateProvince": "", "country": "Y"}
                         for loc in spec["locations"]]}
    assert sorce_job_spec(SorceJob.model_validate(job)) == spec


@pytest.mark.parametrize(
    ("word", "status"),
    [("DRAFT", "draft"), ("ACTIVE", "active"), ("PAUSED", "paused"), ("CLOSED", "closed"), ("EXPIRED", "expired")],
)
def test_sorce_statuses_map_to_lowercase_remote_statuses(word: str, status: str) -> None:
    """Every Sorce status has its board-neutral word."""
    from boardsync.connectors.sorce import _remote

    assert _remote(_sorce_job(status=word)).status == status


def test_sorce_frozen_job_names_its_frozen_fields_expiry_and_applications() -> None:
    """isFrozen → qualifications and questions frozen; applications sum every count."""
    from boardsync.connectors.sorce import _remote

    remote = _remote(_sorce_job())
    assert remote.frozen_fields == {"qualifications", "questions"}
    assert remote.applications == 7
    assert remote.expires_at is not None and remote.expires_at.isoformat() == "2025-01-31T00:00:00+00:00"
    assert _remote(_sorce_job(isFrozen=False)).frozen_fields == frozenset()


# ------------------------------------------------------------------------------ lifecycle


@pytest.mark.parametrize(
    ("desired", "observed", "actions"),
    [
        ("active", "draft", ["publish"]),
        ("active", "paused", ["resume"]),
        ("active", "active", []),
        ("paused", "active", ["pause"]),
        ("paused", "draft", ["publish", "pause"]),
        ("closed", "draft", ["close"]),
        ("closed", "active", ["close"]),
        ("closed", "paused", ["close"]),
        ("active", "closed", []),
        ("active", "expired", []),
        ("closed", "expired", []),
        ("draft", "active", []),
    ],
)
def test_sorce_lifecycle_follows_its_state_machine(desired: str, observed: str, actions: list[str]) -> None:
    """Each (desired, observed) pair gives the transitions Sorce allows, in order; none from
    a terminal status."""
    assert sorce().lifecycle(desired, observed) == actions  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("desired", "observed", "actions"),
    [
        ("active", "draft", ["publish"]),
        ("active", "paused", ["resume"]),
        ("active", "closed", ["publish"]),
        ("paused", "draft", ["pause"]),
        ("paused", "active", ["pause"]),
        ("closed", "active", ["close"]),
        ("closed", "closed", []),
        ("draft", "active", ["unpublish"]),
        ("draft", "closed", ["unpublish"]),
        ("draft", "draft", []),
    ],
)
def test_hirempire_lifecycle_sets_any_status_in_one_call(desired: str, observed: str, actions: list[str]) -> None:
    """Hirempire lets any status become any other, a draft (``Pending``) too: one transition at most."""
    assert hirempire().lifecycle(desired, observed) == actions  # type: ignore[arg-type]


# ------------------------------------------------------------------------------ Hirempire


def test_hirempire_check_passes_the_helper_posting() -> None:
    """Engineering, a default career level and a salary: nothing to report."""
    assert HirempireConnector.check(posting()) == []


def test_hirempire_check_names_department_from_the_board_override() -> None:
    """A bad override is reported at boards.hirempire.department, with the close spelling."""
    problems = HirempireConnector.check(posting(boards={"hirempire": {"department": "engineering"}}))
    assert [(p.field, "'Engineering'" in p.message) for p in problems] == [("boards.hirempire.department", True)]


def test_hirempire_check_requires_department_salary_and_a_known_career_level() -> None:
    """Missing department and salary, and an unknown career level, are all named."""
    problems = HirempireConnector.check(
        posting(department=None, salary=None, boards={"hirempire": {"career_level": "Lead"}})
    )
    assert fields(problems) == {"department", "salary", "boards.hirempire.career_level"}


def test_hirempire_check_refuses_a_department_outside_the_documented_list() -> None:
    """A department Hirempire does not list is refused with the list."""
    problems = HirempireConnector.check(posting(department="Platform"))
    assert fields(problems) == {"department"} and "Engineering" in problems[0].message


def test_hirempire_render_uses_input_words() -> None:
    """Employment type, workplace, level and period take add-job's input words."""
    spec = hirempire().render(posting(employment_type="project_based", level="entry",
                                      salary={"min": 10, "max": 20, "period": "two_weeks", "currency": "EUR",
                                              "hidden": True}))
    assert (spec["job_type"], spec["workplace"], spec["career_level"]) == ("Project-based", "On-site", "Junior")
    assert (spec["salary"], spec["currency"], spec["salary_period"], spec["hide_salary"]) == (20, "EUR", "Bi-weekly", True)
    assert (spec["city"], spec["job_country"], spec["public_slug"]) == ("New York", "United States", "bs-backend-engineer")


def test_hirempire_render_of_a_remote_posting_names_the_country_only() -> None:
    """A remote job has the hires' country and no city."""
    spec = hirempire().render(posting(workplace="remote", remote_country="Germany", locations=[]))
    assert (spec["workplace"], spec["job_country"], spec["city"]) == ("Remote", "Germany", None)


def test_hirempire_career_level_override_is_spelled_as_documented() -> None:
    """'team leader' in the posting is sent as 'Team Leader'."""
    spec = hirempire().render(posting(boards={"hirempire": {"career_level": "team leader"}}))
    assert spec["career_level"] == "Team Leader"


def test_hirempire_observed_output_words_read_back_as_input_words() -> None:
    """full-time → Full-time, job_mode onsite → workplace On-site, team-leader → Team Leader,
    is_salary_hidden → hide_salary, "City, Country" → city and country."""
    job = {
        "id": "j", "job_title": "T", "job_description": "D\n", "public_slug": "bs-k", "department": "Design",
        "industry": None, "career_level": "team-leader", "job_type": "full-time", "job_mode": "onsite",
        "job_location": "Saint-Denis, Réunion, France", "salary": "USD 5 per year", "salary_min": 5.0,
        "salary_max": 5.0, "currency": "USD", "salary_period": "Per year", "is_salary_hidden": True,
        "sources": {"count": 0, "items": []}, "status": "draft", "applicants": 0,
    }
    spec = hirempire_job_spec(HirempireJob.model_validate(job))
    assert (spec["job_type"], spec["workplace"], spec["career_level"]) == ("Full-time", "On-site", "Team Leader")
    assert (spec["city"], spec["job_country"]) == ("Saint-Denis, Réunion", "France")
    assert (spec["salary"], spec["hide_salary"], spec["job_description"]) == (5, True, "D")


def test_hirempire_render_and_observe_agree_through_the_output_words() -> None:
    """A Job written in output words from the rendered spec reads back as that spec."""
    spec = hirempire().render(posting())
    job = {
        "id": "j", "job_title": spec["job_title"], "job_description": spec["job_description"],
        "public_slug": spec["public_slug"], "department": spec["department"], "industry": spec["industry"],
        "career_level": "mid-level", "job_type": "full-time", "job_mode": "onsite",
        "job_location": "New York, United States", "salary_min": 150000, "salary_max": 150000,
        "currency": "USD", "salary_period": "Per year", "is_salary_hidden": False, "status": "active",
    }
    assert hirempire_job_spec(HirempireJob.model_validate(job)) == spec


def test_hirempire_slug_is_derived_from_the_key_and_back() -> None:
    """bs-<key> both ways; a slug boardsync did not make names no posting."""
    assert slug_for("designer.2") == "bs-designer.2" and key_from_slug("bs-designer.2") == "designer.2"
    assert key_from_slug("designer-x7q2") is None and key_from_slug("bs-") is None and key_from_slug(None) is None


# ------------------------------------------------------------------------------ RecruitiFi


def test_recruitifi_job_id_defaults_to_job_underscore_key() -> None:
    """Without an override the job id is job_<key>; an override wins."""
    assert job_id_for(posting()) == "job_backend-engineer"
    assert job_id_for(posting(boards={"recruitifi": {"job_id": "job_789ghi"}})) == "job_789ghi"
    assert recruitifi().render(posting()) == {"jobId": "job_backend-engineer"}


def test_recruitifi_check_accepts_every_valid_posting_key() -> None:
    """A posting key always makes a well-formed job id."""
    assert RecruitifiConnector.check(posting(key="a" * 100)) == []


@pytest.mark.parametrize(
    ("action", "word", "status"),
    [("publish", "Active", "active"), ("resume", "Active", "active"), ("pause", "Paused", "paused"),
     ("close", "Closed", "closed")],
)
def test_hirempire_statuses_go_out_in_input_words_and_come_back_in_output_words(
    action: str, word: str, status: str
) -> None:
    """A transition is sent as update-job's input word; the Job's output word is read back."""
    from boardsync.connectors.hirempire import STATUS_INPUT, _remote

    assert STATUS_INPUT[action] == word  # type: ignore[index]
    assert _remote(HirempireJob.model_validate({"id": "j", "job_title": "T", "status": status})).status == status
