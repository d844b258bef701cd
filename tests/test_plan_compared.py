"""A pair found in step is not rendered and compared again by a later run that would compare
exactly the same things (`reconcile.compared`): what the posting says, what the board shows of
the job, the root file and policy, what the connector learned, what was last applied. Each of
these, changed, has the pair compared again, and a job that died on the board is found dead."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from sqlmodel import select

from boardsync.config.model import Policy, Status
from boardsync.connectors.base import BoardProblem, Channel, Remote
from boardsync.reconcile import compared, reconcile
from boardsync.reconcile.compared import Compared
from boardsync.reconcile.model import Board, Known, PairState
from boardsync.state import Binding
from tests.reconcile_helpers import Workspace
from tests.test_reconcile_engine import RunClock, clock  # noqa: F401 (the fixture)
from tests.test_plan_planner import SORCE, plan, posting

POSTING = posting("a")
DIGESTS = {"a": "posting-digest-1"}
REMOTE = Remote("j1", "active", {"title": "T"})
BOUND = Known(bindings={("a", "sorce"): PairState(remote_id="j1", applied_status="active")})


def _digest(
    p: Any = POSTING, remote: Remote = REMOTE, known: Known = BOUND, digests: dict[str, str] = DIGESTS,
    root: str = "root-1", policy: Policy = Policy(), **board: Any,
) -> str | None:
    on = Compared(digests, root).on(Board("sorce", SORCE, remotes={remote.remote_id: remote}, **board), policy)
    assert on is not None
    return on.digest(p, known)


def test_the_digest_changes_with_each_thing_a_comparison_reads() -> None:
    """The posting, its status as planned, the job's spec, status, id and channels, the root,
    the policy, what the connector learned, the version: each one changed, another digest."""
    first = _digest()
    assert first is not None and first == _digest()
    others = [
        _digest(digests={"a": "posting-digest-2"}),
        _digest(p=POSTING.model_copy(update={"status": Status.PAUSED})),
        _digest(remote=Remote("j1", "active", {"title": "T2"})),
        _digest(remote=Remote("j1", "paused", {"title": "T"})),
        _digest(remote=Remote("j1", "active", {"title": "T"}, channels={"x": Channel("x", "s1", "u")})),
        _digest(known=Known(bindings={("a", "sorce"): PairState(remote_id="j2")}),
                remote=Remote("j2", "active", {"title": "T"})),
        _digest(root="root-2"),
        _digest(policy=Policy(self_heal=False)),
    ]
    assert first not in others and len(set(others)) == len(others)
    SORCE.recall({"locations": [["Springfield", None, "US", "loc-1"]]})
    try:
        assert _digest() != first  # what rendering reads from the board, learned since
    finally:
        SORCE._locations.clear()
    assert _digest() == first


def test_no_digest_is_taken_where_a_pair_is_not_a_posting_and_its_listed_job(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _digest(known=Known()) is None  # not bound
    assert _digest(known=Known(bindings={("a", "sorce"): PairState(remote_id=None)})) is None
    assert _digest(known=replace(BOUND, unsettled=frozenset({("a", "sorce")}))) is None
    assert _digest(remote=Remote("j9", "active", {"title": "T"})) is None  # its job missing from the list
    assert _digest(problems={"a": (BoardProblem("title", "too long"),)}) is None  # the board refuses it
    assert _digest(digests={}) is None  # a posting with no digest
    assert Compared(DIGESTS, "").on(Board("sorce", SORCE), Policy()) is None  # a root with no digest
    first = _digest()
    monkeypatch.setattr(compared, "__version__", "0.0.0-other")
    assert _digest() != first  # another boardsync compares otherwise


def test_a_pair_whose_digest_is_kept_is_in_step_without_its_payload_being_read() -> None:
    """The kept digest stands for the comparison: not even a payload the board would now be
    told to change is read. Without it, or with another, the pair is compared."""
    on_board = Board("sorce", SORCE, specs={"a": {"title": "Wanted"}}, remotes={"j1": REMOTE})
    digest = Compared(DIGESTS, "root-1").on(on_board, Policy())
    assert digest is not None
    kept = digest.digest(POSTING, BOUND)
    known = Known(bindings={("a", "sorce"): PairState(remote_id="j1", applied_status="active", compared=kept)})
    result = plan([POSTING], on_board, known, compared=Compared(DIGESTS, "root-1"))
    assert result.empty and result.evaluated == {("a", "sorce")} and result.compared == {}
    for other in (BOUND, Known(bindings={("a", "sorce"): PairState(remote_id="j1", compared="another")})):
        found = plan([POSTING], on_board, other, compared=Compared(DIGESTS, "root-1"))
        assert [c.action.value for c in found.changes] == ["update"] and found.compared == {}


def test_a_pair_compared_and_found_in_step_is_noted_with_its_digest() -> None:
    in_step = Board("sorce", SORCE, specs={"a": {"title": "T"}}, remotes={"j1": REMOTE})
    result = plan([POSTING], in_step, BOUND, compared=Compared(DIGESTS, "root-1"))
    assert result.empty and result.compared == {("a", "sorce"): _digest()}
    unbound = plan([POSTING], in_step, Known(), compared=Compared(DIGESTS, "root-1"))
    assert unbound.compared == {}


def test_a_pair_with_something_to_report_is_not_noted() -> None:
    """Drift only reported, or an ignored field that differs: not in step, compared every run."""
    edited = Remote("j1", "active", {"title": "Edited"})
    on_board = Board("sorce", SORCE, specs={"a": {"title": "T"}}, remotes={"j1": edited})
    applied = Known(bindings={("a", "sorce"): PairState(remote_id="j1", applied_status="active",
                                                        applied_spec={"title": "T"})})
    reported = plan([POSTING], on_board, applied, Policy(self_heal=False), compared=Compared(DIGESTS, "root-1"))
    assert reported.drift and not reported.changes and reported.compared == {}
    ignoring = posting("a", ignore=["title"])
    left = plan([ignoring], on_board, applied, compared=Compared(DIGESTS, "root-1"))
    assert [i.field for i in left.ignored] == ["title"] and not left.changes and left.compared == {}


# ------------------------------------------------------------------------------ against the sandbox


def _counting_renders(monkeypatch: pytest.MonkeyPatch, connectors: dict[str, Any]) -> list[tuple[str, str]]:
    """Each payload rendered from now on, as its pair: (posting, board)."""
    rendered: list[tuple[str, str]] = []
    for name in ("sorce", "hirempire"):
        connector = connectors[name]

        def counting(p: Any, _name: str = name, _render: Any = connector.render) -> Any:
            rendered.append((p.key, _name))
            return _render(p)

        monkeypatch.setattr(connector, "render", counting)
    return rendered


def _kept(store: Any) -> dict[tuple[str, str], str | None]:
    with store.session() as session:
        return {(b.posting_key, b.provider): b.compared_hash for b in session.exec(select(Binding)).all()
                if b.remote_id is not None}


@pytest.mark.slow
@pytest.mark.both_engines
def test_a_steady_run_renders_nothing_and_an_edit_is_compared_again(
    ws: Workspace, clock: RunClock, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The first run after a first sync compares every pair and keeps what it compared; the
    next renders no payload at all and is converged. An edited posting is rendered, updated,
    compared once more after the update, and left alone again."""
    with ws.opened() as (desired, store, connectors):
        assert reconcile(desired, store, connectors, clock=clock).converged
        assert set(_kept(store).values()) == {None}  # the creates left nothing to stand for a comparison
        rendered = _counting_renders(monkeypatch, connectors)
        assert reconcile(desired, store, connectors, clock=clock).converged
        assert rendered and None not in _kept(store).values()
        rendered.clear()
        assert reconcile(desired, store, connectors, clock=clock).converged
        assert rendered and not set(rendered) & set(_kept(store))  # a closed posting with no job is still rendered

        ws.edit_posting("product-designer", "title: ", "title: Lead ")
        result = reconcile(ws.desired(), store, connectors, clock=clock)
        assert result.counts["update"] == 2
        assert set(rendered) & set(_kept(store)) == {("product-designer", "hirempire"), ("product-designer", "sorce")}
        assert {pair: kept for pair, kept in _kept(store).items() if pair[0] == "product-designer"} == {
            ("product-designer", "sorce"): None, ("product-designer", "hirempire"): None,
        }
        rendered.clear()
        assert reconcile(ws.desired(), store, connectors, clock=clock).converged
        assert set(rendered) & set(_kept(store)) == {("product-designer", "hirempire"), ("product-designer", "sorce")}
        rendered.clear()
        assert reconcile(ws.desired(), store, connectors, clock=clock).converged
        assert not set(rendered) & set(_kept(store))


