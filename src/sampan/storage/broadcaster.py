"""In-process fan-out of committed events to watchers.

Writers call :meth:`Broadcaster.publish` from the event loop after a commit; it never blocks and never
waits for a watcher. Each subscriber has a bounded queue: a subscriber whose queue is full is closed
with WatchClosed (it must re-watch from its last revision, or relist), so memory stays bounded however
slow a consumer is.

:func:`watch_with_history` joins a backend's history read with the live stream without a gap or a
duplicate: it subscribes first, then reads history ``(after, now]``, then drains the live queue,
skipping revisions already delivered.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

from sampan.storage.errors import WatchClosed
from sampan.storage.interface import Event

log = logging.getLogger(__name__)

#: Default bound of a subscriber's queue, in batches of events.
DEFAULT_QUEUE_SIZE = 4096

_CLOSED = object()


class Subscription:
    """One subscriber's bounded queue of event batches.

    States: open -> closed. Once closed (by the subscriber, by overflow, or by the broadcaster closing)
    no batch is added; ``error`` says why it closed when the subscriber did not ask.
    """

    def __init__(self, prefix: str, maxsize: int) -> None:
        self.prefix = prefix
        self._queue: asyncio.Queue[Sequence[Event] | object] = asyncio.Queue(maxsize + 1)
        self._maxsize = maxsize
        self.closed = False
        self.error: Exception | None = None

    def offer(self, batch: Sequence[Event]) -> None:
        if self.closed:
            return
        if self._queue.qsize() >= self._maxsize:
            self.close(WatchClosed("watcher fell behind; re-watch from its last revision"))
            return
        self._queue.put_nowait(batch)

    def close(self, error: Exception | None = None) -> None:
        if self.closed:
            return
        self.closed = True
        self.error = error
        # Room is always left for the sentinel: offer() never fills the last slot.
        self._queue.put_nowait(_CLOSED)

    async def next_batch(self) -> Sequence[Event] | None:
        """The next batch, or None once closed by the subscriber; raises ``error`` if closed by overflow."""
        item = await self._queue.get()
        if item is _CLOSED:
            if self.error is not None:
                raise self.error
            return None
        assert isinstance(item, Sequence)
        return item


class Broadcaster:
    """Fans each committed batch out to the subscribers whose prefix matches."""

    def __init__(self, queue_size: int = DEFAULT_QUEUE_SIZE) -> None:
        self._subs: set[Subscription] = set()
        self._queue_size = queue_size
        self._closed = False

    def subscribe(self, prefix: str) -> Subscription:
        sub = Subscription(prefix, self._queue_size)
        if self._closed:
            sub.close(WatchClosed("store closed"))
        else:
            self._subs.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._subs.discard(sub)
        sub.close()

    @property
    def subscribers(self) -> int:
        return len(self._subs)

    def publish(self, events: Sequence[Event]) -> None:
        """Offer ``events`` (in revision order) to every matching subscriber; never blocks."""
        if not events:
            return
        dead: list[Subscription] = []
        for sub in self._subs:
            p = sub.prefix
            matching = [e for e in events if e.key.startswith(p)]
            if matching:
                sub.offer(matching)
            if sub.closed:
                dead.append(sub)
        for sub in dead:
            self._subs.discard(sub)
            if sub.error is not None:
                log.info("watcher closed prefix=%s reason=%s", sub.prefix, sub.error)

    def reset(self, error: Exception) -> None:
        """Close every current subscriber with ``error`` (their events were lost); new ones may come."""
        for sub in self._subs:
            sub.close(error)
        self._subs.clear()

    def close(self) -> None:
        self._closed = True
        for sub in self._subs:
            sub.close(WatchClosed("store closed"))
        self._subs.clear()


HistoryReader = Callable[[str, int], Awaitable[Sequence[Event]]]


class BroadcastWatch:
    """A :class:`~sampan.storage.interface.Watch` over a broadcaster plus a history reader."""

    def __init__(self, broadcaster: Broadcaster, history: HistoryReader, prefix: str, after: int) -> None:
        self._broadcaster = broadcaster
        self._history = history
        self._prefix = prefix
        self._after = after
        self._sub = broadcaster.subscribe(prefix)

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Event]:
        last = self._after
        try:
            for event in await self._history(self._prefix, last):
                if event.revision > last:
                    last = event.revision
                    yield event
            while True:
                batch = await self._sub.next_batch()
                if batch is None:
                    return
                for event in batch:
                    if event.revision > last:
                        last = event.revision
                        yield event
        finally:
            self._broadcaster.unsubscribe(self._sub)

    async def close(self) -> None:
        self._broadcaster.unsubscribe(self._sub)
