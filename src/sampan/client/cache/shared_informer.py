"""SharedIndexInformer: one reflector and one cache for a resource type, shared by many handlers.

Data flow: Reflector → DeltaFIFO → (this class) → indexer, then one :class:`Listener` per handler.
For each popped key, every delta is applied to the indexer first and then turned into a notification:

- Added / Updated / Replaced / Sync: ``update(old, new)`` if the key was cached, else ``add(new)``;
  a Sync (or a Replaced whose resourceVersion did not change) reaches only handlers due for a resync;
- Deleted: ``delete(obj)`` (``obj`` may be a ``DeletedFinalStateUnknown`` tombstone).

So each handler sees, per object, add → update* → delete, never an update or a delete of an object it was
not told about (a tombstone delete is only issued for a key that was cached, hence added).

Tasks (all owned by :meth:`run`, which blocks until cancelled): the reflector, the FIFO consumer, the
resync timer and one task per listener. Handlers added while running are replayed the whole cache as
adds flagged ``is_in_initial_list``; :class:`HandlerRegistration.has_synced` tells when that replay and
the initial list have been handled.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Mapping
from typing import Any

from sampan._lib.clock import Clock, RealClock
from sampan._lib.slicing import TimeSlice
from sampan.client.cache.delta_fifo import Delta, DeltaFIFO, DeltaType, FIFOClosed
from sampan.client.cache.handlers import Kind, Listener, Notification, ResourceEventHandler
from sampan.client.cache.index import NAMESPACE_INDEX, IndexFunc, namespace_index
from sampan.client.cache.listwatch import ListerWatcher
from sampan.client.cache.reflector import Reflector, ReflectorOptions
from sampan.client.cache.store import IndexedStore
from sampan.client.cache.transforms import Transform

log = logging.getLogger(__name__)

MIN_RESYNC_PERIOD = 1.0


def _rv(obj: Any) -> str | None:
    return (obj.get("metadata") or {}).get("resourceVersion") if isinstance(obj, dict) else None


class HandlerRegistration:
    """Returned by :meth:`SharedIndexInformer.add_event_handler`; pass it back to remove the handler."""

    def __init__(self, informer: SharedIndexInformer, listener: Listener) -> None:
        self.informer = informer
        self.listener = listener

    def has_synced(self) -> bool:
        """The informer has synced and this handler has handled every initial notification."""
        return self.informer.has_synced() and self.listener.pending_initial == 0


class SharedIndexInformer:
    def __init__(
        self,
        lw: ListerWatcher,
        *,
        name: str = "",
        indexers: Mapping[str, IndexFunc] | None = None,
        resync_period: float = 0.0,
        handler_buffer: int = 1024,
        reflector_options: ReflectorOptions | None = None,
        fifo_high_water: int = 10_000,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        transform: Transform | None = None,
    ) -> None:
        self.name = name
        self._clock = clock or RealClock()
        self.indexer = IndexedStore(indexers={NAMESPACE_INDEX: namespace_index, **(indexers or {})})
        self.fifo = DeltaFIFO(known_objects=self.indexer, high_water=fifo_high_water)
        self.reflector = Reflector(lw, self.fifo, name=name, options=reflector_options, clock=self._clock, rng=rng,
                                   transform=transform)
        self.default_resync = resync_period
        self._resync_check = resync_period
        self._handler_buffer = handler_buffer
        self._listeners: list[Listener] = []
        self._tasks: dict[Listener, asyncio.Task[None]] = {}
        self._tg: asyncio.TaskGroup | None = None
        self._started = False

    # -- handlers -------------------------------------------------------------------------------------------

    def add_event_handler(self, handler: ResourceEventHandler, *, resync_period: float | None = None,
                          name: str = "") -> HandlerRegistration:
        """Register ``handler``; on a running informer it first receives the current cache as adds."""
        period = self.default_resync if resync_period is None else resync_period
        if 0 < period < MIN_RESYNC_PERIOD:
            period = MIN_RESYNC_PERIOD
        if period and not self._started and (self._resync_check == 0 or period < self._resync_check):
            self._resync_check = period
        elif period and self._started and self._resync_check == 0:
            log.warning("informer started without resync; handler resync ignored informer=%s", self.name)
            period = 0.0
        elif period and self._started and period < self._resync_check:
            log.info("handler resync raised to the informer's check period informer=%s period=%s", self.name,
                     self._resync_check)
            period = self._resync_check
        listener = Listener(handler, capacity=self._handler_buffer, resync_period=period,
                            name=name or type(handler).__name__, informer=self.name)
        listener.next_resync = self._clock.monotonic() + period
        self._listeners.append(listener)
        if self._started:
            for obj in self.indexer.list():
                listener.put_unbounded(Notification(Kind.ADD, obj, initial=True))
            self._start_listener(listener)
        return HandlerRegistration(self, listener)

    def remove_event_handler(self, registration: HandlerRegistration) -> None:
        listener = registration.listener
        listener.close()
        if listener in self._listeners:
            self._listeners.remove(listener)
        task = self._tasks.pop(listener, None)
        if task is not None:
            task.cancel()

    def _start_listener(self, listener: Listener) -> None:
        assert self._tg is not None
        self._tasks[listener] = self._tg.create_task(listener.run(), name=f"informer-{self.name}-{listener.name}")

    def set_transform(self, transform: Transform | None) -> None:
        """Transform every object before it is queued and cached (:mod:`.transforms`); only before the
        informer runs (client-go's ``SetTransform``), so the cache never mixes both forms."""
        if self._started:
            raise RuntimeError(f"informer {self.name!r} already started: its transform cannot change")
        self.reflector.transform = transform

    @property
    def transform(self) -> Transform | None:
        return self.reflector.transform

    # -- state ----------------------------------------------------------------------------------------------

    def has_synced(self) -> bool:
        """The initial LIST has been applied to the cache (and delivered to the listeners' buffers)."""
        return self.fifo.has_synced()

    async def wait_for_sync(self) -> None:
        """Wait until :meth:`has_synced` (the initial list is in the cache)."""
        await self.fifo.wait_synced()

    @property
    def last_sync_resource_version(self) -> str:
        return self.reflector.last_sync_resource_version

    @property
    def started(self) -> bool:
        return self._started

    # -- running --------------------------------------------------------------------------------------------

    async def run(self) -> None:
        """Run until cancelled. An informer runs once."""
        if self._started:
            raise RuntimeError(f"informer {self.name!r} already started")
        self._started = True
        try:
            async with asyncio.TaskGroup() as tg:
                self._tg = tg
                for listener in self._listeners:
                    self._start_listener(listener)
                tg.create_task(self._process_loop(), name=f"informer-{self.name}-process")
                tg.create_task(self._log_sync(), name=f"informer-{self.name}-synced")
                tg.create_task(self.reflector.run(), name=f"informer-{self.name}-reflector")
                if self._resync_check > 0:
                    tg.create_task(self._resync_loop(), name=f"informer-{self.name}-resync")
        finally:
            self.fifo.close()
            self._tg = None

    async def _process_loop(self) -> None:
        slice_ = TimeSlice()  # pop() does not suspend while the FIFO has items
        while True:
            try:
                await slice_.checkpoint()
                await self.fifo.pop(self._handle_deltas)
            except FIFOClosed:
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("informer failed to process deltas informer=%s", self.name)

    async def _log_sync(self) -> None:
        await self.fifo.wait_synced()
        log.info("informer synced informer=%s rv=%s items=%d", self.name, self.last_sync_resource_version,
                 len(self.indexer))

    async def _handle_deltas(self, deltas: list[Delta], initial: bool) -> None:
        indexer = self.indexer
        key = indexer.key_of(deltas[0].obj)  # every delta in one batch has the same key
        for d in deltas:
            if d.type is DeltaType.DELETED:
                indexer.delete_key(key)
                await self._distribute(Notification(Kind.DELETE, d.obj), sync=False)
                continue
            old = indexer.get_by_key(key)
            if old is not None:
                indexer.put(key, d.obj)
                sync = d.type is DeltaType.SYNC or (d.type is DeltaType.REPLACED and _rv(old) == _rv(d.obj))
                await self._distribute(Notification(Kind.UPDATE, d.obj, old), sync=sync)
            else:
                indexer.put(key, d.obj)
                await self._distribute(Notification(Kind.ADD, d.obj, initial=initial), sync=False)

    async def _distribute(self, n: Notification, *, sync: bool) -> None:
        for listener in list(self._listeners):
            if sync and not listener.resyncing:
                continue
            if not listener.try_put(n):
                await listener.put(n)

    async def _resync_loop(self) -> None:
        while True:
            await self._clock.sleep(self._resync_check)
            now = self._clock.monotonic()
            due = False
            for listener in self._listeners:
                listener.resyncing = bool(listener.resync_period) and now >= listener.next_resync
                if listener.resyncing:
                    due = True
                    listener.next_resync = now + listener.resync_period
            if due:
                log.debug("informer resync informer=%s", self.name)
                self.fifo.resync()


async def wait_for_cache_sync(*informers: SharedIndexInformer | HandlerRegistration, timeout: float | None = None,
                              clock: Clock | None = None, poll: float = 0.05) -> bool:
    """Wait until every informer (or handler registration) has synced; False if ``timeout`` passed first."""
    clock = clock or RealClock()
    deadline = None if timeout is None else clock.monotonic() + timeout
    while not all(i.has_synced() for i in informers):
        if deadline is not None and clock.monotonic() >= deadline:
            return False
        await clock.sleep(poll)
    return True
