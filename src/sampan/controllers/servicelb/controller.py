"""Reconcile LoadBalancer Services with the address pool.

Keys are ``namespace/name`` of Services. ``reconcile(key)``:

- the Service is a ``type: LoadBalancer`` without a ``loadBalancerClass`` (those belong to another
  implementation, as upstream): make sure the record holds an address for it (its own, the requested
  ``spec.loadBalancerIP`` if free, else the lowest free one; an exhausted pool leaves it pending with a
  warning event), then make ``status.loadBalancer.ingress`` exactly ``[{ip, ipMode: VIP}]``;
- otherwise (deleted, or no longer a LoadBalancer): release its address and clear an ingress we wrote.

On start every owner in the record is queued too, so addresses of Services deleted while no controller
ran are freed (the repair pass). Level-based and idempotent: a Conflict on the record (another writer)
is retried by the runner with fresh data.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Sequence
from typing import Any

from sampan.api import errors
from sampan.client import (
    Client,
    EventHandlerFuncs,
    SharedIndexInformer,
    SharedInformerFactory,
    meta_namespace_key,
    split_meta_namespace_key,
)
from sampan.client.record import EventRecorder
from sampan.controllers.runner import Enqueuer, Result
from sampan.controllers.servicelb.pool import PoolRecord, choose

log = logging.getLogger(__name__)

REPAIR_KEY = "\x00repair"


def wants_address(svc: dict[str, Any] | None) -> bool:
    spec = (svc or {}).get("spec") or {}
    return spec.get("type") == "LoadBalancer" and not spec.get("loadBalancerClass")


class ServiceLBController:
    name = "service-lb-controller"

    def __init__(self, client: Client, factory: SharedInformerFactory, *, pool: ipaddress.IPv4Network | None,
                 recorder: EventRecorder | None = None) -> None:
        self._client = client
        self._pool = pool
        self._recorder = recorder
        self._informer = factory.informer("v1", "services")
        self.services = factory.lister("v1", "services")

    def informers(self) -> Sequence[SharedIndexInformer]:
        return (self._informer,)

    def watch(self, queue: Enqueuer) -> None:
        def enqueue(obj: Any) -> None:
            queue.add(meta_namespace_key(obj))

        self._informer.add_event_handler(EventHandlerFuncs(
            on_add_func=enqueue, on_update_func=lambda _old, new: enqueue(new), on_delete_func=enqueue))
        queue.add(REPAIR_KEY)

    async def _record(self) -> PoolRecord:
        return PoolRecord(await self._client.resource("v1", "configmaps"))

    async def reconcile(self, key: str) -> Result | None:
        if self._pool is None:
            return None
        record = await self._record()
        if key == REPAIR_KEY:
            allocations, _ = await record.read()
            for owner in sorted(set(allocations.values())):
                await self.reconcile(owner)
            return None
        namespace, name = split_meta_namespace_key(key)
        try:
            svc: dict[str, Any] | None = self.services.namespaced(namespace).get(name)
        except errors.NotFound:
            svc = None
        allocations, current = await record.read()
        held = sorted(ip for ip, who in allocations.items() if who == key)
        if not wants_address(svc):
            if held:
                await record.write({ip: who for ip, who in allocations.items() if who != key}, current)
                log.info("load-balancer address released service=%s ip=%s", key, ",".join(held))
            if svc is not None:
                await self._set_ingress(svc, None, ours=set(held))
            return None
        assert svc is not None
        requested = str((svc.get("spec") or {}).get("loadBalancerIP") or "")
        ip = choose(self._pool, allocations, key, requested)
        if ip is None:
            reason = (f"requested address {requested} is not available" if requested
                      else f"no free address left in {self._pool}")
            log.warning("load-balancer address not allocated service=%s reason=%s", key, reason)
            if self._recorder is not None:
                self._recorder.event(svc, "Warning", "AllocationFailed", f"Failed to allocate IP for {key}: {reason}")
            return Result(requeue=True)
        extra = [a for a in held if a != ip]
        if ip not in allocations or extra:
            new = {a: who for a, who in allocations.items() if a not in extra}
            new[ip] = key
            await record.write(new, current)
            log.info("load-balancer address allocated service=%s ip=%s", key, ip)
            if self._recorder is not None:
                self._recorder.event(svc, "Normal", "IPAllocated", f"Assigned IP {ip}")
        await self._set_ingress(svc, ip, ours=set(held) | {ip})
        return None

    async def _set_ingress(self, svc: dict[str, Any], ip: str | None, *, ours: set[str]) -> None:
        status = svc.get("status") or {}
        ingress = (status.get("loadBalancer") or {}).get("ingress") or []
        if ip is None:
            if not any(i.get("ip") in ours for i in ingress if isinstance(i, dict)):
                return
            want: list[dict[str, Any]] = []
        else:
            want = [{"ip": ip, "ipMode": "VIP"}]
            if ingress == want:
                return
        body = {**svc, "status": {**status, "loadBalancer": {"ingress": want} if want else {}}}
        services = await self._client.resource("v1", "services")
        await services.update_status(body, namespace=svc["metadata"]["namespace"])
