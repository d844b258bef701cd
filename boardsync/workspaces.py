"""Workspaces: one database holding the state of several root configs, each a workspace.

A workspace has a name (lower-case letters, digits and _, starting with a letter). Every
command works in one: `--workspace NAME`, else ``$BOARDSYNC_WORKSPACE``, else the default
workspace, which is the database as a single config has always used it. Where a workspace
keeps its rows is the state database's business (`boardsync.state.db`): a schema of its own
on PostgreSQL, a file of its own beside the named one on SQLite.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from boardsync.errors import StateError

ENV = "BOARDSYNC_WORKSPACE"
"""Where the workspace is read from when `--workspace` is not given."""

DEFAULT = "default"

URL_PARAM = "workspace"
"""The PostgreSQL URL parameter naming the workspace (``…/boardsync?workspace=acme``)."""

_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")


def is_name(text: str) -> bool:
    """Whether `text` can name a workspace."""
    return _NAME.fullmatch(text) is not None


def check(name: str) -> str:
    """`name` when it can name a workspace; a `StateError` saying what can, when not."""
    if not is_name(name):
        raise StateError(
            f"{name!r} cannot name a workspace: use lower-case letters, digits and _, "
            "starting with a letter, at most 40 characters"
        )
    return name


def schema(name: str) -> str | None:
    """The PostgreSQL schema holding workspace `name` (None: the database's default one)."""
    return None if check(name) == DEFAULT else f"ws_{name}"


def in_url(url: str, name: str) -> str:
    """The database URL `url` naming workspace `name` (`URL_PARAM`), in place of any it named."""
    rest, _ = named_in_url(url)
    parts = urlsplit(rest)
    query = [*parse_qsl(parts.query, keep_blank_values=True), (URL_PARAM, name)]
    return urlunsplit(parts._replace(query=urlencode(query, quote_via=quote)))


def named_in_url(url: str) -> tuple[str, list[str]]:
    """The database URL `url` without its workspace parameter, and the names it gave."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    named = [value for key, value in query if key == URL_PARAM]
    rest = urlencode([(key, value) for key, value in query if key != URL_PARAM], quote_via=quote)
    return urlunsplit(parts._replace(query=rest)), named
