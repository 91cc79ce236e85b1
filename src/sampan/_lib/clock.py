"""Injected time.

Every component takes a :class:`Clock` so tests can drive time by hand. ``monotonic()`` is for
intervals and deadlines, ``wall()`` for timestamps written into objects.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
import time
from typing import Protocol


class Clock(Protocol):
    def monotonic(self) -> float:
        """Seconds on a clock that never goes back; only differences are meaningful."""

    def wall(self) -> float:
        """Seconds since the Unix epoch."""

    async def sleep(self, seconds: float) -> None:
        """Suspend the caller for ``seconds`` of this clock's time."""


class RealClock:
    """The system clock."""

    def monotonic(self) -> float:
        return time.monotonic()

    def wall(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


def coalesced_tick(now: float, seconds: float, tick: float) -> int:
    """The grid point (a multiple of ``tick``, as its index) a sleep of ``seconds`` from ``now`` ends on: the
    nearest one to ``now + seconds``, or the first after ``now`` when the nearest is not later than ``now``.
    So a sleeper wakes at most ``tick / 2`` early and at most one ``tick`` late; a periodic loop that re-arms
    from its wake-up time keeps its period (rounding up would add up to a tick every round); and a short
    sleep never returns at once (a polling loop cannot spin)."""
    index = round((now + max(0.0, seconds)) / tick)
    if index * tick <= now:
        index = math.floor(now / tick) + 1
    return index


class CoalescingClock:
    """The system clock whose sleeps end on a grid of ``tick`` seconds of the event loop's clock (timer
    slack, as Linux's ``timer_slack_ns``): every sleeper due in one tick is woken by one timer, in one
    turn of the loop. For thousands of periodic tasks in one process (hollow nodes' heartbeats): N timers
    a period become at most ``period / tick`` wake-ups, and the requests they send leave together.

    Invariant: ``_due`` maps a grid index to the futures of the sleepers waiting for it; exactly one loop
    timer is armed per key. A clock serves one event loop (its first sleeper's)."""

    def __init__(self, tick: float) -> None:
        if tick <= 0:
            raise ValueError("tick must be positive")
        self.tick = tick
        self._due: dict[int, list[asyncio.Future[None]]] = {}

    def monotonic(self) -> float:
        return time.monotonic()

    def wall(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        loop = asyncio.get_running_loop()
        index = coalesced_tick(loop.time(), seconds, self.tick)
        waiters = self._due.get(index)
        if waiters is None:
            waiters = self._due[index] = []
            loop.call_at(index * self.tick, self._wake, index)
        fut: asyncio.Future[None] = loop.create_future()
        waiters.append(fut)
        await fut  # a cancelled sleeper cancels only its own future; _wake skips it

    def _wake(self, index: int) -> None:
        for fut in self._due.pop(index, ()):
            if not fut.done():
                fut.set_result(None)

    @property
    def pending(self) -> int:
        """Grid points with a timer armed (tests)."""
        return len(self._due)


class FakeClock:
    """A clock that moves only when :meth:`advance` is called.

    Invariant: every sleeper whose deadline is ``<= now`` has been woken by the time ``advance`` returns
    control to the loop; sleepers are woken in deadline order.
    """

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._now = 0.0
        self._wall_offset = start
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def monotonic(self) -> float:
        return self._now

    def wall(self) -> float:
        return self._wall_offset + self._now

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._now + seconds, next(self._seq), fut))
        await fut

    @property
    def sleepers(self) -> int:
        """How many sleeps are pending (cancelled ones included until their deadline passes)."""
        return len(self._sleepers)

    async def advance(self, seconds: float) -> None:
        """Move time forward and let every sleeper that is now due run once."""
        target = self._now + seconds
        while self._sleepers and self._sleepers[0][0] <= target:
            deadline, _, fut = heapq.heappop(self._sleepers)
            self._now = max(self._now, deadline)
            if not fut.done():
                fut.set_result(None)
            await asyncio.sleep(0)
        self._now = target
        await asyncio.sleep(0)
