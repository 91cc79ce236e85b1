"""Giving freed heap memory back to the operating system (glibc's ``malloc_trim``).

CPython frees a large object (a stored value, a LIST page's bytes) to the C heap, and glibc keeps the
freed pages mapped while anything above them on the heap is still alive, so after a big transient peak
(the watch cache's load at start: every stored object read, decoded and re-encoded) the process's RSS
stays at the peak though the memory is free. ``malloc_trim(0)`` returns every whole free page of every
arena (``madvise(MADV_DONTNEED)``); it costs a walk of the heap (milliseconds for a GiB), so it is called
after such one-off peaks only, never per request. Elsewhere than glibc it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging
from collections.abc import Callable

log = logging.getLogger(__name__)


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim: Callable[[int], int] = libc.malloc_trim
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to trim with
        return None
    return trim


def release_free_memory() -> bool:
    """Return the C heap's free pages to the OS; False where that is not possible (not glibc)."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True
