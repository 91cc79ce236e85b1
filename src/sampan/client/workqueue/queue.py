"""The basic work queue: a de-duplicating FIFO of keys with a processing set.

States of an item::

    (absent) --add--> dirty+queued --get--> processing --done--> (absent)
                                              |   ^
                                         add  |   | (done requeues it)
                                              v   |
                                         processing+dirty

Invariants:

- an item is in ``_queue`` only if it is in ``_dirty``, and at most once;
- an item is never in ``_queue`` and ``_processing`` at once, so no two workers hold one item: a worker
  that calls ``get`` can only receive items nobody is processing;
- an item added while it is being processed is marked dirty and queued again by ``done``, so the change
  that caused the add is always seen by a later pass.

The queue holds each distinct key at most once, so its size is bounded by the number of distinct keys the
producers use (the objects in an informer's cache); it never needs an overflow policy.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Hashable
from typing import Generic, TypeVar

from sampan.client.metrics import queue_metrics

T = TypeVar("T", bound=Hashable)


class ShutDown(Exception):
    """``get`` on a queue that is shut down (and, when draining, empty)."""


class WorkQueue(Generic[T]):
    """See the module docstring. All methods but :meth:`get` and :meth:`shut_down_with_drain` are
    synchronous; waiters are futures woken one per queued item, so no task is spawned per add."""

    def __init__(self, name: str = "") -> None:
        self.name = name
        self._queue: deque[T] = deque()
        self._dirty: set[T] = set()
        self._processing: set[T] = set()
        self._shutting_down = False
        self._getters: deque[asyncio.Future[None]] = deque()
        self._drainers: list[asyncio.Future[None]] = []
        self._metrics = queue_metrics(name)
        """client-go's workqueue_* metrics (None for an unnamed queue)."""
        self.last_wait = 0.0
        """Seconds the item the last :meth:`get` returned waited in the queue (named queues only); read it
        right after ``get`` returns, before the next await."""

    def add(self, item: T) -> None:
        """Queue ``item`` unless it is already queued; if it is being processed, queue it after ``done``."""
        if self._shutting_down or item in self._dirty:
            return
        self._dirty.add(item)
        if self._metrics is not None:
            self._metrics.add(item)
        if item in self._processing:
            return
        self._queue.append(item)
        self._wake_getter()

    def _wake_getter(self) -> None:
        while self._getters:
            fut = self._getters.popleft()
            if not fut.done():
                fut.set_result(None)
                return

    async def get(self) -> T:
        """The next item; the caller must call :meth:`done` with it. Raises :class:`ShutDown`."""
        while not self._queue:
            if self._shutting_down:
                raise ShutDown(f"work queue {self.name!r} is shut down")
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._getters.append(fut)
            try:
                await fut
            except asyncio.CancelledError:
                if fut.done() and not fut.cancelled() and self._queue:
                    self._wake_getter()  # pass on a wake-up we received but cannot use
                raise
        item = self._queue.popleft()
        self._processing.add(item)
        self._dirty.discard(item)
        if self._metrics is not None:
            self.last_wait = self._metrics.get(item)
        return item

    def done(self, item: T) -> None:
        """Mark ``item`` processed; requeue it if it was added meanwhile."""
        self._processing.discard(item)
        if self._metrics is not None:
            self._metrics.done(item)
        if item in self._dirty:
            self._queue.append(item)
            self._wake_getter()
        if not self._processing and not self._queue:
            for fut in self._drainers:
                if not fut.done():
                    fut.set_result(None)
            self._drainers.clear()

    def shut_down(self) -> None:
        """Stop accepting items and drop what is queued; waiting ``get`` calls raise :class:`ShutDown`.
        Items in flight may still be marked ``done``."""
        self._shutting_down = True
        if self._metrics is not None:
            self._metrics.cleared(len(self._dirty))
        self._queue.clear()
        self._dirty.clear()
        self._wake_all()

    async def shut_down_with_drain(self) -> None:
        """Stop accepting items, let workers finish what is queued and in flight, then return."""
        self._shutting_down = True
        if self._queue or self._processing:
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._drainers.append(fut)
            await fut
        self._wake_all()

    def _wake_all(self) -> None:
        getters, self._getters = self._getters, deque()
        for fut in getters:
            if not fut.done():
                fut.set_result(None)

    @property
    def shutting_down(self) -> bool:
        return self._shutting_down

    def __len__(self) -> int:
        return len(self._queue)

    def processing(self) -> frozenset[T]:
        return frozenset(self._processing)
