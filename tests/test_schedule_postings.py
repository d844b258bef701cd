"""Time in the postings: `publish_at` and `close_at` on a moved clock (the sandbox's, frozen,
handed to every run), the daemon's runs booked at those moments, and the plan's Upcoming
section. Nothing waits for real time to pass."""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import jsonschema
import pytest
from ruamel.yaml import YAML

from boardsync.daemon.scheduler import Scheduler
from boardsync.daemon.service import Daemon
from boardsync.daemon.timed import PREFIX, TimedRuns
from boardsync.reconcile import plan, reconcile, render
from boardsync.reconcile.render import load_schema
from boardsync.reconcile.verdict import in_sync
from boardsync.state import Run
from tests.reconcile_helpers import Workspace

BERLIN = timezone(timedelta(hours=2))
"""publish_at and close_at are written with an offset other than UTC, as a team would."""


@pytest.fixture
def now(ws: Workspace) -> datetime:
    """The boards' clock, stopped: it moves only when a test moves it."""
    return ws.sandbox.clock.freeze().replace(microsecond=0)


def _launch(ws: Workspace, **fields: Any) -> dict[str, Any]:
    """A posting ready for Sorce's publish gates and Hirempire (the backend example's body),
    under its own key and title, with `fields` (publish_at, close_at, …) on top."""
    example = YAML(typ="safe", pure=True).load(ws.posting_file("backend-engineer").read_text())
    posting = copy.deepcopy(example)
    posting.update(key="launch", title="Staff Platform Engineer (Launch)")
    posting["boards"] = {"sorce": posting["boards"]["sorce"], "hirempire": posting["boards"]["hirempire"]}
    posting.update({k: v.astimezone(BERLIN).isoformat() if isinstance(v, datetime) else v for k, v in fields.items()})
    ws.add_posting(posting)
    return posting


def _run(ws: Workspace, **kw: Any) -> Any:
    with ws.opened() as (desired, store, connectors):
        return reconcile(desired, store, connectors, clock=ws.sandbox.clock.now, **kw)


def _planned(ws: Workspace, **kw: Any) -> Any:
    with ws.opened() as (desired, store, connectors):
        return plan(desired, store, connectors, clock=ws.sandbox.clock.now, **kw)


def _statuses(ws: Workspace, key: str) -> tuple[str, str]:
    """The job's status on Sorce and on Hirempire, as each board shows it."""
    sorce = ws.sorce_job(key)["status"]
    hirempire_id = ws.remote_id(key, "hirempire")
    hirempire = next(j for j in ws.hirempire_jobs() if j["id"] == hirempire_id)["status"]
    return sorce, hirempire


# ------------------------------------------------------------------------------ publish_at and close_at


def test_a_posting_with_publish_at_five_minutes_ahead_is_a_draft_until_that_minute(
    ws: Workspace, now: datetime
) -> None:
    """Before publish_at the job is created as a draft on Sorce and Hirempire (nothing is
    published, so Sorce's 30 days have not started); one second before, a run still leaves it;
    at publish_at, the run publishes it on both boards."""
    publish_at = now + timedelta(minutes=5)
    _launch(ws, publish_at=publish_at)

    assert _run(ws).converged
    assert _statuses(ws, "launch") == ("DRAFT", "draft")
    assert ws.sorce_job("launch")["publishedAt"] is None

    ws.sandbox.clock.set(publish_at - timedelta(seconds=1))
    assert _run(ws).converged
    assert _statuses(ws, "launch") == ("DRAFT", "draft")

    ws.sandbox.clock.set(publish_at)
    result = _run(ws)
    assert result.converged and result.counts.get("publish") == 2
    assert _statuses(ws, "launch") == ("ACTIVE", "active")
    published = datetime.fromisoformat(ws.sorce_job("launch")["publishedAt"].replace("Z", "+00:00"))
    assert published == publish_at


