"""One writer per state database.

The daemon holds the writer lock for as long as it runs; a one-shot ``reconcile`` takes it for
its run. A second daemon refuses at once, naming the process that holds it; ``reconcile``
waits (saying so) and gives up after a timeout.

For SQLite the lock is an ``flock`` on a file beside the database's real path (symlinks
resolved: ``state.db.lock``): the kernel drops it when the holder dies, so a crash never
leaves a stale lock behind. (An flock on the database file itself would be keyed by inode,
but closing that descriptor would drop SQLite's own POSIX locks held by this process.) The holder
writes who it is (pid, host, command, since when) into that file, which is how the refusal
can name it.

For PostgreSQL the lock is a session advisory lock (``pg_try_advisory_lock``) held on a
connection of its own for as long as the holder runs; the server drops it when that session
ends, and TCP keepalives both ways end the session of a holder whose host or network is gone
within the lease. The holder writes who it is into the table ``writer_lock``, keyed by its
server session, so a refusal names the session that really holds the lock, never a dead one.
The table lives beside the versioned schema, not in it: the lock is taken before the schema
is created or migrated.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.engine import URL
from sqlalchemy.pool import NullPool

from boardsync import workspaces
from boardsync.errors import StateError
from boardsync.state.db import (
    LOCK_TABLE,
    Keepalive,
    close_quietly,
    create_workspace_schema,
    describe,
    is_postgresql,
    missing_driver,
    parse_url,
    pg_connect_args,
    split_workspace,
    sqlite_path,
    workspace_of,
)

POLL_SECONDS = 0.2
DEFAULT_LEASE = 30.0
"""Seconds within which a dead PostgreSQL holder's lock is freed (its keepalives' reach)."""
ADVISORY_KEY = (0x6273_6E63, 1)
"""The advisory lock's two keys: boardsync's own class ("bsnc"), then the writer lock of the
default workspace (another workspace's is `workspace_key`)."""


def workspace_key(workspace: str) -> int:
    """The second key of a workspace's writer lock: 1 for the default workspace, else from its
    name (two names that meet share a lock: they then wait for each other, never write at once)."""
    if workspace == workspaces.DEFAULT:
        return ADVISORY_KEY[1]
    return 2 + zlib.crc32(workspace.encode()) % (2**31 - 2)


@dataclass(frozen=True)
class LockHolder:
    """Who holds the writer lock, as the holder wrote it down."""

    pid: int | None
    host: str | None
    command: str | None
    since: str | None

    def describe(self) -> str:
        if self.pid is None:
            return "another process"
        where = f" on {self.host}" if self.host and self.host != socket.gethostname() else ""
        what = f"boardsync {self.command}" if self.command else "a process"
        since = f" since {self.since}" if self.since else ""
        return f"{what} (pid {self.pid}{where}){since}"


class WriterLockHeld(StateError):
    """The state database already has a writer."""

    def __init__(self, database: str, holder: LockHolder, waited: float) -> None:
        self.holder = holder
        self.waited = waited
        after = f" (waited {waited:.0f}s)" if waited else ""
        super().__init__(f"{database} is in use by {holder.describe()}{after}")


class WriterLockLost(StateError):
    """The writer lock was held and is no longer: another process may be writing now."""


class _Backend(Protocol):
    def try_acquire(self) -> bool: ...
    def holder(self) -> LockHolder: ...
    def held(self) -> bool: ...
    def release(self) -> None: ...


class WriterLock:
    """A held writer lock; release it with `release()` or by leaving a ``with`` block."""

    def __init__(self, backend: _Backend, database: str) -> None:
        self._backend = backend
        self.database = database
        self._held = True

    def release(self) -> None:
        if self._held:
            self._backend.release()
            self._held = False

    def check(self) -> None:
        """Raise `WriterLockLost` unless the lock is still held (a PostgreSQL holder whose
        session ended has lost it, and must stop writing)."""
        if not self._held or not self._backend.held():
            raise WriterLockLost(f"{self.database}: the writer lock was lost (its database session ended)")

    def __enter__(self) -> WriterLock:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.release()


def acquire_writer_lock(
    state_url: str,
    *,
    wait: float = 0.0,
    on_wait: Callable[[LockHolder], None] | None = None,
    command: str | None = None,
    lease: float = DEFAULT_LEASE,
) -> WriterLock:
    """Take the writer lock of the database at `state_url`.

    When another process holds it, call ``on_wait(holder)`` once and keep trying for `wait`
    seconds (0: not at all), then raise `WriterLockHeld` naming the holder. `command` is
    what this process is doing (``daemon``, ``reconcile``), written down for the next one
    that finds the lock taken. On PostgreSQL, a holder that dies or is cut off loses the
    lock within `lease` seconds.
    """
    backend, database = lock_backend(state_url, command or _command_name(), lease=lease)
    return acquire_with(backend, database, wait=wait, on_wait=on_wait)


def acquire_with(
    backend: _Backend, database: str, *, wait: float = 0.0, on_wait: Callable[[LockHolder], None] | None = None,
) -> WriterLock:
    """Take the lock through `backend`, as `acquire_writer_lock` describes."""
    deadline = time.monotonic() + wait
    started = time.monotonic()
    told = False
    while not backend.try_acquire():
        holder = backend.holder()
        if time.monotonic() >= deadline:
            # A caller who asked to wait is told how long it did, even when the first
            # look at a slow database already took the whole wait.
            raise WriterLockHeld(database, holder, waited=time.monotonic() - started if wait > 0 else 0.0)
        if not told and on_wait is not None:
            on_wait(holder)
        told = True
        time.sleep(min(POLL_SECONDS, max(deadline - time.monotonic(), 0.0)))
    return WriterLock(backend, database)


def lock_path(state_url: str) -> Path | None:
    """The lock file of a SQLite database file; None for an in-memory database."""
    url = parse_url(state_url)
    if url.get_backend_name() != "sqlite":
        raise StateError(f"{url.get_backend_name()}: the writer lock supports only SQLite databases so far")
    database = sqlite_path(url)
    if database is None:
        return None
    # Keyed by the real file: a path through a symlink must meet the same lock, or two
    # writers would share one database.
    database = database.resolve()
    return database.with_name(database.name + ".lock")


def lock_backend(state_url: str, command: str | None, *, lease: float = DEFAULT_LEASE) -> tuple[_Backend, str]:
    """How the writer lock of `state_url` is taken, and the database as a refusal names it."""
    url = parse_url(state_url)
    if is_postgresql(url):
        return _AdvisoryLock(url, command, Keepalive.within(lease)), describe(url)
    path = lock_path(state_url)
    if path is None:
        return _ProcessLocal(), "the in-memory database"
    return _FileLock(path, command), str(path.with_name(path.name.removesuffix(".lock")))


class _ProcessLocal:
    """An in-memory database lives and dies with this process: nobody else can write it."""

    def try_acquire(self) -> bool:
        return True

    def holder(self) -> LockHolder:  # pragma: no cover - never contended
        return LockHolder(os.getpid(), socket.gethostname(), None, None)

    def held(self) -> bool:
        return True

    def release(self) -> None:
        pass


class _FileLock:
    """An flock on a file beside the SQLite database, with the holder written inside."""

    def __init__(self, path: Path, command: str | None) -> None:
        self.path = path
        self.command = command
        self._fd: int | None = None

    def try_acquire(self) -> bool:
        fd = self._open()
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        self._write_holder(fd)
        return True

    def holder(self) -> LockHolder:
        # The holder writes its record just after it locks; reading in between finds nothing.
        return lock_holder_recorded(self.path) or LockHolder(None, None, None, None)

    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        if self._fd is None:
            return
        # Clear the record first, so no one reads a stale holder once the lock is free.
        os.ftruncate(self._fd, 0)
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None

    def _open(self) -> int:
        try:
            return os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except FileNotFoundError as exc:
            raise StateError(f"cannot create the lock file {self.path}: its folder does not exist") from exc
        except PermissionError as exc:
            raise StateError(f"cannot create the lock file {self.path}: permission denied") from exc

    def _write_holder(self, fd: int) -> None:
        record = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "command": self.command,
            "since": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(record).encode(), 0)


