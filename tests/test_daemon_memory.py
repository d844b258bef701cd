"""The daemon gives the memory a run freed back to the system after every run, so that what
one run freed is not kept for the next, and has its threads share one heap
(`boardsync/memory.py`; what it holds over many cycles is measured in `benchmarks/daemon_rss.py`)."""

from __future__ import annotations

import ctypes.util
import gc
import subprocess
import sys
import textwrap
import uuid
import weakref
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from boardsync.daemon import service
from boardsync.daemon.service import Daemon, Generation
from boardsync.reconcile import record
from boardsync.state import Binding, open_store

glibc = pytest.mark.skipif(
    not sys.platform.startswith("linux") or ctypes.util.find_library("c") is None,
    reason="malloc_trim is glibc's",
)

FRAGMENTED_HEAP = textwrap.dedent("""
    import sys
    from boardsync.memory import give_back

    def resident_kib():
        with open("/proc/self/status") as status:
            return int(next(line.split()[1] for line in status if line.startswith("VmRSS:")))

    # 200,000 blocks of 1 KiB (past Python's small-object allocator: they are malloc's), then
    # all freed but every 100th, which pins the heap's top: malloc keeps the pages between.
    blocks = [bytes(1000) + i.to_bytes(4, "little") for i in range(200_000)]
    kept = blocks[::100]
    del blocks
    before = resident_kib()
    asked = give_back()
    after = resident_kib()
    print(before, after, asked, len(kept))
""")


@glibc
def test_give_back_returns_the_free_pages_inside_the_heap() -> None:
    """About 200 MB freed inside a heap whose top is still in use stays resident until
    `give_back`, which hands most of it back."""
    ran = subprocess.run([sys.executable, "-c", FRAGMENTED_HEAP], capture_output=True, text=True, check=True)
    before, after, asked, _ = ran.stdout.split()
    assert asked == "True"
    assert int(before) - int(after) > 100 * 1024, f"resident {before} KiB before, {after} KiB after"


@dataclass
class _Result:
    """What `Daemon._record` reads of a run's result."""

    outcome: str = "converged"
    duration: float = 0.1
    finished_at: datetime = datetime(2026, 11, 1, tzinfo=UTC)

    def summary(self) -> str:
        return "converged"


class _Metrics:
    def __init__(self) -> None:
        self.finished: list[tuple[str, str]] = []

    def run_finished(self, kind: str, result: str, seconds: float) -> None:
        self.finished.append((kind, result))


def test_every_run_gives_its_memory_back_whether_it_succeeds_or_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    given: list[str] = []

    def give_back() -> bool:
        given.append("after run")
        return True

    monkeypatch.setattr(service, "give_back", give_back)
    daemon = Daemon(tmp_path / "boardsync.yaml")
    daemon._generation = Generation(None, {})  # type: ignore[arg-type]  # the runs below read nothing of it
    daemon.metrics = _Metrics()  # type: ignore[assignment]

    daemon._run("reconcile", lambda generation: _Result())  # type: ignore[arg-type, return-value]
    assert given == ["after run"]

    def failing(generation: Generation) -> _Result:
        raise RuntimeError("the board answered garbage")

    daemon._run("metrics", failing)  # type: ignore[arg-type]
    assert given == ["after run", "after run"]
    assert daemon.metrics.finished == [("reconcile", "converged"), ("metrics", "failed")]  # type: ignore[attr-defined]


class _Cycle:
    def __init__(self) -> None:
        self.itself = self


def test_what_a_run_left_in_reference_cycles_is_collected_before_its_memory_is_given_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run leaves a few objects that refer to each other (SQLAlchemy's statements do), which
    only the collector frees. Left to its own schedule, a daemon of thousands of postings
    collects its oldest generation once in thousands of runs, and they piled up 20 KiB a run:
    each run's are collected when it ends, before its memory is given back."""
    left: list[weakref.ref[_Cycle]] = []
    seen_at_give_back: list[bool] = []
    monkeypatch.setattr(service, "give_back", lambda: seen_at_give_back.append(left[0]() is not None) or True)
    daemon = Daemon(tmp_path / "boardsync.yaml")
    daemon._generation = Generation(None, {})  # type: ignore[arg-type]  # the run below reads nothing of it
    daemon.metrics = _Metrics()  # type: ignore[assignment]

    def leaving_a_cycle(generation: Generation) -> _Result:
        left.append(weakref.ref(_Cycle()))
        return _Result()

    gc.disable()  # only the daemon's own collection can free the cycle
    try:
        daemon._run("reconcile", leaving_a_cycle)  # type: ignore[arg-type]
    finally:
        gc.enable()
    assert seen_at_give_back == [False]


def test_the_daemon_has_every_thread_share_one_heap_before_it_starts_any(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`one_heap` is asked for before the daemon is made: each thread that allocated before it
    would keep a heap of its own, which grew run after run in a daemon of 200 cycles."""
    happened: list[str] = []
    monkeypatch.setattr(service, "one_heap", lambda: happened.append("one heap") or True)

    class Started:
        def __init__(self, *args: object, **kwargs: object) -> None:
            happened.append("daemon made")

        def run(self) -> int:
            happened.append("daemon run")
            return 0

    monkeypatch.setattr(service, "Daemon", Started)
    assert service.run_daemon(tmp_path / "boardsync.yaml") == 0
    assert happened == ["one heap", "daemon made", "daemon run"]


def test_a_runs_keys_are_kept_once_but_never_interned(state_url: str) -> None:
    """What a run reads of its pairs (keys, board names, statuses) is kept once for the run,
    never in the process's table of interned strings. Each run's keys would enter that table
    and leave it again, using up its room, and it would be rebuilt in the middle of a run, at
    the size the entries live then need: a daemon of 500 postings took a step of 1.9 MiB
    some 80 runs in."""
    stamp = uuid.uuid4().hex  # text no other test has made
    keys = [f"interned-{stamp}-{n}" for n in range(3)]
    status = f"status-{stamp}"
    with open_store(state_url) as store:
        with store.write() as session:
            for key in keys:
                session.add(Binding(posting_key=key, provider="sorce", remote_id=f"j-{key}",
                                    applied_status=status))
        known = record.load_known(store, ["sorce"], datetime(2026, 3, 2, tzinfo=UTC), frozenset())
    states = [known.bindings[key, "sorce"] for key in keys]
    assert len({id(state.applied_status) for state in states}) == 1  # one copy for the run
    for text in (*keys, status):
        fresh = (text + ".")[:-1]  # an equal string that is no copy the run holds
        assert sys.intern(fresh) is fresh, f"{text} was interned by the run"
