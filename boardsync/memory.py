"""Keep the process's resident size near what it holds: the C allocator's side of memory.

A run reads every board and every posting; much of what a read builds is freed again once it
is parsed (a board's answers, their decoded JSON). Python hands the blocks it frees to the
C allocator, which keeps them for later. glibc returns the top of a heap on its own but not
the free pages inside it, nor those of the extra heaps ("arenas") it gives threads that
allocate at once: the boards are read in a thread each, so each read can leave a heap of
its own behind, mostly free and still resident.

- `one_heap` has every thread allocate from the main heap. Started before the boards' threads,
  it keeps a run's transient memory in one place, where `give_back` can return it; Python's
  own lock already lets one thread run at a time, so the threads lose nothing by sharing.
- `give_back` asks the allocator to release every free page (`malloc_trim`). A run calls it
  once each board is read and once the read is recorded; the daemon also after every run,
  so that what one run freed is not kept for the next (`benchmarks/daemon_rss.py` measures
  what the daemon holds over many cycles).

Only glibc has these calls; elsewhere both do nothing and say so.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

M_ARENA_MAX = -8
"""glibc's `mallopt` parameter: the most heaps its threads may share out (malloc.h)."""


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
        libc.malloc_trim.argtypes = [ctypes.c_size_t]
        libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to ask
        return None
    libc.malloc_trim.restype = libc.mallopt.restype = ctypes.c_int
    return libc


def give_back() -> bool:
    """Release the allocator's free pages to the system; whether it could be asked at all."""
    libc = _glibc()
    if libc is None:
        return False
    libc.malloc_trim(0)
    return True


@functools.cache
def one_heap() -> bool:
    """Have threads started from now on allocate from the main heap; whether the allocator
    took the setting (once per process)."""
    libc = _glibc()
    return libc is not None and libc.mallopt(M_ARENA_MAX, 1) == 1
