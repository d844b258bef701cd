"""The pure planner: desired × observed × state → changes, drift and blocked pairs.

Built from values only: postings, the boards' real connectors (for their pure `lifecycle`
and capabilities; no request is made), Remote values and the state the planner would load.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import httpx
import pytest
from pydantic import SecretStr

from boardsync.config.model import Policy, Posting
from boardsync.connectors.base import BoardProblem, Channel, Connector, Remote, Spec, Unrenderable
from boardsync.connectors.hirempire import HirempireConnector, HirempireSettings
from boardsync.connectors.sorce import SorceConnector, SorceSettings
from boardsync.reconcile import engine
from boardsync.reconcile.identity import FreeJobs
from boardsync.reconcile.model import Action, Board, Change, Known, PairState
from boardsync.reconcile.observe import Rendered
from boardsync.reconcile.planner import LINK_REFRESH_MARGIN, plan_changes

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
POLICY = Policy()


def posting(key: str, **fields: Any) -> Posting:
    base: dict[str, Any] = {
        "key": key,
        "title": f"Title of {key}",
        "description": "Work with us.",
        "workplace": "remote",
        "remote_country": "United States",
        "employment_type": "full_time",
        "level": "mid",
        "department": "Engineering",
        "salary": {"min": 100, "max": 200},
        "qualifications": [{"text": "Python"}],
        "boards": {"sorce": {"bid_cents": 500}},
    }
    return Posting.model_validate(base | fields)


class Links(Connector):
    """A board reached through signed links only (the shape of RecruitiFi)."""

    name: ClassVar[str] = "links"
    SUPPORTS_LINKS = True

    @classmethod
    def check(cls, posting: Posting) -> list[BoardProblem]:
        return []

    def render(self, posting: Posting) -> Spec:
        return {}


_client = httpx.Client()
SORCE = SorceConnector(SorceSettings(api_key=SecretStr("test")), _client)
HIREMPIRE = HirempireConnector(HirempireSettings(token=SecretStr("test"), company_id="c1"), _client)
LINKS = Links(None, _client)


def spec_of(p: Posting) -> dict[str, Any]:
    return {"title": p.title, "description": p.description, "qualifications": [q.text for q in p.qualifications]}


def sorce(postings: list[Posting], remotes: list[Remote] = (), **kw: Any) -> Board:  # type: ignore[assignment]
    return Board("sorce", SORCE, specs={p.key: spec_of(p) for p in postings},
                 remotes={r.remote_id: r for r in remotes}, **kw)


def remote(p: Posting, rid: str = "j1", status: str = "active", **kw: Any) -> Remote:
    spec = kw.pop("spec", spec_of(p))
    return Remote(remote_id=rid, status=status, spec=spec, **kw)  # type: ignore[arg-type]


def bound(p: Posting, rid: str = "j1", provider: str = "sorce", **kw: Any) -> Known:
    state = PairState(remote_id=rid, applied_status=p.status.value, applied_spec=spec_of(p), **kw)
    return Known(bindings={(p.key, provider): state})


def plan(postings: list[Posting], boards: Mapping[str, Board] | Board, known: Known = Known(), policy: Policy = POLICY, **kw: Any):  # type: ignore[no-untyped-def]
    if isinstance(boards, Board):
        boards = {boards.name: boards}
    return plan_changes(postings, boards, known, policy, NOW, **kw)


def actions(p) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    return [(c.posting, c.action.value) for c in p.changes]


# ------------------------------------------------------------------------------ creating


def test_new_active_posting_is_created_live_in_one_call() -> None:
    """A posting not on the board yet is one create with publish, its fields as diffs."""
    a = posting("a")
    result = plan([a], sorce([a]))
    (change,) = result.changes
    assert change.action is Action.CREATE and change.publish
    assert {d.field for d in change.diffs} == {"title", "description", "qualifications"}
    assert not result.empty


def test_new_draft_is_created_without_publishing() -> None:
    """A draft posting is created as a draft, nothing more."""
    a = posting("a", status="draft")
    (change,) = plan([a], sorce([a])).changes
    assert change.action is Action.CREATE and not change.publish


def test_new_paused_posting_on_sorce_is_created_live_then_paused() -> None:
    """Sorce's path from draft to paused is publish then pause: a live create and a pause."""
    a = posting("a", status="paused")
    result = plan([a], sorce([a]))
    assert actions(result) == [("a", "create"), ("a", "pause")]
    assert result.changes[0].publish


