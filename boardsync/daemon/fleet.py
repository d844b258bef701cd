"""`boardsync daemon --workspaces DIR`: one daemon serving many workspaces, sharing them with
the other daemons on the same PostgreSQL database.

Every root file directly under DIR (``*.yaml``, ``*.yml``) is a workspace named after the file
(``acme.yaml`` → ``acme``), with its own boards, credentials, postings and schedule; all of
them keep their state in one database. For each workspace of its share, the fleet daemon runs
a ``boardsync daemon`` process of that workspace, which takes the workspace's writer lock and
works exactly as the daemon of a single config does (its own HTTP surface, schedule, rate
limits, settling of what a dead writer left unknown). A workspace process that finds its lock
taken exits at once instead of standing by: the workspace is someone else's.

**Members.** Each fleet daemon holds an advisory lock of its own (`FLEET_CLASS`, its member
number) on a connection of its own, so the server's ``pg_locks`` lists the live members, and
forgets one when its session ends — at once when its process dies, within the lease when its
host or network does (the same keepalives as the writer lock).

**Shares.** With W workspaces and M members, the member of rank r (by member number) has a
share of W // M, one more when r < W % M: the shares add up to W. Every `check_every` seconds
a member:

- stops the workspace processes it runs beyond its share, the newest first: a process asked to
  stop finishes its call in flight, records it and releases the lock, and only then is the
  workspace free for another member (so a workspace never has two writers, even in a handover);
- starts a process for free workspaces (no one holds their writer lock) until it runs its
  share, taking them in an order of its own so that members joining together rarely reach
  for the same one (when they do, one process gets the lock and the other exits);
- gives a workspace whose process keeps failing a growing pause before trying it again.

When the fleet daemon itself dies, even by ``kill -9``, its workspace processes are told to
stop by the kernel (``PR_SET_PDEATHSIG``): they finish their call and release their locks,
and the remaining members take the workspaces over.
"""

from __future__ import annotations

import ctypes
import os
import queue
import random
import signal
import socket
import subprocess
import sys
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from boardsync import workspaces
from boardsync.config.loader import collect
from boardsync.daemon.lock import ADVISORY_KEY, DEFAULT_LEASE, LockHolder, lock_holder_recorded, workspace_key
from boardsync.daemon.notify import Notifier, Watchdog, watchdog_interval
from boardsync.errors import BoardsyncError, StateError
from boardsync.log import get_logger
from boardsync.state.db import (
    Keepalive,
    close_quietly,
    create_engine,
    describe,
    is_postgresql,
    missing_driver,
    parse_url,
    pg_connect_args,
    split_workspace,
    sqlite_path,
)

log = get_logger(__name__)

FLEET_CLASS = 0x6273_6E66
"""The first key of a fleet member's advisory lock ("bsnf"); the second is its member number."""

CHECK_EVERY = 5.0
"""Seconds between two looks at the members and the shares."""

STOP_GRACE = 120.0
"""How long a workspace process asked to stop may take to finish its call in flight."""

_PAUSE_FIRST, _PAUSE_MAX = 10.0, 300.0
"""The pause before a failing workspace is tried again: doubled at each failure, up to the max."""

_CHILD_ENV_DROPPED = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")
"""systemd speaks to the fleet daemon, not to its workspace processes."""


class FleetError(BoardsyncError):
    """The workspaces cannot be served as asked (no workspace, several databases, SQLite)."""


@dataclass(frozen=True)
class Workspace:
    name: str
    root: Path
    listen: str
    """Where its daemon's HTTP surface listens: `daemon.listen` when the root file sets it,
    else a free loopback port (a fleet's workspaces cannot all have the default one)."""


