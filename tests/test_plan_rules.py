"""Ignore rules, suspended postings and board overrides in the pure planner and the posting
model: built from values only, no request made."""

from __future__ import annotations

from datetime import timedelta

from boardsync.config.model import Policy
from boardsync.reconcile import verdict
from boardsync.reconcile.model import Action, Board, Known, PairState
from tests.test_plan_planner import (
    HIREMPIRE,
    LINKS,
    NOW,
    SORCE,
    bound,
    plan,
    posting,
    remote,
    sorce,
    spec_of,
)


def test_a_create_sends_the_ignored_fields_too() -> None:
    """An ignored field is part of the create: a new job starts complete."""
    a = posting("a", ignore=["description"])
    (change,) = plan([a], sorce([a])).changes
    assert change.action is Action.CREATE and "description" in {d.field for d in change.diffs}


def test_a_job_taken_over_keeps_its_ignored_fields_as_found() -> None:
    """A job adopted from the board is brought to the posting except in an ignored field,
    which is counted as ignored."""
    a = posting("a", boards={"sorce": {"bid_cents": 500, "ignore": ["description"]}})
    found = remote(a, spec={**spec_of(a), "qualifications": ["Go"], "description": "Theirs."})
    result = plan([a], sorce([a], [found]))
    assert [c.action for c in result.changes] == [Action.ADOPT, Action.UPDATE]
    assert [d.field for d in result.changes[1].diffs] == ["qualifications"]
    assert [(i.field, i.observed) for i in result.ignored] == [("description", "Theirs.")]


def test_a_suspended_links_board_gets_no_refresh() -> None:
    """A suspended posting on a board reached by links: the refresh is held, not planned,
    and a held refresh alone does not keep the boards apart (it only reads)."""
    a = posting("a", suspend=True, boards={"recruitifi": {}})
    result = plan([a], Board("recruitifi", LINKS, specs={"a": {}}))
    assert result.changes == ()
    (held,) = result.suspended
    assert [c.action for c in held.held] == [Action.REFRESH_LINK] and held.board_changes == ()
    assert verdict.in_sync(result)


def test_a_suspended_posting_with_a_backoff_is_suspended_not_backing_off() -> None:
    """A suspended pair is never written, so its backoff neither blocks nor shows."""
    a = posting("a", suspend=True, title="New")
    known = bound(posting("a"), quarantine_until=NOW + timedelta(hours=1), attempts=2)
    result = plan([a], sorce([a], [remote(posting("a"))]), known)
    assert result.blocked == () and [c.action for c in result.suspended[0].held] == [Action.UPDATE]
    assert not verdict.in_sync(result)


def test_a_suspended_job_gone_from_the_source_is_never_closed() -> None:
    """With prune on and its grace long over, a job whose posting was suspended when last
    seen is reported as removed, never closed."""
    a = posting("a")
    state = PairState(remote_id="j1", applied_status="active", absent_since=NOW - timedelta(days=2),
                      absent_reads=5, suspended=True)
    result = plan([], sorce([], [remote(a)]), Known(bindings={("a", "sorce"): state}),
                  Policy(prune=True, prune_after="1m"))
    assert result.changes == ()
    (removed,) = result.removed
    assert removed.suspended and not removed.closing
    assert "1 job of suspended postings removed from the source left open (never closed)" in verdict.not_in_sync(
        result, pending=True)


def test_ignore_names_become_each_boards_own_fields() -> None:
    """The posting's words map onto each board's payload fields."""
    assert SORCE.spec_fields(["salary", "title"]) == {"salaryMin", "salaryMax", "salaryPeriod", "title"}
    assert HIREMPIRE.spec_fields(["title", "locations"]) == {"job_title", "job_country", "city"}


def test_an_override_replaces_the_field_on_its_board_only() -> None:
    """`boards.sorce.title` is the posting as Sorce gets it; Hirempire gets the posting's."""
    a = posting("a", boards={"sorce": {"bid_cents": 500, "title": "For Sorce"}, "hirempire": {}})
    assert a.on_board("sorce").title == "For Sorce" and a.on_board("hirempire").title == "Title of a"
    assert a.overridden("sorce") == {"title"} and a.overridden("hirempire") == frozenset()
