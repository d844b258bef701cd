"""`boardsync daemon` as a real subprocess against the sandbox boards.

Each test copies the example repository into a temporary folder, points it at the sandbox
with short intervals, and runs ``python -m boardsync daemon`` with a test-owned
``NOTIFY_SOCKET``. Waits poll with a deadline; nothing sleeps longer than one poll tick.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from ruamel.yaml import YAML

from boardsync import config
from boardsync.sandbox.core import Fault
from boardsync.sandbox.recruitifi import LINK_LIFETIME
from boardsync.sandbox.server import Sandbox
from boardsync.state import migrations
from boardsync.state.store import open_store

pytestmark = pytest.mark.slow

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
DAEMON_TOKEN = "daemon-token-for-tests"
TICK = 0.05
T = TypeVar("T")


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 15.0) -> T:
    """Poll `probe` until it returns something truthy; fail naming `what` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(TICK)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class NotifySocket:
    """A unix datagram socket playing systemd's part: it records every message it receives."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.messages: list[dict[str, str]] = []
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(str(path))
        self._sock.settimeout(0.2)
        self._closed = False
        self._thread = threading.Thread(target=self._receive, daemon=True)
        self._thread.start()

    def _receive(self) -> None:
        while not self._closed:
            try:
                data = self._sock.recv(65536)
            except (TimeoutError, OSError):
                continue
            self.messages.append(dict(line.split("=", 1) for line in data.decode().splitlines() if "=" in line))

    def index_of(self, key: str, value: str | None = None, after: int = -1) -> int | None:
        for i, message in enumerate(list(self.messages)):
            if i > after and key in message and (value is None or message[key] == value):
                return i
        return None

    def wait(self, key: str, value: str | None = None, after: int = -1, timeout: float = 15.0) -> int:
        found = wait_for(f"{key}={value or '*'} on NOTIFY_SOCKET",
                         lambda: (i + 1 if (i := self.index_of(key, value, after)) is not None else None), timeout)
        return found - 1

    def close(self) -> None:
        self._closed = True
        self._thread.join(timeout=1)
        self._sock.close()


@dataclass
class Workspace:
    """A copy of the example repository, pointed at the sandbox."""

    root: Path
    sandbox: Sandbox
    port: int = field(default_factory=free_port)

    @property
    def config(self) -> Path:
        return self.root / "boardsync.yaml"

    @property
    def state_url(self) -> str:
        return f"sqlite:///{self.root / 'state.db'}"

    def write_config(self, *, reconcile: str = "1s", metrics: str = "2s", token: bool = False) -> None:
        daemon = f"listen: '127.0.0.1:{self.port}'" + (", token: '${BOARDSYNC_TOKEN}'" if token else "")
        self.config.write_text(
            "version: 1\n"
            "state: sqlite:///state.db\n"
            "postings: postings/\n"
            f"{self.sandbox.providers_yaml()}"
            f"schedule: {{reconcile: {reconcile}, metrics: {metrics}}}\n"
            f"daemon: {{{daemon}}}\n"
        )

    def posting(self, name: str) -> Path:
        return self.root / "postings" / f"{name}.yaml"

    def env_plain(self) -> dict[str, str]:
        """The environment of a command run beside the daemon: the boards' credentials."""
        return dict(os.environ) | self.sandbox.credentials()

    def env(self, notify: NotifySocket) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("JOURNAL_STREAM", "WATCHDOG_PID")}
        return env | self.sandbox.credentials() | {"NOTIFY_SOCKET": str(notify.path), "WATCHDOG_USEC": "2000000"}


class DaemonProcess:
    """`python -m boardsync daemon` with its log lines collected as they come."""

    def __init__(self, workspace: Workspace, notify: NotifySocket) -> None:
        self.workspace = workspace
        self.notify = notify
        self.lines: list[dict[str, Any]] = []
        self.raw: list[str] = []
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "boardsync", "daemon", "-c", str(workspace.config)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=workspace.env(notify),
            cwd=workspace.root,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.stderr = ""

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.raw.append(line)
            try:
                self.lines.append(json.loads(line))
            except ValueError:
                pass

    def events(self, name: str, **match: Any) -> list[dict[str, Any]]:
        return [e for e in list(self.lines) if e.get("event") == name and all(e.get(k) == v for k, v in match.items())]

    def http(self, path: str) -> httpx.Response:
        return httpx.get(f"http://127.0.0.1:{self.workspace.port}{path}", timeout=5)

    def wait_converged(self, timeout: float = 20.0) -> dict[str, Any]:
        def converged() -> dict[str, Any] | None:
            self.assert_alive()
            found = self.events("run_finished", kind="reconcile", outcome="converged")
            return found[-1] if found else None
        return wait_for("a converged reconcile", converged, timeout)

    def assert_alive(self) -> None:
        if self.proc.poll() is not None:
            raise AssertionError(f"daemon exited {self.proc.returncode}:\n{self.finish()}")

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def wait_exit(self, timeout: float = 15.0) -> int:
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise AssertionError(f"daemon did not exit within {timeout}s:\n{self.finish()}") from None
        self.finish()
        return code

    def finish(self) -> str:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self._reader.join(timeout=2)
        assert self.proc.stderr is not None
        if not self.proc.stderr.closed:
            self.stderr = self.proc.stderr.read()
            self.proc.stderr.close()
        return "".join(self.raw[-40:]) + self.stderr