def test_close_at_closes_the_live_job_at_that_moment(ws: Workspace, now: datetime) -> None:
    """A live posting with close_at is closed on every board by the first run at or after
    close_at, as if `status: closed` had been written; the boards then match (exit 0)."""
    close_at = now + timedelta(hours=1)
    _launch(ws, close_at=close_at)
    assert _run(ws).converged
    assert _statuses(ws, "launch") == ("ACTIVE", "active")

    ws.sandbox.clock.set(close_at - timedelta(seconds=1))
    assert _run(ws).counts.get("close", 0) == 0

    ws.sandbox.clock.set(close_at)
    result = _run(ws)
    assert result.converged and result.counts.get("close") == 2
    assert _statuses(ws, "launch") == ("CLOSED", "closed")
    after = _planned(ws)
    assert after.converged and after.plan is not None and in_sync(after.plan)


def test_a_posting_whose_close_at_has_passed_is_never_created(ws: Workspace, now: datetime) -> None:
    """close_at already behind the clock: nothing is created for the posting on any board,
    and `status` says it is not posted (not "not synced")."""
    _launch(ws, publish_at=now - timedelta(days=2), close_at=now - timedelta(days=1))
    assert _run(ws).converged
    with ws.store() as store:
        assert not [r for r in store.status_rows() if r.posting == "launch" and r.remote_id]
    rows = json.loads(ws.run("status", "--json").out)
    assert {(r["provider"], r["state"]) for r in rows if r["posting"] == "launch"} == {
        ("sorce", "not posted"), ("hirempire", "not posted"),
    }


# ------------------------------------------------------------------------------ the daemon's bookings


@pytest.fixture
def scheduler() -> Iterator[Scheduler]:
    scheduler = Scheduler(on_skip=lambda job: None)
    scheduler.start()
    yield scheduler
    scheduler.shutdown()


def test_the_daemon_books_a_date_run_at_each_publish_at_and_close_at_and_rebooks_on_reload(
    ws: Workspace, now: datetime, scheduler: Scheduler
) -> None:
    """Each moment ahead of the clock is one date-triggered job at exactly that time; a
    reload books the new moments and drops the ones no posting asks for any more; moments
    already past and a draft's publish_at are not booked."""
    publish_at, close_at = now + timedelta(minutes=5), now + timedelta(days=3)
    _launch(ws, publish_at=publish_at, close_at=close_at)
    timed = TimedRuns(scheduler, lambda postings, trigger: None, clock=ws.sandbox.clock.now)

    booked = timed.book(ws.desired().postings)
    assert [(b.at, b.postings, b.trigger) for b in booked] == [
        (publish_at, ("launch",), "publish_at"), (close_at, ("launch",), "close_at"),
    ]
    assert sorted(t for t in scheduler.booked(PREFIX).values() if t is not None) == [publish_at, close_at]

    moved = now + timedelta(minutes=10)
    ws.edit_posting("launch", publish_at.astimezone(BERLIN).isoformat(), moved.astimezone(BERLIN).isoformat())
    ws.edit_posting("launch", f"close_at: '{close_at.astimezone(BERLIN).isoformat()}'", "suspend: false")
    timed.book(ws.desired().postings)
    assert list(scheduler.booked(PREFIX).values()) == [moved]

    ws.sandbox.clock.set(moved)  # its moment has come: nothing is ahead any more
    timed.book(ws.desired().postings)
    assert scheduler.booked(PREFIX) == {}


def test_a_timed_run_fired_by_the_scheduler_publishes_the_posting_at_its_minute(
    ws: Workspace, now: datetime, scheduler: Scheduler
) -> None:
    """The booked job, when its turn comes (brought forward here instead of waited for),
    reconciles the posting with trigger publish_at, and the draft goes live on both boards."""
    publish_at = now + timedelta(minutes=5)
    _launch(ws, publish_at=publish_at)
    assert _run(ws).converged
    assert _statuses(ws, "launch") == ("DRAFT", "draft")
    done = threading.Event()
    results = []

    def run(postings: tuple[str, ...], trigger: str) -> None:
        results.append(_run(ws, postings=postings, trigger=trigger))
        done.set()

    [booking] = TimedRuns(scheduler, run, clock=ws.sandbox.clock.now).book(ws.desired().postings)
    ws.sandbox.clock.set(publish_at)
    assert scheduler.move(booking.name)
    assert done.wait(30)
    assert results[0].converged and results[0].trigger == "publish_at"
    assert _statuses(ws, "launch") == ("ACTIVE", "active")
    with ws.store() as store, store.session() as session:
        assert session.get(Run, results[0].run_id).trigger == "publish_at"  # type: ignore[union-attr]
    assert scheduler.booked(PREFIX) == {}  # a date job runs once


