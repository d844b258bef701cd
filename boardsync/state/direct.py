"""The state database opened by its own driver (the standard library's sqlite3, or psycopg),
only to be read: `status` reads through it and so never loads SQLAlchemy, whose import is
most of a short command's start-up. The statements are those the `Store` runs
(`boardsync.state.status`).

Only a database that stands at this boardsync's revision is read this way. Anything else
(a missing file, an empty database, another revision, a URL of another form, an error of the
driver) is left to the ordinary path, `open_store`, which then creates, refuses or reports it
exactly as every command does.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote, urlsplit, urlunsplit

from boardsync import workspaces
from boardsync.state.connect import BUSY_TIMEOUT_MS, Keepalive, pg_connect_args, sqlite_pragmas
from boardsync.state.revisions import head
from boardsync.state.status import Query, StatusReads

SQLITE_PREFIX = "sqlite:///"
POSTGRESQL_SCHEMES = ("postgresql", "postgresql+psycopg")
REVISION = "SELECT version_num FROM alembic_version"


class _Cursor(Protocol):
    def fetchall(self) -> Sequence[Sequence[Any]]: ...


class _Connection(Protocol):
    """What both drivers' connections offer and the reads use."""

    def execute(self, statement: str, /) -> _Cursor: ...
    def rollback(self) -> None: ...
    def close(self) -> None: ...


class DirectState(StatusReads):
    """A state database at this boardsync's revision, read through its driver's connection."""

    def __init__(self, connection: _Connection, *, begin: str | None) -> None:
        self._connection = connection
        self._begin = begin
        """The statement that starts a read transaction; None where the driver starts one."""

    @contextmanager
    def reading(self) -> Iterator[Query]:
        if self._begin is not None:
            self._connection.execute(self._begin)
        try:
            yield lambda statement: self._connection.execute(statement).fetchall()
        finally:
            self._connection.rollback()

    def at_head(self) -> bool:
        with self.reading() as query:
            return [tuple(row) for row in query(REVISION)] == [(head(),)]

    def close(self) -> None:
        self._connection.close()

    def __enter__(self) -> DirectState:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_direct(url: str) -> DirectState | None:
    """The state database at `url`, opened by its driver to be read, when it stands at this
    boardsync's revision; None when the ordinary path must open it instead."""
    if url.startswith(SQLITE_PREFIX):
        opened = _sqlite(url[len(SQLITE_PREFIX):])
    elif urlsplit(url).scheme in POSTGRESQL_SCHEMES:
        opened = _postgresql(url)
    else:
        return None
    if opened is None:
        return None
    state, driver_error = opened
    try:
        if state.at_head():
            return state
    except driver_error:  # no such table, …: the ordinary path tells what the database is
        pass
    state.close()
    return None


Opened = tuple[DirectState, type[Exception]]
"""A database opened, and its driver's error class."""


def _sqlite(database: str) -> Opened | None:
    import sqlite3

    if not database or "?" in database or database == ":memory:" or database.startswith("file:"):
        return None
    path = Path(database)
    if not path.is_file():
        return None
    # Opened for reading and writing (never created: ``mode=rw``), as the engine opens it, so
    # that closing the last connection checkpoints and removes the WAL files as it always
    # did; but no statement may write, and the journal mode is left as the writer set it.
    connection = None
    try:
        connection = sqlite3.connect(
            f"file:{quote(str(path))}?mode=rw", uri=True, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
        )
        for pragma in sqlite_pragmas(wal=False, read_only=True):
            connection.execute(pragma)
    except sqlite3.Error:
        if connection is not None:
            connection.close()
        return None
    return DirectState(connection, begin="BEGIN"), sqlite3.Error


def _postgresql(url: str) -> Opened | None:
    try:
        import psycopg
    except ImportError:  # the ordinary path says how to install it
        return None
    libpq = _libpq_url(url)
    if libpq is None:
        return None
    conninfo, schema = libpq
    try:
        connection = psycopg.connect(conninfo, **pg_connect_args(Keepalive(), read_only=True, schema=schema))
    except psycopg.Error:  # the ordinary path connects again, and reports the error as it always did
        return None
    return DirectState(connection, begin=None), psycopg.Error


def _libpq_url(url: str) -> tuple[str, str | None] | None:
    """The URL as libpq reads it (its own scheme, without the workspace parameter), and the
    schema of the workspace it names (None: the default one); None when the workspace
    parameter is not one name."""
    rest, named = workspaces.named_in_url(url)
    if len(named) > 1 or (named and not workspaces.is_name(named[0])):
        return None
    schema = workspaces.schema(named[0]) if named else None
    return urlunsplit(urlsplit(rest)._replace(scheme="postgresql", fragment="")), schema
