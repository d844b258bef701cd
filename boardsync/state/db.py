"""The database engine: SQLite tuned for a journal that must survive a crash.

SQLite runs in WAL mode with ``synchronous=FULL`` (a committed intent is on disk before the
call it announces is made), a busy timeout (a reader never fails because a writer is busy),
and ``BEGIN IMMEDIATE`` for writes (a write transaction takes the write lock at its start,
so two writers queue instead of failing half-way with SQLITE_BUSY). A new database file is
created with mode 0600: it holds signed links.

PostgreSQL is reached through psycopg 3 (a plain ``postgresql://`` URL means it), with TCP
keepalives both ways, so a session whose peer vanished (a host gone, a network cut) ends in
seconds instead of hours. A read-only engine opens every transaction read-only.

A database can hold several **workspaces**, each the whole state of one root config. On
PostgreSQL a workspace is a schema of its own (``ws_<name>``), chosen by the URL's
``workspace`` parameter, which becomes the connection's ``search_path``: every query finds
that workspace's tables and no other's. On SQLite a workspace is a file of its own beside the
named one (``boardsync.db`` → ``boardsync.acme.db``). The default workspace is the database
as it always was (PostgreSQL's ``public`` schema, the named SQLite file).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.pool import StaticPool

from boardsync import workspaces
from boardsync.errors import StateError
from boardsync.state.connect import (  # how every connection is set up, also to be had from here
    BUSY_TIMEOUT_MS as BUSY_TIMEOUT_MS,
    PG_DRIVER as PG_DRIVER,
    Keepalive as Keepalive,
    pg_connect_args as pg_connect_args,
    sqlite_pragmas,
)

BEGIN_OPTION = "boardsync_begin"
"""Execution option naming how a SQLite transaction begins: DEFERRED (reads) or IMMEDIATE."""


IN_LIST = 500
"""Values in one ``IN (…)`` list: far fewer than the bound parameters SQLite (32,766) and
PostgreSQL (65,535) take in one statement, which a list of every posting, run or event passes."""

LOCK_TABLE = "writer_lock"
"""Who holds a PostgreSQL database's writer lock (`boardsync.daemon.lock`): a table beside
the versioned schema, which the lock creates before the schema may exist."""

def parse_url(url: str) -> URL:
    try:
        parsed = make_url(url)
    except (sa.exc.ArgumentError, ValueError) as exc:
        raise StateError(f"not a database URL: {url!r}") from exc
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername=f"postgresql+{PG_DRIVER}")
    return parsed


def is_postgresql(url: str | URL) -> bool:
    return (parse_url(url) if isinstance(url, str) else url).get_backend_name() == "postgresql"


def workspace_of(url: str | URL) -> str:
    """The workspace a PostgreSQL URL names (the default workspace when none)."""
    parsed = parse_url(url) if isinstance(url, str) else url
    return str(parsed.query.get(workspaces.URL_PARAM) or workspaces.DEFAULT)


def split_workspace(url: URL) -> tuple[URL, str | None]:
    """A URL as the driver takes it, and the schema of the workspace it named (None: the
    default workspace, in the database's own default schema)."""
    workspace = url.query.get(workspaces.URL_PARAM)
    if workspace is None:
        return url, None
    if url.get_backend_name() == "sqlite":
        raise StateError(
            f"{describe(url)}: a SQLite database holds one workspace; name the workspace with "
            "--workspace (it is kept in a file of its own beside this one)"
        )
    return url.difference_update_query([workspaces.URL_PARAM]), workspaces.schema(str(workspace))


def close_quietly(connection: sa.Connection | None) -> None:
    """Close a connection whose session may be gone already (then there is nothing to close)."""
    if connection is None:
        return
    try:
        connection.close()
    except sa.exc.DBAPIError:
        pass


def create_workspace_schema(connection: sa.Connection, schema: str | None) -> None:
    """Create a workspace's schema if it is not there yet (by the writer, before its tables)."""
    if schema is not None:
        connection.exec_driver_sql(f"CREATE SCHEMA IF NOT EXISTS {schema}")


def describe(url: str | URL) -> str:
    """The URL as it may be printed: without a password."""
    return parse_url(str(url)).render_as_string(hide_password=True) if isinstance(url, str) \
        else url.render_as_string(hide_password=True)


def sqlite_path(url: URL) -> Path | None:
    """The file of a SQLite URL; None for an in-memory database or another backend."""
    if url.get_backend_name() != "sqlite":
        return None
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file::memory:"):
        return None
    return Path(database)


def create_engine(url: str, *, read_only: bool = False) -> Engine:
    """An engine for `url`. With `read_only`, a SQLite file is opened read-only (SQLite's
    ``mode=ro``): never created, never written, and readable while another process writes
    in WAL mode."""
    parsed, schema = split_workspace(parse_url(url))
    if parsed.get_backend_name() != "sqlite":
        connect_args = pg_connect_args(Keepalive(), read_only=read_only, schema=schema) \
            if is_postgresql(parsed) else {}
        try:
            # One session kept open between uses, more only while threads use the state at
            # once: a fleet runs a process per workspace, all on one server's connections.
            engine = sa.create_engine(parsed, pool_pre_ping=True, pool_size=1, max_overflow=9,
                                      connect_args=connect_args)
        except ModuleNotFoundError as exc:
            raise StateError(missing_driver(parsed, exc)) from exc
        if schema is not None and not read_only:
            @sa.event.listens_for(engine, "first_connect", insert=True)
            def _make_schema(dbapi_connection: Any, record: Any) -> None:
                with dbapi_connection.cursor() as cursor:
                    cursor.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
                dbapi_connection.commit()
        return engine
    path = sqlite_path(parsed)
    if path is None:
        engine = sa.create_engine(
            parsed, poolclass=StaticPool, connect_args={"check_same_thread": False}
        )
    else:
        if read_only:
            parsed = parsed.set(database=f"file:{path}", query={"mode": "ro", "uri": "true"})
        else:
            _create_private_file(path)
        engine = sa.create_engine(
            parsed, connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_MS / 1000}
        )
    # A read-only connection cannot set the journal mode; the writer that made the file did.
    _tune_sqlite(engine, wal=path is not None and not read_only, read_only=read_only)
    return engine


