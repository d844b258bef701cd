"""`boardsync history`, `history RUN` and `log KEY` against the sandbox boards over loopback:
what they say is what the boards' own request counters saw, and no secret or signed link is
ever in it."""

from __future__ import annotations

import contextlib
import io
import json
import signal
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from sqlmodel import select

from boardsync import cli
from boardsync.connectors.calls import CallLog
from boardsync.log import register_secret
from boardsync.sandbox.core import Fault
from boardsync.state import SignedLink
from tests.git_helpers import git
from tests.reconcile_helpers import Workspace
from tests.test_daemon_service import DaemonProcess, notify, start, wait_for, workspace  # noqa: F401 (fixtures)
from tests.test_daemon_service import Workspace as DaemonWorkspace

pytestmark = pytest.mark.slow


def runs(ws: Workspace) -> list[dict]:  # type: ignore[type-arg]
    ran = ws.run("history", "--json")
    assert ran.code == 0, ran.err
    return json.loads(ran.out)  # type: ignore[no-any-return]


def calls_of(ws: Workspace, run_id: int) -> dict:  # type: ignore[type-arg]
    ran = ws.run("history", str(run_id), "--json")
    assert ran.code == 0, ran.err
    return json.loads(ran.out)  # type: ignore[no-any-return]


def by_route(calls: list[dict]) -> dict[str, dict[str, int]]:  # type: ignore[type-arg]
    """provider → "METHOD /path" → calls: the shape of the sandbox's request counters."""
    found: dict[str, Counter[str]] = {}
    for call in calls:
        found.setdefault(call["provider"], Counter())[f"{call['method']} {call['path']}"] += 1
    return {board: dict(counts) for board, counts in found.items()}


def test_history_and_history_run_match_what_the_boards_counted(ws: Workspace) -> None:
    """A first reconcile, one of its reads answered 500 and retried: `history` lists the run
    (started by a command, converged, its creates, no error, a duration) with as many calls
    per board as the board counted, and `history RUN` every one of them, the retried try
    included, by method and path, in the order sent."""
    ws.sandbox.sorce.faults.add(Fault("status", status=500, method="GET", path=r".*/jobs", times=1))
    assert ws.run("reconcile").code == 0
    counted = {board: counts for board, counts in ws.counts().items() if counts}
    (run,) = runs(ws)
    assert (run["kind"], run["trigger"], run["outcome"], run["errors"]) == ("reconcile", "command", "converged", 0)
    assert run["changes"]["create"] == 12 and run["duration_s"] >= 0
    assert run["calls"] == {board: sum(counts.values()) for board, counts in counted.items()}

    detail = calls_of(ws, run["id"])
    assert by_route(detail["calls"]) == counted
    assert [c["seq"] for c in detail["calls"]] == list(range(1, len(detail["calls"]) + 1))
    reads = [c["status"] for c in detail["calls"] if c["provider"] == "sorce" and c["method"] == "GET"]
    assert reads[:2] == [500, 200]
    assert all(set(c) == {"seq", "provider", "method", "path", "query", "status", "duration_ms"} for c in detail["calls"])

    table = ws.run("history").out
    assert "reconcile" in table and "command" in table and "converged" in table


def test_each_run_keeps_its_own_calls(synced: Workspace) -> None:
    """A second run's calls are its own: `history` lists both runs newest first, and the
    second's calls match the counters cleared after the first."""
    synced.edit_posting("backend-engineer", "Senior Backend Engineer (Python)", "Backend Engineer (Python)")
    assert synced.run("reconcile").code == 0
    second, first = runs(synced)
    assert second["id"] > first["id"] and second["changes"] == {"update": 2}
    assert by_route(calls_of(synced, second["id"])["calls"]) == {b: c for b, c in synced.counts().items() if c}


def test_an_unknown_run_or_posting_is_an_error_naming_it(synced: Workspace) -> None:
    """`history 999` and `log nope` exit 1 with a message naming what was asked for."""
    ran = synced.run("history", "999")
    assert ran.code == 1 and "no run 999" in ran.err
    ran = synced.run("log", "nope")
    assert ran.code == 1 and "'nope'" in ran.err
    ran = synced.run("history", "--since", "soon")
    assert ran.code == 1 and "--since 'soon'" in ran.err


def test_no_secret_or_signed_link_reaches_history_or_log(synced: Workspace) -> None:
    """With RecruitiFi's token request and signed links among the calls, no credential of any
    board, no signed link and no link token is in `history`, `history RUN` or `log KEY`, as
    text or JSON."""
    synced.sandbox.recruitifi.clock.advance(3600)  # the links expire: the next run fetches new ones
    synced.run("reconcile")
    with synced.store() as store, store.session() as session:
        links = [link.url for link in session.exec(select(SignedLink)).all()]
    assert links
    secrets = [v for v in synced.sandbox.credentials().values() if len(v) >= 6]
    tokens = [part for url in links for part in url.replace("?", "/").replace("=", "/").split("/") if len(part) >= 20]
    outputs = []
    for run in runs(synced):
        detail = calls_of(synced, run["id"])
        outputs.append(json.dumps(detail))
        outputs.append(synced.run("history", str(run["id"])).out)
    routes = {c["path"] for run in runs(synced) for c in calls_of(synced, run["id"])["calls"]}
    assert {"/v1/auth/token", "/v1/links/job"} <= routes
    outputs += [synced.run("history").out, json.dumps(runs(synced))]
    outputs += [synced.run("log", "product-designer").out, synced.run("log", "product-designer", "--json").out]
    text = "\n".join(outputs)
    for value in [*secrets, *links, *tokens]:
        assert value not in text