def lock_holder_recorded(path: Path) -> LockHolder | None:
    """The holder a SQLite database's lock file records (None: no record). A holder that died
    without releasing leaves its record; the lock itself went with its process."""
    try:
        record = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        record = {}
    if not record:
        return None
    return LockHolder(
        pid=record.get("pid"), host=record.get("host"), command=record.get("command"), since=record.get("since"),
    )


class _AdvisoryLock:
    """A PostgreSQL session advisory lock on a connection of its own, with the holder written
    in `LOCK_TABLE` under its server session's pid."""

    def __init__(self, url: URL, command: str | None, keepalive: Keepalive) -> None:
        self.command = command
        self._keys = {"a": ADVISORY_KEY[0], "b": workspace_key(workspace_of(url))}
        url, self._schema = split_workspace(url)
        try:
            # One connection, never pooled: the lock lives and dies with it. A workspace's
            # holder table is in the workspace's schema, beside its state.
            self._engine = sa.create_engine(
                url, poolclass=NullPool, isolation_level="AUTOCOMMIT",
                connect_args=pg_connect_args(keepalive, schema=self._schema),
            )
        except ModuleNotFoundError as exc:
            raise StateError(missing_driver(url, exc)) from exc
        self._connection: sa.Connection | None = None
        self._held = False
        self._using = threading.Lock()
        """The daemon's threads ask `held()` at once (before each run, and on its own turn);
        one connection serves one statement at a time."""

    def try_acquire(self) -> bool:
        connection = self._connect()
        try:
            taken = bool(connection.execute(
                sa.text("SELECT pg_try_advisory_lock(:a, :b)"), self._keys).scalar_one())
            if taken:
                self._write_holder(connection)
        except sa.exc.DBAPIError as exc:
            self._drop()
            raise StateError(f"{describe(self._engine.url)}: cannot take the writer lock: {exc.orig}") from exc
        self._held = taken
        return taken

    def holder(self) -> LockHolder:
        """Who holds the lock: the row of the session the server says holds it."""
        unknown = LockHolder(None, None, None, None)
        try:
            with self._engine.connect() as connection:
                session = connection.execute(sa.text(
                    "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND classid = :a "
                    "AND objid = :b AND objsubid = 2 "
                    "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
                ), self._keys).scalar()
                if session is None or connection.execute(
                    sa.text("SELECT to_regclass(:t)"), {"t": LOCK_TABLE}).scalar() is None:
                    return unknown
                row = connection.execute(sa.text(
                    f"SELECT pid, host, command, since FROM {LOCK_TABLE} WHERE session = :s"
                ), {"s": session}).first()
        except sa.exc.DBAPIError:
            return unknown
        return unknown if row is None else LockHolder(row.pid, row.host, row.command, row.since)

    def held(self) -> bool:
        """Whether the lock's session is still alive (a round trip to the server)."""
        with self._using:
            if not self._held or self._connection is None:
                return False
            try:
                self._connection.execute(sa.text("SELECT 1"))
            except sa.exc.DBAPIError:
                self._drop()
                return False
            return True

    def release(self) -> None:
        with self._using:
            if self._connection is not None and self._held:
                try:
                    self._connection.execute(sa.text(f"DELETE FROM {LOCK_TABLE} WHERE session = pg_backend_pid()"))
                    self._connection.execute(sa.text("SELECT pg_advisory_unlock(:a, :b)"), self._keys)
                except sa.exc.DBAPIError:
                    pass  # the session is gone, and the lock with it
            self._drop()
        self._engine.dispose()

    def _connect(self) -> sa.Connection:
        if self._connection is None:
            try:
                self._connection = self._engine.connect()
            except sa.exc.DBAPIError as exc:
                raise StateError(f"cannot reach the state database {describe(self._engine.url)}: {exc.orig}") from exc
        return self._connection

    def _drop(self) -> None:
        self._held = False
        close_quietly(self._connection)
        self._connection = None

    def _write_holder(self, connection: sa.Connection) -> None:
        # Only the holder writes here, so creating the table cannot race another writer.
        create_workspace_schema(connection, self._schema)
        connection.execute(sa.text(
            f"CREATE TABLE IF NOT EXISTS {LOCK_TABLE} (session INTEGER NOT NULL PRIMARY KEY, pid INTEGER, "
            "host VARCHAR, command VARCHAR, since VARCHAR)"
        ))
        # One statement: every row left is a dead holder's, and a reader never finds none.
        connection.execute(sa.text(
            f"WITH gone AS (DELETE FROM {LOCK_TABLE}) INSERT INTO {LOCK_TABLE} (session, pid, host, command, since) "
            "VALUES (pg_backend_pid(), :pid, :host, :command, :since)"
        ), {
            "pid": os.getpid(), "host": socket.gethostname(), "command": self.command,
            "since": datetime.now(UTC).isoformat(timespec="seconds"),
        })


def _command_name() -> str | None:
    """The boardsync command this process runs (``daemon``), read from its arguments."""
    args = [a for a in sys.argv[1:] if not a.startswith("-")]
    return args[0] if args else None
