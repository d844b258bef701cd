"""`reconcile()`, `plan()` and `collect_metrics()` called directly, against the sandbox.

The run's clock is a test clock here, so backoff and link expiry are checked by moving time,
never by waiting.
"""

from __future__ import annotations

import subprocess
import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from boardsync.reconcile import collect_metrics, engine, plan, reconcile
from boardsync.reconcile.apply import backoff
from boardsync.reconcile.journal import settle
from boardsync.reconcile.observe import observe
from boardsync.reconcile.record import WHOLE_POSTING
from boardsync.sandbox.core import Fault
from boardsync.state import AuditEntry, Binding, Intent, Run, SignedLink, VisitSample
from tests.reconcile_helpers import Workspace, writes

pytestmark = pytest.mark.slow


class RunClock:
    """The run's now, moved by hand."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> RunClock:
    return RunClock()


def _binding(store, key: str, provider: str) -> Binding:  # type: ignore[no-untyped-def]
    with store.session() as session:
        return session.exec(select(Binding).where(Binding.posting_key == key, Binding.provider == provider)).one()


# ------------------------------------------------------------------------------ backoff


@pytest.mark.both_engines
def test_failing_pair_backs_off_exponentially_and_the_rest_converge(ws: Workspace, clock: RunClock) -> None:
    """An update Sorce keeps answering 500 to: the run goes on with the other pairs, the pair
    is quarantined for 1 minute, skipped (no request) inside it, tried after it and then held
    for 2 minutes; once Sorce recovers it converges and its attempts reset."""
    with ws.opened() as (desired, store, connectors):
        assert reconcile(desired, store, connectors, clock=clock).converged
        job_id = ws.remote_id("backend-engineer", "sorce")
        ws.edit_posting("backend-engineer", "Senior Backend Engineer", "Staff Backend Engineer")
        ws.edit_posting("product-designer", "title: ", "title: Lead ")
        desired = ws.desired()
        ws.sandbox.sorce.faults.add(Fault("status", status=500, method="PATCH", path=f".*/{job_id}", times=None))

        first = reconcile(desired, store, connectors, clock=clock)
        # product-designer on both boards and backend-engineer on Hirempire; not on Sorce
        assert first.outcome == "partial" and first.counts["update"] == 3
        row = _binding(store, "backend-engineer", "sorce")
        assert row.attempts == 1 and row.quarantine_until == clock.now + backoff(1)
        assert ws.sorce_job("product-designer")["title"].startswith("Lead ")

        ws.clear_counts()
        clock.advance(seconds=30)
        held = reconcile(desired, store, connectors, clock=clock)
        assert writes(ws.counts()["sorce"]) == {}
        assert [b.gate for b in held.plan.blocked] == ["backoff"]  # type: ignore[union-attr]

        clock.advance(seconds=31)
        reconcile(desired, store, connectors, clock=clock)
        row = _binding(store, "backend-engineer", "sorce")
        assert row.attempts == 2 and row.quarantine_until == clock.now + timedelta(minutes=2)

        ws.sandbox.sorce.faults.clear()
        clock.advance(minutes=3)
        assert reconcile(desired, store, connectors, clock=clock).converged
        row = _binding(store, "backend-engineer", "sorce")
        assert (row.attempts, row.quarantine_until, row.last_error) == (0, None, None)
        assert ws.sorce_job("backend-engineer")["title"].startswith("Staff ")


def test_a_run_holds_only_the_payloads_of_the_pairs_it_changes_once_planned(
    ws: Workspace, clock: RunClock, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Once planned, a run keeps each board's rendered payload only for the pairs it is about
    to change, and the change is applied from the one it keeps."""
    given: list[dict[str, dict[str, object]]] = []
    applier = engine.Applier

    def spying(store, connectors, boards, *args, **kw):  # type: ignore[no-untyped-def]
        given.append({name: dict(board.specs) for name, board in boards.items()})
        return applier(store, connectors, boards, *args, **kw)

    monkeypatch.setattr(engine, "Applier", spying)
    with ws.opened() as (desired, store, connectors):
        assert reconcile(desired, store, connectors, clock=clock).converged
        ws.edit_posting("product-designer", "title: ", "title: Lead ")
        assert reconcile(ws.desired(), store, connectors, clock=clock).counts["update"] == 2
    assert len(given[0]["sorce"]) > 1  # a first sync creates every posting
    assert {name: set(specs) for name, specs in given[1].items()} == {
        "sorce": {"product-designer"}, "hirempire": {"product-designer"}, "recruitifi": set(),
    }
    assert ws.sorce_job("product-designer")["title"].startswith("Lead ")


