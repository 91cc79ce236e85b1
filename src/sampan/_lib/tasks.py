"""Stopping owned asyncio tasks without swallowing the caller's own cancellation.

The tempting idiom ``t.cancel(); with suppress(CancelledError): await t`` has a trap: if the *caller* is
cancelled while it waits for ``t``, the ``CancelledError`` raised is the caller's, and the ``suppress``
eats it. A loop that does this in a ``finally`` then runs on forever after ``cancel()`` - and anything
waiting for it (``asyncio.wait_for``, a test fixture) waits forever too.

Invariant of :func:`cancel_and_wait`: the given tasks' own ``CancelledError`` and failures are absorbed;
a cancellation of the calling task always propagates.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any


async def cancel_and_wait(tasks: Iterable[asyncio.Future[Any]]) -> None:
    """Cancel every task and wait until all have finished; their results and exceptions are dropped
    (a task's failure is its owner's to log, normally from a done callback)."""
    owned = list(tasks)
    pending = [t for t in owned if not t.done()]
    for t in pending:
        t.cancel()
    if pending:
        # asyncio.wait never raises the tasks' exceptions; a cancel of the caller raises here, un-eaten
        await asyncio.wait(pending)
    for t in owned:
        if t.done() and not t.cancelled():
            t.exception()  # mark retrieved: no "exception was never retrieved" noise
