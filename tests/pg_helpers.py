"""A throwaway PostgreSQL server for the tests: initdb into a temporary folder, started on a
free loopback port, one fresh database per test, stopped at the end of the session.

The server binaries are looked for in ``pg_config --bindir``, the Debian folders
(/usr/lib/postgresql/<version>/bin) and PATH. PostgreSQL refuses to run as root: under root
the server runs as the ``postgres`` user (created by the Debian package), its folder handed
over to that user.
"""

from __future__ import annotations

import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import sqlalchemy as sa

SERVER_USER = "postgres"
"""Who runs the server when the tests run as root."""
SUPERUSER = "boardsync"
"""The database role the tests connect as (trust authentication on loopback)."""


class Unavailable(Exception):
    """No PostgreSQL server can be started here; the message says why."""


def find_bindir() -> Path:
    """The folder holding initdb, pg_ctl and postgres."""
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=True, timeout=10)
            candidates.append(Path(out.stdout.strip()))
        except (OSError, subprocess.SubprocessError):
            pass
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(Path(initdb).resolve().parent)
    for folder in candidates:
        if all((folder / name).is_file() for name in ("initdb", "pg_ctl", "postgres")):
            return folder
    raise Unavailable("no PostgreSQL server binaries (initdb, pg_ctl, postgres) found: install postgresql")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PgServer:
    """A PostgreSQL cluster of its own in `root`, listening on 127.0.0.1:`port`."""

    def __init__(self, root: Path) -> None:
        self.bindir = find_bindir()
        self.root = root
        self.data = root / "data"
        self.port = _free_port()
        self._as: list[str] = []
        self._counter = itertools.count(1)
        if os.geteuid() == 0:
            self._run_as_server_user()

    def _run_as_server_user(self) -> None:
        try:
            user = pwd.getpwnam(SERVER_USER)
        except KeyError:
            raise Unavailable(f"running as root, and there is no {SERVER_USER!r} user to run PostgreSQL as") from None
        runuser = shutil.which("runuser")
        if runuser is None:
            raise Unavailable("running as root, and runuser is missing to run PostgreSQL as another user")
        # The folders above the cluster must be reachable by that user; none is changed here.
        blocked = [p for p in self.root.parents if not p.stat().st_mode & 0o001]
        if blocked:
            raise Unavailable(f"{blocked[0]} is not reachable by the {SERVER_USER!r} user that runs PostgreSQL")
        os.chown(self.root, user.pw_uid, user.pw_gid)
        self._as = [runuser, "-u", SERVER_USER, "--"]

    def _run(self, *argv: str) -> None:
        done = subprocess.run([*self._as, *argv], capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv[:2])} failed ({done.returncode}): {done.stderr.strip()[-2000:]}")

    def start(self) -> None:
        self._run(
            str(self.bindir / "initdb"), "-D", str(self.data), "-U", SUPERUSER, "--auth=trust",
            "--no-sync", "-E", "UTF8", "--locale=C",
        )
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories={self.root} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200 "
            "-c shared_buffers=32MB"
        )
        self._run(
            str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "server.log"),
            "-o", options, "-w", "-t", "60", "start",
        )

    def close(self) -> None:
        """Stop the server and remove its folder."""
        try:
            if (self.data / "postmaster.pid").exists():
                self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        """A new, empty database; its URL."""
        name = f"t{os.getpid()}_{next(self._counter)}"
        engine = sa.create_engine(self.url(), isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as connection:
                connection.exec_driver_sql(f'CREATE DATABASE "{name}" TEMPLATE template0')
        finally:
            engine.dispose()
        return self.url(name)


def start_server() -> PgServer:
    """A started server in a new temporary folder; `PgServer.close` stops and removes it.
    `Unavailable` when none can be started here."""
    # As root the server runs as another user, who must reach the folder: /tmp, not $TMPDIR.
    root = Path(tempfile.mkdtemp(prefix="boardsync-pg-", dir="/tmp" if os.geteuid() == 0 else None))
    try:
        server = PgServer(root)
        server.start()
    except BaseException as exc:
        shutil.rmtree(root, ignore_errors=True)
        if isinstance(exc, (Unavailable, RuntimeError, OSError, subprocess.SubprocessError)):
            raise Unavailable(str(exc)) from exc
        raise
    return server


def end_lock_sessions(url: str) -> list[bool]:
    """End every server session holding an advisory lock in the database at `url`, as a lost
    network would end them; what `pg_terminate_backend` answered for each."""
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            return list(connection.exec_driver_sql(
                "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            ).scalars().all())
    finally:
        engine.dispose()