def test_closed_posting_never_on_the_board_is_not_created() -> None:
    """Nothing is created just to be closed."""
    a = posting("a", status="closed")
    assert plan([a], sorce([a])).empty


def test_create_on_a_channel_board_carries_the_channels() -> None:
    """On Hirempire the create makes every channel's source in the same call."""
    a = posting("a", channels=["linkedin", "x"], boards={"hirempire": {}})
    board = Board("hirempire", HIREMPIRE, specs={"a": spec_of(a)})
    (change,) = plan([a], board).changes
    assert change.channels == ("linkedin", "x") and change.publish


def test_postings_not_naming_a_board_are_left_alone() -> None:
    """A board a posting does not name gets no change for it."""
    a = posting("a", boards={"hirempire": {}})
    assert plan([a], sorce([])).empty


# ------------------------------------------------------------------------------ in sync


def test_posting_matching_its_job_plans_nothing() -> None:
    """Same content, same status: an empty plan, the pair evaluated."""
    a = posting("a")
    result = plan([a], sorce([a], [remote(a)]), bound(a))
    assert result.empty and not result.drift and result.evaluated == {("a", "sorce")}


def test_closed_posting_whose_job_expired_is_in_sync() -> None:
    """Wanting it closed and finding it expired needs nothing."""
    a = posting("a", status="closed")
    result = plan([a], sorce([a], [remote(a, status="expired")]), bound(a))
    assert result.empty and not result.drift


# ------------------------------------------------------------------------------ source changes


def test_edited_posting_is_one_update_with_only_the_changed_fields() -> None:
    """A title changed in the source becomes one update naming the title, before and after."""
    a = posting("a")
    old = remote(a, spec={**spec_of(a), "title": "Old"})
    known = Known(bindings={("a", "sorce"): PairState("j1", "active", {**spec_of(a), "title": "Old"})})
    result = plan([a], sorce([a], [old]), known)
    (change,) = result.changes
    assert change.action is Action.UPDATE and change.remote_id == "j1"
    assert [(d.field, d.before, d.after) for d in change.diffs] == [("title", "Old", a.title)]
    assert not result.drift and change.heals == ()


def test_status_changed_in_the_source_is_a_transition_not_drift() -> None:
    """Pausing a posting in the source plans a pause and reports no drift."""
    a = posting("a", status="paused")
    known = Known(bindings={("a", "sorce"): PairState("j1", "active", spec_of(a))})
    result = plan([a], sorce([a], [remote(a)]), known)
    assert actions(result) == [("a", "pause")] and not result.drift


def test_closing_a_posting_skips_content_updates() -> None:
    """A posting set to closed gets a close, even if its content also changed."""
    a = posting("a", status="closed", title="New")
    known = Known(bindings={("a", "sorce"): PairState("j1", "active", {**spec_of(a), "title": "Old"})})
    result = plan([a], sorce([a], [remote(a, spec={**spec_of(a), "title": "Old"})]), known)
    assert actions(result) == [("a", "close")]


def test_update_comes_before_publishing_a_draft() -> None:
    """A draft made complete and set active: the update first, then the publish."""
    a = posting("a")
    known = Known(bindings={("a", "sorce"): PairState("j1", "draft", {**spec_of(a), "title": "Old"})})
    result = plan([a], sorce([a], [remote(a, status="draft", spec={**spec_of(a), "title": "Old"})]), known)
    assert actions(result) == [("a", "update"), ("a", "publish")]


# ------------------------------------------------------------------------------ drift


def test_hand_edit_is_drift_corrected_with_self_heal() -> None:
    """A field changed on the board while the source still says what was applied is drift,
    and with self_heal an update puts it back and names it as healed."""
    a = posting("a")
    edited = remote(a, spec={**spec_of(a), "title": "Edited by hand"})
    result = plan([a], sorce([a], [edited]), bound(a))
    (drift,) = result.drift
    assert (drift.field, drift.observed, drift.desired, drift.disposition) == (
        "title", "Edited by hand", a.title, "correct")
    (change,) = result.changes
    assert change.action is Action.UPDATE and change.heals == ("title",)


