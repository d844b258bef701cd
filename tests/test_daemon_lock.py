"""The single-writer lock on a state database: a lock file beside SQLite, an advisory lock on
PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest

import sqlalchemy as sa

from boardsync.daemon.lock import (
    LockHolder,
    WriterLockHeld,
    WriterLockLost,
    acquire_with,
    acquire_writer_lock,
    lock_backend,
    lock_path,
)
from boardsync.daemon.standby import poll_interval
from boardsync.errors import StateError
from boardsync.state import migrations, open_store
from boardsync.state.db import Keepalive
from tests.pg_helpers import end_lock_sessions


def _url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'state.db'}"


def test_second_writer_is_refused_and_told_who_holds_the_lock(state_url: str) -> None:
    """A refusal names the holder's command and pid, on either engine."""
    with acquire_writer_lock(state_url, command="daemon"):
        with pytest.raises(WriterLockHeld) as caught:
            acquire_writer_lock(state_url, command="reconcile")
    assert caught.value.holder.pid == os.getpid()
    assert f"boardsync daemon (pid {os.getpid()})" in str(caught.value)
    assert isinstance(caught.value, StateError)
    acquire_writer_lock(state_url, command="reconcile").release()  # free again


def test_lock_is_free_again_after_release(tmp_path: Path) -> None:
    """Releasing the lock lets the next writer in and clears the holder record."""
    acquire_writer_lock(_url(tmp_path), command="daemon").release()
    assert lock_path(_url(tmp_path)).read_text() == ""  # type: ignore[union-attr]
    acquire_writer_lock(_url(tmp_path), command="reconcile").release()


def test_waiter_is_told_once_and_gets_the_lock_when_released(state_url: str) -> None:
    """`reconcile` waits with one message and proceeds when the holder lets go."""
    held = acquire_writer_lock(state_url, command="daemon")
    told: list[LockHolder] = []
    threading.Timer(0.5, held.release).start()
    started = time.monotonic()
    with acquire_writer_lock(state_url, wait=10, on_wait=told.append, command="reconcile"):
        waited = time.monotonic() - started
    assert len(told) == 1 and told[0].command == "daemon"
    assert 0.3 < waited < 5


def test_waiter_gives_up_after_its_timeout(state_url: str) -> None:
    """With the holder staying put, the wait ends in a refusal that says how long it waited."""
    with acquire_writer_lock(state_url, command="daemon"):
        with pytest.raises(WriterLockHeld, match=r"waited \d+s"):
            acquire_writer_lock(state_url, wait=0.4, on_wait=lambda h: None)


@pytest.mark.slow
def test_lock_held_by_another_process_dies_with_it(state_url: str) -> None:
    """Another process's lock is refused with its pid, and a kill -9 leaves no stale lock."""
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from boardsync.daemon.lock import acquire_writer_lock as a; "
         f"a({state_url!r}, command='daemon'); print('held', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(WriterLockHeld) as caught:
            acquire_writer_lock(state_url)
        assert caught.value.holder.pid == holder.pid
        assert f"boardsync daemon (pid {holder.pid})" in str(caught.value)
    finally:
        holder.kill()
        holder.wait()
    # The server ends a dead client's session at once when its socket closes.
    with acquire_writer_lock(state_url, wait=10, command="reconcile"):
        pass


def test_postgresql_lock_leaves_the_database_empty_for_the_schema(pg_url: str) -> None:
    """The holder's table, made by the lock before any schema exists, does not make a new
    database look foreign: the store is created in it as in an empty one, and the lock's
    refusal still names its holder afterwards."""
    with acquire_writer_lock(pg_url, command="migrate"):
        with open_store(pg_url) as store:
            assert store.revision == migrations.head()
        with pytest.raises(WriterLockHeld, match=r"boardsync migrate \(pid"):
            acquire_writer_lock(pg_url)
    engine = sa.create_engine(pg_url)
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT count(*) FROM writer_lock").scalar() == 0
    engine.dispose()


