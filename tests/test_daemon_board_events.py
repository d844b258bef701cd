"""Board events against a real daemon: Hirempire (the sandbox, on loopback) calls the daemon's
``POST /hooks/hirempire/<token>``, and the daemon reconciles the posting whose job changed.
The schedule is an hour, so after the first run only an event can make the daemon run."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import col, select

from boardsync.sandbox.core import Fault
from boardsync.sandbox.server import Sandbox
from boardsync.state.store import open_store
from boardsync.state.tables import AuditEntry, Run
from tests.test_daemon_service import EXAMPLES, DaemonProcess, NotifySocket, Workspace, wait_for

pytestmark = pytest.mark.slow

TOKEN = "events-token-0123456789abcdef"
WEBHOOK = "webhook hirempire"


class EventsHost(Workspace):
    """The examples, an hour between scheduled runs, and board events set up."""

    def write_config(self, *, reconcile: str = "1h", metrics: str = "1h", token: bool = False) -> None:
        self.config.write_text(
            "version: 1\n"
            "state: sqlite:///state.db\n"
            "postings: postings/\n"
            f"{self.sandbox.providers_yaml()}"
            f"schedule: {{reconcile: {reconcile}, metrics: {metrics}}}\n"
            f"daemon: {{listen: '127.0.0.1:{self.port}', events_token: '${{EVENTS_TOKEN}}', "
            f"public_url: 'http://127.0.0.1:{self.port}'}}\n"
        )

    def env(self, notify: NotifySocket | None = None) -> dict[str, str]:
        if notify is None:
            return {**os.environ, **self.sandbox.credentials(), "EVENTS_TOKEN": TOKEN}
        return super().env(notify) | {"EVENTS_TOKEN": TOKEN}

    def hook(self, body: Any, token: str = TOKEN, board: str = "hirempire") -> httpx.Response:
        return httpx.post(f"http://127.0.0.1:{self.port}/hooks/{board}/{token}", json=body, timeout=10)

    def hooks(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "boardsync", "hooks", *args, "-c", str(self.config)],
                              capture_output=True, text=True, env=self.env(), cwd=self.root, timeout=60, check=False)

    def runs(self) -> list[Run]:
        with open_store(self.state_url) as store, store.session() as session:
            return list(session.exec(select(Run).order_by(col(Run.id))).all())

    def actions(self, action: str) -> list[AuditEntry]:
        with open_store(self.state_url) as store, store.session() as session:
            query = select(AuditEntry).where(AuditEntry.action == action, AuditEntry.provider == "hirempire")
            return list(session.exec(query).all())

    def applicants(self, key: str) -> int | None:
        """The posting's applicants on Hirempire as the state records them (channel ``*``: all)."""
        with open_store(self.state_url) as store:
            rows = store.visit_rows(since=datetime(2000, 1, 1, tzinfo=UTC))
        return next((r.applicants for r in rows if (r.posting, r.provider, r.channel) == (key, "hirempire", "*")), None)


@pytest.fixture
def host(tmp_path: Path, sandbox: Sandbox) -> Iterator[EventsHost]:
    shutil.copytree(EXAMPLES / "postings", tmp_path / "postings")
    ws = EventsHost(tmp_path, sandbox)
    ws.write_config()
    yield ws
    sandbox.clock.reset()


@pytest.fixture
def daemon(host: EventsHost, tmp_path: Path) -> Iterator[DaemonProcess]:
    notify = NotifySocket(tmp_path / "notify.sock")
    process = DaemonProcess(host, notify)
    process.wait_converged()
    wait_for("the first metrics run", lambda: process.events("run_finished", kind="metrics"))
    yield process
    process.finish()
    notify.close()


def _jobs(sandbox: Sandbox) -> dict[str, dict[str, Any]]:
    """Hirempire's jobs by the posting key in their slug."""
    return {j["public_slug"].removeprefix("bs-"): j for j in sandbox.hirempire.jobs()}


def _active(sandbox: Sandbox) -> list[str]:
    return sorted(key for key, job in _jobs(sandbox).items() if job["status"] == "active")


def _status(sandbox: Sandbox, key: str, status: str) -> Any:
    return lambda: _jobs(sandbox)[key]["status"] == status


def _webhook_runs(host: EventsHost, kind: str = "reconcile") -> list[Run]:
    """The finished runs of `kind` that board events booked, once there is one."""
    def finished() -> list[Run]:
        return [r for r in host.runs() if r.trigger == WEBHOOK and r.kind == kind and r.finished_at is not None]
    return wait_for(f"a finished {kind} run booked by an event", finished)


# ---------------------------------------------------------------------------------- tests