def test_hand_edit_is_only_reported_without_self_heal() -> None:
    """With self_heal off, the hand edit is drift and nothing is planned."""
    a = posting("a")
    edited = remote(a, spec={**spec_of(a), "title": "Edited by hand"})
    result = plan([a], sorce([a], [edited]), bound(a), policy=Policy(self_heal=False))
    assert result.empty and [d.disposition for d in result.drift] == ["report"]


def test_status_changed_on_the_board_is_drift_and_put_back() -> None:
    """A job paused by hand while the posting stays active: drift, and a resume that heals it."""
    a = posting("a")
    result = plan([a], sorce([a], [remote(a, status="paused")]), bound(a))
    assert [(d.field, d.observed) for d in result.drift] == [("status", "paused")]
    (change,) = result.changes
    assert change.action is Action.RESUME and change.heals == ("status",)


def test_frozen_field_is_drift_marked_frozen_and_never_sent() -> None:
    """A changed qualification on a frozen job is drift "frozen"; the rest still updates."""
    a = posting("a", title="New title", qualifications=[{"text": "Rust"}])
    old_spec = {**spec_of(a), "title": "Old title", "qualifications": ["Python"]}
    frozen = remote(a, spec=old_spec, frozen_fields=frozenset({"qualifications"}))
    known = Known(bindings={("a", "sorce"): PairState("j1", "active", old_spec)})
    result = plan([a], sorce([a], [frozen]), known)
    assert [(d.field, d.disposition) for d in result.drift] == [("qualifications", "frozen")]
    (change,) = result.changes
    assert [d.field for d in change.diffs] == ["title"]


def test_expired_job_that_should_be_live_is_drift_without_repost() -> None:
    """An expired job of an active posting is status drift and no change by default."""
    a = posting("a")
    result = plan([a], sorce([a], [remote(a, status="expired")]), bound(a))
    assert result.empty
    assert [(d.field, d.desired, d.observed, d.disposition) for d in result.drift] == [
        ("status", "active", "expired", "report")]


def test_expired_job_is_reposted_when_the_policy_says_so() -> None:
    """With repost_expired, the ended job is drift to correct and a live repost is planned."""
    a = posting("a")
    result = plan([a], sorce([a], [remote(a, status="expired")]), bound(a), policy=Policy(repost_expired=True))
    (change,) = result.changes
    assert change.action is Action.REPOST and change.publish and change.heals == ("status",)
    assert [d.disposition for d in result.drift] == ["correct"]


def test_job_closed_by_hand_on_sorce_is_terminal_drift() -> None:
    """Sorce cannot reopen a closed job: drift, reported unless reposting is on."""
    a = posting("a")
    result = plan([a], sorce([a], [remote(a, status="closed")]), bound(a))
    assert result.empty and [d.observed for d in result.drift] == ["closed"]


def test_job_closed_by_hand_on_hirempire_is_reopened_with_self_heal() -> None:
    """Hirempire lets any status go to any other: a hand close is healed by publishing."""
    a = posting("a", boards={"hirempire": {}})
    board = Board("hirempire", HIREMPIRE, specs={"a": spec_of(a)},
                  remotes={"h1": remote(a, "h1", status="closed")})
    result = plan([a], board, bound(a, "h1", provider="hirempire"))
    assert actions(result) == [("a", "publish")] and result.changes[0].heals == ("status",)


def test_job_deleted_from_the_board_is_created_again_with_self_heal() -> None:
    """A bound job a read by id found gone (404) is drift "missing" and is created again."""
    a = posting("a")
    result = plan([a], sorce([a], [], gone=frozenset({"j1"})), bound(a))
    assert [(d.field, d.observed) for d in result.drift] == [("status", "missing")]
    assert actions(result) == [("a", "create")]


