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

A :class:`TimeSlice` bounds one task. Many tasks that become ready together (110 pod workers created by
one informer slice) each run one short step in the same loop turn, and asyncio checks its timers only
between turns: 110 steps of 0.5 ms are one 55 ms turn although no task runs long. A :class:`TurnBudget`,
shared by such tasks, bounds the turn: once ``budget`` seconds of their work have run since the loop last
had a turn, every further ``checkpoint`` waits for the next one.
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


class TurnBudget:
    """Shared by many tasks: at most ``budget`` seconds of their work per loop turn (see the module doc).

    Invariants: the first step after a turn always runs; while a turn is pending every caller waits for
    it, and it always comes (a ``call_soon`` callback resolves it on the next turn, after the timers that
    fell due); a cancelled waiter never cancels the others' wait."""

    __slots__ = ("_since", "_turn", "budget", "waits")

    def __init__(self, budget: float = DEFAULT_BUDGET) -> None:
        self.budget = budget
        self._since: float | None = None
        self._turn: asyncio.Future[None] | None = None
        self.waits = 0

    async def checkpoint(self) -> None:
        """Go on at once, or wait for a later turn when this turn's budget is spent (waiters woken together
        check again, so they too spread over turns)."""
        while True:
            if self._turn is None:
                now = time.perf_counter()
                if self._since is None:  # the first step after a turn always runs: progress is certain
                    self._since = now
                    return
                if now - self._since < self.budget:
                    return
                loop = asyncio.get_running_loop()
                self._turn = loop.create_future()
                loop.call_soon(self._next_turn)
            self.waits += 1
            await asyncio.shield(self._turn)

    def _next_turn(self) -> None:
        turn, self._turn, self._since = self._turn, None, None
        if turn is not None and not turn.done():
            turn.set_result(None)
