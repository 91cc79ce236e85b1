"""The watch cache: one store watch over the whole registry feeding every :class:`ResourceCache`.

Why one watch, not one per resource: every write under the store root reaches this task, so
``revision`` is the store's revision as far as the cache has seen it (upstream needs etcd progress
notifications for the same guarantee). A consistent read therefore only has to wait until
``revision >= store.current_revision()``, and bookmarks carry the global revision.

States: loading -> watching -> (watch lost: loading again …). Loading lists the whole root at one
revision (in pages), resets every resource cache (closing their watchers: clients re-watch, and get 410
if they are now too far behind) and then watches from that revision. ``ready`` is set after the first load.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
from collections.abc import Iterable

from sampan._lib.clock import Clock
from sampan._lib.malloc import release_free_memory
from sampan.apiserver.cacher.objects import CachedObject
from sampan.apiserver.cacher.resource_cache import ResourceCache
from sampan.storage import Compacted, Storage, StorageError, Unavailable, WatchClosed
from sampan.storage.interface import KeyValue

log = logging.getLogger(__name__)


class WatchCache:
    def __init__(
        self,
        store: Storage,
        caches: Iterable[ResourceCache],
        *,
        clock: Clock,
        bookmark_interval: float,
        page_size: int = 1000,
        retry_delay: float = 1.0,
    ) -> None:
        self._store = store
        self._caches: dict[str, ResourceCache] = {c.prefix: c for c in caches}
        self._clock = clock
        self._bookmark_interval = bookmark_interval
        self._page_size = page_size
        self._retry_delay = retry_delay
        self.revision = 0
        self.ready = asyncio.Event()
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()
        self.reloads = 0

    def cache_for_prefix(self, prefix: str) -> ResourceCache:
        return self._caches[prefix]

    @property
    def caches(self) -> list[ResourceCache]:
        return list(self._caches.values())

    async def add_cache(self, cache: ResourceCache, *, attempts: int = 100) -> None:
        """Start feeding ``cache`` at runtime (a CRD's resource): load its prefix at the revision the
        watch cache has reached, and register it in the same event-loop step, so it sees exactly the
        events after that load. Writes landing while the load runs make it start over (bounded by
        ``attempts``; the last attempt registers anyway and logs)."""
        await self.ready.wait()
        for attempt in range(attempts):
            revision = self.revision
            kvs: list[KeyValue] = []
            start_after: str | None = None
            while True:
                page = await self._store.list(cache.prefix, revision=revision, limit=self._page_size,
                                              start_after=start_after)
                kvs.extend(page.kvs)
                if not page.more or not page.kvs:
                    break
                start_after = page.kvs[-1].key
            if self.revision == revision or attempt == attempts - 1:
                if self.revision != revision:
                    log.warning("resource cache registered while writes raced its load prefix=%s", cache.prefix)
                cache.reset(kvs, revision)
                self._caches[cache.prefix] = cache
                return

    def remove_cache(self, prefix: str) -> None:
        """Stop feeding the cache of ``prefix`` and close its watchers (no-op when absent)."""
        cache = self._caches.pop(prefix, None)
        if cache is not None:
            for w in list(cache.watchers):
                cache.remove_watcher(w)

    # ---- revision tracking -----------------------------------------------------------------------

    def _advance(self, revision: int) -> None:
        if revision <= self.revision:
            return
        self.revision = revision
        while self._waiters and self._waiters[0][0] <= revision:
            _, _, fut = heapq.heappop(self._waiters)
            if not fut.done():
                fut.set_result(None)

    async def wait_for(self, revision: int, timeout: float) -> bool:
        """True once the cache has applied every event up to ``revision``; False after ``timeout``."""
        if self.revision >= revision and self.ready.is_set():
            return True
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (revision, next(self._seq), fut)
        heapq.heappush(self._waiters, entry)
        try:
            await asyncio.wait_for(asyncio.shield(fut), timeout)
            return True
        except TimeoutError:
            return False
        finally:
            if not fut.done():
                fut.cancel()
                # a revision that never comes must not leave its waiter behind
                with contextlib.suppress(ValueError):
                    self._waiters.remove(entry)
                    heapq.heapify(self._waiters)

    async def wait_fresh(self, timeout: float) -> bool:
        """Wait until the cache is as new as the store is now (a consistent read from cache)."""
        current = await self._store.current_revision()
        if not self.ready.is_set():
            try:
                await asyncio.wait_for(self.ready.wait(), timeout)
            except TimeoutError:
                return False
        return await self.wait_for(current, timeout)

    # ---- the feeding task ------------------------------------------------------------------------

    def _route(self, key: str) -> ResourceCache | None:
        root = self._store.root
        first = key.find("/", len(root))
        if first < 0:
            return None
        cache = self._caches.get(key[: first + 1])
        if cache is not None:
            return cache
        second = key.find("/", first + 1)
        return self._caches.get(key[: second + 1]) if second >= 0 else None

    async def _load(self) -> int:
        root = self._store.root
        revision = await self._store.current_revision()
        # each page becomes cached objects at once: the store's bytes are dropped page by page (memory)
        by_cache: dict[str, dict[str, CachedObject]] = {p: {} for p in self._caches}
        start_after: str | None = None
        while True:
            page = await self._store.list(root, revision=revision, limit=self._page_size, start_after=start_after)
            for kv in page.kvs:
                cache = self._route(kv.key)
                if cache is not None:  # setdefault: add_cache may register one while this loads
                    co = cache.cached(kv)
                    if co is not None:
                        by_cache.setdefault(cache.prefix, {})[kv.key] = co
            if not page.more or not page.kvs:
                break
            start_after = page.kvs[-1].key
            del page
        for prefix, objects in by_cache.items():
            if prefix in self._caches:  # remove_cache may have dropped one meanwhile
                self._caches[prefix].reset_objects(objects, revision)
        del by_cache
        release_free_memory()
        self.revision = 0
        self._advance(revision)
        self.reloads += 1
        log.info("watch cache loaded revision=%d resources=%d", revision, len(self._caches))
        return revision

    async def run(self) -> None:
        """Load, then apply the store's events until cancelled; reload when the watch is lost."""
        while True:
            try:
                revision = await self._load()
                self.ready.set()
                await self._follow(revision)
            except (Compacted, WatchClosed) as exc:
                log.warning("watch cache lost its store watch, reloading reason=%s", exc)
            except (Unavailable, StorageError) as exc:
                log.warning("watch cache store error, retrying reason=%s", exc)
                await self._clock.sleep(self._retry_delay)
            except Exception:  # the cache must outlive any bug or odd value: log, then start over
                log.exception("watch cache failed, reloading")
                await self._clock.sleep(self._retry_delay)

    async def _follow(self, revision: int) -> None:
        watch = self._store.watch(self._store.root, after_revision=revision)
        try:
            async for event in watch:
                cache = self._route(event.key)
                if cache is not None:
                    cache.apply(event)
                self._advance(event.revision)
        finally:
            await watch.close()
        raise WatchClosed("store watch ended")

    async def run_bookmarks(self) -> None:
        """Every bookmark interval, send a BOOKMARK at the current revision to watchers that want one."""
        while True:
            await self._clock.sleep(self._bookmark_interval)
            self.send_bookmarks()

    def send_bookmarks(self) -> int:
        """One bookmark round now; returns how many watchers were offered one."""
        if not self.ready.is_set():
            return 0
        return sum(c.send_bookmarks(self.revision) for c in self._caches.values())