@pytest.mark.slow
def test_a_job_changed_on_the_board_after_its_pair_was_kept_in_step_is_found(
    ws: Workspace, clock: RunClock) -> None:
    """What the board shows is part of what is compared: a hand edit is healed, a job closed
    on the board is not taken as in step (the run is not converged)."""
    with ws.opened() as (desired, store, connectors):
        for _ in range(3):
            assert reconcile(desired, store, connectors, clock=clock).converged
        ws.sandbox.hirempire.edit_job(ws.remote_id("backend-engineer", "hirempire"), job_title="Edited by hand")
        healed = reconcile(desired, store, connectors, clock=clock)
        assert healed.counts["update"] == 1 and healed.converged
        assert next(j for j in ws.hirempire_jobs() if j["id"] == ws.remote_id("backend-engineer", "hirempire"))[
            "job_title"] != "Edited by hand"

        ws.sandbox.sorce.edit_job(ws.remote_id("data-analyst", "sorce"), status="CLOSED")
        found = reconcile(desired, store, connectors, clock=clock)
        assert not found.converged
        assert ("data-analyst", "sorce") in {(d.posting, d.provider) for d in found.plan.drift}


@pytest.mark.slow
def test_a_kind_changed_then_changed_back_is_sent_both_times(ws: Workspace, clock: RunClock) -> None:
    """Sorce does not show a qualification's kind back, so the job it shows is the same before
    and after the kind is sent: what was applied decides, and applying anything to a pair
    drops what was kept of its comparison. Changed back, the kind is sent again."""
    with ws.opened() as (desired, store, connectors):
        for _ in range(3):
            assert reconcile(desired, store, connectors, clock=clock).converged
    ws.edit_posting("backend-engineer", "    kind: preferred", "    kind: required")
    with ws.opened() as (desired, store, connectors):
        assert reconcile(desired, store, connectors, clock=clock).counts["update"] == 1
    # Back at once: the posting and the job it shows are again what the kept digest was taken of.
    ws.edit_posting("backend-engineer", "    kind: required", "    kind: preferred")
    with ws.opened() as (desired, store, connectors):
        back = reconcile(desired, store, connectors, clock=clock)
        assert back.counts["update"] == 1
        assert [{d.field for d in c.diffs} for c in back.plan.changes if c.provider == "sorce"] == [{"qualifications"}]
        assert reconcile(desired, store, connectors, clock=clock).converged


@pytest.mark.slow
def test_a_change_to_the_root_file_has_every_pair_compared_again(
    ws: Workspace, clock: RunClock, monkeypatch: pytest.MonkeyPatch,
) -> None:
    with ws.opened() as (desired, store, connectors):
        for _ in range(2):
            assert reconcile(desired, store, connectors, clock=clock).converged
    ws.write_config(max_close_percent=50)
    with ws.opened() as (desired, store, connectors):
        rendered = _counting_renders(monkeypatch, connectors)
        assert reconcile(desired, store, connectors, clock=clock).converged
        assert set(rendered) >= set(_kept(store))