@pytest.fixture
def workspace(tmp_path: Path, sandbox: Sandbox) -> Iterator[Workspace]:
    shutil.copytree(EXAMPLES / "postings", tmp_path / "postings")
    ws = Workspace(tmp_path, sandbox)
    ws.write_config()
    yield ws
    sandbox.clock.reset()


@pytest.fixture
def notify(tmp_path: Path) -> Iterator[NotifySocket]:
    sock = NotifySocket(tmp_path / "notify.sock")
    yield sock
    sock.close()


@pytest.fixture
def start(workspace: Workspace, notify: NotifySocket) -> Iterator[Callable[[], DaemonProcess]]:
    started: list[DaemonProcess] = []

    def _start() -> DaemonProcess:
        daemon = DaemonProcess(workspace, notify)
        started.append(daemon)
        return daemon

    yield _start
    for daemon in started:
        daemon.finish()


def sorce_jobs(sandbox: Sandbox) -> list[dict[str, Any]]:
    return list(sandbox.sorce.snapshot()["jobs"])


def hirempire_jobs(sandbox: Sandbox) -> list[dict[str, Any]]:
    return list(sandbox.hirempire.snapshot()["jobs"])


def expected_jobs(workspace: Workspace, board: str) -> int:
    """How many of the example postings end up as jobs on `board`: a closed one is never created."""
    desired = config.load(workspace.config, env=workspace.sandbox.credentials())
    return sum(1 for p in desired.postings if board in p.boards.names() and p.status.value != "closed")


# ---------------------------------------------------------------------------------- tests


def test_daemon_becomes_ready_converges_the_examples_and_answers_over_http(
    start: Callable[[], DaemonProcess], workspace: Workspace, notify: NotifySocket, sandbox: Sandbox
) -> None:
    """READY=1 then WATCHDOG=1; the examples converge; /readyz, /metrics and /links answer."""
    daemon = start()
    ready = notify.wait("READY", "1")
    notify.wait("WATCHDOG", "1", after=ready)
    daemon.wait_converged()
    notify.wait("STATUS", after=ready, timeout=5)
    assert any("converged" in m.get("STATUS", "") for m in notify.messages[ready:])

    assert len(sorce_jobs(sandbox)) == expected_jobs(workspace, "sorce")
    assert len(hirempire_jobs(sandbox)) == expected_jobs(workspace, "hirempire")

    readyz = daemon.http("/readyz")
    assert readyz.status_code == 200, readyz.text
    assert set(readyz.json()["checks"]) == {"config", "database", "reconcile"}
    assert daemon.http("/healthz").status_code == 200

    source = next(src for job in hirempire_jobs(sandbox) for src in job["sources"]["items"])
    sandbox.hirempire.add_visits(source["id"], 3)
    visits = f'boardsync_visits{{board="hirempire",channel="{source["source_name"]}"}} 3'
    text = wait_for("the visits read by a metrics run", lambda: (
        t if visits in (t := daemon.http("/metrics").text) else None))
    for series in (
        'boardsync_runs_total{kind="reconcile",result="converged"}',
        'boardsync_run_duration_seconds_bucket{kind="reconcile",le="+Inf"}',
        'boardsync_requests_total{board="sorce",status_class="2xx"}',
        'boardsync_intents{state="unknown"} 0',
        'boardsync_intents{state="pending"} 0',
        'boardsync_last_success_timestamp_seconds{board="hirempire"}',
        "# TYPE boardsync_drift_open gauge",
        "# TYPE boardsync_blocked_pairs gauge",
        "# TYPE boardsync_pairs_backing_off gauge",
        'boardsync_runs_total{kind="metrics",result="converged"}',
        "# TYPE boardsync_applicants gauge",
    ):
        assert series in text, series
    assert "posting=" not in text  # no per-posting label unless the operator turns it on

    link = daemon.http("/links/product-designer")
    assert link.status_code == 302 and link.headers["location"].startswith(sandbox.recruitifi_url)
    assert daemon.http("/links/warehouse-associate").status_code == 404  # not sent to RecruitiFi

    stop_from = len(notify.messages) - 1
    daemon.signal(signal.SIGTERM)
    assert daemon.wait_exit() == 0
    assert notify.index_of("STOPPING", "1", after=stop_from) is not None