def test_live_job_whose_posting_became_draft_is_reported_not_changed() -> None:
    """Sorce cannot take a live job back to draft: the difference is reported, nothing planned."""
    a = posting("a", status="draft")
    known = Known(bindings={("a", "sorce"): PairState("j1", "active", spec_of(a))})
    result = plan([a], sorce([a], [remote(a)]), known)
    assert result.empty and [(d.field, d.disposition) for d in result.drift] == [("status", "report")]


@pytest.mark.parametrize("observed", ["active", "paused", "closed"])
def test_a_hirempire_job_whose_posting_became_draft_goes_back_to_draft(observed: str) -> None:
    """Hirempire sets any status to any other, a draft too: a live or closed job whose posting
    is a draft again (or whose publish_at moved ahead) is taken back to draft, not left live
    and reported, and a closed one is not reposted (its slug would find it again)."""
    a = posting("a", status="draft", boards={"hirempire": {}})
    board = Board("hirempire", HIREMPIRE, specs={"a": spec_of(a)}, remotes={"h1": remote(a, "h1", status=observed)})
    known = Known(bindings={("a", "hirempire"): PairState("h1", "active", spec_of(a))})
    result = plan([a], board, known, Policy(repost_expired=True))
    assert actions(result) == [("a", "unpublish")] and result.changes[0].remote_id == "h1"


# ------------------------------------------------------------------------------ adopting


def test_job_the_board_names_as_the_posting_is_adopted_not_created() -> None:
    """An unbound Hirempire job whose slug names the posting is adopted."""
    a = posting("a", boards={"hirempire": {}})
    board = Board("hirempire", HIREMPIRE, specs={"a": spec_of(a)},
                  remotes={"h9": remote(a, "h9", posting_key="a")})
    result = plan([a], board)
    assert actions(result) == [("a", "adopt")] and result.changes[0].remote_id == "h9"
    assert not result.empty


def test_a_job_with_the_slug_the_posting_gives_itself_is_adopted_not_created() -> None:
    """With no record (a fresh state database), an unbound Hirempire job that carries the
    public_slug the posting gives itself is the posting's: adopted, never created beside;
    two such jobs block the pair."""
    a = posting("a", boards={"hirempire": {"public_slug": "evenings"}})
    spec = {**spec_of(a), "public_slug": "evenings"}
    own = remote(a, "h1", spec=spec)
    board = Board("hirempire", HIREMPIRE, specs={"a": spec}, remotes={"h1": own})
    result = plan([a], board)
    assert actions(result) == [("a", "adopt")] and result.changes[0].remote_id == "h1"
    twice = Board("hirempire", HIREMPIRE, specs={"a": spec}, remotes={"h1": own, "h2": remote(a, "h2", spec=spec)})
    assert [b.gate for b in plan([a], twice).blocked] == ["ambiguous"]


