"""The database engine: SQLite tuned for a journal that must survive a crash.

SQLite runs in WAL mode with ``synchronous=FULL`` (a committed intent is on disk before the
call it announces is made), a busy timeout (a reader never fails because a writer is busy),
and ``BEGIN IMMEDIATE`` for writes (a write transaction takes the write lock at its start,
so two writers queue instead of failing half-way with SQLITE_BUSY). A new database file is
created with mode 0600: it holds signed links.
Other databases (PostgreSQL) are used as SQLAlchemy opens them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.pool import StaticPool

from boardsync.errors import StateError

BUSY_TIMEOUT_MS = 10_000

BEGIN_OPTION = "boardsync_begin"
"""Execution option naming how a SQLite transaction begins: DEFERRED (reads) or IMMEDIATE."""


def parse_url(url: str) -> URL:
    try:
        return make_url(url)
    except (sa.exc.ArgumentError, ValueError) as exc:
        raise StateError(f"not a database URL: {url!r}") from exc


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
    parsed = parse_url(url)
    if parsed.get_backend_name() != "sqlite":
        try:
            return sa.create_engine(parsed, pool_pre_ping=True)
        except ModuleNotFoundError as exc:
            extra = " (pip install 'boardsync[postgres]')" if parsed.get_backend_name() == "postgresql" else ""
            raise StateError(
                f"{describe(parsed)}: the database driver {exc.name!r} is not installed{extra}"
            ) from exc
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
            if wal:
                cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA foreign_keys=ON")
            if read_only:
                cursor.execute("PRAGMA query_only=ON")
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