def test_readiness_fails_when_the_database_is_moved_to_another_revision(
    start: Callable[[], DaemonProcess], workspace: Workspace, notify: NotifySocket
) -> None:
    """A database another boardsync migrated under the running daemon: /readyz fails on its
    database check, naming the revision found and the one this daemon needs."""
    daemon = start()
    notify.wait("READY", "1")
    daemon.wait_converged()
    assert daemon.http("/readyz").json()["checks"]["database"] == {"ok": True}
    with sqlite3.connect(workspace.root / "state.db", timeout=10) as connection:
        connection.execute("UPDATE alembic_version SET version_num = '0999'")
    readyz = daemon.http("/readyz")
    assert readyz.status_code == 503
    assert readyz.json()["checks"]["database"] == {
        "ok": False, "detail": f"revision 0999, expected revision {migrations.head()}",
    }


def test_sighup_applies_an_edit_and_a_broken_edit_keeps_the_last_good_config(
    start: Callable[[], DaemonProcess], workspace: Workspace, notify: NotifySocket, sandbox: Sandbox
) -> None:
    """An edit reloaded by SIGHUP reaches the boards; a broken file is logged and ignored."""
    daemon = start()
    daemon.wait_converged()

    posting = workspace.posting("product-designer")
    posting.write_text(posting.read_text().replace("title: Product Designer", "title: Senior Product Designer"))
    before = len(notify.messages) - 1
    daemon.signal(signal.SIGHUP)
    reloading = notify.wait("RELOADING", "1", after=before)
    notify.wait("READY", "1", after=reloading)
    wait_for("the new title on Sorce", lambda: any(
        j.get("title") == "Senior Product Designer" for j in sorce_jobs(sandbox)))

    # Broken on purpose, and left for the file watch to notice: no SIGHUP this time.
    posting.write_text(posting.read_text().replace("title: Senior Product Designer", "title: ''"))
    invalid = wait_for("the broken config logged", lambda: daemon.events("config_invalid"))
    assert any("product-designer.yaml" in p and "title" in p for p in invalid[-1]["problems"])
    wait_for("the refused reload counted", lambda: (
        'boardsync_config_reloads_total{result="refused"} 1' in daemon.http("/metrics").text))
    daemon.wait_converged()  # still reconciling, on the last good config
    daemon.assert_alive()
    assert daemon.http("/readyz").json()["checks"]["config"]["detail"].startswith("last reload refused")
    assert any(j.get("title") == "Senior Product Designer" for j in sorce_jobs(sandbox))


def _linked_posting(i: int) -> str:
    """A posting on RecruitiFi alone: all it costs there is its signed link."""
    return (
        f"key: linked-{i:04d}\ntitle: Linked Engineer {i}\nstatus: active\n"
        "description: A posting reached through a signed link.\nworkplace: remote\n"
        "remote_country: United States\nemployment_type: full_time\nlevel: mid\n"
        "boards:\n  recruitifi: {}\n"
    )


def test_an_idle_daemon_fetches_no_link_and_an_ask_fetches_one_then_serves_it_again(
    start: Callable[[], DaemonProcess], workspace: Workspace, notify: NotifySocket, sandbox: Sandbox
) -> None:
    """1,000 linked postings, the one link their first sync fetched run out: the daemon keeps
    none warm (it fetches nothing while idle); /links/KEY fetches one link, and a second ask
    within its margin is served from the database."""
    shutil.rmtree(workspace.root / "postings")
    (workspace.root / "postings").mkdir()
    for i in range(1000):
        (workspace.root / "postings" / f"linked-{i:04d}.yaml").write_text(_linked_posting(i))
    workspace.write_config(reconcile="1h", metrics="1h")  # the reconcile below is the last for an hour
    sandbox.clock.set(datetime.now(UTC) - LINK_LIFETIME - timedelta(minutes=1))  # links issued already run out
    first = subprocess.run(
        [sys.executable, "-m", "boardsync", "reconcile", "-q", "-c", str(workspace.config)],
        env=workspace.env_plain(), cwd=workspace.root, capture_output=True, text=True, check=False,
    )
    assert first.returncode == 0, first.stdout + first.stderr
    sandbox.clock.reset()
    issued = len(sandbox.recruitifi.issued_links())
    assert issued == 1  # one link stands for every posting's
    daemon = start()
    notify.wait("READY", "1")
    deadline = time.monotonic() + 2.0  # the old link job fetched every due link as the daemon started
    while time.monotonic() < deadline:
        daemon.assert_alive()
        assert len(sandbox.recruitifi.issued_links()) == issued
        time.sleep(TICK)
    asked = daemon.http("/links/linked-0007")
    assert asked.status_code == 302 and len(sandbox.recruitifi.issued_links()) == issued + 1
    again = daemon.http("/links/linked-0007")
    assert again.status_code == 302 and again.headers["location"] == asked.headers["location"]
    assert len(sandbox.recruitifi.issued_links()) == issued + 1