def test_many_creates_read_each_free_jobs_slug_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Before each of many creates the free jobs are asked for the slug it sends: each job's
    slug is read once for all of them, not once per create (thousands of postings on a board
    already holding thousands of jobs)."""
    read: list[Any] = []
    handle = HIREMPIRE.handle

    def counted(spec: Any) -> str | None:
        read.append(spec)
        return handle(spec)

    monkeypatch.setattr(HIREMPIRE, "handle", counted)
    held = [Remote(f"h{i}", "active", spec={"public_slug": f"held-{i}"}) for i in range(200)]
    wanted = [posting(f"p{i}", boards={"hirempire": {"public_slug": f"new-{i}"}}) for i in range(200)]
    specs = {p.key: {**spec_of(p), "public_slug": f"new-{p.key[1:]}"} for p in wanted}
    board = Board("hirempire", HIREMPIRE, specs=specs, remotes={r.remote_id: r for r in held})
    assert {c.action.value for c in plan(wanted, board).changes} == {"create"}
    assert len(read) <= len(held) + len(wanted)


def test_unbound_live_job_with_identical_content_is_adopted_once() -> None:
    """On a board without slugs, an unbound live job with exactly the content is adopted,
    and the same job is never given to two postings."""
    a, b = posting("a"), posting("b", title="Title of a")
    result = plan([a, b], sorce([a, b], [remote(a, "j7")]))
    assert actions(result) == [("a", "adopt"), ("b", "create")]


def test_ended_or_bound_jobs_are_never_adopted() -> None:
    """An expired look-alike, or one bound to another posting, is not taken over."""
    a = posting("a")
    other = Known(bindings={("z", "sorce"): PairState("j2", "active", spec_of(a))})
    board = sorce([a], [remote(a, "j1", status="expired"), remote(a, "j2")])
    assert actions(plan([a], board, other)) == [("a", "create")]


# ------------------------------------------------------------------------------ identity without a record


def placed(p: Posting, **fields: Any) -> dict[str, Any]:
    """A Sorce-shaped spec: content plus the place that, with the title, identifies a job."""
    return {**spec_of(p), "remoteOption": "REMOTE", "remoteCountry": "United States", "locations": [], **fields}


def sorce_placed(postings: list[Posting], remotes: list[Remote] = (), **kw: Any) -> Board:  # type: ignore[assignment]
    return Board("sorce", SORCE, specs={p.key: placed(p) for p in postings},
                 remotes={r.remote_id: r for r in remotes}, **kw)


def test_unbound_job_with_the_title_and_place_is_adopted_and_its_edits_planned() -> None:
    """With no state, a live job with the posting's title (case and spacing aside) and place
    is adopted even though its description differs, and one update brings it in line."""
    a = posting("a")
    board = sorce_placed([a], [remote(a, "j7", spec=placed(a, title="  title OF   a ", description="Old text."))])
    result = plan([a], board)
    assert actions(result) == [("a", "adopt"), ("a", "update")]
    assert result.changes[0].remote_id == "j7"
    assert {d.field for d in result.changes[1].diffs} == {"title", "description"}
    assert not result.drift


def test_a_job_in_another_place_is_not_the_posting() -> None:
    """Same title but another city, or another remote country: a different posting, created."""
    a = posting("a")
    city = {"remoteOption": "IN_PERSON", "remoteCountry": None}
    board = Board("sorce", SORCE, specs={"a": placed(a, **city, locations=[{"locationId": "loc_nyc"}])},
                  remotes={"j1": remote(a, "j1", spec=placed(a, **city, locations=[{"locationId": "loc_sf"}])),
                           "j2": remote(a, "j2", spec=placed(a, remoteCountry="Canada"))})
    assert actions(plan([a], board)) == [("a", "create")]


def test_two_look_alike_jobs_block_the_pair_as_ambiguous_naming_both() -> None:
    """Two free jobs that could each be the posting: nothing is created or adopted, the pair
    is blocked as ambiguous and the reason names both ids."""
    a = posting("a")
    result = plan([a], sorce_placed([a], [remote(a, "j1", spec=placed(a)), remote(a, "j2", spec=placed(a))]))
    assert result.changes == ()
    (blocked,) = result.blocked
    assert blocked.gate == "ambiguous" and "j1" in blocked.reason and "j2" in blocked.reason


def test_identity_is_not_used_on_a_board_that_names_its_postings() -> None:
    """On Hirempire a job without our slug is never taken for a posting, whatever its title."""
    a = posting("a", boards={"hirempire": {}})
    board = Board("hirempire", HIREMPIRE, specs={"a": spec_of(a)}, remotes={"h1": remote(a, "h1")})
    assert actions(plan([a], board)) == [("a", "create")]


def test_a_closed_posting_takes_no_look_alike_over() -> None:
    """Identity is asked only in place of a create: a closed posting leaves a look-alike alone."""
    a = posting("a", status="closed")
    assert plan([a], sorce_placed([a], [remote(a, "j1", spec=placed(a))])).changes == ()


def test_a_bound_job_missing_from_the_list_is_not_created_again_unless_gone() -> None:
    """A bound job the list left out is blocked (with why it was not read) while no read by id
    said it is gone; once one did, it is created again."""
    a = posting("a")
    why = "reading it by id failed: GET /jobs/j1: 500"
    result = plan([a], sorce([a], [], unread={"j1": why}), bound(a))
    (blocked,) = result.blocked
    assert result.changes == () and blocked.gate == "unread" and why in blocked.reason
    assert actions(plan([a], sorce([a], []), bound(a))) == []
    assert actions(plan([a], sorce([a], [], gone=frozenset({"j1"})), bound(a))) == [("a", "create")]


def test_a_gone_job_makes_way_for_a_look_alike_rather_than_a_create() -> None:
    """The bound job is gone, but another free job is the posting: it is adopted instead."""
    a = posting("a")
    board = sorce_placed([a], [remote(a, "j2", spec=placed(a))], gone=frozenset({"j1"}))
    result = plan([a], board, bound(a))
    assert actions(result) == [("a", "adopt")] and result.changes[0].remote_id == "j2"


def test_each_look_alike_is_given_to_one_posting_at_most() -> None:
    """Two postings with one identity and one free job: the first adopts it, the second is
    created, never both bound to one job."""
    a, b = posting("a"), posting("b", title="Title of a")
    board = Board("sorce", SORCE, specs={"a": placed(a), "b": placed(b)}, remotes={"j1": remote(a, "j1", spec=placed(a))})
    assert actions(plan([a, b], board)) == [("a", "adopt"), ("b", "create")]


def test_an_unsettled_create_with_several_candidates_names_them() -> None:
    """A lost create with two possible jobs stays blocked, as ambiguous, naming both."""
    a = posting("a")
    known = Known(unsettled=frozenset({("a", "sorce")}), candidates={("a", "sorce"): ("j1", "j2")})
    (blocked,) = plan([a], sorce([a]), known).blocked
    assert blocked.gate == "ambiguous" and "j1, j2" in blocked.reason


def test_a_lost_hirempire_create_is_recognised_by_the_slug_it_sent_never_by_another_postings_job() -> None:
    """A job whose slug is the one a lost create sent (one the posting gave itself, even one
    starting with bs-) is that create's; one bound to another posting never is; beside the
    job named bs-KEY it makes two candidates, so the pair stays unsettled."""
    own = Remote("h1", "active", spec={"public_slug": "evenings"})
    prefixed = Remote("h2", "active", spec={"public_slug": "bs-evenings-2024"}, posting_key="evenings-2024")
    named = Remote("h3", "closed", spec={"public_slug": "bs-a"}, posting_key="a")
    sent, sent_prefixed = {"public_slug": "evenings"}, {"public_slug": "bs-evenings-2024"}
    assert FreeJobs.on(HIREMPIRE, [own, prefixed], ()).candidates("a", sent) == (own,)
    assert FreeJobs.on(HIREMPIRE, [own, prefixed], {"h1"}).candidates("a", sent) == ()
    assert FreeJobs.on(HIREMPIRE, [own, prefixed], ()).candidates("a", sent_prefixed) == (prefixed,)
    assert FreeJobs.on(HIREMPIRE, [own, prefixed], {"h2"}).candidates("a", sent_prefixed) == ()
    assert FreeJobs.on(HIREMPIRE, [own, named], ()).candidates("a", sent) == (named, own)
    assert FreeJobs.on(HIREMPIRE, [own, named], ()).candidates("a", {"public_slug": "bs-a"}) == (named,)
    assert FreeJobs.on(HIREMPIRE, [own, named], ()).candidates("a", {}) == (named,)


# ------------------------------------------------------------------------------ channels and links


def test_missing_channel_gets_one_ensure_source() -> None:
    """A channel added to the posting plans one ensure_source for it only."""
    a = posting("a", channels=["linkedin", "x"], boards={"hirempire": {}})
    existing = remote(a, "h1", channels={"linkedin": Channel("linkedin", "s1", "https://h/1")})
    board = Board("hirempire", HIREMPIRE, specs={"a": spec_of(a)}, remotes={"h1": existing})
    result = plan([a], board, bound(a, "h1", provider="hirempire"))
    assert [(c.action.value, c.channel) for c in result.changes] == [("ensure_source", "x")]


def test_link_is_refreshed_only_when_missing_or_near_expiry() -> None:
    """A valid link costs nothing; a missing or nearly expired one is refreshed, and a link
    refresh alone leaves the plan empty (it changes nothing on a board)."""
    a, b, c = (posting(k, boards={"recruitifi": {}}) for k in "abc")
    board = Board("recruitifi", LINKS)
    known = Known(links={
        ("a", "recruitifi"): NOW + timedelta(minutes=14),
        ("b", "recruitifi"): NOW + LINK_REFRESH_MARGIN - timedelta(seconds=1),
    })
    result = plan([a, b, c], board, known)
    assert actions(result) == [("b", "refresh_link"), ("c", "refresh_link")]
    assert result.empty


def test_a_run_fetches_only_a_pairs_first_link_and_leaves_later_ones_to_an_ask() -> None:
    """A pair that was linked before is left alone by a run once its link runs out (a link is
    fetched when asked for); only a pair never linked gets one from the run."""
    a, b = (posting(k, boards={"recruitifi": {}}) for k in "ab")
    board = Board("recruitifi", LINKS)
    known = Known(bindings={("a", "recruitifi"): PairState(linked=True), ("b", "recruitifi"): PairState()})
    assert actions(plan([a, b], board, known)) == [("b", "refresh_link")]


# ------------------------------------------------------------------------------ blocked


def test_posting_the_board_would_refuse_is_blocked_with_its_fields() -> None:
    """Problems found by the board's check block the pair and name every field."""
    a = posting("a")
    board = sorce([a], problems={"a": (BoardProblem("salary", "needs a salary"),)})
    result = plan([a], board)
    (item,) = result.blocked
    assert item.fields == {"salary": "needs a salary"} and result.empty


