"""CPU-bound work that holds the calling thread (and its event loop) without sleeping: what a long
scheduling cycle or a big relist does to a loop. Holds the GIL too, except at the interpreter's switch
interval, so it also shows that another thread's loop keeps its timers."""

from __future__ import annotations

import time


def hold_loop(seconds: float) -> int:
    """Spin for ``seconds``; returns the number of iterations (so the work is not optimised away)."""
    end = time.monotonic() + seconds
    n = 0
    while time.monotonic() < end:
        n += 1
    return n
