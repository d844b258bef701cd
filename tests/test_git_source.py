"""Postings kept in a git branch: the `source:` setting, boardsync's own checkout, and the
follower that fetches, validates and switches commits. Real `git` against a bare remote in a
temp folder; the boards are the sandbox; fetches are called directly, nothing waits."""

from __future__ import annotations

import base64
import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from structlog.testing import capture_logs

from boardsync import config
from boardsync.config.gitsource import Checkout, checkout_folder
from boardsync.config.loader import collect
from boardsync.daemon.follow import Follower, SourceCollector
from boardsync.errors import ConfigError
from boardsync.sandbox.server import Sandbox
from boardsync.state import open_store
from tests.git_helpers import Remote, git, host_config
from tests.reconcile_helpers import FAST_LIMIT, Workspace

TITLE = "title: Senior Backend Engineer (Python)"


@pytest.fixture
def remote(tmp_path: Path) -> Remote:
    return Remote(tmp_path / "git")


class Host(Workspace):
    """The daemon's host: a root file that follows the remote's main branch, no postings."""

    def __init__(self, root: Path, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, remote: Remote) -> None:
        super().__init__(root, sandbox, monkeypatch)
        self.remote = remote
        self.went_live: list[Checkout] = []

    def write_source(self, **source: Any) -> Path:
        providers = self.sandbox.providers_yaml().replace("requests_per_hour: ", f"requests_per_hour: {FAST_LIMIT} #")
        return host_config(self.root / "boardsync.yaml", providers,
                           {"git": str(self.remote.bare), "branch": "main", "every": "1h", **source})

    def follower(self) -> Follower:
        follower = Follower.for_root(collect(self.root / "boardsync.yaml"), on_live=self.went_live.append)
        assert follower is not None
        return follower

    def last_reconcile_commit(self) -> str | None:
        with self.store() as store:
            return store.last_runs(limit=1, kind="reconcile")[0].config_commit


@pytest.fixture
def host(tmp_path: Path, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, remote: Remote) -> Host:
    workspace = Host(tmp_path / "host", sandbox, monkeypatch, remote)
    workspace.write_source()
    return workspace


# ------------------------------------------------------------------------------ the setting


def test_a_root_file_names_either_postings_or_a_git_source(host: Host) -> None:
    """`postings` beside `source` is refused, saying which to keep."""
    text = (host.root / "boardsync.yaml").read_text()
    (host.root / "boardsync.yaml").write_text(text + "postings: postings/\n")
    with pytest.raises(ConfigError, match="give either `postings` or `source`"):
        config.load(host.root / "boardsync.yaml")


@pytest.mark.parametrize(("setting", "message"), [
    ({"git": "https://bot:hunter2@git.example/acme/jobs.git"}, "holds a password"),
    ({"branch": "--upload-pack=touch"}, "source.branch"),
    ({"path": "../elsewhere"}, "inside the repository"),
    ({"every": "often"}, "source.every"),
])
def test_a_bad_source_setting_is_a_config_error_naming_it(host: Host, setting: dict[str, str], message: str) -> None:
    """A password in the URL, a branch that would read as an option, a path out of the
    repository or a wrong interval: each is refused with the field named."""
    host.write_source(**setting)
    with pytest.raises(ConfigError, match=message) as refused:
        config.load(host.root / "boardsync.yaml")
    assert "hunter2" not in str(refused.value)


def test_before_the_first_fetch_the_config_says_nothing_is_checked_out(host: Host) -> None:
    """Loading a root file whose branch was never fetched names `source` and the daemon."""
    with pytest.raises(ConfigError, match="no commit of the branch checked out yet"):
        config.load(host.root / "boardsync.yaml")


# ------------------------------------------------------------------------------ following


def test_a_pushed_commit_goes_live_and_the_run_records_it(host: Host, remote: Remote) -> None:
    """The first fetch puts the tip live and the boards get its postings; a pushed edit,
    once fetched, is live, the next reconcile applies it, and each run records its commit."""
    follower = host.follower()
    assert follower.prepare().commit == remote.first
    assert host.run("reconcile").code == 0
    assert host.last_reconcile_commit() == remote.first
    assert host.sorce_job("backend-engineer")["title"] == "Senior Backend Engineer (Python)"

    second = remote.edit("postings/backend-engineer.yaml", TITLE, "title: Staff Backend Engineer (Python)",
                         "backend-engineer: staff")
    assert follower.fetch("webhook github") == "live"
    assert [c.commit for c in host.went_live] == [second]
    assert config.load(host.root / "boardsync.yaml").commit == second
    assert host.run("reconcile").code == 0
    assert host.sorce_job("backend-engineer")["title"] == "Staff Backend Engineer (Python)"
    assert host.last_reconcile_commit() == second
    assert follower.fetch("schedule") == "unchanged"
    commits = checkout_folder(host.desired().root, host.root / "boardsync.yaml", host.desired().state_url) / "commits"
    assert [p.name for p in commits.iterdir()] == [second]  # the old work tree is gone


def _break_salary(clone: Path) -> None:
    path = clone / "postings" / "backend-engineer.yaml"
    path.write_text(path.read_text().replace("max: 195000", "max: 1000").replace("level: senior", "level: guru"))