def test_a_payload_is_rendered_when_it_is_asked_for_and_not_kept(
    ws: Workspace, clock: RunClock, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Reading a board renders no payload, and a payload rendered is not kept by the board:
    held for every posting from the read to the end of planning, they were 13 MiB of a run
    of 10,000 postings. Asked for again, a payload is rendered again, the same; a cycle that
    changes nothing renders each posting's once."""
    with ws.opened() as (desired, store, connectors):
        assert reconcile(desired, store, connectors, clock=clock).converged
        rendered: list[str] = []
        sorce = connectors["sorce"]
        render = sorce.render

        def counting(posting):  # type: ignore[no-untyped-def]
            rendered.append(posting.key)
            return render(posting)

        monkeypatch.setattr(sorce, "render", counting)
        board = observe(desired.postings, {"sorce": sorce})["sorce"]
        assert rendered == []
        first = board.payload("backend-engineer")
        assert board.payload("backend-engineer") == first and isinstance(first, dict)
        assert rendered == ["backend-engineer", "backend-engineer"]
        rendered.clear()
        assert reconcile(desired, store, connectors, clock=clock).converged
        on_sorce = sorted(p.key for p in desired.postings if p.boards.named("sorce"))
        assert sorted(rendered) == on_sorce  # a cycle that changes nothing renders each once


def test_backoff_doubles_up_to_a_cap() -> None:
    """1, 2, 4 … minutes, never more than six hours."""
    assert [backoff(n) for n in (1, 2, 3)] == [timedelta(minutes=1), timedelta(minutes=2), timedelta(minutes=4)]
    assert backoff(30) == timedelta(hours=6)


def test_board_refusing_the_input_blocks_the_pair_with_its_fields(ws: Workspace, clock: RunClock) -> None:
    """A 422 from Sorce on one create marks that pair blocked ("rejected") and backing off;
    every other pair still converges."""
    ws.sandbox.sorce.faults.add(Fault("status", status=422, method="POST", path=r".*/jobs", times=1))
    with ws.opened() as (desired, store, connectors):
        result = reconcile(desired, store, connectors, clock=clock)
        assert result.outcome == "partial"
        blocked = [r for r in store.status_rows() if r.blocked_reason]
        assert [(r.provider, r.blocked_gate, r.attempts) for r in blocked] == [("sorce", "rejected", 1)]
        assert len(ws.sorce_jobs()) == 5
        with store.session() as session:
            failed = session.exec(select(Intent).where(Intent.state == "failed")).all()
        assert len(failed) == 1  # refused: certainly not created, nothing to look up


# ------------------------------------------------------------------------------ the journal


@pytest.mark.both_engines
def test_create_answered_500_is_looked_up_not_resent(ws: Workspace, clock: RunClock) -> None:
    """A 500 to a create may hide a committed job: the intent is unknown, and the next run
    looks it up (here: not there) before creating it again. One job in the end."""
    with ws.opened() as (desired, store, connectors):
        ws.sandbox.sorce.faults.add(Fault("status", status=500, method="POST", path=r".*/jobs", times=1))
        reconcile(desired, store, connectors, clock=clock)
        assert store.metrics().intents_by_state["unknown"] == 1
        clock.advance(minutes=2)
        assert reconcile(desired, store, connectors, clock=clock).converged
        with store.session() as session:
            states = [i.state for i in session.exec(select(Intent).order_by(Intent.id)).all()]  # type: ignore[arg-type]
        assert states.count("unknown") == 0 and states.count("failed") == 1
        assert len(ws.sorce_jobs()) == 6


def test_a_source_failing_after_its_create_fails_alone_and_the_job_stays_bound(
    ws: Workspace, clock: RunClock
) -> None:
    """When add-job answers without the posting's sources and create-source then fails, the
    create is done and its job bound; the failure is the source's, and the pair backs off."""
    ws.sandbox.hirempire.faults.add(Fault("rewrite", method="POST", path=r".*/add-job", rewrite={"applications": []}))
    ws.sandbox.hirempire.faults.add(Fault("status", status=500, method="POST", path=r".*/create-source", times=None))
    with ws.opened() as (desired, store, connectors):
        result = reconcile(desired, store, connectors, clock=clock)
        (failed,) = result.errors
        row = _binding(store, failed.posting or "", "hirempire")
    assert (failed.provider, failed.action) == ("hirempire", "ensure_source")
    assert result.counts["create"] == 12 and result.counts["failed"] == 1
    assert row.remote_id is not None and row.attempts == 1 and row.quarantine_until == clock.now + backoff(1)


def test_lost_create_on_hirempire_is_settled_from_what_observe_read(ws: Workspace, clock: RunClock) -> None:
    """Hirempire names the posting in its slug: after a lost add-job, the next run adopts
    the job from its one GET /jobs, without a second lookup request."""
    ws.sandbox.hirempire.faults.add(Fault("lost_response", method="POST", path=r".*/add-job", times=1))
    with ws.opened() as (desired, store, connectors):
        assert not reconcile(desired, store, connectors, clock=clock).converged
        ws.clear_counts()
        assert reconcile(desired, store, connectors, clock=clock).converged
    assert ws.counts()["hirempire"] == {"GET /v1/jobs": 1}
    assert len(ws.hirempire_jobs()) == 6


def test_a_lost_create_found_on_the_board_clears_the_error_it_left(ws: Workspace, clock: RunClock) -> None:
    """The lost answer is the pair's last error until the next run finds the job: then the
    pair is bound to it, as created from what was sent, with no error left."""
    ws.sandbox.hirempire.faults.add(Fault("lost_response", method="POST", path=r".*/add-job", times=1))
    with ws.opened() as (desired, store, connectors):
        (lost,) = reconcile(desired, store, connectors, clock=clock).errors
        assert _binding(store, lost.posting or "", "hirempire").last_error is not None
        reconcile(desired, store, connectors, clock=clock)
        found = _binding(store, lost.posting or "", "hirempire")
        with store.session() as session:
            (intent,) = session.exec(select(Intent).where(
                Intent.posting_key == lost.posting, Intent.provider == "hirempire")).all()
    assert found.last_error is None and found.remote_id == intent.remote_id is not None
    assert found.applied_spec == intent.spec


def test_unsettled_create_blocks_the_pair_while_the_board_cannot_be_read(ws: Workspace, clock: RunClock) -> None:
    """When a lost create cannot be looked up (Sorce failing to list its jobs), nothing is
    created for that pair: it stays unsettled until the board is read again."""
    with ws.opened() as (desired, store, connectors):
        posting = desired.posting("warehouse-associate")
        spec = observe([posting], {"sorce": connectors["sorce"]})["sorce"].specs[posting.key]
        with store.write() as session:
            session.add(Intent(run_id=None, posting_key=posting.key, provider="sorce", action="create",
                               state="in_flight", spec=dict(spec)))
        ws.sandbox.sorce.faults.add(Fault("status", status=500, method="GET", times=None))
        failing = observe([posting], {"sorce": connectors["sorce"]})
        assert failing["sorce"].error is not None
        assert settle(store, failing, run_id=999, now=clock.now).unsettled == {(posting.key, "sorce")}
        assert store.metrics().intents_by_state["in_flight"] == 1
        ws.sandbox.sorce.faults.clear()
        readable = observe([posting], {"sorce": connectors["sorce"]})
        assert settle(store, readable, run_id=999, now=clock.now).unsettled == set()
        assert store.metrics().intents_by_state["failed"] == 1  # looked up: never created
        result = reconcile(desired, store, connectors, clock=clock, postings=[posting.key], providers=["sorce"])
        assert [c.action.value for c in result.plan.changes] == ["create"]  # type: ignore[union-attr]


@pytest.mark.both_engines
def test_pending_intent_of_a_dead_run_is_failed_as_never_sent(ws: Workspace, clock: RunClock) -> None:
    """An intent still pending was never sent: settling marks it failed without any lookup."""
    with ws.opened() as (desired, store, connectors):
        with store.write() as session:
            session.add(Intent(run_id=None, posting_key="backend-engineer", provider="sorce", action="create",
                               state="pending", spec={}))
        ws.clear_counts()
        reconcile(desired, store, connectors, clock=clock)
        with store.session() as session:
            first = session.exec(select(Intent).order_by(Intent.id)).first()  # type: ignore[arg-type]
        assert first is not None and (first.state, first.error) == ("failed", "never sent")
        assert len(ws.sorce_jobs()) == 6


# ------------------------------------------------------------------------------ runs


def test_stop_event_skips_what_is_left_and_reports_partial(ws: Workspace, clock: RunClock) -> None:
    """A stop requested before applying leaves every change for the next run."""
    stop = threading.Event()
    stop.set()
    with ws.opened() as (desired, store, connectors):
        result = reconcile(desired, store, connectors, clock=clock, providers=["hirempire"], stop=stop)
    assert result.outcome in ("partial", "failed") and ws.hirempire_jobs() == []


def test_run_row_records_trigger_digest_commit_and_counts(ws: Workspace, clock: RunClock) -> None:
    """The run row keeps what started it, the config digest, the git commit of the config
    folder (when it is a repository) and the counts; every call is in the audit log."""
    subprocess.run(["git", "init", "-q", str(ws.root)], check=True)
    subprocess.run(["git", "-C", str(ws.root), "add", "."], check=True)
    subprocess.run(["git", "-C", str(ws.root), "-c", "user.name=ci", "-c", "user.email=ci@example.invalid",
                    "commit", "-qm", "postings"], check=True)
    head = subprocess.run(["git", "-C", str(ws.root), "rev-parse", "HEAD"], capture_output=True, text=True,
                          check=True).stdout.strip()
    with ws.opened() as (desired, store, connectors):
        result = reconcile(desired, store, connectors, trigger="daemon", clock=clock)
        with store.session() as session:
            run = session.get(Run, result.run_id)
            calls = session.exec(select(AuditEntry).where(AuditEntry.run_id == result.run_id)).all()
    assert run is not None
    assert (run.trigger, run.kind, run.outcome, run.config_digest, run.config_commit) == (
        "daemon", "reconcile", "converged", desired.digest, head)
    assert run.counts is not None and run.counts["create"] == 12
    # 12 creates, 2 pauses and 1 link: the other two postings are linked by it, with no call.
    assert len(calls) == 15 and all(c.ok and c.http_status in (200, 201) for c in calls)
    assert result.summary().startswith(f"reconcile run {result.run_id} converged in ")


def test_run_outside_git_records_no_commit(ws: Workspace, clock: RunClock) -> None:
    """A config folder that is not in git leaves the commit empty."""
    with ws.opened() as (desired, store, connectors):
        result = reconcile(desired, store, connectors, clock=clock)
        with store.session() as session:
            run = session.get(Run, result.run_id)
    assert run is not None and run.config_commit is None and result.outcome == "converged"


def test_plan_writes_nothing_to_the_boards(ws: Workspace, clock: RunClock) -> None:
    """`plan()` reads each board and returns the changes; no write request is sent."""
    with ws.opened() as (desired, store, connectors):
        planned = plan(desired, store, connectors, clock=clock).plan
    assert planned is not None and planned.counts["create"] == 12
    assert all(writes(c) == {} for c in ws.counts().values())


# ------------------------------------------------------------------------------ visits


def test_visits_are_recorded_from_observe_only_when_they_change(ws: Workspace, clock: RunClock) -> None:
    """Source visits read by reconcile's one GET /jobs become samples, written only when a
    counter moved; no extra request is made for them."""
    with ws.opened() as (desired, store, connectors):
        reconcile(desired, store, connectors, clock=clock)
        job = next(j for j in ws.hirempire_jobs() if j["public_slug"] == "bs-backend-engineer")
        linkedin = next(s for s in job["sources"]["items"] if s["source_name"] == "linkedin")
        ws.sandbox.hirempire.add_visits(linkedin["id"], 5)
        ws.clear_counts()
        clock.advance(hours=1)
        reconcile(desired, store, connectors, clock=clock)
        assert ws.counts()["hirempire"] == {"GET /v1/jobs": 1}
        clock.advance(hours=1)
        reconcile(desired, store, connectors, clock=clock)
        with store.session() as session:
            samples = session.exec(select(VisitSample).where(
                VisitSample.posting_key == "backend-engineer", VisitSample.channel == "linkedin")).all()
        assert [s.visits for s in samples] == [5]
        rows = {(r.posting, r.channel): r for r in store.visit_rows(since=clock.now - timedelta(minutes=90))}
    assert (rows[("backend-engineer", "linkedin")].visits, rows[("backend-engineer", "linkedin")].visits_change) == (5, 5)


def test_collect_metrics_records_applicants_per_channel(ws: Workspace, clock: RunClock) -> None:
    """A metrics run reads Hirempire's jobs and candidates (two requests) and records
    applicants per source, plus each posting's total."""
    with ws.opened() as (desired, store, connectors):
        reconcile(desired, store, connectors, clock=clock)
        job_id = ws.remote_id("backend-engineer", "hirempire")
        ws.sandbox.hirempire.add_candidate(job_id, "linkedin")
        ws.sandbox.hirempire.add_candidate(job_id, "linkedin")
        ws.sandbox.hirempire.add_candidate(job_id, "indeed")
        ws.clear_counts()
        clock.advance(hours=1)
        result = collect_metrics(desired, store, connectors, clock=clock)
        assert result.converged and result.kind == "metrics"
        assert result.summary().endswith(f": {result.counts['samples']} counters recorded")
        assert result.counts["samples"] >= 3
        assert ws.counts()["hirempire"] == {"GET /v1/jobs": 1, "GET /v1/candidates": 1}
        assert writes(ws.counts()["sorce"]) == {} and ws.counts()["recruitifi"] == {}
        rows = {(r.posting, r.provider, r.channel): r for r in store.visit_rows(since=clock.now)}
    assert rows[("backend-engineer", "hirempire", "linkedin")].applicants == 2
    assert rows[("backend-engineer", "hirempire", "indeed")].applicants == 1
    assert rows[("backend-engineer", "hirempire", WHOLE_POSTING)].applicants == 3


# ------------------------------------------------------------------------------ links


def test_a_first_sync_fetches_one_link_for_every_posting_and_later_runs_none(ws: Workspace, clock: RunClock) -> None:
    """The first run fetches one link, which stands for every linked posting's (RecruitiFi
    hands one out for any job id `check` lets through); later runs fetch none, whether the
    link is valid, inside its margin or expired (a link is fetched when asked for); an
    expired one is never kept, and every pair still shows as linked."""
    with ws.opened() as (desired, store, connectors):
        result = reconcile(desired, store, connectors, clock=clock)
        assert ws.counts()["recruitifi"].get("GET /v1/links/job") == 1
        assert result.counts["refresh_link"] == 3 and result.converged
        assert [r.state for r in store.status_rows() if r.provider == "recruitifi"] == ["linked"] * 3
        for minutes in (5, 8, 5):  # valid, inside the margin, expired
            ws.clear_counts()
            clock.advance(minutes=minutes)
            assert reconcile(desired, store, connectors, clock=clock).converged
            assert "GET /v1/links/job" not in ws.counts()["recruitifi"]
        with store.session() as session:
            assert session.exec(select(SignedLink)).all() == []
        assert {r.state for r in store.status_rows() if r.provider == "recruitifi"} == {"linked"}


def test_a_link_refused_for_one_posting_is_tried_for_the_next_and_that_one_stands_for_the_rest(
    ws: Workspace, clock: RunClock
) -> None:
    """Only a link the board handed out stands for the other postings: the pair whose fetch
    failed backs off, the next posting's link is fetched, and the one after it is linked
    without a call."""
    ws.sandbox.recruitifi.faults.add(Fault("status", status=422, method="GET", path="/v1/links/job"))
    with ws.opened() as (desired, store, connectors):
        reconcile(desired, store, connectors, clock=clock)
        counts = ws.counts()["recruitifi"]
        assert counts.get("GET /v1/links/job") == 2  # the first posting's, refused; the second's
        states = {r.posting: r.state for r in store.status_rows() if r.provider == "recruitifi"}
        failed = [key for key, state in states.items() if state != "linked"]
        assert len(failed) == 1 and len(states) == 3, states
        assert _binding(store, failed[0], "recruitifi").attempts == 1


def test_a_link_the_board_refuses_when_asked_for_unlinks_the_pair_until_a_run_gets_one(
    ws: Workspace, clock: RunClock
) -> None:
    """A linked pair is left to the asks; when the board refuses an ask (here: the job id),
    the pair is no longer shown linked but blocked, the next run asks for its link on its own
    (never stood for by another posting's) and is not converged while the board refuses it,
    and a run after the board takes it again links it."""
    from boardsync.reconcile import fresh_links

    with ws.opened() as (desired, store, connectors):
        assert reconcile(desired, store, connectors, clock=clock).converged
        key = desired.postings[0].key
        clock.advance(minutes=13)  # the stored link inside its margin: an ask fetches a new one
        refused = Fault("status", status=422, method="GET", path="/v1/links/job", times=None)
        ws.sandbox.recruitifi.faults.add(refused)
        (result,) = fresh_links(desired, store, connectors, keys=[key], clock=clock)
        assert result.url is None and result.error
        rows = {r.posting: r for r in store.status_rows() if r.provider == "recruitifi"}
        assert (rows[key].state, rows[key].health) == ("not synced", "blocked"), rows[key]
        assert rows[key].blocked_reason == "Injected fault." and rows[key].blocked_gate == "rejected"
        assert [r.health for k, r in rows.items() if k != key] == ["live", "live"]
        ws.clear_counts()
        again = reconcile(desired, store, connectors, clock=clock)
        assert not again.converged
        assert ws.counts()["recruitifi"].get("GET /v1/links/job") == 1
        ws.sandbox.recruitifi.faults.clear()
        clock.advance(hours=1)  # past the pair's backoff
        assert reconcile(desired, store, connectors, clock=clock).converged
        assert {r.state for r in store.status_rows() if r.provider == "recruitifi"} == {"linked"}


# ------------------------------------------------------------------------------ writes


class _Died(BaseException):
    """The process dying: nothing after it is written."""


def test_a_first_sync_commits_a_few_times_per_board_not_per_create(ws: Workspace, clock: RunClock) -> None:
    """A board's creates are marked in flight together, in one commit before the first of them
    is sent, and what they made is written together after: a first sync commits a few times
    per board, not once or twice per create."""
    with ws.opened() as (desired, store, connectors):
        commits = 0
        write = store.write

        def counted():  # type: ignore[no-untyped-def]
            nonlocal commits
            commits += 1
            return write()

        keeps = 0
        keep = store.keep_request_log

        def counted_keep(*args, **kwargs):  # type: ignore[no-untyped-def]
            nonlocal keeps
            keeps += 1
            return keep(*args, **kwargs)

        store.write = counted  # type: ignore[method-assign]
        store.keep_request_log = counted_keep  # type: ignore[method-assign]
        result = reconcile(desired, store, connectors, clock=clock)
    creates = result.counts["create"]
    assert result.converged and creates == 12
    # Per board that creates (two): its batch marked in flight; per board (three): what it
    # held last. One per other change (the pauses; the links ride along), and per run: its
    # row, the journal, the observation, the unsent creates, the views, its end. The boards'
    # request logs, kept for the next process's rate limits, are commits of their own and
    # not counted here.
    assert commits - keeps <= 2 + 3 + result.counts["pause"] + 6, (commits, keeps)


def _die_after_sorces_first_create(  # type: ignore[no-untyped-def]
    store, connectors, desired, clock: RunClock, *, send_more: bool
) -> None:
    """Run until Sorce answers its first create, then die: nothing more is written (the
    create's record was held for a later commit). With `send_more`, the process lives on
    until it would next write, sending the rest of Sorce's creates."""
    answered = threading.Event()
    create, write = connectors["sorce"].create, store.write

    def answering(*args, **kwargs):  # type: ignore[no-untyped-def]
        job = create(*args, **kwargs)
        answered.set()
        if not send_more:
            raise _Died()
        return job

    def dying():  # type: ignore[no-untyped-def]
        if answered.is_set():
            raise _Died()
        return write()

    connectors["sorce"].create = answering  # type: ignore[method-assign]
    store.write = dying  # type: ignore[method-assign]
    try:
        with pytest.raises(_Died):
            reconcile(desired, store, connectors, clock=clock)
    finally:
        store.write = write  # type: ignore[method-assign]
        connectors["sorce"].create = create  # type: ignore[method-assign]


def _sorce_intents(store) -> list[Intent]:  # type: ignore[no-untyped-def]
    with store.session() as session:
        return list(session.exec(select(Intent).where(Intent.provider == "sorce").order_by(Intent.id)).all())


def _sorce_adoptions(store) -> list[AuditEntry]:  # type: ignore[no-untyped-def]
    with store.session() as session:
        return list(session.exec(select(AuditEntry).where(AuditEntry.action == "adopt",
                                                          AuditEntry.provider == "sorce")).all())


@pytest.mark.both_engines
def test_a_process_dying_after_a_creates_answer_leaves_it_to_be_adopted_not_created_twice(
    ws: Workspace, clock: RunClock
) -> None:
    """The process dies as Sorce answers its first create: every Sorce create is in flight
    (their batch was marked before the first was sent), one of them made. The next run finds
    that job on the board and adopts it, finds none for the others and creates each once."""
    with ws.opened() as (desired, store, connectors):
        _die_after_sorces_first_create(store, connectors, desired, clock, send_more=False)
        (job,) = ws.sorce_jobs()
        assert [i.state for i in _sorce_intents(store)] == ["in_flight"] * 6
        with store.session() as session:
            assert session.exec(select(Binding).where(Binding.provider == "sorce")).all() == []
        clock.advance(minutes=1)
        assert reconcile(desired, store, connectors, clock=clock).converged
        first_run = [i for i in _sorce_intents(store) if i.run_id == 1]
        adopted = _sorce_adoptions(store)
    (lost,) = [i for i in first_run if i.state == "succeeded"]
    assert lost.error == "adopted after a lost answer" and lost.remote_id == job["id"]
    not_created = {i.error for i in first_run if i is not lost}
    assert not_created == {"not found on the board: the create did not happen"}
    assert [(a.posting_key, "lost" in (a.message or "")) for a in adopted] == [(lost.posting_key, True)]
    titles = [j["title"] for j in ws.sorce_jobs()]
    assert len(titles) == len(set(titles)) == 6
    assert _binding(store, lost.posting_key, "sorce").remote_id == job["id"]


@pytest.mark.both_engines
def test_a_process_dying_before_its_held_records_are_written_has_every_create_adopted(
    ws: Workspace, clock: RunClock
) -> None:
    """Sorce answers its creates until the process next writes (the pause that follows a
    create is committed at once), and it dies there, before writing what they made: every
    intent is still in flight. The next run adopts each job it finds and creates the rest
    once; no posting gets two jobs."""
    with ws.opened() as (desired, store, connectors):
        _die_after_sorces_first_create(store, connectors, desired, clock, send_more=True)
        jobs = {j["id"] for j in ws.sorce_jobs()}
        assert len(jobs) > 1
        assert [i.state for i in _sorce_intents(store)] == ["in_flight"] * 6
        clock.advance(minutes=1)
        assert reconcile(desired, store, connectors, clock=clock).converged
        first_run = [i for i in _sorce_intents(store) if i.run_id == 1]
        adopted = _sorce_adoptions(store)
    assert {i.remote_id for i in first_run if i.state == "succeeded"} == jobs
    assert {(i.state, i.error) for i in first_run if i.remote_id is None} <= {
        ("failed", "not found on the board: the create did not happen")}
    assert len(adopted) == len(jobs)
    titles = [j["title"] for j in ws.sorce_jobs()]
    assert len(titles) == len(set(titles)) == 6 and jobs <= {j["id"] for j in ws.sorce_jobs()}


def test_a_steady_run_rewrites_no_binding_and_status_still_tells_the_last_sync(ws: Workspace, clock: RunClock) -> None:
    """A run that finds every pair as it was writes no binding row; the board's compared_at
    moves, and `status` shows it as the last sync of every pair still in sync. A pair found
    out of sync keeps the last time it was in sync."""
    with ws.opened() as (desired, store, connectors):
        reconcile(desired, store, connectors, clock=clock)
        clock.advance(minutes=5)
        assert reconcile(desired, store, connectors, clock=clock).converged
        before = _bindings(store)
        steady = clock.advance(minutes=5) or clock.now
        assert reconcile(desired, store, connectors, clock=clock).converged
        assert _bindings(store) == before
        rows = store.status_rows()
        assert rows and {r.last_sync for r in rows if r.remote_id or r.state == "linked"} == {steady}

        ws.sandbox.sorce.faults.add(Fault("status", status=500, method="PATCH", times=None))
        ws.edit_posting("backend-engineer", "title: Senior Backend Engineer (Python)", "title: Staff Backend Engineer")
    with ws.opened() as (desired, store, connectors):
        clock.advance(minutes=5)
        assert not reconcile(desired, store, connectors, clock=clock).converged
        by_pair = {(r.posting, r.provider): r for r in store.status_rows()}
    assert by_pair["backend-engineer", "sorce"].last_sync == steady
    assert by_pair["backend-engineer", "hirempire"].last_sync == clock.now


def _bindings(store) -> dict[tuple[str, str], dict[str, object]]:  # type: ignore[no-untyped-def]
    with store.session() as session:
        return {(b.posting_key, b.provider): b.model_dump() for b in session.exec(select(Binding)).all()}


def test_a_run_narrowed_to_a_posting_moves_only_that_postings_last_sync(ws: Workspace, clock: RunClock) -> None:
    """`--posting` compares one posting: its pairs' last sync is that run's time; every other
    pair keeps the last full comparison's."""
    with ws.opened() as (desired, store, connectors):
        reconcile(desired, store, connectors, clock=clock)
        full = clock.advance(minutes=5) or clock.now
        assert reconcile(desired, store, connectors, clock=clock).converged
        clock.advance(minutes=5)
        assert reconcile(desired, store, connectors, clock=clock, postings=["backend-engineer"]).converged
        synced = {(r.posting, r.provider): r.last_sync for r in store.status_rows() if r.last_sync}
    assert {when for (key, _), when in synced.items() if key == "backend-engineer"} == {clock.now}
    assert {when for (key, _), when in synced.items() if key != "backend-engineer"} == {full}
