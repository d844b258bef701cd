"""A run keeps its resident size near what it holds (`boardsync/memory.py`; the sizes are
measured in `benchmarks/reconcile_bench.py`): the boards' threads allocate from one heap, and
what each board's read freed is given back as soon as the board is read."""

from __future__ import annotations

import ctypes.util
import subprocess
import sys
import textwrap

import pytest

from boardsync.reconcile import engine as running
from boardsync.reconcile import observe as observing
from boardsync.reconcile import reconcile
from boardsync.sandbox.core import Fault
from tests.reconcile_helpers import Workspace

glibc = pytest.mark.skipif(
    not sys.platform.startswith("linux") or ctypes.util.find_library("c") is None,
    reason="the arenas and malloc_info are glibc's",
)

HEAPS_AFTER_A_THREAD = textwrap.dedent("""
    import ctypes, ctypes.util, sys, tempfile, threading
    from boardsync.memory import one_heap

    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    libc.fopen.restype = ctypes.c_void_p

    def heaps():
        # malloc_info writes one <heap nr="…"> element per heap the allocator has made.
        with tempfile.NamedTemporaryFile() as report:
            stream = ctypes.c_void_p(libc.fopen(report.name.encode(), b"w"))
            libc.malloc_info(0, stream)
            libc.fclose(stream)
            return open(report.name).read().count("<heap nr=")

    took = one_heap() if sys.argv[1] == "one" else None
    kept = []
    reader = threading.Thread(target=lambda: kept.append([bytes(1000) for _ in range(5_000)]))
    reader.start()
    reader.join()
    print(took, heaps())
""")


@glibc
@pytest.mark.parametrize(("asked", "expected"), [("one", "True 1"), ("default", "None 2")])
def test_one_heap_keeps_a_threads_blocks_in_the_main_heap(asked: str, expected: str) -> None:
    """Without `one_heap` a thread that allocates gets a heap of its own (whose free pages a
    run could leave resident); after it, the thread's blocks come from the main heap."""
    ran = subprocess.run([sys.executable, "-c", HEAPS_AFTER_A_THREAD, asked], capture_output=True, text=True,
                         check=True)
    assert ran.stdout.split() == expected.split()


@pytest.mark.slow
def test_a_run_gives_back_what_each_boards_read_freed_and_what_recording_freed(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once after each board is read (one that fails too), and once after the run's record of
    what the boards showed."""
    given: list[str] = []
    monkeypatch.setattr(observing, "give_back", lambda: given.append("board read") or True)
    monkeypatch.setattr(running, "give_back", lambda: given.append("recorded") or True)
    ws.sandbox.sorce.faults.add(Fault("status", status=500, method="GET", times=None))
    with ws.opened() as (desired, store, connectors):
        result = reconcile(desired, store, connectors)
    assert "sorce" in {e.provider for e in result.plan.errors}  # type: ignore[union-attr]
    assert given == ["board read"] * len(connectors) + ["recorded"]