def test_the_challenge_is_answered_and_install_twice_leaves_one_webhook(
    host: EventsHost, daemon: DaemonProcess, sandbox: Sandbox
) -> None:
    """The daemon answers Hirempire's url_verification with the same challenge; `hooks install`
    registers one verified webhook at daemon.public_url, a second install keeps it, `hooks
    list` marks it as this daemon's, and `hooks remove` removes it; the token is never printed."""
    answer = host.hook({"challenge": "c-123", "type": "url_verification"})
    assert (answer.status_code, answer.json()) == (200, {"challenge": "c-123"})

    first = host.hooks("install")
    assert first.returncode == 0, first.stderr
    (hook,) = sandbox.hirempire.snapshot()["webhooks"]
    assert hook["verified"] is True
    assert hook["request_url"] == f"http://127.0.0.1:{host.port}/hooks/hirempire/{TOKEN}"
    assert set(hook["events"]) == {"job_activated", "job_deactivated", "job_deleted", "applicant_applied"}
    assert " added: " in first.stdout

    second = host.hooks("install", "--json")
    assert second.returncode == 0, second.stderr
    assert [(r["remote_id"], r["done"]) for r in json.loads(second.stdout)] == [(hook["id"], "kept")]
    assert [w["id"] for w in sandbox.hirempire.snapshot()["webhooks"]] == [hook["id"]]

    listed = host.hooks("list")
    assert listed.returncode == 0 and "(this daemon's)" in listed.stdout
    for done in (first, second, listed):
        assert TOKEN not in done.stdout + done.stderr

    removed = host.hooks("remove")
    assert removed.returncode == 0 and " removed" in removed.stdout
    assert sandbox.hirempire.snapshot()["webhooks"] == []


def test_install_replaces_a_webhook_of_an_earlier_token_instead_of_doubling(
    host: EventsHost, daemon: DaemonProcess, sandbox: Sandbox
) -> None:
    """A webhook of the daemon's address with an older token is removed once the new one is
    registered: one webhook of the daemon's is left. Another's webhook is left alone."""
    # Made as they were before the token changed (the daemon now refuses the old one's challenge).
    old = sandbox.hirempire.add_webhook(f"http://127.0.0.1:{host.port}/hooks/hirempire/old-token",
                                        ["job_deleted"], verified=True)["data"]["id"]
    other = sandbox.hirempire.add_webhook("https://elsewhere.example.com/in", ["job_added"], verified=False)["data"]["id"]
    done = host.hooks("install", "--json")
    assert done.returncode == 0, done.stderr
    rows = {r["done"]: r for r in json.loads(done.stdout)}
    assert set(rows) == {"added", "removed"} and rows["removed"]["remote_id"] == old
    assert {w["id"] for w in sandbox.hirempire.snapshot()["webhooks"]} == {rows["added"]["remote_id"], other}


def test_install_without_a_daemon_to_answer_says_so_and_adds_nothing(host: EventsHost, sandbox: Sandbox) -> None:
    """Hirempire refuses a webhook whose address does not answer its challenge: `hooks install`
    exits 1 naming the board's refusal and what the address needs; no webhook is kept."""
    done = host.hooks("install", "--url", "http://127.0.0.1:1")
    assert done.returncode == 1
    assert "Webhook URL verification failed" in done.stderr and "must be running" in done.stderr
    assert TOKEN not in done.stderr
    assert sandbox.hirempire.snapshot()["webhooks"] == []


def test_an_event_for_a_hand_closed_job_reopens_it_in_the_run_it_books(
    host: EventsHost, daemon: DaemonProcess, sandbox: Sandbox
) -> None:
    """Hirempire's job_deactivated for a job closed by hand books a run of that posting on
    Hirempire alone, which reopens the job at once; no scheduled run comes in between."""
    assert host.hooks("install").returncode == 0
    key = _active(sandbox)[0]
    scheduled = [r.id for r in host.runs() if r.trigger == "daemon"]

    sandbox.hirempire.edit_job(_jobs(sandbox)[key]["id"], status="Closed")
    wait_for(f"{key} reopened on Hirempire", _status(sandbox, key, "active"), timeout=20)

    delivered = sandbox.hirempire.snapshot()["deliveries"]
    assert delivered[0]["type"] == "job_deactivated" and delivered[0]["status"] == 202
    _webhook_runs(host)
    (publish,) = host.actions("publish")
    run = next(r for r in host.runs() if r.id == publish.run_id)
    assert (run.trigger, publish.posting_key) == (WEBHOOK, key)
    assert set(run.boards or {}) == {"hirempire"}
    assert [r.id for r in host.runs() if r.trigger == "daemon"] == scheduled


