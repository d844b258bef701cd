"""`boardsync daemon` following a git branch, as a real process: a bare repository is the
remote, the sandbox boards are on loopback, and pushes reach the daemon through its signed
webhook. The branch's own schedule is an hour, so only the webhook can make it fetch."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from boardsync.sandbox.server import Sandbox
from boardsync.state.store import open_store
from tests.git_helpers import Remote, github_signature, host_config
from tests.test_daemon_service import DaemonProcess, NotifySocket, Workspace, wait_for

pytestmark = pytest.mark.slow

SECRET = "push-secret-0123456789abcdef"
PUSH = json.dumps({"ref": "refs/heads/main"}).encode()


class GitHost(Workspace):
    """The daemon's host: a root file following the remote's main branch, no postings."""

    remote: Remote

    def write_following(self) -> None:
        host_config(
            self.config, self.sandbox.providers_yaml(),
            {"git": str(self.remote.bare), "branch": "main", "every": "1h"},
            schedule={"reconcile": "1h", "metrics": "1h"},
            daemon={"listen": f"127.0.0.1:{self.port}", "webhook_secret": "${WEBHOOK_SECRET}"},
        )

    def env(self, notify: NotifySocket) -> dict[str, str]:
        return super().env(notify) | {"WEBHOOK_SECRET": SECRET}

    def hook(self, headers: dict[str, str], body: bytes = PUSH) -> httpx.Response:
        return httpx.post(f"http://127.0.0.1:{self.port}/hooks/git", content=body, headers=headers, timeout=5)

    def reconcile_commits(self) -> list[str | None]:
        with open_store(self.state_url) as store:
            return [r.config_commit for r in store.last_runs(limit=50, kind="reconcile") if r.outcome == "converged"]

    def status_json(self) -> list[dict[str, Any]]:
        done = subprocess.run([sys.executable, "-m", "boardsync", "status", "--json", "-c", str(self.config)],
                              capture_output=True, text=True, env={**os.environ, **self.sandbox.credentials()},
                              cwd=self.root, timeout=60, check=False)
        assert done.returncode == 0, done.stderr
        return list(json.loads(done.stdout))


@pytest.fixture
def host(tmp_path: Path, sandbox: Sandbox) -> Iterator[GitHost]:
    ws = GitHost(tmp_path / "host", sandbox)
    ws.remote = Remote(tmp_path / "git")
    ws.write_following()
    yield ws
    sandbox.clock.reset()


@pytest.fixture
def daemon(host: GitHost, tmp_path: Path) -> Iterator[DaemonProcess]:
    notify = NotifySocket(tmp_path / "notify.sock")
    process = DaemonProcess(host, notify)
    yield process
    process.finish()
    notify.close()


def _title(sandbox: Sandbox, title: str) -> Callable[[], bool]:
    return lambda: any(job["title"] == title for job in sandbox.sorce.snapshot()["jobs"])


def _fetches(daemon: DaemonProcess) -> float:
    page = daemon.http("/metrics").text
    return sum(float(line.rsplit(" ", 1)[1]) for line in page.splitlines()
               if line.startswith("boardsync_source_fetches_total{"))


def test_the_daemon_follows_the_branch_through_signed_pushes_and_refuses_a_bad_commit(
    host: GitHost, daemon: DaemonProcess, sandbox: Sandbox
) -> None:
    """The daemon converges on the branch's tip; unsigned or wrongly signed webhooks are 401
    and fetch nothing; a signed one makes a pushed edit reach the board, and the run records
    its commit; a commit that fails validation is refused, the previous one stays live, and
    `status --json`, /readyz and /metrics say so."""
    remote = host.remote
    daemon.wait_converged()
    assert host.reconcile_commits()[0] == remote.first

    second = remote.edit("postings/backend-engineer.yaml", "title: Senior Backend Engineer (Python)",
                         "title: Staff Backend Engineer (Python)", "backend-engineer: staff")
    fetched = _fetches(daemon)
    assert host.hook({}).status_code == 401
    assert host.hook({"X-Hub-Signature-256": github_signature(PUSH, "not-the-secret")}).status_code == 401
    assert host.hook({"X-Gitlab-Token": "not-the-secret"}).status_code == 401
    assert _fetches(daemon) == fetched
    assert not daemon.events("source_fetch_asked")

    assert host.hook({"X-Hub-Signature-256": github_signature(PUSH, SECRET)}).status_code == 202
    wait_for("the pushed title on Sorce", _title(sandbox, "Staff Backend Engineer (Python)"), timeout=30)
    wait_for("a converged run of the pushed commit", lambda: host.reconcile_commits()[0] == second, timeout=30)

    def broken(clone: Path) -> None:
        path = clone / "postings" / "backend-engineer.yaml"
        path.write_text(path.read_text().replace("max: 195000", "max: 1000"))

    bad = remote.commit("backend-engineer: a broken salary", broken)
    assert host.hook({"X-Gitlab-Token": SECRET}).status_code == 202
    refused = wait_for("the refusal", lambda: daemon.events("source_commit_refused"), timeout=30)[0]
    assert refused["commit"] == bad[:12] and refused["live"] == second[:12]
    assert any("salary" in problem for problem in refused["problems"])

    rows = host.status_json()
    assert {(r["commit"], r["refused_commit"]) for r in rows} == {(second, bad)}
    readyz = daemon.http("/readyz").json()
    assert readyz["checks"]["source"]["ok"] is True
    assert f"live {second[:12]}; refused {bad[:12]}" in readyz["checks"]["source"]["detail"]
    page = daemon.http("/metrics").text
    assert f'boardsync_source_commit_info{{commit="{second}",state="live"}} 1.0' in page
    assert f'boardsync_source_commit_info{{commit="{bad}",state="refused"}} 1.0' in page
    assert _title(sandbox, "Staff Backend Engineer (Python)")()

    daemon.signal(signal.SIGTERM)
    assert daemon.wait_exit() == 0
