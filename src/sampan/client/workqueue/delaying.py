"""A work queue whose items can be added after a delay, and the rate-limited queue built on it.

:class:`DelayingQueue` keeps a heap of ``(ready_at, item)``; one task it owns sleeps on the injected clock
until the earliest item is due and then ``add``\\ s it. An item already waiting keeps its earlier ready
time (adding it again with a later time is a no-op). The waiting set holds each item at most once, so it
is bounded by the number of distinct keys, like the queue itself.

:class:`RateLimitingQueue` adds ``add_rate_limited(item)``: the delay comes from a
:class:`~sampan.client.workqueue.rate_limiters.RateLimiter` (by default client-go's controller limiter).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
from typing import Generic

from sampan._lib.clock import Clock, RealClock
from sampan.client.workqueue.queue import T, WorkQueue
from sampan.client.workqueue.rate_limiters import RateLimiter, default_controller_rate_limiter

log = logging.getLogger(__name__)


class DelayingQueue(WorkQueue[T], Generic[T]):
    """Invariant: ``item in self._waiting`` iff a heap entry ``(self._waiting[item], _, item)`` exists (the
    heap may also hold stale entries, skipped when popped)."""

    def __init__(self, name: str = "", *, clock: Clock | None = None) -> None:
        super().__init__(name)
        self._clock = clock or RealClock()
        self._heap: list[tuple[float, int, T]] = []
        self._waiting: dict[T, float] = {}
        self._seq = itertools.count()
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def add_after(self, item: T, delay: float) -> None:
        """Add ``item`` once ``delay`` seconds have passed on the clock (at once if ``delay <= 0``)."""
        if self.shutting_down:
            return
        if delay <= 0:
            self.add(item)
            return
        ready = self._clock.monotonic() + delay
        current = self._waiting.get(item)
        if current is not None and current <= ready:
            return
        self._waiting[item] = ready
        heapq.heappush(self._heap, (ready, next(self._seq), item))
        self._changed.set()
        if self._task is None:
            loop = asyncio.get_running_loop()
            self._task = loop.create_task(self._waiting_loop(), name=f"workqueue-delay-{self.name}")
            self._task.add_done_callback(_log_death)

    def waiting(self) -> int:
        """How many items wait for their delay."""
        return len(self._waiting)

    async def _waiting_loop(self) -> None:
        while True:
            now = self._clock.monotonic()
            while self._heap and self._heap[0][0] <= now:
                ready, _, item = heapq.heappop(self._heap)
                if self._waiting.get(item) == ready:
                    del self._waiting[item]
                    self.add(item)
            self._changed.clear()
            if not self._heap:
                await self._changed.wait()
                continue
            sleeper = asyncio.ensure_future(self._clock.sleep(self._heap[0][0] - now))
            changed = asyncio.ensure_future(self._changed.wait())
            try:
                await asyncio.wait({sleeper, changed}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                sleeper.cancel()
                changed.cancel()

    def shut_down(self) -> None:
        super().shut_down()
        self._stop_waiting()

    async def shut_down_with_drain(self) -> None:
        self._stop_waiting()
        await super().shut_down_with_drain()

    def _stop_waiting(self) -> None:
        self._heap.clear()
        self._waiting.clear()
        if self._task is not None:
            self._task.cancel()
            self._task = None


def _log_death(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("delaying queue task died", exc_info=task.exception())


class RateLimitingQueue(DelayingQueue[T], Generic[T]):
    """A delaying queue that asks a rate limiter how long each failed item waits."""

    def __init__(self, name: str = "", *, rate_limiter: RateLimiter | None = None, clock: Clock | None = None) -> None:
        super().__init__(name, clock=clock)
        self.rate_limiter: RateLimiter = rate_limiter or default_controller_rate_limiter(clock=clock)

    def add_rate_limited(self, item: T) -> None:
        """Add ``item`` after the delay its failure history earns."""
        if self._metrics is not None:
            self._metrics.retry()
        self.add_after(item, self.rate_limiter.when(item))

    def forget(self, item: T) -> None:
        """Clear ``item``'s failure history (it succeeded); does not remove it from the queue."""
        self.rate_limiter.forget(item)

    def num_requeues(self, item: T) -> int:
        return self.rate_limiter.num_requeues(item)