def test_a_burst_of_events_is_not_a_run_each(host: EventsHost, daemon: DaemonProcess, sandbox: Sandbox) -> None:
    """Three jobs closed by hand while the run of the first event is still reading the board:
    the events that come meanwhile are one run, so the three are reopened by fewer runs."""
    assert host.hooks("install").returncode == 0
    keys = _active(sandbox)[:3]
    assert len(keys) == 3
    sandbox.hirempire.faults.add(Fault("latency", method="GET", path=r"/v1/jobs", latency_ms=1500, times=1))
    for key in keys:
        sandbox.hirempire.edit_job(_jobs(sandbox)[key]["id"], status="Closed")
    for key in keys:
        wait_for(f"{key} reopened", _status(sandbox, key, "active"), timeout=30)
    def recorded() -> list[AuditEntry] | None:
        publishes = host.actions("publish")
        return publishes if len(publishes) == 3 else None

    publishes = wait_for("the three reopenings recorded", recorded)
    assert sorted(p.posting_key or "" for p in publishes) == keys
    assert len({p.run_id for p in publishes}) < 3
    assert {r.trigger for r in host.runs() if r.id in {p.run_id for p in publishes}} == {WEBHOOK}


def test_a_wrong_token_is_404_and_books_no_run(host: EventsHost, daemon: DaemonProcess, sandbox: Sandbox) -> None:
    """A wrong token, no token, and a board that sends no events are all 404 and book
    nothing; the same event with the token books the one run, which reopens the job."""
    key = _active(sandbox)[0]
    job_id = _jobs(sandbox)[key]["id"]
    sandbox.hirempire.edit_job(job_id, status="Closed")  # no webhook: Hirempire tells no one
    event = {"type": "job_deactivated", "job_id": job_id}
    assert host.hook(event, token="not-the-token").status_code == 404
    assert host.hook(event, token="").status_code == 404
    assert host.hook(event, board="sorce").status_code == 404
    assert host.hook({"challenge": "c", "type": "url_verification"}, token="not-the-token").status_code == 404

    right = host.hook(event)
    assert (right.status_code, right.json()) == (202, {"event": "job_deactivated", "run": "booked"})
    wait_for(f"{key} reopened", _status(sandbox, key, "active"), timeout=20)
    # Log lines come in order: every refusal was logged before the accepted event.
    wait_for("the accepted event's log line", lambda: daemon.events("board_event"))
    assert len(daemon.events("board_event")) == 1
    assert len(daemon.events("board_event_refused")) == 3  # the empty token matches no route at all
    assert len(_webhook_runs(host)) == 1


def test_an_event_for_a_job_no_posting_owns_is_ignored(host: EventsHost, daemon: DaemonProcess) -> None:
    """A job event naming a job that no posting is bound to is answered, logged and ignored."""
    answer = host.hook({"type": "job_deleted", "job_id": "7d1c8a57-0000-4000-8000-000000000000"})
    assert (answer.status_code, answer.json()["run"]) == (202, "ignored")
    assert host.hook({"type": "meeting_booked"}).json()["run"] == "ignored"
    assert host.hook(["not", "an", "object"]).status_code == 400
    wait_for("the log line", lambda: daemon.events("board_event_ignored", reason="no posting is bound to this job"))


def test_an_event_in_another_shape_still_reconciles_the_board(
    host: EventsHost, daemon: DaemonProcess, sandbox: Sandbox
) -> None:
    """The documents name the events but not their bodies: one that does not say its job the
    way boardsync expects books a run of the whole board, which reopens the job all the same."""
    key = _active(sandbox)[0]
    job_id = _jobs(sandbox)[key]["id"]
    sandbox.hirempire.edit_job(job_id, status="Paused")
    answer = host.hook({"event": "job_deactivated", "data": {"id": job_id}})
    assert answer.json()["run"] == "booked"
    wait_for(f"{key} resumed", _status(sandbox, key, "active"), timeout=20)
    (run,) = _webhook_runs(host)
    assert set(run.boards or {}) == {"hirempire"}


def test_applicant_applied_updates_the_applicant_counters_at_once(
    host: EventsHost, daemon: DaemonProcess, sandbox: Sandbox
) -> None:
    """An applicant through a tracked source: Hirempire's applicant_applied books a collection
    of Hirempire's counters, and the applicant is counted without waiting for the schedule."""
    assert host.hooks("install").returncode == 0
    key = _active(sandbox)[0]
    job = _jobs(sandbox)[key]
    assert not host.applicants(key)
    sandbox.hirempire.add_candidate(job["id"], job["sources"]["items"][0]["source_name"])
    wait_for("the applicant counted", lambda: host.applicants(key) == 1, timeout=20)
    (run,) = _webhook_runs(host, "metrics")
    assert set(run.boards or {}) == {"hirempire"}
