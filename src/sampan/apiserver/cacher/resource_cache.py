"""One resource type's slice of the watch cache: current objects, recent events, registered watchers.

Invariants (between two calls of :meth:`ResourceCache.apply`, all synchronous on the event loop):
* ``objects`` is the state of every key under ``prefix`` as of the watch cache's revision.
* every event of this resource with revision > ``window_start`` is in ``window`` (oldest first), so a
  watch from any version >= ``window_start`` can be replayed exactly; older ones get 410 Expired.
* each registered watcher has been offered every event since it registered, in revision order.
"""

from __future__ import annotations

import asyncio
import bisect
import collections
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from sampan._lib import tracing
from sampan.api import errors
from sampan.apiserver.cacher import snapshot
from sampan.apiserver.cacher.objects import (
    ADDED,
    BOOKMARK,
    DELETED,
    MODIFIED,
    CachedObject,
    WatchEvent,
    encode_event,
)
from sampan.apiserver.cacher.triggers import WatcherSet
from sampan.apiserver.cacher.views import View
from sampan.apiserver.cacher.watcher import Bookmark, CacheWatcher, Filter, Item, variant_for
from sampan.storage import Event, EventType, KeyValue

log = logging.getLogger(__name__)

FieldValues = Callable[[dict[str, Any]], Mapping[str, str]]

MAX_COALESCE = 0.05
"""Upper bound (seconds) on how long a busy cache holds events back to write them in bigger batches."""


MAX_SHARED_STRINGS = 100_000
"""Bound of a resource cache's table of shared strings: full, it starts again empty."""