def test_pair_with_an_unsettled_create_gets_nothing_planned() -> None:
    """While a lost create is not found, nothing is created again for that pair."""
    a = posting("a")
    result = plan([a], sorce([a]), Known(unsettled=frozenset({("a", "sorce")})))
    assert result.empty and "lost" in result.blocked[0].reason


def test_backing_off_pair_keeps_its_drift_but_gets_no_changes() -> None:
    """During its backoff a failing pair is blocked until a time; after it, planned again."""
    a = posting("a")
    edited = remote(a, spec={**spec_of(a), "title": "Edited"})
    until = NOW + timedelta(minutes=5)
    known = bound(a, attempts=3, quarantine_until=until, last_error="500 INTERNAL")
    result = plan([a], sorce([a], [edited]), known)
    assert result.empty and len(result.drift) == 1
    (item,) = result.blocked
    assert item.until == until and "3 failed attempts" in item.reason
    later = plan_changes([a], {"sorce": sorce([a], [edited])}, known, POLICY, until + timedelta(seconds=1))
    assert [c.action for c in later.changes] == [Action.UPDATE]


def test_board_that_could_not_be_read_gets_an_error_and_no_changes() -> None:
    """A board with an observe error plans nothing for any of its postings."""
    a = posting("a")
    result = plan([a], sorce([a], error="sorce GET /jobs: 500 INTERNAL"))
    assert result.empty and [e.provider for e in result.errors] == ["sorce"]


