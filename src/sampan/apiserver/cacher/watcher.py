"""One client's watch on the cache: its filter and its bounded queue.

States: open -> closed. ``offer`` never blocks: when ``capacity`` deliveries are already waiting, the
watcher closes itself with ``overflowed`` set (the HTTP stream then ends; the client re-watches or
relists), so a slow client never makes the server buffer without bound. Items queued before the close
are still written. ``initial`` holds the replayed/initial events computed when the watch started; they
are written before anything in the queue and are not counted against ``capacity``.

Ordering: pending items go through the ``sink`` fast path only when nothing earlier is queued for
or being written by the writer task, so a watcher's events reach the connection in revision order.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sampan.apiserver.cacher.objects import ADDED, DELETED, DELETED_PREV, MODIFIED, CachedObject, WatchEvent
from sampan.apiserver.cacher.views import View


class _Matcher(Protocol):
    @property
    def empty(self) -> bool: ...

    def matches(self, values: Any) -> bool: ...


@dataclass(frozen=True, slots=True)
class Filter:
    """Which objects a watch or list wants: a namespace (None: all) and label/field selectors."""

    namespace: str | None = None
    labels: _Matcher | None = None
    fields: _Matcher | None = None

    @property
    def everything(self) -> bool:
        return (
            self.namespace is None
            and (self.labels is None or self.labels.empty)
            and (self.fields is None or self.fields.empty)
        )

    def matches(self, co: CachedObject) -> bool:
        if self.namespace is not None and co.namespace != self.namespace:
            return False
        if self.labels is not None and not self.labels.empty and not self.labels.matches(co.labels):
            return False
        return self.fields is None or self.fields.empty or bool(self.fields.matches(co.fields))


@dataclass(frozen=True, slots=True)
class Bookmark:
    """A BOOKMARK delivery: the encoded line (shared by every watcher of the resource for one tick)."""

    rv: int
    line: bytes


Item = tuple[WatchEvent, str] | Bookmark


def variant_for(flt: Filter, event: WatchEvent) -> str | None:
    """How ``event`` reaches a watcher with ``flt``: ADDED/MODIFIED/DELETED/DELETED_PREV, or None.

    An update that makes an object start matching is an ADDED; one that makes it stop matching is a
    DELETED carrying the previous state at the new version (upstream's cacheWatcher rule).
    """
    if flt.everything:
        return event.type
    if event.type != MODIFIED or event.prev is None:
        return event.type if flt.matches(event.cur) else None
    cur_ok = flt.matches(event.cur)
    prev_ok = flt.matches(event.prev)
    if cur_ok:
        return MODIFIED if prev_ok else ADDED
    return DELETED_PREV if prev_ok else None


Sink = Callable[[Sequence[Item]], bool]


class CacheWatcher:
    """A registered watch. ``capacity`` bounds ``pending``; the cache thread of control (the event loop)
    is the only writer of ``pending`` and ``closed``.

    Delivery is batched per event-loop turn: ``deliver`` only queues and tells the cache (``notify``),
    which calls :meth:`flush` once per turn for every watcher that got something. When the store's events
    arrive faster than they can be written, each flush carries several events, so the cost per event
    falls as load rises (one write per watcher per turn, not per event).
    """

    def __init__(
        self,
        flt: Filter,
        *,
        capacity: int,
        bookmarks: bool,
        initial: Iterable[Item] = (),
        notify: Callable[[CacheWatcher], None] | None = None,
        view: View | None = None,
    ) -> None:
        self.filter = flt
        self.view = view
        """The served version this watcher sees (None: the storage form); ``filter`` is over the storage form."""
        self.capacity = capacity
        self.bookmarks = bookmarks
        self.initial: list[Item] = list(initial)
        self.pending: collections.deque[Item] = collections.deque()
        self.closed = False
        self.overflowed = False
        self.sink: Sink | None = None
        """Optional fast path for JSON watchers: writes the given items straight to the connection and
        returns True, or returns False (connection busy) so the writer task gets them instead."""
        self.busy = False
        """True while the writer task is writing a batch (the sink must not overtake it)."""
        self.on_close: Callable[[], None] | None = None
        """Called once when the watcher closes (the HTTP layer aborts a connection stuck in a write)."""
        self._notify = notify
        self._dirty = False
        self._wakeup = asyncio.Event()
        if self.initial:
            self._wakeup.set()

    def deliver(self, event: WatchEvent) -> None:
        """Queue ``event`` if it concerns this watcher (selector transitions applied)."""
        if self.closed:
            return
        variant = variant_for(self.filter, event)
        if variant is None:
            return
        if len(self.pending) >= self.capacity:
            self.overflowed = True
            self.close()
            return
        self.pending.append((event, variant))
        self._signal()

    def offer_bookmark(self, bookmark: Bookmark) -> None:
        """Queue a bookmark unless the queue is full (a bookmark is never worth closing a watch for)."""
        if self.closed or not self.bookmarks or len(self.pending) >= self.capacity:
            return
        self.pending.append(bookmark)
        self._signal()

    def _signal(self) -> None:
        if self._notify is None:
            self._wakeup.set()
        elif not self._dirty:
            self._dirty = True
            self._notify(self)

    def flush(self) -> None:
        """Hand what is pending to the sink (idle connection) or to the writer task."""
        self._dirty = False
        if not self.pending:
            return
        sink = self.sink
        if sink is not None and not self.busy and not self.initial and not self.closed and sink(self.pending):
            self.pending.clear()
            return
        self._wakeup.set()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._wakeup.set()
        callback, self.on_close = self.on_close, None
        if callback is not None:
            callback()

    def expire(self) -> None:
        """The watch's time is up: stop, dropping what is still queued (the client re-watches from the
        last version it saw, so nothing is lost)."""
        self.pending.clear()
        self.initial.clear()
        self.close()

    async def wait(self) -> None:
        """Return when items are waiting or the watcher closed."""
        await self._wakeup.wait()

    def take(self, limit: int = 512) -> list[Item]:
        """Up to ``limit`` waiting items, initial ones first; resets the wake-up when drained."""
        out: list[Item] = []
        if self.initial:
            out, self.initial = self.initial[:limit], self.initial[limit:]
        while self.pending and len(out) < limit:
            out.append(self.pending.popleft())
        if not self.initial and not self.pending and not self.closed:
            self._wakeup.clear()
        return out


__all__ = ["ADDED", "DELETED", "DELETED_PREV", "MODIFIED", "Bookmark", "CacheWatcher", "Filter", "Item"]