# ------------------------------------------------------------------------------ Upcoming


def test_upcoming_lists_a_sorce_job_expiring_in_three_days_and_what_the_policy_does(
    synced: Workspace,
) -> None:
    """27 days after publishing, each live Sorce job expires within the 7-day horizon: the
    plan lists it with its expiry and says it will not be reposted; the plan is still in sync."""
    clock = synced.sandbox.clock
    clock.freeze()
    clock.advance(27 * 86400)
    expires = datetime.fromisoformat(synced.sorce_job("backend-engineer")["expiresAt"].replace("Z", "+00:00"))
    assert timedelta(days=2, hours=23) < expires - clock.now() <= timedelta(days=3)

    result = _planned(synced)
    assert result.plan is not None and in_sync(result.plan)
    [item] = [u for u in result.plan.upcoming if u.posting == "backend-engineer" and u.kind == "expire"]
    assert (item.provider, item.at, item.remote_id) == ("sorce", expires, synced.remote_id("backend-engineer", "sorce"))
    assert "not reposted (repost_expired is off)" in item.what

    text = render.to_text(result.plan)
    assert "Upcoming (next 7 d)" in text
    assert f"@ {expires:%Y-%m-%d %H:%M} UTC sorce/backend-engineer: expires on the board; not reposted" in text
    document = render.to_document(result.plan)
    jsonschema.validate(document, load_schema())
    assert document["in_sync"] is True and document["horizon_seconds"] == 7 * 86400
    assert {"kind": "expire", "provider": "sorce", "posting": "backend-engineer", "at": expires.isoformat(),
            "what": item.what, "remote_id": item.remote_id} in document["upcoming"]


def test_an_expiry_says_the_job_is_reposted_when_repost_expired_is_on(synced: Workspace) -> None:
    """With repost_expired, the Upcoming item says the expired job is posted again."""
    synced.write_config(repost_expired=True)
    synced.sandbox.clock.freeze()
    synced.sandbox.clock.advance(27 * 86400)
    result = _planned(synced)
    assert result.plan is not None
    expiring = [u for u in result.plan.upcoming if u.kind == "expire"]
    assert expiring and all("reposted as a new job (repost_expired is on)" in u.what for u in expiring)


def test_upcoming_lists_publish_close_and_link_renewals_within_the_horizon_only(
    ws: Workspace, now: datetime
) -> None:
    """A publish_at and a close_at inside the horizon are listed per board, one beyond it is
    not; stored RecruitiFi links show when they are renewed (one line per board in the text);
    none of it keeps the plan from being in sync."""
    _launch(ws, publish_at=now + timedelta(hours=2), close_at=now + timedelta(days=10))
    assert _run(ws).converged
    assert ws.run("links").code == 0  # every posting's link asked for, and stored
    result = _planned(ws, horizon=timedelta(days=1))
    assert result.plan is not None and in_sync(result.plan)
    coming = {(u.kind, u.provider, u.posting, u.at) for u in result.plan.upcoming}
    publish = now + timedelta(hours=2)
    assert {("publish", "sorce", "launch", publish), ("publish", "hirempire", "launch", publish)} <= coming
    assert not [c for c in coming if c[0] == "close"]
    renewed = {c[2] for c in coming if c[0] == "renew_link"}
    assert "backend-engineer" in renewed and len(renewed) > 1
    # In the text, a board's renewals are one line, not one per posting.
    assert f"recruitifi: {len(renewed)} signed links run out, the first here" in render.to_text(result.plan)
    assert "recruitifi/backend-engineer" not in render.to_text(result.plan)

    wider = _planned(ws, horizon=timedelta(days=11))
    assert wider.plan is not None
    assert {("close", "sorce", "launch"), ("close", "hirempire", "launch")} <= {
        (u.kind, u.provider, u.posting) for u in wider.plan.upcoming
    }


