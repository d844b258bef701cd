"""`boardsync daemon` as a real subprocess: where it listens and who may ask it for a link.

The signed link is an edit session, so the daemon refuses to serve it beyond loopback without
a bearer token, and asks for that token on every endpoint but the probes once it is set. A
listen address it cannot take is a one-line error, not a traceback under a restart loop.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from boardsync.sandbox.server import Sandbox
from tests.test_daemon_service import EXAMPLES, DaemonProcess, NotifySocket, Workspace, wait_for

pytestmark = pytest.mark.slow

TOKEN = "a-daemon-token-0123456789"


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


def _listen(workspace: Workspace, listen: str, token: bool = False) -> None:
    """Point the config's `daemon:` at `listen`, with the token as a reference when asked."""
    text = workspace.config.read_text()
    start = text.index("daemon: ")
    line = f"daemon: {{listen: '{listen}'" + (", token: '${BOARDSYNC_TOKEN}'" if token else "") + "}\n"
    workspace.config.write_text(text[:start] + line + text[text.index("\n", start) + 1:])


def _daemon_refused(workspace: Workspace, notify: NotifySocket) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "boardsync", "daemon", "-c", str(workspace.config)],
        capture_output=True, text=True, env=workspace.env(notify), cwd=workspace.root, timeout=60,
    )


def test_a_busy_port_is_a_one_line_error_and_exit_1(workspace: Workspace, notify: NotifySocket) -> None:
    """Another program on daemon.listen's port: the daemon says which address and which
    setting, in one line on stderr, and exits 1, with no traceback."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", workspace.port))
        taken.listen()
        ran = _daemon_refused(workspace, notify)
    assert ran.returncode == 1
    assert ran.stderr == f"boardsync daemon: daemon.listen 127.0.0.1:{workspace.port}: address already in use\n"
    assert "Traceback" not in ran.stdout


def test_a_non_loopback_listen_without_a_token_is_refused(workspace: Workspace, notify: NotifySocket) -> None:
    """`daemon.listen` on every address with no `daemon.token`: refused before anything starts,
    one line naming both settings, exit 1, nothing listening."""
    _listen(workspace, f"0.0.0.0:{workspace.port}")
    ran = _daemon_refused(workspace, notify)
    assert ran.returncode == 1
    (line,) = ran.stderr.splitlines()
    assert line.startswith(f"boardsync daemon: daemon.listen 0.0.0.0:{workspace.port} is not a loopback address")
    assert "daemon.token" in line
    assert not (workspace.root / "state.db").exists()  # refused before the database was touched


def test_with_a_token_the_daemon_asks_for_it_except_on_the_probes(
    workspace: Workspace, notify: NotifySocket, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Beyond loopback with `daemon.token`: /metrics, /links and /embed answer 401 without the
    bearer token and serve with it (the embed page frames a live RecruitiFi link); /healthz
    answers anyone; the token never shows in the daemon's log."""
    _listen(workspace, f"0.0.0.0:{workspace.port}", token=True)
    monkeypatch.setenv("BOARDSYNC_TOKEN", TOKEN)  # the daemon's environment starts from this one
    daemon = DaemonProcess(workspace, notify)
    try:
        notify.wait("READY", "1")
        base = f"http://127.0.0.1:{workspace.port}"
        bearer = {"Authorization": f"Bearer {TOKEN}"}
        assert httpx.get(f"{base}/healthz", timeout=5).status_code == 200
        for path in ("/metrics", "/links/backend-engineer", "/embed/backend-engineer"):
            assert httpx.get(f"{base}{path}", timeout=5).status_code == 401, path
        assert httpx.get(f"{base}/metrics", headers=bearer, timeout=5).status_code == 200
        assert httpx.get(f"{base}/links/backend-engineer", headers=bearer, timeout=10).status_code == 302
        page = httpx.get(f"{base}/embed/backend-engineer", headers=bearer, timeout=10)
        assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
        framed = page.text.split('<iframe src="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
        assert framed in [link["url"] for link in sandbox.recruitifi.issued_links()]
        assert httpx.get(framed, timeout=5).status_code == 200  # a live link, not a stale one
        wait_for("a log line", lambda: daemon.raw)
    finally:
        log = daemon.finish()
    assert TOKEN not in log
