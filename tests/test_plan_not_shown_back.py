"""The pure planner on fields a board takes but does not show back (Sorce's qualification kinds
and budget windows): those parts are compared with what was last applied, the rest with the
board, so a board answering as documented never makes a change that was already sent."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from boardsync.config.model import Policy
from boardsync.connectors.base import Remote
from boardsync.reconcile import record
from boardsync.reconcile.model import Board, Known, PairState
from boardsync.state import Binding, open_store
from tests.test_plan_planner import NOW, SORCE, plan, posting

QUALS = [{"text": "Python", "kind": "REQUIRED", "order": 0}, {"text": "SQL", "kind": "PREFERRED", "order": 1}]
BUDGETS = [{"window": "MONTHLY", "budgetCents": 500, "notes": None}]
SHOWN_QUALS = [{"text": "Python", "order": 0}, {"text": "SQL", "order": 1}]
SHOWN_BUDGETS = [{"budgetCents": 500, "notes": None}]


def _board(want: dict[str, Any], shown: dict[str, Any], **remote: Any) -> Board:
    return Board("sorce", SORCE, specs={"a": {"title": "T", **want}},
                 remotes={"j1": Remote("j1", "active", {"title": "T", **shown}, **remote)})


def _known(applied: dict[str, Any] | None) -> Known:
    state = PairState(remote_id="j1", applied_status="active", applied_spec=None if applied is None else {"title": "T", **applied})
    return Known(bindings={("a", "sorce"): state})


def _updates(result: Any) -> list[set[str]]:
    return [{d.field for d in c.diffs} for c in result.changes if c.action.value == "update"]


WANT = {"qualifications": QUALS, "budgets": BUDGETS}
SHOWN = {"qualifications": SHOWN_QUALS, "budgets": SHOWN_BUDGETS}


def test_what_was_sent_and_is_not_shown_back_plans_nothing() -> None:
    """The board shows no kind and no window; they are what was last applied: nothing to do."""
    result = plan([posting("a")], _board(WANT, SHOWN), _known(WANT))
    assert result.empty and result.drift == ()


def test_a_kind_changed_in_the_source_is_an_update_of_that_field() -> None:
    """Only the kind of one qualification changed since it was applied: one update carrying
    the qualifications, no drift (the board could not have shown it)."""
    applied = {**WANT, "qualifications": [{**QUALS[0]}, {**QUALS[1], "kind": "REQUIRED"}]}
    result = plan([posting("a")], _board(WANT, SHOWN), _known(applied))
    assert _updates(result) == [{"qualifications"}] and result.drift == ()
    (change,) = result.changes
    assert change.diffs[0].after == QUALS


def test_a_window_not_known_to_have_been_sent_is_sent() -> None:
    """Nothing recorded for the field (a job taken over, an older record): it is sent once."""
    result = plan([posting("a")], _board(WANT, SHOWN), _known({"qualifications": QUALS}))
    assert _updates(result) == [{"budgets"}]


def test_a_board_that_does_show_kinds_is_still_judged_by_what_was_sent() -> None:
    """Should a board show a kind back after all, a different one there is not a hand edit to
    heal every cycle: what was applied decides."""
    shown = {**SHOWN, "qualifications": [{**q, "kind": "REQUIRED"} for q in SHOWN_QUALS]}
    result = plan([posting("a")], _board(WANT, shown), _known(WANT))
    assert result.empty


def test_a_hand_edit_of_what_the_board_shows_is_drift() -> None:
    """The source still says what was applied, the board shows another text: drift, healed
    by sending the whole field, kinds included."""
    edited = {**SHOWN, "qualifications": [{"text": "Go", "order": 0}, SHOWN_QUALS[1]]}
    result = plan([posting("a")], _board(WANT, edited), _known(WANT))
    assert [(d.field, d.disposition) for d in result.drift] == [("qualifications", "correct")]
    assert _updates(result) == [{"qualifications"}] and result.changes[0].heals == ("qualifications",)
    reported = plan([posting("a")], _board(WANT, edited), _known(WANT), Policy(self_heal=False))
    assert reported.changes == () and [d.disposition for d in reported.drift] == ["report"]


def test_a_kind_that_cannot_be_sent_to_a_frozen_job_is_frozen_drift() -> None:
    """The job has applications: a changed kind cannot be sent, so it is drift, not a retry."""
    applied = {**WANT, "qualifications": [{**QUALS[0]}, {**QUALS[1], "kind": "REQUIRED"}]}
    board = _board(WANT, SHOWN, frozen_fields=frozenset({"qualifications", "questions"}))
    result = plan([posting("a")], board, _known(applied))
    assert result.changes == ()
    assert [(d.field, d.disposition) for d in result.drift] == [("qualifications", "frozen")]


def test_a_job_with_the_same_shown_content_is_adopted_not_duplicated() -> None:
    """With no record, a live job whose shown content is the posting's is taken over (and its
    kinds and windows sent once), not created a second time."""
    board = Board("sorce", SORCE, specs={"a": {"title": "T", **WANT}},
                  remotes={"j9": Remote("j9", "active", {"title": "T", **SHOWN})})
    result = plan([posting("a")], board, Known())
    assert [c.action.value for c in result.changes] == ["adopt", "update"]


def test_what_was_applied_is_read_from_the_state_only_when_planning_asks_once_a_board(state_url: str) -> None:
    """A run reads the payloads last applied only for a board whose pairs planning asks
    about, with one query for all of them (renamed postings under their new keys): a steady
    cycle on a board that shows back all it takes reads none of its megabytes, and the run
    holds none once planning has them."""
    with open_store(state_url) as store:
        with store.write() as session:
            for key, provider in (("a", "sorce"), ("old-b", "sorce"), ("a", "hirempire")):
                session.add(Binding(posting_key=key, provider=provider, remote_id=f"j-{key}",
                                    applied_spec={"title": f"{key} on {provider}"}))
            session.add(Binding(posting_key="c", provider="sorce", remote_id="j-c"))
        asked: list[str] = []
        sa.event.listen(store.engine, "before_cursor_execute",
                        lambda *args: asked.append(args[2]) if "applied_spec" in args[2] else None)
        known = record.load_known(store, ["sorce", "hirempire"], NOW, frozenset(), renames={"old-b": "b"})
        assert asked == []
        assert known.bindings["a", "sorce"].applied() == {"title": "a on sorce"}
        assert known.bindings["b", "sorce"].applied() == {"title": "old-b on sorce"}
        assert known.bindings["c", "sorce"].applied() is None
        assert len(asked) == 1
        assert known.bindings["a", "hirempire"].applied() == {"title": "a on hirempire"}
        assert len(asked) == 2
        # Each is handed out once and let go; asked again, it is read again on its own.
        assert known.bindings["b", "sorce"].applied() == {"title": "old-b on sorce"}
        assert known.bindings["c", "sorce"].applied() is None
        assert len(asked) == 4