def test_a_commit_that_fails_validation_is_refused_and_the_last_good_one_keeps_running(
    host: Host, remote: Remote
) -> None:
    """Every problem of a bad commit is logged, the commit is refused and recorded as such,
    the good commit stays live; `status --json` and the metrics show both."""
    follower = host.follower()
    follower.prepare()
    with open_store(host.desired().state_url) as store:
        follower.record_to(store)
        bad = remote.commit("backend-engineer: a broken salary and level", _break_salary)
        with capture_logs() as logs:
            assert follower.fetch("webhook gitlab") == "refused"
    refused = next(e for e in logs if e["event"] == "source_commit_refused")
    assert refused["commit"] == bad[:12]
    assert any(p.startswith("postings/backend-engineer.yaml:") and "salary" in p for p in refused["problems"])
    assert any(p.startswith("postings/backend-engineer.yaml:") and "level" in p for p in refused["problems"])
    assert host.went_live == []
    assert config.load(host.root / "boardsync.yaml").commit == remote.first

    rows = json.loads(host.run("status", "--json").out)
    assert {(r["commit"], r["refused_commit"]) for r in rows} == {(remote.first, bad)}
    assert "level" in rows[0]["refused_reason"] and "salary" in rows[0]["refused_reason"]
    assert f"commit {bad[:12]} was refused" in host.run("status").out

    registry = CollectorRegistry()
    registry.register(SourceCollector(follower))
    page = generate_latest(registry).decode()
    assert f'boardsync_source_commit_info{{commit="{remote.first}",state="live"}} 1.0' in page
    assert f'boardsync_source_commit_info{{commit="{bad}",state="refused"}} 1.0' in page
    assert 'boardsync_source_fetches_total{result="refused"} 1.0' in page
    assert follower.fetch("schedule") == "unchanged"  # not validated and logged again each minute

    fixed = remote.edit("postings/backend-engineer.yaml", "max: 1000", "max: 195000", "backend-engineer: fixed")
    remote.edit("postings/backend-engineer.yaml", "level: guru", "level: senior", "backend-engineer: level")
    assert fixed != remote.first
    with open_store(host.desired().state_url) as store:
        follower.record_to(store)
        assert follower.fetch("schedule") == "live"
    rows = json.loads(host.run("status", "--json").out)
    assert rows[0]["refused_commit"] is None and rows[0]["commit"] == git("rev-parse", "HEAD", cwd=remote.clone)


def test_a_burst_of_asks_is_one_fetch(host: Host, remote: Remote) -> None:
    """Asks that come while a fetch waits are that fetch: five asks, one fetch."""
    follower = host.follower()
    follower.prepare()
    remote.edit("postings/backend-engineer.yaml", TITLE, "title: Principal Backend Engineer", "title")
    assert [follower.ask("webhook github") for _ in range(5)] == [True, False, False, False, False]
    assert follower.step(wait=0) == "live"
    assert sum(follower.fetches.values()) == 2  # the first at start, and this one
    assert follower.requests.take(0) is None


def test_an_unreachable_remote_keeps_the_live_commit(host: Host, remote: Remote) -> None:
    """A fetch that fails is logged with git's reason; the live commit keeps running."""
    follower = host.follower()
    follower.prepare()
    remote.bare.rename(remote.bare.with_name("moved.git"))
    assert follower.fetch("schedule") == "failed"
    assert follower.last_error is not None and "git fetch failed" in follower.last_error
    assert follower.live() is not None and follower.live().commit == remote.first  # type: ignore[union-attr]
    assert "last fetch failed" in follower.detail()


def test_a_symlink_in_the_repository_does_not_read_the_hosts_files(host: Host, remote: Remote) -> None:
    """A posting file that is a symlink to a file on the host is checked out as the link's
    text, so the commit is refused instead of publishing what the host file holds."""
    follower = host.follower()
    follower.prepare()
    outside = host.root / "private.yaml"
    outside.write_text((remote.clone / "postings" / "backend-engineer.yaml").read_text()
                       .replace("key: backend-engineer", "key: from-the-host"))
    remote.commit("a link out", lambda clone: (clone / "postings" / "link.yaml").symlink_to(outside))
    assert follower.fetch("schedule") == "refused"
    assert follower.refused is not None
    assert any(p.startswith("postings/link.yaml") for p in follower.refused.problems), follower.refused.problems


# ------------------------------------------------------------------------------ a token


class _DumbGit(http.server.SimpleHTTPRequestHandler):
    """Git's dumb HTTP protocol over a bare repository, behind HTTP basic auth."""

    expected = ""
    seen: list[str] = []

    def do_GET(self) -> None:
        given = self.headers.get("Authorization", "")
        type(self).seen.append(given)
        if given != self.expected:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        super().do_GET()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def served_remote(remote: Remote) -> Iterator[str]:
    git("update-server-info", cwd=remote.bare)
    _DumbGit.expected = "Basic " + base64.b64encode(b"x-access-token:s3cret-git-token").decode()
    _DumbGit.seen = []

    def handler(*args: Any) -> _DumbGit:
        return _DumbGit(*args, directory=str(remote.bare.parent))

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/{remote.bare.name}"
    server.shutdown()
    server.server_close()


def test_a_token_reaches_git_through_askpass_and_is_never_written_down(
    host: Host, remote: Remote, served_remote: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Over HTTPS-style auth the token given by reference is what git sends; it is in no
    file of the checkout folder; without it the fetch fails and says so."""
    monkeypatch.setenv("GIT_TOKEN", "s3cret-git-token")
    host.write_source(git=served_remote, token="${GIT_TOKEN}")
    follower = host.follower()
    assert follower.prepare().commit == remote.first
    assert _DumbGit.expected in _DumbGit.seen
    for path in follower.git.folder.rglob("*"):
        if path.is_file() and not path.is_symlink():
            assert b"s3cret-git-token" not in path.read_bytes(), path

    host.write_source(git=served_remote)
    anonymous = host.follower()
    assert anonymous.fetch("schedule") == "failed"
    assert anonymous.last_error is not None and "git fetch failed" in anonymous.last_error
