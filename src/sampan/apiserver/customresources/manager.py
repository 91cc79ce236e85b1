"""The CRD controller inside the API server: upstream's naming, establishing and finalizing controllers
plus the dynamic registration of custom resource endpoints (:mod:`.registration`).

It follows the CRD watch cache: whenever that cache applied new events (or reloaded), one sync pass
runs over every CRD:

1. its status is computed (``naming.compute_status``: accepted names, ``NamesAccepted``,
   ``Established``, ``Terminating``) and the routed set is made to match the CRDs that status
   establishes (endpoints, watch cache, discovery, OpenAPI) — *before* anything is written, so a
   client that sees ``Established=True`` (``kubectl wait``, a watch) finds the collection, discovery
   and schema already served (upstream's contract; sampan registers synchronously, so it needs no
   ``Installing`` delay);
2. a live CRD gets the finalizer ``customresourcecleanup.apiextensions.k8s.io`` before it is
   established (upstream puts it on at deletion time; adding it up front gives the same guarantee
   with the ordinary delete path) — a CRD without it is not routed yet;
3. the computed status is written through the ``status`` subresource when it differs;
4. a deleted CRD (``deletionTimestamp`` set) has all its objects deleted (their own finalizers are
   honoured); once none is left the finalizer is removed and the store deletes the CRD.

Each write changes the CRD cache again, so the passes converge; while a CRD finalizes, writes to
custom objects also wake a pass; a failing write is logged and retried after ``retry_interval``.
Invariant: the loop never dies on a bad object.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from sampan.api import errors, meta
from sampan.api.crd import spec as crdspec
from sampan.apiserver import health
from sampan.apiserver.context import Scope, ServerContext
from sampan.apiserver.customresources.registration import Registrations
from sampan.apiserver.discovery import DISCOVERY_KEY, Discovery
from sampan.apiserver.handlers.delete import DeleteOptions, delete_object
from sampan.apiserver.handlers.guaranteed import UpdateRequest, update_object
from sampan.apiserver.handlers.objectmeta import timestamp
from sampan.apiserver.handlers.writeopts import WriteOptions
from sampan.apiserver.openapi import OpenAPIService
from sampan.apiserver.registry.customresourcedefinitions import compute_status

log = logging.getLogger(__name__)

FINALIZER = "customresourcecleanup.apiextensions.k8s.io"
MANAGER = "sampan-apiextensions"
POLL_INTERVAL = 0.02
"""Seconds between looks at the CRD cache's counters (a cheap integer compare)."""
RETRY_INTERVAL = 1.0
"""Seconds before a pass that failed (or left a CRD finalizing) runs again."""


def _deleting(obj: dict[str, Any]) -> bool:
    return bool(meta.metadata(obj).get("deletionTimestamp"))


