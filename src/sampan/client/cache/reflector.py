"""The Reflector: keeps a store in step with the server by LIST, then WATCH forever.

Life of a reflector (``run`` loops over ``list_and_watch`` until cancelled)::

    LIST (paged) --replace--> store          410 during LIST: forget the version, LIST again at ""
      |
      v
    WATCH from the list's resourceVersion, bookmarks on, timeout randomized in [min, 2*min)
      | event: add/update/delete into the store, remember its resourceVersion
      | BOOKMARK: remember its resourceVersion only
      | stream ends (timeout, server closed)  -> WATCH again from the last version
      | connection broke / 429 / 5xx          -> back off (jittered), WATCH again from the last version
      | 410 Expired / Gone (too old version)  -> LIST again with resourceVersion "" (consistent)
      | any other error                       -> back off, LIST again

Which version a LIST asks for (client-go's ``relistResourceVersion``): "0" on the very first list (any
cached state will do), the last synced version on later lists, and "" (the latest, consistent) after the
server said the last one is gone.

Invariant: ``last_sync_resource_version`` only moves to versions the store has seen (from a list, an event
or a bookmark), so resuming from it never skips an event.

Seen from outside: :class:`ReflectorStats` on ``/metrics`` (``reflector_lists_total``,
``reflector_watches_total``, ``reflector_last_resource_version`` — client-go's old names — and
``sampan_reflector_expired_total``, see :mod:`sampan.client.metrics`), and while tracing, one
``reflector.relist`` span per relist forced by a 410 (the version that expired, the server's message, and
the LIST that followed as its child).
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass, field
from typing import Any, Protocol

from sampan._lib import tracing
from sampan._lib.backoff import Backoff, BackoffPolicy
from sampan._lib.clock import Clock, RealClock
from sampan._lib.slicing import TimeSlice
from sampan.api import errors
from sampan.client import metrics
from sampan.client.cache.listwatch import ListerWatcher
from sampan.client.cache.transforms import Transform
from sampan.client.rest import ConnectionFailed

log = logging.getLogger(__name__)


class ReflectorStore(Protocol):
    def add(self, obj: Any) -> None: ...
    def update(self, obj: Any) -> None: ...
    def delete(self, obj: Any) -> None: ...
    def replace(self, objs: list[Any], resource_version: str) -> None: ...


@dataclass(frozen=True, slots=True)
class ReflectorOptions:
    page_size: int = 500
    """LIST page size (client-go's pager default)."""
    min_watch_timeout: float = 300.0
    """Watches ask the server for a timeout drawn uniformly from [min, 2*min) (client-go: 5 min)."""
    backoff: BackoffPolicy = field(default_factory=BackoffPolicy)
    """Delay before retrying after an error (client-go: 800 ms → 30 s, jitter 1.0, reset after 2 min)."""
    short_watch: float = 1.0
    """A watch that ends this fast without any event counts as an error (avoids hot loops)."""
    paged_initial_list: bool = False
    """The first LIST asks for resourceVersion "" (the latest, consistent) instead of "0". A server's watch
    cache answers "0" with the whole list in one response, ignoring ``limit`` (upstream's too), and "" in
    pages (from the cache since 1.31): a process caching 150,000 pods then decodes 500 at a time, each page
    transformed before the next (see :mod:`.transforms`), instead of one ~550 MB body decoded whole (a
    peak of several GB in Python). Costs a consistent read: the server's cache must have caught up."""


@dataclass
class ReflectorStats:
    """Counters an operator (or a test) can read: how often each path ran."""

    lists: int = 0
    watches: int = 0
    events: int = 0
    bookmarks: int = 0
    expired: int = 0
    """410 answers (LIST or WATCH) that forced a relist from the latest version."""
    watch_errors: int = 0
    items: int = 0
    """Items of the last LIST."""


def is_expired(err: BaseException) -> bool:
    """The server no longer has the version we asked for (410 Expired or Gone)."""
    return isinstance(err, errors.Expired | errors.Gone)


def is_retryable_watch_error(err: BaseException) -> bool:
    """A watch failure worth resuming from the same version after a back-off."""
    return isinstance(err, ConnectionFailed | errors.TooManyRequests | errors.ServiceUnavailable
                      | errors.InternalError | errors.Timeout)


class _Relist(Exception):
    """Internal: leave the watch loop and LIST again."""


class Reflector:
    def __init__(
        self,
        lw: ListerWatcher,
        store: ReflectorStore,
        *,
        name: str = "",
        options: ReflectorOptions | None = None,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        transform: Transform | None = None,
    ) -> None:
        self.name = name
        self._lw = lw
        self.transform = transform
        """Applied to every listed or watched object before the store sees it (:mod:`.transforms`)."""
        self._store = store
        self.options = options or ReflectorOptions()
        self._clock = clock or RealClock()
        self._rng = rng or random.Random()
        self._backoff = Backoff(self.options.backoff, clock=self._clock, rng=self._rng)
        self.last_sync_resource_version = ""
        self._version_unavailable = False
        self._expired_because = ""
        self.stats = ReflectorStats()
        metrics.track_reflector(self)

    async def run(self) -> None:
        """LIST and WATCH until cancelled; errors are logged and retried after a back-off."""
        log.info("reflector starting name=%s", self.name)
        while True:
            try:
                await self.list_and_watch()
            except asyncio.CancelledError:
                raise
            except Exception as e:  # every failure mode leads to the same place: back off, list again
                log.warning("reflector list-and-watch failed name=%s error=%s", self.name, _describe(e))
                await self._backoff.wait()

    async def list_and_watch(self) -> None:
        """One LIST, then WATCH until a relist is needed (returns) or a non-watch error (raises)."""
        await self._list()
        while True:
            try:
                await self._watch()
            except _Relist:
                return
            except asyncio.CancelledError:
                raise
            except Exception as e:
                if is_expired(e):
                    self.stats.expired += 1
                    self._version_unavailable = True
                    self._expired_because = _describe(e)
                    log.info("watch version expired, relisting name=%s rv=%s", self.name,
                             self.last_sync_resource_version)
                    return
                if not is_retryable_watch_error(e):
                    raise
                self.stats.watch_errors += 1
                log.info("watch failed, resuming name=%s rv=%s error=%s", self.name,
                         self.last_sync_resource_version, _describe(e))
                await self._backoff.wait()

    def _relist_version(self) -> str:
        if self._version_unavailable:
            return ""
        if not self.last_sync_resource_version and self.options.paged_initial_list:
            return ""
        return self.last_sync_resource_version or "0"

    async def _list(self) -> None:
        if tracing.STATE.on and self._version_unavailable:
            with tracing.span("reflector.relist", {"informer": self.name, "expired_rv":
                                                   self.last_sync_resource_version,
                                                   "reason": self._expired_because}) as span:
                await self._list_once()
                span.set_attributes({tracing.RV: self.last_sync_resource_version})
            return
        await self._list_once()

    async def _list_once(self) -> None:
        self.stats.lists += 1
        rv_asked = self._relist_version()
        try:
            items, rv = await self._list_pages(rv_asked)
        except Exception as e:
            if not is_expired(e) or rv_asked == "":
                raise
            self.stats.expired += 1
            self._version_unavailable = True
            self._expired_because = _describe(e)
            items, rv = await self._list_pages("")
        self._version_unavailable = False
        self.stats.items = len(items)
        self._store.replace(items, rv)
        self.last_sync_resource_version = rv
        log.debug("reflector listed name=%s items=%d rv=%s", self.name, len(items), rv)

    async def _list_pages(self, resource_version: str) -> tuple[list[Any], str]:
        items: list[Any] = []
        token: str | None = None
        while True:
            page = await self._lw.list(resource_version=resource_version, limit=self.options.page_size,
                                       continue_=token)
            kind = str(page.get("kind") or "")
            kind = kind[:-4] if kind.endswith("List") else ""
            api_version = page.get("apiVersion")
            transform = self.transform
            for item in page.get("items") or []:
                # list items come without kind/apiVersion; watch events carry them: make the cache uniform
                if kind and "kind" not in item:
                    item["kind"] = kind
                    item["apiVersion"] = api_version
                items.append(item if transform is None else transform(item))
            meta = page.get("metadata") or {}
            token = meta.get("continue") or None
            if not token:
                return items, str(meta.get("resourceVersion") or "")

    async def _watch(self) -> None:
        timeout = int(self.options.min_watch_timeout * (1.0 + self._rng.random()))
        started = self._clock.monotonic()
        seen = 0
        self.stats.watches += 1
        wait_for_room = getattr(self._store, "wait_for_room", None)
        stream = self._lw.watch(resource_version=self.last_sync_resource_version, timeout_seconds=max(1, timeout))
        slice_ = TimeSlice()  # a burst of buffered events must not hold the loop (docs/liveness.md)
        async for event in stream:
            if wait_for_room is not None:
                await wait_for_room()
            seen += 1
            self._handle(event)
            await slice_.checkpoint()
        if seen == 0 and self._clock.monotonic() - started < self.options.short_watch:
            raise ConnectionFailed("watch closed at once without any event")
        self._backoff.reset()

    def _handle(self, event: dict[str, Any]) -> None:
        kind, obj = event.get("type"), event.get("object")
        if kind == "ERROR":
            raise errors.from_status(obj if isinstance(obj, dict) else {}, None)
        if not isinstance(obj, dict):
            log.warning("malformed watch event ignored name=%s type=%s", self.name, kind)
            return
        rv = str((obj.get("metadata") or {}).get("resourceVersion") or "")
        if self.transform is not None and kind != "BOOKMARK":
            obj = self.transform(obj)
        if kind == "ADDED":
            self._store.add(obj)
        elif kind == "MODIFIED":
            self._store.update(obj)
        elif kind == "DELETED":
            self._store.delete(obj)
        elif kind == "BOOKMARK":
            self.stats.bookmarks += 1
        else:
            log.warning("unknown watch event type ignored name=%s type=%s", self.name, kind)
            return
        if kind != "BOOKMARK":
            self.stats.events += 1
        if rv:
            self.last_sync_resource_version = rv


def _describe(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}"
