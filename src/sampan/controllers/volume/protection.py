"""The ``kubernetes.io/pvc-protection`` and ``kubernetes.io/pv-protection`` finalizers (upstream
``pvc-protection`` and ``pv-protection``): the API server adds them on create; these controllers remove them
from an object being deleted once nothing uses it — a claim no live pod (one not Succeeded/Failed)
mounts, a volume that is not ``Bound``. Until then the object stays ``Terminating``."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from sampan.api import errors
from sampan.api.volumes import PV_PROTECTION as PV_PROTECTION
from sampan.api.volumes import PVC_PROTECTION as PVC_PROTECTION
from sampan.client import EventHandlerFuncs, SharedIndexInformer
from sampan.client.cache import DeletedFinalStateUnknown
from sampan.controllers.manager import ControllerContext
from sampan.controllers.pods import phase
from sampan.controllers.runner import Enqueuer, Result

log = logging.getLogger(__name__)



def _obj(o: Any) -> Any:
    return o.obj if isinstance(o, DeletedFinalStateUnknown) else o


def _claims_of(pod: Any) -> list[str]:
    return [str(v["persistentVolumeClaim"]["claimName"]) for v in (pod.get("spec") or {}).get("volumes") or []
            if (v.get("persistentVolumeClaim") or {}).get("claimName")]


def _without(obj: dict[str, Any], finalizer: str) -> dict[str, Any]:
    md = obj["metadata"]
    return {**obj, "metadata": {**md, "finalizers": [f for f in md.get("finalizers") or [] if f != finalizer]}}


class PVCProtectionController:
    name = "pvc-protection"

    def __init__(self, ctx: ControllerContext) -> None:
        self.ctx = ctx
        self.pvc_informer = ctx.informers.informer("v1", "persistentvolumeclaims")
        self.pod_informer = ctx.informers.informer("v1", "pods")
        self.pvcs, self.pods = ctx.informers.lister("v1", "persistentvolumeclaims"), ctx.informers.lister("v1", "pods")

    def informers(self) -> Sequence[SharedIndexInformer]:
        return (self.pvc_informer, self.pod_informer)

    def watch(self, queue: Enqueuer) -> None:
        def claim(c: Any) -> None:
            c = _obj(c)
            queue.add(f"{c['metadata'].get('namespace', '')}/{c['metadata']['name']}")

        def pod(p: Any) -> None:
            p = _obj(p)
            for name in _claims_of(p):
                queue.add(f"{p['metadata'].get('namespace', '')}/{name}")

        self.pvc_informer.add_event_handler(EventHandlerFuncs(on_add_func=claim,
                                                              on_update_func=lambda o, n: claim(n)))
        self.pod_informer.add_event_handler(EventHandlerFuncs(on_add_func=pod, on_update_func=lambda o, n: pod(n),
                                                              on_delete_func=pod))

    async def reconcile(self, key: str) -> Result | None:
        ns, _, name = key.partition("/")
        try:
            claim = self.pvcs.namespaced(ns).get(name)
        except errors.NotFound:
            return None
        if not claim["metadata"].get("deletionTimestamp") or PVC_PROTECTION not in (
                claim["metadata"].get("finalizers") or []):
            return None
        in_use = any(name in _claims_of(p) and phase(p) not in ("Succeeded", "Failed")
                     for p in self.pods.namespaced(ns).list())
        if in_use:
            return None
        client = await self.ctx.client.resource("v1", "persistentvolumeclaims")
        try:
            await client.update(_without(claim, PVC_PROTECTION))
        except errors.NotFound:
            return None
        return None


class PVProtectionController:
    name = "pv-protection"

    def __init__(self, ctx: ControllerContext) -> None:
        self.ctx = ctx
        self.pv_informer = ctx.informers.informer("v1", "persistentvolumes")
        self.pvs = ctx.informers.lister("v1", "persistentvolumes")

    def informers(self) -> Sequence[SharedIndexInformer]:
        return (self.pv_informer,)

    def watch(self, queue: Enqueuer) -> None:
        self.pv_informer.add_event_handler(EventHandlerFuncs(
            on_add_func=lambda v: queue.add(_obj(v)["metadata"]["name"]),
            on_update_func=lambda o, n: queue.add(n["metadata"]["name"])))

    async def reconcile(self, key: str) -> Result | None:
        try:
            pv = self.pvs.get(key)
        except errors.NotFound:
            return None
        if not pv["metadata"].get("deletionTimestamp") or PV_PROTECTION not in (
                pv["metadata"].get("finalizers") or []):
            return None
        if (pv.get("status") or {}).get("phase") == "Bound":
            return None
        client = await self.ctx.client.resource("v1", "persistentvolumes")
        try:
            await client.update(_without(pv, PV_PROTECTION))
        except errors.NotFound:
            return None
        return None