def test_sigterm_mid_run_exits_0_with_nothing_in_flight_and_a_restart_adds_no_duplicate(
    start: Callable[[], DaemonProcess], workspace: Workspace, sandbox: Sandbox
) -> None:
    """A slow first run keeps /readyz at 503 and skips its next turn (counted); SIGTERM lets
    the call finish, exits 0 and leaves no intent in flight; restarted, the daemon converges
    without a second job."""
    sandbox.sorce.faults.add(Fault("latency", method="POST", path=r".*/jobs", latency_ms=1500, times=None))
    daemon = start()
    wait_for("a create under way", lambda: sandbox.sorce.request_counts().get("POST /api/external/v1/jobs"))
    readyz = daemon.http("/readyz")  # nothing has succeeded yet
    assert readyz.status_code == 503 and readyz.json()["checks"]["reconcile"]["ok"] is False
    wait_for("a skipped turn counted", lambda: (
        'boardsync_runs_skipped_total{job="reconcile"}' in daemon.http("/metrics").text))
    sent = time.monotonic()
    daemon.signal(signal.SIGTERM)
    assert daemon.wait_exit() == 0
    assert time.monotonic() - sent < 10
    with open_store(workspace.state_url) as store:
        assert store.metrics().intents_by_state["in_flight"] == 0
    assert len(sorce_jobs(sandbox)) < expected_jobs(workspace, "sorce")  # it stopped part way

    sandbox.sorce.faults.clear()
    again = start()
    again.wait_converged()
    titles = [j.get("title") for j in sorce_jobs(sandbox)]
    assert len(titles) == len(set(titles)) == expected_jobs(workspace, "sorce")
    again.signal(signal.SIGTERM)
    assert again.wait_exit() == 0


def test_second_daemon_on_the_same_database_refuses_and_names_the_first(
    start: Callable[[], DaemonProcess], notify: NotifySocket
) -> None:
    """The second daemon exits 1, saying which process holds the database."""
    first = start()
    notify.wait("READY", "1")
    second = start()
    assert second.wait_exit() == 1
    assert f"pid {first.proc.pid}" in second.stderr
    first.assert_alive()


def test_one_shot_reconcile_waits_for_the_daemon_then_refuses_naming_it(
    start: Callable[[], DaemonProcess], notify: NotifySocket, workspace: Workspace
) -> None:
    """`boardsync reconcile --wait` says it is waiting for the daemon, then gives up with exit 1
    and the daemon's pid, changing nothing; the daemon keeps running."""
    daemon = start()
    notify.wait("READY", "1")
    one_shot = subprocess.run(
        [sys.executable, "-m", "boardsync", "reconcile", "-c", str(workspace.config), "--wait", "0.5"],
        capture_output=True, text=True, env=workspace.env(notify), cwd=workspace.root, timeout=30,
    )
    assert one_shot.returncode == 1
    assert "waiting for boardsync daemon" in one_shot.stderr
    assert f"pid {daemon.proc.pid}" in one_shot.stderr
    daemon.assert_alive()



