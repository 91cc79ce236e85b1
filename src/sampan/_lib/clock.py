"""Injected time.

Every component takes a :class:`Clock` so tests can drive time by hand. ``monotonic()`` is for
intervals and deadlines, ``wall()`` for timestamps written into objects.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
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
