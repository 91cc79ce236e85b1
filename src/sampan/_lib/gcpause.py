"""Pausing CPython's cyclic GC around one synchronous bulk step (issue 21: an informer of 150,000 pods).

Building a big structure (decoding a LIST page, queueing a LIST's items into a DeltaFIFO) allocates tens of
thousands of containers; with the GC on, every 700 allocations start a young collection, and as the
surviving objects pile up, full collections walk the whole growing heap again and again — 3/4 of a
large informer's sync went there (bench/informer_sync.py). :func:`paused` turns the GC off for the
step and back on afterwards, only if it was on (a caller that turned it off keeps it off). Use it only
around code that does not await or call back into arbitrary code: nothing else of this thread runs
meanwhile, so no garbage of anyone else's piles up; the next allocation afterwards collects as usual.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def paused() -> Iterator[None]:
    """The cyclic GC off for the ``with`` body (if it was on), on again however the body ends."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
