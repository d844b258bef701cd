"""The single-writer lock on a SQLite state database."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from boardsync.daemon.lock import LockHolder, WriterLockHeld, acquire_writer_lock, lock_path
from boardsync.errors import StateError


def _url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'state.db'}"


def test_second_writer_is_refused_and_told_who_holds_the_lock(tmp_path: Path) -> None:
    """A refusal names the holder's command and pid."""
    with acquire_writer_lock(_url(tmp_path), command="daemon"):
        with pytest.raises(WriterLockHeld) as caught:
            acquire_writer_lock(_url(tmp_path), command="reconcile")
    assert caught.value.holder.pid == os.getpid()
    assert f"boardsync daemon (pid {os.getpid()})" in str(caught.value)
    assert isinstance(caught.value, StateError)


def test_lock_is_free_again_after_release(tmp_path: Path) -> None:
    """Releasing the lock lets the next writer in and clears the holder record."""
    acquire_writer_lock(_url(tmp_path), command="daemon").release()
    assert lock_path(_url(tmp_path)).read_text() == ""  # type: ignore[union-attr]
    acquire_writer_lock(_url(tmp_path), command="reconcile").release()


def test_waiter_is_told_once_and_gets_the_lock_when_released(tmp_path: Path) -> None:
    """`reconcile` waits with one message and proceeds when the holder lets go."""
    held = acquire_writer_lock(_url(tmp_path), command="daemon")
    told: list[LockHolder] = []
    threading.Timer(0.5, held.release).start()
    started = time.monotonic()
    with acquire_writer_lock(_url(tmp_path), wait=10, on_wait=told.append, command="reconcile"):
        waited = time.monotonic() - started
    assert len(told) == 1 and told[0].command == "daemon"
    assert 0.3 < waited < 5


def test_waiter_gives_up_after_its_timeout(tmp_path: Path) -> None:
    """With the holder staying put, the wait ends in a refusal that says how long it waited."""
    with acquire_writer_lock(_url(tmp_path), command="daemon"):
        with pytest.raises(WriterLockHeld, match=r"waited \d+s"):
            acquire_writer_lock(_url(tmp_path), wait=0.4, on_wait=lambda h: None)


@pytest.mark.slow
def test_lock_held_by_another_process_dies_with_it(tmp_path: Path) -> None:
    """Another process's lock is refused with its pid, and a crash leaves no stale lock."""
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from boardsync.daemon.lock import acquire_writer_lock as a; "
         f"a({_url(tmp_path)!r}, command='daemon'); print('held', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(WriterLockHeld) as caught:
            acquire_writer_lock(_url(tmp_path))
        assert caught.value.holder.pid == holder.pid
    finally:
        holder.kill()
        holder.wait()
    acquire_writer_lock(_url(tmp_path)).release()


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
