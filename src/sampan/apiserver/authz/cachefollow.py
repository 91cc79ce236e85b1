"""Keeping a derived index in step with one resource's watch cache, without a task or a queue.

A :class:`CacheFollower` remembers the last revision it consumed from a
:class:`~sampan.apiserver.cacher.resource_cache.ResourceCache`. :meth:`CacheFollower.sync` (called
before every lookup, synchronously on the event loop, so nothing changes while it runs) feeds the index
the window's events after that revision — a change is visible to the very next request after the watch
cache applied it. When the events are no longer all in the window (it overflowed) or the cache was
reset (a relist replaced ``objects``), the index is rebuilt from the cache's current objects.

Invariant after ``sync``: the index has seen exactly the cache's current objects (``upsert`` for each,
``remove`` for each key gone since).
"""

from __future__ import annotations

from typing import Any, Protocol

from sampan.apiserver.cacher.objects import DELETED
from sampan.apiserver.cacher.resource_cache import ResourceCache


class Index(Protocol):
    def clear(self) -> None: ...

    def upsert(self, key: str, obj: dict[str, Any]) -> None:
        """``key`` now holds ``obj`` (forget whatever it held before)."""
        ...

    def remove(self, key: str) -> None: ...


class CacheFollower:
    """Feeds ``index`` from ``cache``. States: unsynced (``_objects is None``) -> following."""

    def __init__(self, cache: ResourceCache, index: Index) -> None:
        self.cache = cache
        self.index = index
        self._objects: dict[str, Any] | None = None
        self._rv = 0
        self.rebuilds = 0

    def _rebuild(self) -> None:
        cache = self.cache
        self.index.clear()
        for key, co in cache.objects.items():
            self.index.upsert(key, co.obj)
        self._objects = cache.objects
        self._rv = cache.window[-1].rv if cache.window else cache.window_start
        self.rebuilds += 1

    def sync(self) -> None:
        cache = self.cache
        if self._objects is not cache.objects or self._rv < cache.window_start:
            self._rebuild()
            return
        window = cache.window
        if not window or window[-1].rv <= self._rv:
            return
        start = len(window)
        while start > 0 and window[start - 1].rv > self._rv:
            start -= 1
        for i in range(start, len(window)):
            ev = window[i]
            if ev.type == DELETED:
                self.index.remove(ev.cur.key)
            else:
                self.index.upsert(ev.cur.key, ev.cur.obj)
        self._rv = window[-1].rv