def test_a_call_log_masks_secrets_in_the_path_and_the_query() -> None:
    """A secret that travels in a path or a query value is masked as it is noted; the entry
    has no room for a body or a header."""
    secret = "sk_ext_history_check_0123456789"
    register_secret(secret)
    calls = CallLog()
    calls.note("sorce", "GET", f"/jobs/{secret}", {"key": secret, "page": 2}, 200, 5)
    (entry,) = calls.take()
    assert secret not in entry.path and secret not in entry.query and "page=2" in entry.query
    assert calls.take() == []


def test_log_tells_a_posting_s_story_on_every_board(ws: Workspace) -> None:
    """`log KEY`: created on each board from the first commit; an edit committed, then
    updated with the field it sent and that commit; a hand edit as drift that opened and
    ended corrected; applicants and visits counted on the day they came."""
    git("init", "-q", "-b", "main", cwd=ws.root)
    git("add", "boardsync.yaml", "postings", cwd=ws.root)
    git("commit", "-q", "-m", "postings", cwd=ws.root)
    first = git("rev-parse", "HEAD", cwd=ws.root)
    assert ws.run("reconcile").code == 0
    ws.edit_posting("backend-engineer", "Senior Backend Engineer (Python)", "Backend Engineer (Python)")
    git("commit", "-q", "-am", "title", cwd=ws.root)
    second = git("rev-parse", "HEAD", cwd=ws.root)
    assert ws.run("reconcile").code == 0
    job_id = ws.remote_id("backend-engineer", "sorce")
    ws.sandbox.sorce.edit_job(job_id, title="Edited by hand")
    ws.sandbox.sorce.add_applications(job_id, 2)
    job = next(j for j in ws.hirempire_jobs() if j["public_slug"] == "bs-backend-engineer")
    source = next(s for s in job["sources"]["items"] if s["source_name"] == "indeed")
    ws.sandbox.hirempire.add_visits(source["id"], 3)
    assert ws.run("reconcile").code == 0

    ran = ws.run("log", "backend-engineer", "--json")
    assert ran.code == 0, ran.err
    story = json.loads(ran.out)
    events = [(e["provider"], e["what"], e["detail"], e["commit"]) for e in story["events"]]
    assert ("sorce", "created", "", first) in events and ("hirempire", "created", "", first) in events
    assert ("sorce", "updated", "fields: title", second) in events
    assert ("hirempire", "updated", "fields: job_title", second) in events  # the board's own field name
    whats = [(e["provider"], e["what"]) for e in story["events"]]
    opened = whats.index(("sorce", "drift_opened"))
    assert "title" in story["events"][opened]["detail"] and "Edited by hand" in story["events"][opened]["detail"]
    assert whats.index(("sorce", "drift_ended")) > opened
    assert [e["detail"] for e in story["events"] if e["what"] == "drift_ended"] == ["title: corrected"]
    today = datetime.now(UTC).date().isoformat()
    days = {(d["provider"], d["day"]): (d["visits"], d["applicants"]) for d in story["days"]}
    assert days[("sorce", today)][1] == 2
    assert days[("hirempire", today)][0] == 3

    table = ws.run("log", "backend-engineer").out
    assert "drift_opened" in table and "fields: title" in table and second[:12] in table


def test_the_daemon_records_what_started_each_run_and_reports_health(
    start: Callable[[], DaemonProcess], workspace: DaemonWorkspace,
) -> None:
    """Runs the daemon's schedule starts say "schedule"; the run a SIGHUP reload moves ahead
    says "reload"; `history` reads them beside the running daemon. Its /metrics and /readyz
    count each board's pairs by health."""
    daemon = start()
    daemon.wait_converged()
    daemon.signal(signal.SIGHUP)
    wait_for("a run started by the reload", lambda: daemon.events("run_started", kind="reconcile", trigger="reload"))
    wait_for("that run finished", lambda: len(daemon.events("run_finished", kind="reconcile")) >= 2)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli.main(["history", "--json", "-c", str(workspace.config)]) == 0
    triggers = {(r["kind"], r["trigger"]) for r in json.loads(out.getvalue())}
    assert {("reconcile", "schedule"), ("reconcile", "reload")} <= triggers
    assert ("metrics", "schedule") in triggers or all(kind == "reconcile" for kind, _ in triggers)
    ready = daemon.http("/readyz").json()
    assert ready["boards"]["sorce"]["live"] == 7 and ready["boards"]["sorce"]["missing"] == 0
    assert 'boardsync_pair_health{board="hirempire",health="live"} 7.0' in daemon.http("/metrics").text