def missing_driver(url: URL, exc: ModuleNotFoundError) -> str:
    extra = " (pip install 'boardsync[postgres]')" if url.get_backend_name() == "postgresql" else ""
    return f"{describe(url)}: the database driver {exc.name!r} is not installed{extra}"


def _create_private_file(path: Path) -> None:
    """Create the database file readable by its owner only, before SQLite opens it.

    SQLite gives its -wal and -shm files the mode of the database file."""
    if path.exists():
        return
    if not path.parent.is_dir():
        raise StateError(f"cannot create the state database {path}: its folder does not exist")
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_CLOEXEC, 0o600)
    except FileExistsError:
        return
    except PermissionError as exc:
        raise StateError(f"cannot create the state database {path}: permission denied") from exc
    os.close(fd)


def _tune_sqlite(engine: Engine, *, wal: bool, read_only: bool = False) -> None:
    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, record: Any) -> None:
        # pysqlite's own transaction handling would BEGIN DEFERRED behind our back; we
        # emit BEGIN ourselves in `_on_begin`.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            for pragma in sqlite_pragmas(wal=wal, read_only=read_only):
                cursor.execute(pragma)
        finally:
            cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        mode = connection.get_execution_options().get(BEGIN_OPTION, "DEFERRED")
        connection.exec_driver_sql(f"BEGIN {mode}")


def writer(engine: Engine) -> Engine:
    """The same engine, whose transactions take SQLite's write lock as they begin."""
    if engine.dialect.name != "sqlite":
        return engine
    return engine.execution_options(**{BEGIN_OPTION: "IMMEDIATE"})
