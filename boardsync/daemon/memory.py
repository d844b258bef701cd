"""Give the memory a finished run freed back to the system, so a daemon's size stays flat.

A run reads every board and every posting, and frees most of it when it ends. Python hands
the freed blocks to the C allocator, which keeps them for later: glibc returns the top of a
heap on its own but not the free pages inside it, nor those of the arenas its threads use
(the boards are read in a thread each). Over the first cycles of a daemon the kept pages
pile up until the allocator's free space covers a whole run, so its resident size climbs for
a while before it levels off. `give_back` asks the allocator to release every free page
after each run (`malloc_trim`), which keeps the size where one run leaves it.

Only glibc has `malloc_trim`; elsewhere `give_back` does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from collections.abc import Callable


@functools.cache
def _trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        trim = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to ask
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


def give_back() -> bool:
    """Release the allocator's free pages to the system; whether it could be asked at all."""
    trim = _trim()
    if trim is None:
        return False
    trim(0)
    return True