# ------------------------------------------------------------------------------ removed


def test_removed_posting_is_reported_without_prune() -> None:
    """A bound live job whose posting left the source is reported, not closed."""
    gone = posting("gone")
    result = plan([], sorce([], [remote(gone, "j1")]), bound(gone))
    (item,) = result.removed
    assert (item.posting, item.closing) == ("gone", False) and result.empty


def test_removed_posting_is_closed_with_prune_once_its_grace_is_over() -> None:
    """With prune on, the removed posting's job gets a close once it has been gone for
    prune_after and an earlier run missed it too."""
    gone = posting("gone")
    known = bound(gone, absent_since=NOW - timedelta(hours=1), absent_reads=1)
    result = plan([], sorce([], [remote(gone, "j1")]), known, policy=Policy(prune=True, prune_after="1h"))
    assert actions(result) == [("gone", "close")] and result.removed[0].closing


@pytest.mark.parametrize(
    ("since", "reads", "why"),
    [
        (None, 0, "the first run to miss it"),
        (NOW - timedelta(minutes=59), 5, "gone for less than prune_after"),
        (NOW - timedelta(days=2), 0, "gone long ago, but no earlier run missed it"),
    ],
)
def test_a_removed_posting_within_its_grace_is_only_reported(since: datetime | None, reads: int, why: str) -> None:
    """Prune on, but the grace is not over (too soon, or too few runs that missed it): no close,
    the removal reported with when it may close, whatever --force would say."""
    gone = posting("gone")
    known = bound(gone, absent_since=since, absent_reads=reads)
    result = plan([], sorce([], [remote(gone, "j1")]), known, policy=Policy(prune=True, prune_after="1h"))
    assert result.empty, why
    (item,) = result.removed
    assert not item.closing and item.waiting and "closed once gone for 1h and missed by 2 runs" in item.waiting
    assert item.closes_after == (since or NOW) + timedelta(hours=1)