def test_plan_horizon_on_the_command_line(synced: Workspace) -> None:
    """`plan --horizon 31d --json` lists the Sorce jobs' expiries 30 days out and exits 0 (in
    sync); the default 7 days lists none of them; a horizon that is not a duration exits 1."""
    wide = synced.run("plan", "--json", "--horizon", "31d")
    assert wide.code == 0, wide.out + wide.err
    document = json.loads(wide.out)
    assert document["in_sync"] and {u["posting"] for u in document["upcoming"] if u["kind"] == "expire"} >= {
        "backend-engineer"
    }
    default = json.loads(synced.run("plan", "--json").out)
    assert not [u for u in default["upcoming"] if u["kind"] == "expire"]
    bad = synced.run("plan", "--horizon", "soon")
    assert bad.code == 1 and "--horizon 'soon'" in bad.err


# ------------------------------------------------------------------------------ validation


@pytest.mark.parametrize(("written", "says"), [
    ("publish_at: 2026-03-02T09:00:00", "has no offset"),
    ("publish_at: '2026-03-02'", "has no offset"),
    ("publish_at: next monday", "is not an ISO 8601 date and time"),
    ("publish_at: 1772438400", "expected an ISO 8601 date and time with an offset"),
])
def test_a_publish_at_without_an_offset_or_not_a_time_names_the_file_and_line(
    ws: Workspace, written: str, says: str
) -> None:
    """`validate` exits 1 with file:line:col pointing at publish_at and says what to write."""
    path = ws.posting_file("backend-engineer")
    lines = path.read_text().splitlines()
    at = lines.index("status: active")
    lines.insert(at + 1, written)
    path.write_text("\n".join(lines) + "\n")
    ran = ws.run("validate")
    assert ran.code == 1
    where = f"{path.name}:{at + 2}:1: publish_at: "
    [line] = [x for x in (ran.out + ran.err).splitlines() if where in x]
    assert says in line and "2026-03-02T09:00:00+01:00" in line


def test_close_at_before_publish_at_is_refused_at_close_at(ws: Workspace) -> None:
    """A close_at not after publish_at is an error naming the close_at line and both times."""
    path = ws.posting_file("backend-engineer")
    text = path.read_text().replace(
        "status: active\n", "status: active\npublish_at: 2026-03-02T09:00:00+01:00\nclose_at: 2026-03-02T07:59:00Z\n"
    )
    path.write_text(text)
    ran = ws.run("validate")
    assert ran.code == 1
    line = text.splitlines().index("close_at: 2026-03-02T07:59:00Z") + 1
    assert f"{path.name}:{line}:1: close_at: must be after publish_at" in ran.out + ran.err


def test_the_daemon_books_its_timed_runs_with_the_config_and_a_moment_during_a_run_reconciles_again(
    ws: Workspace, now: datetime
) -> None:
    """The daemon books the postings' moments whenever it books its jobs (at start and on
    every reload); a moment that comes while a reconcile holds the floor does not start a second
    run beside it, nor wait on a worker: the reconcile job is brought forward to run again."""
    publish_at = now + timedelta(minutes=5)
    _launch(ws, publish_at=publish_at)
    desired = ws.desired()
    daemon = Daemon(ws.root / "boardsync.yaml")
    daemon.timed.clock = ws.sandbox.clock.now
    again = threading.Event()
    daemon.scheduler.every("reconcile", again.set, timedelta(hours=1), first=datetime.now(UTC) + timedelta(hours=1))
    daemon.scheduler.start()
    try:
        daemon._book_jobs(desired, first_start=False, previous=desired)  # a reload: reconcile now, too
        assert list(daemon.scheduler.booked(PREFIX).values()) == [publish_at]
        assert again.wait(30)
        again.clear()

        with daemon._reconciling:  # a run is going: the timed one steps aside
            daemon._timed_job(("launch",), "publish_at")
        assert daemon._again.is_set() and not again.is_set()
        daemon._reconcile_again_if_asked()
        assert again.wait(30)
    finally:
        daemon.scheduler.shutdown()