def test_plan_beside_the_running_daemon_plans_and_the_snapshot_is_served_behind_the_token(
    start: Callable[[], DaemonProcess], notify: NotifySocket, workspace: Workspace, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """While the daemon runs (holding the writer lock), `boardsync plan` exits 0 or 2, never a
    lock error, and adds no run row; GET /snapshot answers 401 without the token or with a
    wrong one, and the snapshot with it, holding the boards the daemon read."""
    workspace.write_config(reconcile="1h", metrics="1h", token=True)
    monkeypatch.setenv("BOARDSYNC_TOKEN", DAEMON_TOKEN)  # the daemon's environment starts from this one
    daemon = start()
    notify.wait("READY", "1")
    daemon.wait_converged()
    runs = _run_count(workspace)
    # A hand edit on the board, not in a posting file: the daemon would reload an edited file
    # and apply it by itself, racing the plans below; the board is not read again for an hour.
    job = next(j for j in hirempire_jobs(workspace.sandbox) if j["job_title"].startswith("Senior Backend"))
    workspace.sandbox.hirempire.edit_job(job["id"], job_title="Edited by hand")
    for _ in range(2):
        planned = subprocess.run(
            [sys.executable, "-m", "boardsync", "plan", "-c", str(workspace.config), "--wait", "0"],
            capture_output=True, text=True, env=workspace.env(notify), cwd=workspace.root, timeout=60,
        )
        assert planned.returncode in (0, 2), planned.stderr
        assert "lock" not in planned.stderr and "backend-engineer: update" in planned.stdout
    assert _run_count(workspace) == runs
    daemon.assert_alive()

    url = f"http://127.0.0.1:{workspace.port}/snapshot"
    assert httpx.get(url, timeout=5).status_code == 401
    assert httpx.get(url, headers={"Authorization": "Bearer wrong"}, timeout=5).status_code == 401
    served = httpx.get(url, headers={"Authorization": f"Bearer {DAEMON_TOKEN}"}, timeout=5)
    assert served.status_code == 200 and served.headers["cache-control"] == "no-store"
    document = served.json()
    assert document["format"] == "boardsync.snapshot"
    assert len(document["boards"]["sorce"]["view"]["jobs"]) == len(sorce_jobs(workspace.sandbox)) > 0
    assert DAEMON_TOKEN not in served.text
    assert all(value not in served.text for value in workspace.sandbox.credentials().values())


def _run_count(workspace: Workspace) -> int:
    with open_store(workspace.state_url, read_only=True) as store:
        return len(store.last_runs(limit=1000))


def _postings_table(workspace: Workspace) -> Path:
    """The example postings as rows of a SQLite table, and the root file reading them."""
    database = workspace.root / "postings.db"
    with sqlite3.connect(database) as db:
        db.execute("CREATE TABLE postings (key TEXT PRIMARY KEY, spec TEXT NOT NULL, updated_at TIMESTAMP NOT NULL)")
        for path in sorted((workspace.root / "postings").glob("*.yaml")):
            document = YAML(typ="safe").load(path.read_text())
            for spec in document if isinstance(document, list) else [document]:  # a file may hold several
                db.execute("INSERT INTO postings VALUES (?, ?, ?)",
                           (spec["key"], json.dumps(spec, default=str), "2026-01-01 00:00:00"))
    shutil.rmtree(workspace.root / "postings")
    workspace.config.write_text(workspace.config.read_text().replace(
        "postings: postings/", "postings: {sql: 'sqlite:///postings.db', table: postings}"))
    return database


def _set_title(database: Path, key: str, title: str, updated_at: str) -> None:
    with sqlite3.connect(database) as db:
        (spec,) = db.execute("SELECT spec FROM postings WHERE key = ?", (key,)).fetchone()
        db.execute("UPDATE postings SET spec = ?, updated_at = ? WHERE key = ?",
                   (json.dumps({**json.loads(spec), "title": title}), updated_at, key))


def test_a_row_changed_in_the_postings_table_is_applied_at_the_next_cycle_without_sighup(
    start: Callable[[], DaemonProcess], workspace: Workspace, sandbox: Sandbox
) -> None:
    """With postings in a database, each cycle asks the table for its row count and newest
    updated_at; a row written since is read and applied, with no SIGHUP. A row that fails
    validation is refused once, and the cycles go on with the last good rows."""
    database = _postings_table(workspace)
    daemon = start()
    daemon.wait_converged()
    reloads = len(daemon.events("config_reloaded"))

    _set_title(database, "product-designer", "Senior Product Designer", "2026-01-02 00:00:00")
    wait_for("the new title on Sorce", lambda: any(
        j.get("title") == "Senior Product Designer" for j in sorce_jobs(sandbox)))
    assert len(daemon.events("postings_table_changed")) == 1
    assert len(daemon.events("config_reloaded")) == reloads + 1

    _set_title(database, "product-designer", "", "2026-01-03 00:00:00")
    wait_for("the broken row refused", lambda: daemon.events("config_invalid"))
    runs = len(daemon.events("run_finished", kind="reconcile"))
    wait_for("two more runs on the last good rows", lambda: (
        len(daemon.events("run_finished", kind="reconcile")) >= runs + 2))
    assert len(daemon.events("postings_table_changed")) == 2  # the broken version is asked about once
    assert any(j.get("title") == "Senior Product Designer" for j in sorce_jobs(sandbox))
    daemon.assert_alive()