def test_removed_outside_the_posting_filter_is_ignored() -> None:
    """With --posting narrowing the run, other bindings are not treated as removed."""
    gone = posting("gone")
    result = plan([], sorce([], [remote(gone, "j1")]), bound(gone), policy=Policy(prune=True), scope={"a"})
    assert result.empty and not result.removed


def test_removed_posting_already_ended_is_quiet() -> None:
    """A removed posting whose job is already closed is neither reported nor closed."""
    gone = posting("gone")
    result = plan([], sorce([], [remote(gone, "j1", status="closed")]), bound(gone))
    assert not result.removed and result.empty


@pytest.mark.parametrize("status", ["active", "paused"])
def test_plan_changes_is_deterministic(status: str) -> None:
    """The same inputs give an equal plan, changes ordered by provider then posting."""
    ps = [posting(k, status=status) for k in ("c", "a", "b")]
    boards = {"sorce": sorce(ps), "hirempire": Board("hirempire", HIREMPIRE, specs={})}
    first, second = plan(ps, boards), plan(ps, boards)
    assert first == second
    assert [c.posting for c in first.changes if c.action is Action.CREATE] == ["a", "b", "c"]


class _Picky(Links):
    """A board that refuses to render posting "b" (as Sorce does a city its search does not
    know), and whose render has a bug that posting "c" meets."""

    def render(self, posting: Posting) -> Spec:
        if posting.key == "b":
            raise Unrenderable(BoardProblem("locations", "Atlantis is not a place this board knows"))
        if posting.key == "c":
            raise AttributeError("'NoneType' object has no attribute 'city'")
        return {"title": posting.title}


def test_a_payload_that_cannot_be_rendered_refuses_its_pair_when_planning_asks_for_it() -> None:
    """Payloads are rendered when planning asks for them (`observe.Rendered`): a posting whose
    payload cannot be made is refused then, with what the board would refuse, and a change
    planned for it all the same (a lost create found on the board, shown by a plan) keeps no
    payload rather than failing the run."""
    picky = _Picky(None, _client)
    board = Board("sorce", picky, specs=Rendered(picky, [posting("a"), posting("b")]))  # the board the postings name
    problem = BoardProblem("locations", "Atlantis is not a place this board knows")
    assert board.payload("b") == (problem,) and board.refused("b") == (problem,)
    assert board.payload("a") == {"title": posting("a").title} and board.refused("a") == ()
    assert "b" in board.specs and board.specs.get("b") is None
    planned = plan([posting("a"), posting("b")], board)
    refused = [(b.posting, b.gate, dict(b.fields)) for b in planned.blocked]
    assert refused == [("b", "invalid", {"locations": problem.message})]
    adopting = Change("sorce", "b", Action.ADOPT, "the job of an earlier create whose answer was lost", remote_id="x")
    kept = engine._rendered_only_where_planned({"sorce": board}, replace(planned, changes=(*planned.changes, adopting)))
    assert dict(kept["sorce"].specs) == {"a": {"title": posting("a").title}}


def test_a_render_that_crashes_refuses_its_posting_and_the_rest_is_planned() -> None:
    """A bug in a board's render (any error but a refusal) refuses the posting it met, naming
    the error, instead of stopping the run: the other postings on the board are planned."""
    picky = _Picky(None, _client)
    board = Board("sorce", picky, specs=Rendered(picky, [posting("a"), posting("c")]))
    planned = plan([posting("a"), posting("c")], board)
    (refused,) = planned.blocked
    assert refused.posting == "c"
    assert dict(refused.fields) == {"": "cannot be rendered for links: unexpected error: AttributeError: "
                                        "'NoneType' object has no attribute 'city'"}
    assert [(c.posting, c.action) for c in planned.changes] == [("a", Action.REFRESH_LINK)]
