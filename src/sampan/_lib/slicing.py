"""Cooperative time slicing: a long loop of small steps gives the event loop a turn every few milliseconds.

An ``async for`` over a watch stream, a handler draining a full buffer, or a queue popped while it is
non-empty never suspends on its own: each step awaits something that is already ready, so the task runs
on and every other task — timers, health endpoints, network reads — waits (docs/liveness.md). A
:class:`TimeSlice` bounds that::

    slice_ = TimeSlice()
    async for event in stream:
        handle(event)
        await slice_.checkpoint()     # yields once ``budget`` seconds have passed since the last yield

Several sliced tasks may share one loop turn (asyncio runs every ready callback in a turn), so the budget
is a fraction of the ~50 ms a turn may take: 10 ms by default. A checkpoint costs a clock read; the yield
itself (``asyncio.sleep(0)``) about 10 µs.
"""

from __future__ import annotations

import asyncio
import time

DEFAULT_BUDGET = 0.01


class TimeSlice:
    """Yields to the event loop at most every ``budget`` seconds of uninterrupted work. One per task."""

    __slots__ = ("_since", "budget", "yields")

    def __init__(self, budget: float = DEFAULT_BUDGET) -> None:
        self.budget = budget
        self._since = time.perf_counter()
        self.yields = 0

    def restart(self) -> None:
        """The task just suspended on its own (waited for input): a new slice starts now."""
        self._since = time.perf_counter()

    async def checkpoint(self) -> None:
        """Yield if this slice has run for ``budget`` seconds."""
        if time.perf_counter() - self._since >= self.budget:
            await asyncio.sleep(0)
            self.yields += 1
            self._since = time.perf_counter()
