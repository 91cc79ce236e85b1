"""The proxier: informer events in, kernel rules out, at a bounded frequency.

Informer handlers call the ``on_*`` methods, which fold the event into the :class:`ChangeTracker` and, if
anything kube-proxy programs changed, wake the sync loop. The loop (one task, the only writer of the
backend) runs a sync when woken, never sooner than ``min_sync_period`` after the previous one, and a full
sync at least every ``sync_period``; the first sync, once both informers have synced, is full, and so is
the sync after a failure (retried after ``min_sync_period``, at most ``sync_period``). A partial sync
rewrites only the Services changed since the last successful sync.

States: ``waiting`` (caches not synced: nothing is programmed, so a restarted proxy never wipes good
rules with a half-known state) → ``running``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping
from typing import Any, Protocol

from sampan._lib import tracing
from sampan.client import DeletedFinalStateUnknown
from sampan.proxy.changes import ChangeTracker
from sampan.proxy.metrics import HealthState, ProxyMetrics
from sampan.proxy.model import ServiceKey
from sampan.proxy.snapshot import ServiceState

log = logging.getLogger(__name__)


class Backend(Protocol):
    name: str

    async def sync_full(self, services: Mapping[ServiceKey, ServiceState]) -> None: ...
    async def sync_partial(self, changed: Mapping[ServiceKey, ServiceState | None]) -> None: ...
    async def cleanup(self) -> None: ...


def _obj(x: Any) -> Any:
    return x.obj if isinstance(x, DeletedFinalStateUnknown) else x


class Proxier:
    def __init__(self, backend: Backend, *, sync_period: float = 30.0, min_sync_period: float = 1.0,
                 metrics: ProxyMetrics | None = None, health: HealthState | None = None) -> None:
        self.backend = backend
        self.sync_period = sync_period
        self.min_sync_period = min_sync_period
        self.metrics = metrics or ProxyMetrics(backend.name)
        self.health = health or HealthState(sync_period)
        self.tracker = ChangeTracker()
        self.ready = asyncio.Event()
        """Set once the informers synced (the loop programs nothing before)."""
        self.synced_once = asyncio.Event()
        self.syncs = {"full": 0, "partial": 0, "failed": 0}
        self._wake = asyncio.Event()
        self._need_full = True
        self._traced_uids: set[str] = set()
        """While tracing: uids of the objects changed since the last successful sync."""

    # -- informer handlers ---------------------------------------------------------------------------
    def on_service(self, obj: Any) -> None:
        if self.tracker.service_updated(_obj(obj)):
            if tracing.STATE.on:
                self._note_traced(_obj(obj))
            self.metrics.service_changes.inc()
            self.request_sync()

    def on_service_delete(self, obj: Any) -> None:
        if self.tracker.service_deleted(_obj(obj)):
            if tracing.STATE.on:
                self._note_traced(_obj(obj))
            self.metrics.service_changes.inc()
            self.request_sync()

    def on_slice(self, obj: Any) -> None:
        if self.tracker.slice_updated(_obj(obj)):
            if tracing.STATE.on:
                self._note_traced(_obj(obj))
            self.metrics.endpoint_changes.inc()
            self.request_sync()

    def on_slice_delete(self, obj: Any) -> None:
        if self.tracker.slice_updated(_obj(obj), deleted=True):
            if tracing.STATE.on:
                self._note_traced(_obj(obj))
            self.metrics.endpoint_changes.inc()
            self.request_sync()

    def _note_traced(self, obj: Any) -> None:
        """Remember which objects a coming sync programs (the Service, the EndpointSlice and the pods it
        points at): the sync span names them, so the trace of each shows the rule sync it led to."""
        attrs = tracing.object_attributes(obj if isinstance(obj, dict) else None)
        uid = attrs.get(tracing.UID)
        if isinstance(uid, str):
            self._traced_uids.add(uid)
        related = attrs.get(tracing.RELATED_UIDS)
        if isinstance(related, list):
            self._traced_uids.update(related)

    def request_sync(self) -> None:
        self.metrics.last_queued.set(time.time())
        self.health.queued()
        self._wake.set()

    # -- the loop --------------------------------------------------------------------------------------
    async def run(self) -> None:
        """Sync until cancelled (see the module docstring)."""
        await self.ready.wait()
        loop = asyncio.get_running_loop()
        last_start = float("-inf")
        last_full = float("-inf")
        retry_at: float | None = None
        self._wake.set()
        while True:
            now = loop.time()
            deadline = last_full + self.sync_period if retry_at is None else min(retry_at,
                                                                                 last_full + self.sync_period)
            if not self._wake.is_set() and deadline > now:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), deadline - now)
            gap = last_start + self.min_sync_period - loop.time()
            if gap > 0:
                await asyncio.sleep(gap)
            self._wake.clear()
            last_start = loop.time()
            full = self._need_full or last_start >= last_full + self.sync_period
            if await self.sync(full=full):
                retry_at = None
                if full:
                    last_full = last_start
            else:
                retry_at = loop.time() + min(max(self.min_sync_period, 1.0), self.sync_period)

    def _state(self, key: ServiceKey) -> ServiceState | None:
        ports = self.tracker.services.get(key)
        if ports is None:
            return None
        return ServiceState(ports=ports, endpoints=self.tracker.service_endpoints(ports))

    async def sync(self, *, full: bool) -> bool:
        """One sync; True on success. On failure the pending changes are kept and the next sync is full."""
        if tracing.STATE.on:
            keys = list(self.tracker.services) if full else list(self.tracker.pending)
            ips = sorted({e.ip for k in keys if (st := self._state(k)) is not None
                          for eps in st.endpoints.values() for e in eps})
            uids, self._traced_uids = self._traced_uids, set()
            with tracing.span("kube-proxy.sync", {"full": full, "services": len(keys),
                                                  tracing.ENDPOINT_IPS: ips,
                                                  tracing.RELATED_UIDS: sorted(uids)}) as span:
                ok = await self._sync(full=full)
                span.set_attribute("ok", ok)
                if not ok:  # the retry programs them
                    self._traced_uids |= uids
                return ok
        return await self._sync(full=full)

    async def _sync(self, *, full: bool) -> bool:
        pending, trigger_times = self.tracker.take_pending()
        started = time.monotonic()
        try:
            if full:
                states = {k: ServiceState(ports=p, endpoints=self.tracker.service_endpoints(p))
                          for k, p in self.tracker.services.items()}
                await self.backend.sync_full(states)
            else:
                await self.backend.sync_partial({k: self._state(k) for k in pending})
        except asyncio.CancelledError:
            self.tracker.pending |= pending
            raise
        except Exception as err:
            self.tracker.pending |= pending
            self.tracker.trigger_times += trigger_times
            self._need_full = True
            self.syncs["failed"] += 1
            self.metrics.failures.inc()
            log.error("proxy rules sync failed, retrying with a full sync full=%s error=%s", full, err)
            return False
        elapsed = time.monotonic() - started
        self._need_full = False
        self.syncs["full" if full else "partial"] += 1
        self.metrics.sync_duration.observe(elapsed)
        (self.metrics.full_sync_duration if full else self.metrics.partial_sync_duration).observe(elapsed)
        now = time.time()
        for t in trigger_times:
            self.metrics.programming.observe(max(0.0, now - t))
        self.metrics.last_sync.set(now)
        self.health.updated()
        self.synced_once.set()
        log.log(logging.INFO if full else logging.DEBUG, "proxy rules synced full=%s services=%d changed=%d "
                "endpoints=%d elapsed=%.3fs", full, len(self.tracker.services), len(pending),
                self.tracker.endpoint_count(), elapsed)
        return True