def test_postgresql_lock_connection_keeps_alive_within_the_lease(pg_url: str) -> None:
    """The lock's connection probes a silent peer from both sides, declaring it dead within
    the lease: the server's keepalive settings for that session come from the lease."""
    backend, database = lock_backend(pg_url, "daemon", lease=9)
    with acquire_with(backend, database) as held:
        connection = backend._connection  # type: ignore[attr-defined]
        idle = connection.exec_driver_sql("SHOW tcp_keepalives_idle").scalar()
        interval = connection.exec_driver_sql("SHOW tcp_keepalives_interval").scalar()
        count = connection.exec_driver_sql("SHOW tcp_keepalives_count").scalar()
        assert (idle, interval, count) == ("3", "1", "3")  # 3 + 3 x 1 = 6 s < 9 s
        held.check()


def test_postgresql_lock_whose_session_ends_is_lost(pg_url: str) -> None:
    """A holder whose server session was ended (as a lost network ends it) learns it has lost
    the lock, and another writer gets it."""
    held = acquire_writer_lock(pg_url, command="daemon")
    assert end_lock_sessions(pg_url) == [True]
    with pytest.raises(WriterLockLost):
        held.check()
    with acquire_writer_lock(pg_url, wait=5, command="reconcile"):
        pass
    held.release()


def test_lock_file_is_private_and_beside_the_database(tmp_path: Path) -> None:
    """The lock file sits next to state.db with mode 0600."""
    with acquire_writer_lock(_url(tmp_path)):
        path = tmp_path / "state.db.lock"
        assert path.exists() and (path.stat().st_mode & 0o777) == 0o600


def test_in_memory_database_needs_no_lock_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An in-memory database belongs to one process; two holders in it do not collide, and
    no lock file is written anywhere."""
    monkeypatch.chdir(tmp_path)
    with acquire_writer_lock("sqlite://"), acquire_writer_lock("sqlite://"):
        assert list(tmp_path.iterdir()) == []


def test_missing_folder_is_a_state_error_naming_the_file(tmp_path: Path) -> None:
    """A database in a folder that does not exist fails with a clear StateError."""
    with pytest.raises(StateError, match="folder does not exist"):
        acquire_writer_lock(f"sqlite:///{tmp_path / 'nope' / 'state.db'}")


@pytest.mark.parametrize("linked", ["file", "folder"])
def test_a_path_through_a_symlink_meets_the_same_lock(tmp_path: Path, linked: str) -> None:
    """The lock is keyed by the database's real path: a second writer reaching the same file
    through a symlink (to the file or to its folder) is refused, naming the first."""
    real = tmp_path / "real"
    real.mkdir()
    (real / "state.db").touch()
    if linked == "file":
        (tmp_path / "alias.db").symlink_to(real / "state.db")
        alias = tmp_path / "alias.db"
    else:
        (tmp_path / "alias").symlink_to(real)
        alias = tmp_path / "alias" / "state.db"
    with acquire_writer_lock(f"sqlite:///{real / 'state.db'}", command="daemon"):
        with pytest.raises(WriterLockHeld) as caught:
            acquire_writer_lock(f"sqlite:///{alias}", command="reconcile")
    assert f"boardsync daemon (pid {os.getpid()})" in str(caught.value)
    assert str(real / "state.db") in str(caught.value)


@pytest.mark.parametrize("lease", [3, 4, 9, 30, 120])
def test_a_dead_holder_is_noticed_and_the_lock_tried_again_within_the_lease(lease: int) -> None:
    """The keepalives declare a silent peer dead within two thirds of the lease, and a
    standby tries the lock again within the rest."""
    keepalive = Keepalive.within(lease)
    assert keepalive.idle >= 1 and keepalive.interval >= 1 and 1 <= keepalive.count <= 3
    assert keepalive.seconds <= lease * 2 / 3
    assert keepalive.seconds + poll_interval(timedelta(seconds=lease)) <= lease
