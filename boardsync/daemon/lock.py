"""One writer per state database.

The daemon holds the writer lock for as long as it runs; a one-shot ``reconcile`` takes it for
its run. A second daemon refuses at once, naming the process that holds it; ``reconcile``
waits (saying so) and gives up after a timeout.

For SQLite the lock is an ``flock`` on a file beside the database's real path (symlinks
resolved: ``state.db.lock``): the kernel drops it when the holder dies, so a crash never
leaves a stale lock behind. (An flock on the database file itself would be keyed by inode,
but closing that descriptor would drop SQLite's own POSIX locks held by this process.) The holder
writes who it is (pid, host, command, since when) into that file, which is how the refusal
can name it. PostgreSQL would hold ``pg_try_advisory_lock`` on a dedicated connection in the
same place (`_lock_backend`); that backend is not built yet and such URLs are refused.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Protocol

from boardsync.errors import StateError
from boardsync.state.db import parse_url, sqlite_path

POLL_SECONDS = 0.2


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


class _Backend(Protocol):
    def try_acquire(self) -> bool: ...
    def holder(self) -> LockHolder: ...
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
) -> WriterLock:
    """Take the writer lock of the database at `state_url`.

    When another process holds it, call ``on_wait(holder)`` once and keep trying for `wait`
    seconds (0: not at all), then raise `WriterLockHeld` naming the holder. `command` is
    what this process is doing (``daemon``, ``reconcile``), written down for the next one
    that finds the lock taken.
    """
    backend, database = _lock_backend(state_url, command or _command_name())
    deadline = time.monotonic() + wait
    started = time.monotonic()
    told = False
    while not backend.try_acquire():
        holder = backend.holder()
        if time.monotonic() >= deadline:
            raise WriterLockHeld(database, holder, waited=time.monotonic() - started if told else 0.0)
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


def _lock_backend(state_url: str, command: str | None) -> tuple[_Backend, str]:
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
        try:
            record = json.loads(self.path.read_text() or "{}")
        except (OSError, ValueError):
            record = {}
        # The holder writes its record just after it locks; reading in between finds nothing.
        return LockHolder(
            pid=record.get("pid"), host=record.get("host"),
            command=record.get("command"), since=record.get("since"),
        )

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


def _command_name() -> str | None:
    """The boardsync command this process runs (``daemon``), read from its arguments."""
    args = [a for a in sys.argv[1:] if not a.startswith("-")]
    return args[0] if args else None