def read_workspaces(folder: Path) -> tuple[dict[str, Workspace], str]:
    """The workspaces under `folder`, by name, and the database URL they share.

    Raises `FleetError` naming the file when a root file's name cannot name a workspace, does
    not read, or keeps its state elsewhere than the others."""
    roots = sorted(p for p in folder.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
    if not roots:
        raise FleetError(f"{folder}: no root file (*.yaml) to serve as a workspace")
    found: dict[str, Workspace] = {}
    databases: dict[str, Path] = {}
    urls: dict[str, str] = {}
    for root in roots:
        name = root.stem
        try:
            workspaces.check(name)
        except StateError as exc:
            raise FleetError(f"{root}: the file's name is the workspace's: {exc}") from None
        collected = collect(root, env={**os.environ, workspaces.ENV: workspaces.DEFAULT})
        if collected.root is None or not collected.state_url:
            problems = "; ".join(str(p) for p in collected.problems[:3])
            raise FleetError(f"{root}: does not read as a root file: {problems}")
        database = describe(collected.state_url)
        databases.setdefault(database, root)
        urls.setdefault(database, collected.state_url)
        settings = collected.root.daemon
        listen = settings.listen if "listen" in settings.model_fields_set else "127.0.0.1:0"
        found[name] = Workspace(name, root, listen)
    if len(databases) > 1:
        named = ", ".join(f"{root.name} → {database}" for database, root in databases.items())
        raise FleetError(f"{folder}: the workspaces must keep their state in one database, not several ({named})")
    database, url = next(iter(urls.items()))
    if not is_postgresql(url):
        raise FleetError(
            f"{folder}: serving workspaces needs the state in PostgreSQL (`state: postgresql://…`); "
            f"these keep it in {database}. With SQLite, run one daemon per workspace: "
            "boardsync daemon -c FILE --workspace NAME"
        )
    return found, url


@dataclass(frozen=True)
class WorkspaceRow:
    """One workspace of a database, as `boardsync workspaces` lists it."""

    name: str
    writer: LockHolder | None
    """Who holds its writer lock now; None: nobody writes it."""
    last_reconcile: datetime | None
    outcome: str | None


def workspace_rows(state_url: str) -> list[WorkspaceRow]:
    """Every workspace of the database `state_url` names (whatever workspace it selects), with
    its writer and its last finished reconcile. Reads only; takes no lock."""
    parsed, _ = split_workspace(parse_url(state_url))
    if not is_postgresql(parsed):
        return _sqlite_rows(parsed)
    engine = create_engine(parsed.render_as_string(hide_password=False), read_only=True)
    try:
        with engine.connect() as connection:
            schemas = connection.execute(sa.text(
                "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'ws\\_%' ORDER BY nspname")).scalars().all()
            default = connection.execute(sa.text("SELECT current_schema()")).scalar()
            named = [(workspaces.DEFAULT, str(default))] + [(str(s).removeprefix("ws_"), str(s)) for s in schemas]
            return [
                _pg_row(connection, name, schema) for name, schema in named
                if connection.execute(sa.text("SELECT to_regclass(:t)"), {"t": f"{schema}.run"}).scalar() is not None
            ]
    except sa.exc.DBAPIError as exc:
        raise StateError(f"cannot read the workspaces of {describe(parsed)}: {exc.orig}") from exc
    finally:
        engine.dispose()


def _pg_row(connection: sa.Connection, name: str, schema: str) -> WorkspaceRow:
    writer = None
    if connection.execute(sa.text("SELECT to_regclass(:t)"), {"t": f"{schema}.writer_lock"}).scalar() is not None:
        row = connection.execute(sa.text(
            f"SELECT w.pid, w.host, w.command, w.since FROM {schema}.writer_lock w JOIN pg_locks l "
            "ON l.pid = w.session AND l.locktype = 'advisory' AND l.granted AND l.classid = :a AND l.objid = :b"
        ), {"a": ADVISORY_KEY[0], "b": workspace_key(name)}).first()
        if row is not None:
            writer = LockHolder(row.pid, row.host, row.command, row.since)
    last = connection.execute(sa.text(
        f"SELECT finished_at, outcome FROM {schema}.run WHERE kind = 'reconcile' AND finished_at IS NOT NULL "
        "ORDER BY id DESC LIMIT 1")).first()
    return WorkspaceRow(name, writer, _when(last.finished_at) if last else None, last.outcome if last else None)


def _sqlite_rows(url: sa.engine.URL) -> list[WorkspaceRow]:
    """On SQLite each workspace is a file beside the named one; its writer is the process its
    lock file names, when that process still runs on this host."""
    path = sqlite_path(url)
    if path is None:
        return []
    files = [(workspaces.DEFAULT, path)] + [
        (p.name.removeprefix(f"{path.stem}.").removesuffix(path.suffix), p)
        for p in sorted(path.parent.glob(f"{path.stem}.*{path.suffix}"))
    ]
    rows = []
    for name, file in files:
        if not file.is_file() or not workspaces.is_name(name):
            continue
        engine = create_engine(f"sqlite:///{file}", read_only=True)
        try:
            with engine.connect() as connection:
                last = connection.execute(sa.text(
                    "SELECT finished_at, outcome FROM run WHERE kind = 'reconcile' AND finished_at IS NOT NULL "
                    "ORDER BY id DESC LIMIT 1")).first()
        except sa.exc.DBAPIError:
            last = None
        finally:
            engine.dispose()
        rows.append(WorkspaceRow(name, _running_holder(file), _when(last.finished_at) if last else None,
                                 last.outcome if last else None))
    return rows


def _running_holder(database: Path) -> LockHolder | None:
    holder = lock_holder_recorded(database.with_name(database.name + ".lock"))
    if holder is None or holder.pid is None or holder.host not in (None, socket.gethostname()):
        return holder
    try:
        os.kill(holder.pid, 0)
    except ProcessLookupError:
        return None  # the record of a holder that died without clearing it
    except PermissionError:
        pass
    return holder


def _when(value: object) -> datetime | None:
    if value is None:
        return None
    when = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def share_of(rank: int, members: int, workspace_count: int) -> int:
    """How many of `workspace_count` workspaces the member of `rank` among `members` serves."""
    base, extra = divmod(workspace_count, members)
    return base + (1 if rank < extra else 0)


class Membership:
    """This daemon's place among the fleet: its own advisory lock, and what ``pg_locks`` says
    of the others and of the workspaces' writer locks."""

    def __init__(self, url: str, keepalive: Keepalive) -> None:
        self.number = random.randint(1, 2**31 - 1)
        parsed = parse_url(url)
        self.database = describe(parsed)
        try:
            self._engine = sa.create_engine(
                parsed, poolclass=NullPool, isolation_level="AUTOCOMMIT", connect_args=pg_connect_args(keepalive),
            )
        except ModuleNotFoundError as exc:
            raise StateError(missing_driver(parsed, exc)) from exc
        self._connection: sa.Connection | None = None

    def join(self) -> None:
        try:
            self._connection = self._engine.connect()
            taken = self._connection.execute(
                sa.text("SELECT pg_try_advisory_lock(:a, :b)"), {"a": FLEET_CLASS, "b": self.number}).scalar_one()
        except sa.exc.DBAPIError as exc:
            raise StateError(f"cannot reach the state database {self.database}: {exc.orig}") from exc
        if not taken:  # another member drew the same number: draw again
            self.leave()
            self.number = random.randint(1, 2**31 - 1)
            self.join()

    def look(self) -> tuple[list[int], set[int]]:
        """The live members' numbers, sorted, and the keys of the writer locks held now."""
        assert self._connection is not None
        try:
            rows = self._connection.execute(sa.text(
                "SELECT classid, objid FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 2 "
                "AND classid IN (:fleet, :writer) "
                "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            ), {"fleet": FLEET_CLASS, "writer": ADVISORY_KEY[0]}).all()
        except sa.exc.DBAPIError as exc:
            raise StateError(f"{self.database}: cannot read the members: {exc.orig}") from exc
        members = sorted({int(r.objid) for r in rows if int(r.classid) == FLEET_CLASS})
        held = {int(r.objid) for r in rows if int(r.classid) == ADVISORY_KEY[0]}
        if self.number not in members:
            raise StateError(f"{self.database}: this daemon's membership session ended")
        return members, held

    def leave(self) -> None:
        close_quietly(self._connection)
        self._connection = None
        self._engine.dispose()


@dataclass
class _Running:
    workspace: Workspace
    process: subprocess.Popen[bytes]
    started: float = field(default_factory=time.monotonic)


def _die_with_parent(parent: int) -> Callable[[], None]:
    """Run in a workspace process before it starts: SIGTERM when the fleet daemon dies."""

    def prepare() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:  # it died before the request took effect
            os._exit(1)

    return prepare


class Fleet:
    """`boardsync daemon --workspaces DIR`. `run()` returns the exit code."""

    def __init__(
        self, folder: Path, *, check_every: float = CHECK_EVERY, notifier: Notifier | None = None,
    ) -> None:
        self.folder = folder
        self.check_every = check_every
        self.notifier = notifier or Notifier.from_env()
        self._requests: queue.SimpleQueue[str] = queue.SimpleQueue()
        self._running: dict[str, _Running] = {}
        self._paused: dict[str, tuple[float, float]] = {}
        """A failing workspace: not tried before the first time; the pause after the next failure."""
        self._healthy_at = time.monotonic()

    def run(self) -> int:
        found, url = read_workspaces(self.folder)
        membership = Membership(url, Keepalive.within(DEFAULT_LEASE))
        membership.join()
        previous = self._install_signal_handlers()
        watchdog = self._watchdog()
        log.info("fleet_joined", member=membership.number, workspaces=len(found), database=membership.database)
        self.notifier.ready(status=f"joined the fleet with {len(found)} workspaces")
        code = 0
        try:
            # Daemons started together see each other before any takes a workspace.
            request = self._wait()
            while request != "stop":
                if request == "reload":
                    found = self._reload(found)
                self._reap()
                members, held = membership.look()
                self._balance(found, members.index(membership.number), len(members), held)
                self._healthy_at = time.monotonic()
                self.notifier.status(
                    f"serving {len(self._running)} of {len(found)} workspaces, {len(members)} daemons in the fleet")
                request = self._wait()
        except BoardsyncError as exc:
            log.error("fleet_failed", error=str(exc))
            code = 1
        finally:
            self.notifier.stopping(status="stopping the workspaces")
            self._stop_all()
            membership.leave()
            if watchdog is not None:
                watchdog.stop()
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            log.info("fleet_left", member=membership.number)
        return code

    # ------------------------------------------------------------------------ shares

    def _balance(self, found: dict[str, Workspace], rank: int, members: int, held: set[int]) -> None:
        share = share_of(rank, members, len(found))
        for name in [n for n in self._running if n not in found]:
            self._stop(name, why="its root file is gone")
        surplus = len(self._running) - share
        if surplus > 0:
            newest = sorted(self._running.values(), key=lambda r: r.started, reverse=True)[:surplus]
            for running in newest:
                self._stop(running.workspace.name, why="rebalance")
            return
        now = time.monotonic()
        free = [
            w for name, w in found.items()
            if name not in self._running and workspace_key(name) not in held
            and self._paused.get(name, (0.0, 0.0))[0] <= now
        ]
        # Members that look at once start from different places in the list.
        free.sort(key=lambda w: zlib.crc32(f"{rank}:{w.name}".encode()))
        for workspace in free[: share - len(self._running)]:
            self._start(workspace)

    def _start(self, workspace: Workspace) -> None:
        env = {k: v for k, v in os.environ.items() if k not in _CHILD_ENV_DROPPED}
        env[workspaces.ENV] = workspace.name
        command = [
            sys.executable, "-m", "boardsync", "daemon", "-c", str(workspace.root), "--workspace", workspace.name,
            "--no-standby", "--listen", workspace.listen,
        ]
        process = subprocess.Popen(command, env=env, preexec_fn=_die_with_parent(os.getpid()))
        self._running[workspace.name] = _Running(workspace, process)
        log.info("workspace_started", workspace=workspace.name, pid=process.pid)

    def _stop(self, name: str, *, why: str) -> None:
        running = self._running.pop(name)
        log.info("workspace_stopping", workspace=name, pid=running.process.pid, reason=why)
        running.process.terminate()
        try:
            code = running.process.wait(STOP_GRACE)
        except subprocess.TimeoutExpired:
            running.process.kill()
            code = running.process.wait()
        log.info("workspace_stopped", workspace=name, exit_code=code)

    def _stop_all(self) -> None:
        for running in self._running.values():
            running.process.terminate()
        for name in list(self._running):
            self._stop(name, why="the fleet daemon stops")

    def _reap(self) -> None:
        """Forget the workspace processes that ended by themselves; pause a failing one."""
        for name, running in list(self._running.items()):
            code = running.process.poll()
            if code is None:
                continue
            del self._running[name]
            lasted = time.monotonic() - running.started
            pause = self._paused.get(name, (0.0, _PAUSE_FIRST))[1]
            if lasted < 4 * self.check_every:
                # Exited soon: its lock was taken meanwhile, or it cannot start. Either way,
                # not again at once.
                self._paused[name] = (time.monotonic() + pause, min(pause * 2, _PAUSE_MAX))
            else:
                self._paused.pop(name, None)
            log.warning("workspace_exited", workspace=name, exit_code=code, seconds=round(lasted, 1))

    # ------------------------------------------------------------------------ signals

    def _wait(self) -> str | None:
        try:
            return self._requests.get(timeout=self.check_every)
        except queue.Empty:
            return None

    def _reload(self, found: dict[str, Workspace]) -> dict[str, Workspace]:
        """SIGHUP: read the folder again (a new or removed workspace) and pass the signal on."""
        try:
            found, _ = read_workspaces(self.folder)
        except BoardsyncError as exc:
            log.error("fleet_reload_refused", error=str(exc))
        for running in self._running.values():
            running.process.send_signal(signal.SIGHUP)
        return found

    def _install_signal_handlers(self) -> dict[int, signal.Handlers | Callable[..., object] | int | None]:
        def stop(signum: int, frame: FrameType | None) -> None:
            self._requests.put("stop")

        def reload(signum: int, frame: FrameType | None) -> None:
            self._requests.put("reload")

        handlers = {signal.SIGTERM: stop, signal.SIGINT: stop, signal.SIGHUP: reload}
        return {signum: signal.signal(signum, handler) for signum, handler in handlers.items()}

    def _watchdog(self) -> Watchdog | None:
        interval = watchdog_interval()
        if not interval:
            return None
        watchdog = Watchdog(self.notifier, interval, lambda: time.monotonic() - self._healthy_at < 3 * self.check_every)
        watchdog.start()
        return watchdog


def run_fleet(folder: Path, *, check_every: float = CHECK_EVERY) -> int:
    """The body of `boardsync daemon --workspaces DIR`."""
    return Fleet(folder, check_every=check_every).run()