class ResourceCache:
    def __init__(
        self,
        prefix: str,
        *,
        kind: str,
        api_version: str,
        field_values_of: FieldValues,
        window_size: int,
        watcher_capacity: int,
    ) -> None:
        self.prefix = prefix
        self.kind = kind
        self.api_version = api_version
        self._field_values_of = field_values_of
        self._watcher_capacity = watcher_capacity
        self.objects: dict[str, CachedObject] = {}
        self._strings: dict[str, str] = {}
        """Equal label and field values of cached objects, shared (:meth:`CachedObject.share_strings`)."""
        self._sorted_keys: list[str] | None = None
        self._all: tuple[CachedObject, ...] | None = None
        self.window: collections.deque[WatchEvent] = collections.deque(maxlen=window_size)
        self.window_start = 0
        self.watchers = WatcherSet()
        self.events_applied = 0
        self._dirty: list[CacheWatcher] = []
        self._flush_scheduled = False
        self._last_flush_end = 0.0
        self._last_flush_cost = 0.0

    @property
    def field_values_of(self) -> FieldValues:
        """The storage form's field-selector values (what filters over this cache compare)."""
        return self._field_values_of

    # ---- feeding (the watch cache's task only) ---------------------------------------------------

    def cached(self, kv: KeyValue) -> CachedObject | None:
        """``kv`` in the cache's form, or None (logged) for a value that does not decode. A loader turns each
        page of the store into these at once, so the store's bytes of the whole prefix are never all held
        beside the cache being built (at 150,000 pods: ~550 MB of values, freed only after the load)."""
        try:
            co = CachedObject.from_store(kv.key, kv.value, kv.mod_revision, self._field_values_of)
        except ValueError:
            log.warning("skipping undecodable stored object key=%s", kv.key)
            return None
        self._share_strings(co)
        return co

    def _share_strings(self, co: CachedObject) -> None:
        if len(self._strings) >= MAX_SHARED_STRINGS:  # unique values (pod IPs...) must not grow it forever
            self._strings = {}
        co.share_strings(self._strings)

    def reset(self, kvs: Iterable[KeyValue], revision: int) -> None:
        """Replace the state with ``kvs`` as of ``revision``; every watcher is closed (clients re-watch)."""
        objects: dict[str, CachedObject] = {}
        for kv in kvs:
            co = self.cached(kv)
            if co is not None:
                objects[kv.key] = co
        self.reset_objects(objects, revision)

    def reset_objects(self, objects: dict[str, CachedObject], revision: int) -> None:
        """:meth:`reset` with the objects already in the cache's form (built by :meth:`cached`)."""
        self.objects = objects
        self._sorted_keys = None
        self._all = None
        self.window.clear()
        self.window_start = revision
        for w in list(self.watchers):
            w.close()
        self.watchers.clear()

    def apply(self, event: Event) -> None:
        """Apply one store event: update state, remember it in the window, offer it to watchers. A value
        that does not decode (not written by an API server) is skipped with a warning."""
        try:
            self._apply(event)
        except ValueError:
            log.warning("skipping undecodable stored object key=%s revision=%d", event.key, event.revision)

    def _apply(self, event: Event) -> None:
        prev = self.objects.get(event.key)
        self._all = None
        if event.type is EventType.DELETED:
            if prev is None:
                return
            cur = CachedObject.from_store(event.key, event.value, event.revision, self._field_values_of)
            del self.objects[event.key]
            self._sorted_keys = None
            wev = WatchEvent(DELETED, cur, prev, event.revision)
        else:
            cur = CachedObject.from_store(event.key, event.value, event.revision, self._field_values_of)
            self._share_strings(cur)
            self.objects[event.key] = cur
            if prev is None:
                self._sorted_keys = None
                wev = WatchEvent(ADDED, cur, None, event.revision)
            else:
                wev = WatchEvent(MODIFIED, cur, prev, event.revision)
        if len(self.window) == self.window.maxlen:
            self.window_start = self.window[0].rv
        self.window.append(wev)
        self.events_applied += 1
        if self.watchers:  # a dispatch to nobody is no hop of anyone's trace
            if tracing.STATE.on:
                self._traced_dispatch(wev)
            else:
                self._dispatch(wev)

    def _traced_dispatch(self, wev: WatchEvent) -> None:
        """:meth:`_dispatch` inside a ``watchcache.dispatch`` span (uid, revision, watchers offered)."""
        md = wev.cur.obj.get("metadata") or {}
        attrs: dict[str, tracing.AttrValue] = {tracing.UID: md.get("uid") or "", tracing.RV: str(wev.rv),
                                               "watch.event": wev.type}
        with tracing.span("watchcache.dispatch", attrs):
            self._dispatch(wev)

    def _dispatch(self, wev: WatchEvent) -> None:
        if self.watchers:
            closed: list[CacheWatcher] = []
            for w in self.watchers.candidates(wev):
                w.deliver(wev)
                if w.closed:
                    closed.append(w)
            for w in closed:
                self.watchers.discard(w)
                if w.overflowed:
                    log.info("watcher closed: fell behind resource=%s", self.prefix)

    # ---- reading ---------------------------------------------------------------------------------

    def sorted_objects(self, flt: Filter) -> list[CachedObject]:
        """Current objects matching ``flt``, in key order."""
        if self._sorted_keys is None:
            self._sorted_keys = sorted(self.objects)
        objs = self.objects
        keys = self._sorted_keys
        if flt.namespace is not None:
            # namespaced keys are prefix + ns + "/" + name: a contiguous, sorted run
            start = self.prefix + flt.namespace + "/"
            lo = bisect.bisect_left(keys, start)
            hi = bisect.bisect_left(keys, start[:-1] + "0")  # "0" follows "/"
            keys = keys[lo:hi]
            flt = Filter(None, flt.labels, flt.fields)
        if flt.everything:
            return [objs[k] for k in keys]
        return [o for o in (objs[k] for k in keys) if flt.matches(o)]

    def all_objects(self) -> tuple[CachedObject, ...]:
        """Every current object in key order, shared by every caller until the next change (hundreds of
        concurrent full LISTs of an unchanged resource build it once)."""
        if self._all is None:
            self._all = tuple(self.sorted_objects(Filter()))
        return self._all

    def page(self, flt: Filter, *, prefix: str, start_after: str | None,
             limit: int) -> tuple[list[CachedObject], str | None]:
        """Up to ``limit`` current objects under ``prefix`` matching ``flt``, in key order, after the key
        ``start_after`` (None: from the first), and the key the next page starts after — None when no key
        under ``prefix`` follows the page (as a paged store read: a page that filled up while more keys
        follow gets a continuation even if none of them match)."""
        if self._sorted_keys is None:
            self._sorted_keys = sorted(self.objects)
        keys = self._sorted_keys
        objs = self.objects
        lo = bisect.bisect_left(keys, prefix)
        if start_after is not None:
            lo = max(lo, bisect.bisect_right(keys, start_after))
        hi = bisect.bisect_left(keys, _prefix_end(prefix)) if prefix else len(keys)
        out: list[CachedObject] = []
        for i in range(lo, hi):
            co = objs[keys[i]]
            if flt.matches(co):
                out.append(co)
                if len(out) >= limit:
                    return out, (keys[i] if i < hi - 1 else None)
        return out, None

    def page_at(self, flt: Filter, *, prefix: str, start_after: str | None, limit: int,
                revision: int) -> tuple[list[CachedObject], str | None] | None:
        """:meth:`page` as of the earlier ``revision`` (a continuation whose first page was read there),
        rebuilt from the window (:mod:`.snapshot`); None when the window no longer reaches back to it."""
        if revision < self.window_start:
            return None
        if self._sorted_keys is None:
            self._sorted_keys = sorted(self.objects)
        changed = snapshot.changed_since(self.window, revision)
        return snapshot.page_at(keys=self._sorted_keys, objects=self.objects, changed=changed, flt=flt,
                                lo_key=prefix, hi_key=_prefix_end(prefix) if prefix else None,
                                start_after=start_after, limit=limit)

    def count_after(self, prefix: str, key: str) -> int:
        """How many current keys under ``prefix`` sort after ``key`` (a paged list's remainder)."""
        if self._sorted_keys is None:
            self._sorted_keys = sorted(self.objects)
        keys = self._sorted_keys
        lo = bisect.bisect_right(keys, key)
        hi = bisect.bisect_left(keys, _prefix_end(prefix)) if prefix else len(keys)
        return max(0, hi - lo)

    def events_since(self, rv: int, flt: Filter) -> list[Item]:
        """Window events after ``rv`` that concern ``flt``; 410 Expired when ``rv`` is too old."""
        if rv < self.window_start:
            raise errors.too_old_resource_version(rv, self.window_start)
        out: list[Item] = []
        for ev in self.window:
            if ev.rv <= rv:
                continue
            variant = variant_for(flt, ev)
            if variant is not None:
                out.append((ev, variant))
        return out

    def add_watcher(self, flt: Filter, *, bookmarks: bool, initial: Iterable[Item],
                    view: View | None = None) -> CacheWatcher:
        """Register a watcher (``flt`` over the storage form; ``view``: the version it is shown)."""
        w = CacheWatcher(flt, capacity=self._watcher_capacity, bookmarks=bookmarks, initial=initial,
                         notify=self._notify, view=view)
        self.watchers.add(w)
        return w

    def _notify(self, w: CacheWatcher) -> None:
        """``w`` has new items: flush it, with every other such watcher, once this loop turn ends.

        Self-clocking coalescing: the next flush starts no sooner than one previous-flush-duration after
        the previous flush ended, so flushing never takes more than about half the loop. Idle or small,
        that delay is ~0; with many watchers under load, events accumulate and each write carries
        several of them (at most ``MAX_COALESCE`` seconds of added latency).
        """
        self._dirty.append(w)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            loop = asyncio.get_running_loop()
            delay = self._last_flush_end + self._last_flush_cost - loop.time()
            if delay > 0:
                loop.call_later(min(delay, MAX_COALESCE), self._flush)
            else:
                loop.call_soon(self._flush)

    def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        self._flush_scheduled = False
        dirty, self._dirty = self._dirty, []
        for w in dirty:
            w.flush()
        self._last_flush_end = loop.time()
        self._last_flush_cost = self._last_flush_end - start

    def remove_watcher(self, w: CacheWatcher) -> None:
        self.watchers.discard(w)
        w.close()

    def bookmark(self, rv: int, *, initial_events_end: bool = False, view: View | None = None) -> Bookmark:
        """A BOOKMARK for this resource at ``rv`` (optionally the ``k8s.io/initial-events-end`` one), with
        the kind and apiVersion of ``view`` (default: the storage form's)."""
        md: dict[str, Any] = {"resourceVersion": str(rv)}
        if initial_events_end:
            md["annotations"] = {"k8s.io/initial-events-end": "true"}
        kind, api_version = (self.kind, self.api_version) if view is None else (view.kind, view.name)
        return Bookmark(rv, encode_event(BOOKMARK, {"kind": kind, "apiVersion": api_version, "metadata": md}))

    def send_bookmarks(self, rv: int) -> int:
        """Offer a bookmark at ``rv`` to every watcher that asked for bookmarks (one shared per view)."""
        targets = [w for w in self.watchers if w.bookmarks]
        shared: dict[str, Bookmark] = {}
        for w in targets:
            name = "" if w.view is None else w.view.name
            bm = shared.get(name)
            if bm is None:
                bm = shared[name] = self.bookmark(rv, view=w.view)
            w.offer_bookmark(bm)
        return len(targets)


__all__ = ["ADDED", "DELETED", "MODIFIED", "ResourceCache"]


def _prefix_end(prefix: str) -> str:
    """The least string above every string that starts with ``prefix`` (non-empty)."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)