class CustomResourceManager:
    def __init__(self, ctx: ServerContext, *, discovery: Discovery | None, openapi: OpenAPIService | None,
                 poll_interval: float = POLL_INTERVAL, retry_interval: float = RETRY_INTERVAL) -> None:
        self._ctx = ctx
        self.registrations = Registrations(ctx, discovery=discovery, openapi=openapi)
        self._poll = poll_interval
        self._retry = retry_interval
        self.passes = 0
        self.synced = asyncio.Event()
        """Set after each pass that left nothing to do (tests wait on it)."""
        self.registered = asyncio.Event()
        """Set once the CRDs stored at start are served (readiness: ``crd-informer-synced``)."""
        crd_scope = ctx.scope(crdspec.GROUP, "v1", "customresourcedefinitions")
        assert crd_scope is not None, "the CRD resource is always served"
        self._crds: Scope = crd_scope

    def _opts(self) -> WriteOptions:
        return WriteOptions(dry=False, manager=MANAGER, field_validation="Ignore")

    async def run(self) -> None:
        """Sync whenever the CRD cache changes, until cancelled."""
        cache = self._crds.cache
        await self._ctx.watch_cache.ready.wait()
        seen: tuple[int, ...] | None = None
        last_pass = 0.0
        pending = False
        while True:
            now: tuple[int, ...] = (cache.events_applied, self._ctx.watch_cache.reloads)
            if pending:  # a CRD is finalizing: its objects' deletions may let it finish
                now += (sum(s.cache.events_applied for s in self.registrations.served.values()),)
            clock = self._ctx.clock.monotonic()
            if now != seen or (pending and clock - last_pass >= self._retry):
                seen, last_pass = now, clock
                try:
                    pending = await self.sync_once()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("custom resource sync failed; retrying")
                    pending = True
                if not pending:
                    self.synced.set()
            await self._ctx.clock.sleep(self._poll)

    async def sync_once(self) -> bool:
        """One pass over every CRD; True when something is left to do (a write failed, a CRD finalizing)."""
        self.passes += 1
        self.synced.clear()
        crds = [copy.deepcopy(o.obj) for o in self._crds.cache.objects.values()]
        now = timestamp(self._ctx.clock.wall())
        statuses = [self._status(crd, crds, now=now) for crd in crds]
        # serve first, then say so: routes, discovery and OpenAPI follow the status about to be written
        await self.registrations.sync([crd if status is None else {**crd, "status": status}
                                       for crd, status in zip(crds, statuses, strict=True)])
        self.registered.set()
        pending = False
        for crd, status in zip(crds, statuses, strict=True):
            try:
                pending |= await self._reconcile(crd, status)
            except errors.APIError as exc:  # a concurrent write or a vanished CRD: the next pass sees it
                log.info("crd write deferred name=%s reason=%s", meta.name(crd), exc)
                pending = True
        return pending

    @staticmethod
    def _status(crd: dict[str, Any], crds: list[dict[str, Any]], *, now: str) -> dict[str, Any] | None:
        """The status ``crd`` should have; None while it still waits for its finalizer."""
        if not _deleting(crd) and FINALIZER not in (meta.metadata(crd).get("finalizers") or []):
            return None
        others = [c for c in crds if meta.uid(c) != meta.uid(crd)]
        return compute_status(crd, others, now=now)

    async def _reconcile(self, crd: dict[str, Any], status: dict[str, Any] | None) -> bool:
        name = meta.name(crd)
        finalizers = meta.metadata(crd).get("finalizers") or []
        if status is None:  # before Established: no object escapes the finalizer
            await self._update(name, None, _with_finalizer)
            return False  # the write wakes the next pass
        if status != crd.get("status"):
            await self._update(name, "status", lambda o: {**o, "status": copy.deepcopy(status)})
            return False
        if not _deleting(crd):
            return False
        if FINALIZER not in finalizers:
            return False
        if await self._delete_instances(crd):
            await self._update(name, None, _without_finalizer)
            log.info("crd finalized name=%s", name)
            return False
        return True

    async def _update(self, name: str, sub: str | None, transform: Any) -> None:
        await update_object(self._ctx, UpdateRequest(self._crds, "", name, sub, transform, self._opts()))

    async def _delete_instances(self, crd: dict[str, Any]) -> bool:
        """Delete every object of ``crd``; True when none is left in the store."""
        group, plural = crdspec.group(crd), str(crdspec.names(crd).get("plural", ""))
        served = self.registrations.served.get((group, plural))
        if served is None or not served.scopes:
            prefix = f"{self._ctx.store.root}{group}/{plural}/"
            page = await self._ctx.store.list(prefix, limit=1)
            if page.kvs:
                log.warning("crd deleted while its objects are not served; keeping them name=%s", meta.name(crd))
            return not page.kvs
        scope = next((sc for sc in served.scopes.values() if sc.view is None), next(iter(served.scopes.values())))
        page = await self._ctx.store.list(scope.prefix)
        for kv in page.kvs:
            obj = served.cache.objects.get(kv.key)
            if obj is not None and _deleting(obj.obj):
                continue
            name = kv.key.rsplit("/", 1)[-1]
            try:
                await delete_object(self._ctx, scope, kv.key, name, DeleteOptions(), dry=False)
            except errors.NotFound:
                continue
        left = await self._ctx.store.list(scope.prefix, limit=1)
        return not left.kvs


def _with_finalizer(obj: dict[str, Any]) -> dict[str, Any]:
    md = obj.setdefault("metadata", {})
    finalizers = list(md.get("finalizers") or [])
    if FINALIZER not in finalizers:
        md["finalizers"] = [*finalizers, FINALIZER]
    return obj


def _without_finalizer(obj: dict[str, Any]) -> dict[str, Any]:
    md = obj.setdefault("metadata", {})
    finalizers = [f for f in md.get("finalizers") or [] if f != FINALIZER]
    if finalizers:
        md["finalizers"] = finalizers
    else:
        md.pop("finalizers", None)
    return obj


MANAGER_KEY = web.AppKey("sampan.customresources", CustomResourceManager)


def install(app: web.Application, ctx: ServerContext, *, health_checks: health.HealthChecks | None = None
            ) -> CustomResourceManager:
    """Create the manager for ``app`` (after discovery and OpenAPI are registered) and run it for the
    app's life (a cleanup context: cancelled, and its registrations dropped, at shutdown). With
    ``health_checks``, ``/readyz`` waits for the first registration pass (upstream's
    ``poststarthook/crd-informer-synced``)."""
    from sampan.apiserver.openapi import OPENAPI_KEY

    manager = CustomResourceManager(ctx, discovery=app.get(DISCOVERY_KEY), openapi=app.get(OPENAPI_KEY))
    app[MANAGER_KEY] = manager
    if health_checks is not None:
        health_checks.add("poststarthook/crd-informer-synced",
                          lambda: None if manager.registered.is_set() else "custom resources not registered yet",
                          readiness_only=True)

    async def run(app: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(manager.run(), name="customresources")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
            await manager.registrations.aclose()

    app.cleanup_ctx.append(run)
    return manager
