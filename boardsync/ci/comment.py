"""One sticky comment on a GitHub pull request or a GitLab merge request.

The comment carries a hidden marker (an HTML comment, not shown): the first run creates it, each
later run finds it by the marker and edits it, so a pull request holds one plan comment, the
latest, however often it is pushed to. Comments without the marker are never touched.

    python -m boardsync.ci.comment github --api URL --repo OWNER/NAME --number N --body FILE
    python -m boardsync.ci.comment gitlab --api URL --project ID --number IID --body FILE

The token comes from the environment (``GITHUB_TOKEN``, or ``BOARDSYNC_GITLAB_TOKEN`` for
GitLab), never from the command line, where other processes could read it. Exit 0 when the
comment is in place, 1 on any error, which names the call and the forge's answer.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

import httpx

MARKER = "<!-- boardsync-plan -->"
PAGE_SIZE = 100  # the most either forge returns in one page
ERROR_BODY_CHARS = 300
TOKEN_ENV = {"github": "GITHUB_TOKEN", "gitlab": "BOARDSYNC_GITLAB_TOKEN"}


class CommentError(Exception):
    """A call to the forge failed: which call, and what the forge said."""


@dataclass(frozen=True)
class Forge:
    """Where one review's comments are listed, edited and added, and how to authenticate."""

    name: str
    comments: str  # GET lists them (paginated), POST adds one
    comment: str  # one comment by id ({id}), edited with `edit_method`
    edit_method: Literal["PATCH", "PUT"]
    limit: int  # the longest body the forge keeps
    headers: dict[str, str] = field(repr=False)


def github(api: str, repo: str, number: int, token: str) -> Forge:
    """A pull request's conversation: GitHub keeps them as issue comments."""
    base = f"{api.rstrip('/')}/repos/{repo}"
    return Forge(
        name="GitHub",
        comments=f"{base}/issues/{number}/comments",
        comment=base + "/issues/comments/{id}",
        edit_method="PATCH",
        limit=65_536,
        headers={
            "Authorization": f"Bearer {token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
        },
    )


def gitlab(api: str, project: str, number: int, token: str) -> Forge:
    """A merge request's notes. `project` is the numeric id or the path (namespace/name)."""
    base = f"{api.rstrip('/')}/projects/{quote(project, safe='')}/merge_requests/{number}/notes"
    return Forge(
        name="GitLab",
        comments=base,
        comment=base + "/{id}",
        edit_method="PUT",
        limit=1_000_000,
        headers={"PRIVATE-TOKEN": token},
    )


def upsert(client: httpx.Client, forge: Forge, text: str, marker: str = MARKER) -> tuple[str, int]:
    """Edit the comment holding `marker`, or add one: ("updated" | "created", its id)."""
    body = comment_body(text, marker, forge.limit)
    found = find(client, forge, marker)
    if found is not None:
        _call(client, forge, forge.edit_method, forge.comment.format(id=found), {"body": body})
        return "updated", found
    created = _call(client, forge, "POST", forge.comments, {"body": body})
    return "created", int(created["id"])


def find(client: httpx.Client, forge: Forge, marker: str) -> int | None:
    """The id of the first comment holding `marker`, looking through every page."""
    for comment in _every_comment(client, forge):
        if not comment.get("system") and marker in str(comment.get("body") or ""):
            return int(comment["id"])
    return None


def comment_body(text: str, marker: str, limit: int) -> str:
    """The marker on the first line, then the text, cut to what the forge keeps with a line
    that says so (the whole plan stays in the job's log)."""
    body = f"{marker}\n{text}"
    if len(body) <= limit:
        return body
    note = f"\n\n… cut here: a comment holds {limit} characters. The whole plan is in the job's log.\n"
    return body[: limit - len(note)] + note


def _every_comment(client: httpx.Client, forge: Forge) -> Iterator[dict[str, Any]]:
    page = 1
    while True:
        batch = _call(client, forge, "GET", forge.comments, params={"per_page": PAGE_SIZE, "page": page})
        if not isinstance(batch, list):
            raise CommentError(f"{forge.name} GET {forge.comments}: expected a list of comments")
        yield from batch
        if len(batch) < PAGE_SIZE:
            return
        page += 1


def _call(
    client: httpx.Client, forge: Forge, method: str, url: str,
    json: dict[str, str] | None = None, params: dict[str, int] | None = None,
) -> Any:
    try:
        response = client.request(method, url, json=json, params=params, headers=forge.headers)
    except httpx.HTTPError as exc:
        raise CommentError(f"{forge.name} {method} {url}: {exc}") from exc
    if response.status_code >= 400:
        raise CommentError(
            f"{forge.name} {method} {url}: HTTP {response.status_code}: {response.text[:ERROR_BODY_CHARS]}"
        )
    return response.json()


# ------------------------------------------------------------------------------ command line


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m boardsync.ci.comment",
        description="Create or update the one boardsync plan comment on a pull or merge request.",
    )
    parser.add_argument("forge", choices=["github", "gitlab"])
    parser.add_argument("--api", required=True, help="the REST API root ($GITHUB_API_URL, $CI_API_V4_URL)")
    parser.add_argument("--repo", help="GitHub: owner/name ($GITHUB_REPOSITORY)")
    parser.add_argument("--project", help="GitLab: the project's id or path ($CI_PROJECT_ID)")
    parser.add_argument("--number", type=int, required=True, help="the pull request's number, the merge request's iid")
    parser.add_argument("--body", type=Path, required=True, help="a file holding the comment's Markdown")
    parser.add_argument("--marker", default=MARKER, help=f"the hidden line that finds the comment (default: {MARKER})")
    return parser


def _forge(args: argparse.Namespace, token: str) -> Forge:
    if args.forge == "github":
        if not args.repo:
            raise CommentError("github needs --repo OWNER/NAME")
        return github(args.api, args.repo, args.number, token)
    if not args.project:
        raise CommentError("gitlab needs --project ID")
    return gitlab(args.api, args.project, args.number, token)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    token = os.environ.get(TOKEN_ENV[args.forge], "")
    try:
        if not token:
            raise CommentError(f"no token: set {TOKEN_ENV[args.forge]} to a token that may comment")
        forge = _forge(args, token)
        with httpx.Client(timeout=30.0) as client:
            done, comment_id = upsert(client, forge, args.body.read_text(encoding="utf-8"), args.marker)
    except (CommentError, OSError) as exc:
        print(f"boardsync comment: {exc}", file=sys.stderr)
        return 1
    print(f"{done} {forge.name} comment {comment_id}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
