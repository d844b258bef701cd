"""The sticky plan comment, against a GitHub-like and a GitLab-like REST API served on loopback:
one comment per review, found by its marker across pages, created once and edited after."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from boardsync.ci.comment import MARKER, main

TOKEN = "tok-3f9a1c"
GITHUB_LIST = re.compile(r"^/repos/acme/jobs/issues/(\d+)/comments$")
GITHUB_ONE = re.compile(r"^/repos/acme/jobs/issues/comments/(\d+)$")
GITLAB_LIST = re.compile(r"^/projects/acme%2Fjobs/merge_requests/(\d+)/notes$")
GITLAB_ONE = re.compile(r"^/projects/acme%2Fjobs/merge_requests/(\d+)/notes/(\d+)$")


@dataclass
class Forge:
    """What the fake forge holds: comments per review, and every call it answered."""

    comments: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    deny: bool = False
    next_id: int = 1000

    def add(self, review: int, body: str, **extra: Any) -> dict[str, Any]:
        self.next_id += 1
        comment = {"id": self.next_id, "body": body, **extra}
        self.comments.setdefault(review, []).append(comment)
        return comment

    def by_id(self, comment_id: int) -> dict[str, Any] | None:
        return next((c for cs in self.comments.values() for c in cs if c["id"] == comment_id), None)


def _handler(forge: Forge) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # keep the test output clean
            pass

        def _answer(self, status: int, payload: Any) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _authorized(self) -> bool:
            return (self.headers.get("Authorization") == f"Bearer {TOKEN}"
                    or self.headers.get("PRIVATE-TOKEN") == TOKEN)

        def _handle(self) -> None:
            url = urlsplit(self.path)
            forge.calls.append(f"{self.command} {url.path}")
            if not self._authorized() or forge.deny:
                return self._answer(403, {"message": "Resource not accessible by integration"})
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
            listing = GITHUB_LIST.match(url.path) or GITLAB_LIST.match(url.path)
            one = GITHUB_ONE.match(url.path) or GITLAB_ONE.match(url.path)
            if listing and self.command == "GET":
                query = parse_qs(url.query)
                size, page = int(query["per_page"][0]), int(query["page"][0])
                every = forge.comments.get(int(listing[1]), [])
                return self._answer(200, every[(page - 1) * size: page * size])
            if listing and self.command == "POST":
                return self._answer(201, forge.add(int(listing[1]), body["body"]))
            if one and self.command in ("PATCH", "PUT"):
                comment = forge.by_id(int(one.groups()[-1]))
                if comment is None:
                    return self._answer(404, {"message": "Not Found"})
                comment["body"] = body["body"]
                return self._answer(200, comment)
            return self._answer(404, {"message": "Not Found"})

        do_GET = do_POST = do_PATCH = do_PUT = _handle

    return Handler


@pytest.fixture
def forge() -> Iterator[tuple[Forge, str]]:
    """The fake forge running on loopback, and its API root."""
    state = Forge()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(autouse=True)
def tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    monkeypatch.setenv("BOARDSYNC_GITLAB_TOKEN", TOKEN)


def post(tmp_path: Path, api: str, forge: str, text: str, *extra: str) -> int:
    body = tmp_path / "plan.md"
    body.write_text(text)
    where = ["--repo", "acme/jobs"] if forge == "github" else ["--project", "acme/jobs"]
    return main([forge, "--api", api, *where, "--number", "7", "--body", str(body), *extra])


def test_github_first_run_creates_the_comment_and_later_runs_edit_it(forge: tuple[Forge, str], tmp_path: Path) -> None:
    """Two plans on one pull request leave one comment, holding the second plan under the marker."""
    state, api = forge
    state.add(7, "LGTM")
    assert post(tmp_path, api, "github", "### boardsync plan\n\n**2 to create**\n") == 0
    assert post(tmp_path, api, "github", "### boardsync plan\n\n**in sync**\n") == 0
    bodies = [c["body"] for c in state.comments[7]]
    assert bodies == ["LGTM", f"{MARKER}\n### boardsync plan\n\n**in sync**\n"]
    assert state.calls.count("POST /repos/acme/jobs/issues/7/comments") == 1
    assert state.calls[-1] == f"PATCH /repos/acme/jobs/issues/comments/{state.comments[7][1]['id']}"


def test_the_marked_comment_is_found_past_the_first_page(forge: tuple[Forge, str], tmp_path: Path) -> None:
    """With 150 comments before it, the plan comment (on page 2) is edited, not duplicated."""
    state, api = forge
    for n in range(150):
        state.add(7, f"comment {n}")
    ours = state.add(7, f"{MARKER}\nold plan")
    assert post(tmp_path, api, "github", "new plan") == 0
    assert len(state.comments[7]) == 151 and ours["body"] == f"{MARKER}\nnew plan"
    assert "POST /repos/acme/jobs/issues/7/comments" not in state.calls


def test_a_different_marker_keeps_a_second_comment(forge: tuple[Forge, str], tmp_path: Path) -> None:
    """Two configurations in one repository, each with its marker, keep a comment each."""
    state, api = forge
    assert post(tmp_path, api, "github", "plan a", "--marker", "<!-- boardsync-plan a.yaml -->") == 0
    assert post(tmp_path, api, "github", "plan b", "--marker", "<!-- boardsync-plan b.yaml -->") == 0
    assert [c["body"].split("\n")[1] for c in state.comments[7]] == ["plan a", "plan b"]


def test_gitlab_note_is_created_then_edited_and_system_notes_are_ignored(
    forge: tuple[Forge, str], tmp_path: Path,
) -> None:
    """On a merge request: one note, found by the marker, edited with PUT; a system note that
    quotes the marker is not taken for it."""
    state, api = forge
    state.add(7, f"changed the description: {MARKER}", system=True)
    assert post(tmp_path, api, "gitlab", "first") == 0
    assert post(tmp_path, api, "gitlab", "second") == 0
    assert [c["body"] for c in state.comments[7]][1:] == [f"{MARKER}\nsecond"]
    assert any(call.startswith("PUT /projects/acme%2Fjobs/merge_requests/7/notes/") for call in state.calls)


def test_a_refused_call_exits_1_naming_the_call_and_never_the_token(
    forge: tuple[Forge, str], tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    """A token that may not comment (a pull request from a fork) is an error that says which
    call the forge refused and why."""
    state, api = forge
    state.deny = True
    assert post(tmp_path, api, "github", "plan") == 1
    err = capsys.readouterr().err
    assert f"GitHub GET {api}/repos/acme/jobs/issues/7/comments: HTTP 403" in err
    assert "Resource not accessible by integration" in err and TOKEN not in err


def test_no_token_is_an_error_naming_the_variable(
    forge: tuple[Forge, str], tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without a token nothing is sent, and the message names the variable to set."""
    state, api = forge
    monkeypatch.delenv("BOARDSYNC_GITLAB_TOKEN")
    assert post(tmp_path, api, "gitlab", "plan") == 1
    assert "set BOARDSYNC_GITLAB_TOKEN" in capsys.readouterr().err and state.calls == []


def test_a_plan_longer_than_a_comment_holds_is_cut_with_a_note(forge: tuple[Forge, str], tmp_path: Path) -> None:
    """GitHub keeps 65536 characters: a longer plan is cut to fit, saying where the rest is."""
    state, api = forge
    assert post(tmp_path, api, "github", "| row |\n" * 10_000) == 0
    body = state.comments[7][0]["body"]
    assert len(body) == 65_536 and body.startswith(MARKER)
    assert body.endswith("The whole plan is in the job's log.\n")
