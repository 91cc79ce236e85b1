"""The PersistentVolume binder (upstream ``persistentvolume-binder``) with the built-in ``sampan.io/local-path``
provisioner.

Keys: ``claim/<ns>/<name>`` and ``volume/<name>``; handlers only enqueue (a class or node change
re-queues the pending claims).

A claim (``sync_claim``):

* without ``storageClassName`` while a default class exists: the default class is written into it
  (upstream's retroactive default class assignment);
* unbound: a fitting volume (:func:`~sampan.controllers.volume.matching.find_matching_volume`) is bound
  (volume ``claimRef`` first, then the claim's ``volumeName`` and the ``bind-completed``/``bound-by-
  controller`` annotations, then both statuses ``Bound``). Else, for a class whose binding mode is
  ``WaitForFirstConsumer`` the claim is left to the scheduler (its VolumeBinding plugin): only a volume it
  pre-bound to the claim (``claimRef``) is bound here, and without one the claim waits for the
  ``volume.kubernetes.io/selected-node`` annotation the scheduler sets when it picks a node for a pod using
  the claim — event ``WaitForFirstConsumer`` "waiting for first consumer to be created before binding"; once
  selected, a ``sampan.io/local-path`` class provisions a volume on that node (below), bound next time; with
  no class and no volume the event is ``FailedBinding`` "no persistent volumes available for this claim and
  no storage class is set"; a class of another provisioner gets ``ExternalProvisioning``.
* bound to a volume that is gone: phase ``Lost``.

A volume (``sync_volume``): unbound -> ``Available``; bound to a live claim -> ``Bound``; its claim gone ->
``Released``, then for reclaim ``Delete``: a volume this controller did not provision is deleted, a
local-path one is left to the kubelet of its node, which removes the directory and then the volume (as an
external provisioner's deleter does); ``Retain`` keeps it ``Released``.

Local-path provisioning: the volume ``pvc-<claim uid>`` is a ``hostPath`` (``DirectoryOrCreate``) at
``<dir>/pvc-<claim uid>_<ns>_<claim>`` where ``<dir>`` is the node's ``sampan.io/local-path-dir`` annotation
(the kubelet publishes ``<kubelet root>/local-path``), with required node affinity on the node's hostname; the
directory is created by the kubelet when a pod mounts it. The node is the claim's selected node, or (an
``Immediate`` class) the first Ready node by name.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from sampan.api import errors
from sampan.client import EventHandlerFuncs, SharedIndexInformer
from sampan.client.cache import DeletedFinalStateUnknown
from sampan.controllers.manager import ControllerContext
from sampan.controllers.pods import condition
from sampan.controllers.runner import Enqueuer, Result
from sampan.controllers.volume import matching as m

log = logging.getLogger(__name__)

LOCAL_PATH_PROVISIONER = "sampan.io/local-path"
LOCAL_PATH_DIR_ANNOTATION = "sampan.io/local-path-dir"
DEFAULT_CLASS_NAME = "local-path"
NO_CLASS_MSG = "no persistent volumes available for this claim and no storage class is set"
WAIT_MSG = "waiting for first consumer to be created before binding"


def default_storage_class() -> dict[str, Any]:
    """The class created at start (k3s's name): local-path, default, WaitForFirstConsumer, Delete."""
    return {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
            "metadata": {"name": DEFAULT_CLASS_NAME, "annotations": {m.DEFAULT_CLASS_ANNOTATIONS[0]: "true"}},
            "provisioner": LOCAL_PATH_PROVISIONER, "reclaimPolicy": "Delete",
            "volumeBindingMode": "WaitForFirstConsumer"}


def _obj(o: Any) -> Any:
    return o.obj if isinstance(o, DeletedFinalStateUnknown) else o


class PersistentVolumeBinder:
    name = "persistentvolume-binder"

    def __init__(self, ctx: ControllerContext, *, create_default_class: bool = True) -> None:
        self.ctx = ctx
        f = ctx.informers
        self.pv_informer, self.pvc_informer = f.informer("v1", "persistentvolumes"), f.informer(
            "v1", "persistentvolumeclaims")
        self.sc_informer = f.informer("storage.k8s.io/v1", "storageclasses")
        self.node_informer = f.informer("v1", "nodes")
        self.pvs, self.pvcs = f.lister("v1", "persistentvolumes"), f.lister("v1", "persistentvolumeclaims")
        self.classes, self.nodes = f.lister("storage.k8s.io/v1", "storageclasses"), f.lister("v1", "nodes")
        self.recorder = ctx.recorder("persistentvolume-controller")
        self.create_default_class = create_default_class
        self._queue: Enqueuer | None = None

    def informers(self) -> Sequence[SharedIndexInformer]:
        return (self.pv_informer, self.pvc_informer, self.sc_informer, self.node_informer)

    def watch(self, queue: Enqueuer) -> None:
        self._queue = queue

        def claim_key(c: Any) -> None:
            c = _obj(c)
            queue.add(f"claim/{c['metadata'].get('namespace', '')}/{c['metadata']['name']}")
            volume = (c.get("spec") or {}).get("volumeName")
            if volume:
                queue.add(f"volume/{volume}")

        def pending_claims(*_: Any) -> None:
            """Every unbound claim (a new volume, class or node may be what it waits for)."""
            for c in self.pvcs.list():
                if not (c.get("spec") or {}).get("volumeName"):
                    claim_key(c)

        def volume_key(v: Any) -> None:
            v = _obj(v)
            queue.add(f"volume/{v['metadata']['name']}")
            ref = (v.get("spec") or {}).get("claimRef") or {}
            if ref.get("name"):
                queue.add(f"claim/{ref.get('namespace', '')}/{ref['name']}")
            else:
                pending_claims()

        self.pvc_informer.add_event_handler(EventHandlerFuncs(
            on_add_func=claim_key, on_update_func=lambda o, n: claim_key(n), on_delete_func=claim_key))
        self.pv_informer.add_event_handler(EventHandlerFuncs(
            on_add_func=volume_key, on_update_func=lambda o, n: volume_key(n), on_delete_func=volume_key))
        self.sc_informer.add_event_handler(EventHandlerFuncs(on_add_func=pending_claims,
                                                             on_update_func=pending_claims))
        self.node_informer.add_event_handler(EventHandlerFuncs(on_add_func=pending_claims))

    async def background(self) -> None:
        """Create the default ``local-path`` class once (kept if it exists or was changed)."""
        if not self.create_default_class:
            return
        client = await self.ctx.client.resource("storage.k8s.io/v1", "storageclasses")
        with contextlib.suppress(errors.AlreadyExists):
            await client.create(default_storage_class())

    async def reconcile(self, key: str) -> Result | None:
        kind, _, rest = key.partition("/")
        if kind == "volume":
            return await self.sync_volume(rest)
        ns, _, name = rest.partition("/")
        return await self.sync_claim(ns, name)

    # ---- claims -------------------------------------------------------------------------------------------

    async def sync_claim(self, ns: str, name: str) -> Result | None:
        try:
            claim = self.pvcs.namespaced(ns).get(name)
        except errors.NotFound:
            return None
        if claim["metadata"].get("deletionTimestamp"):
            return None
        client = await self.ctx.client.resource("v1", "persistentvolumeclaims")
        spec = claim.get("spec") or {}
        if spec.get("storageClassName") is None and not spec.get("volumeName"):
            default = m.default_class(self.classes.list())
            if default is not None:
                claim = {**claim, "spec": {**spec, "storageClassName": default["metadata"]["name"]}}
                await client.update(claim)
                return None
        volume_name = spec.get("volumeName")
        if volume_name:
            return await self._sync_bound_claim(claim, volume_name, client)
        sc = self._class(m.class_of(claim))
        annotations = claim["metadata"].get("annotations") or {}
        wait = sc is not None and sc.get("volumeBindingMode") == "WaitForFirstConsumer"
        selected = annotations.get(m.SELECTED_NODE)
        node = self._node(selected) if selected else None
        # delayed binding: only a volume the scheduler pre-bound to this claim (its claimRef) is taken here
        candidates = [v for v in self.pvs.list() if ((v.get("spec") or {}).get("claimRef") or {}).get("name")] \
            if wait else self.pvs.list()
        pv = m.find_matching_volume(claim, candidates, node=node)
        if pv is None and wait and not selected:
            self.recorder.event(claim, "Normal", "WaitForFirstConsumer", WAIT_MSG)
            return None
        if pv is not None:
            await self._bind(claim, dict(pv))
            return None
        if sc is None:
            if not m.class_of(claim):
                self.recorder.event(claim, "Normal", "FailedBinding", NO_CLASS_MSG)
            else:
                self.recorder.event(claim, "Warning", "ProvisioningFailed",
                                    f'storageclass.storage.k8s.io "{m.class_of(claim)}" not found')
            return None
        if sc.get("provisioner") != LOCAL_PATH_PROVISIONER:
            self.recorder.event(claim, "Normal", "ExternalProvisioning",
                                f"Waiting for a volume to be created either by the external provisioner "
                                f"'{sc.get('provisioner')}' or manually by the system administrator. If volume "
                                "creation is delayed, please verify that the provisioner is running and correctly "
                                "registered.")
            return None
        await self._provision(claim, sc, node)
        return None

    async def _sync_bound_claim(self, claim: dict[str, Any], volume_name: str, client: Any) -> Result | None:
        try:
            pv = self.pvs.get(volume_name)
        except errors.NotFound:
            if (claim.get("status") or {}).get("phase") != "Lost":
                await client.update_status({**claim, "status": {**(claim.get("status") or {}), "phase": "Lost"}})
                self.recorder.event(claim, "Warning", "ClaimLost", "Bound claim has lost its PersistentVolume. "
                                    "Data on the volume is lost!")
            return None
        ref = (pv.get("spec") or {}).get("claimRef") or {}
        if ref.get("uid") in (None, "") or ref.get("uid") == claim["metadata"].get("uid"):
            await self._bind(claim, dict(pv))
        return None

    async def _bind(self, claim: dict[str, Any], pv: dict[str, Any]) -> None:
        """Volume first (so no other claim takes it), then the claim, then both statuses; idempotent."""
        pvs = await self.ctx.client.resource("v1", "persistentvolumes")
        pvcs = await self.ctx.client.resource("v1", "persistentvolumeclaims")
        md = claim["metadata"]
        ref = {"kind": "PersistentVolumeClaim", "namespace": md.get("namespace"), "name": md["name"],
               "uid": md.get("uid"), "apiVersion": "v1", "resourceVersion": md.get("resourceVersion")}
        current = (pv.get("spec") or {}).get("claimRef") or {}
        if current.get("uid") != md.get("uid"):
            annotations = {**(pv["metadata"].get("annotations") or {})}
            if not current:
                annotations[m.BOUND_BY_CONTROLLER] = "yes"
            pv = await pvs.update({**pv, "metadata": {**pv["metadata"], "annotations": annotations},
                                   "spec": {**pv["spec"], "claimRef": ref}})
        if (pv.get("status") or {}).get("phase") != "Bound":
            pv = await pvs.update_status({**pv, "status": {"phase": "Bound"}})
        spec = claim.get("spec") or {}
        annotations = md.get("annotations") or {}
        if spec.get("volumeName") != pv["metadata"]["name"] or annotations.get(m.BIND_COMPLETED) != "yes":
            new_annotations = {**annotations, m.BIND_COMPLETED: "yes"}
            if not spec.get("volumeName"):
                new_annotations[m.BOUND_BY_CONTROLLER] = "yes"
            claim = await pvcs.update({**claim, "metadata": {**md, "annotations": new_annotations},
                                       "spec": {**spec, "volumeName": pv["metadata"]["name"]}})
        want = {"phase": "Bound", "accessModes": list(pv["spec"].get("accessModes") or []),
                "capacity": dict(pv["spec"].get("capacity") or {})}
        if any((claim.get("status") or {}).get(k) != v for k, v in want.items()):
            await pvcs.update_status({**claim, "status": {**(claim.get("status") or {}), **want}})

    async def _provision(self, claim: dict[str, Any], sc: Mapping[str, Any], node: Mapping[str, Any] | None) -> None:
        if node is None:
            ready = sorted((n for n in self.nodes.list() if (condition(n, "Ready") or {}).get("status") == "True"),
                           key=lambda n: n["metadata"]["name"])
            node = ready[0] if ready else None
        base = ((node or {}).get("metadata") or {}).get("annotations", {}).get(LOCAL_PATH_DIR_ANNOTATION) \
            if node else None
        if node is None or not base:
            self.recorder.event(claim, "Warning", "ProvisioningFailed",
                                "failed to provision volume with StorageClass "
                                f"\"{sc['metadata']['name']}\": no node with a {LOCAL_PATH_DIR_ANNOTATION} annotation")
            return
        md = claim["metadata"]
        name = f"pvc-{md.get('uid')}"
        hostname = (node["metadata"].get("labels") or {}).get(m.HOSTNAME_LABEL, node["metadata"]["name"])
        pv = {"apiVersion": "v1", "kind": "PersistentVolume",
              "metadata": {"name": name, "annotations": {m.PROVISIONED_BY: LOCAL_PATH_PROVISIONER}},
              "spec": {"capacity": {"storage": ((claim["spec"].get("resources") or {}).get("requests") or {})
                                    .get("storage", "0")},
                       "accessModes": list(claim["spec"].get("accessModes") or []),
                       "persistentVolumeReclaimPolicy": sc.get("reclaimPolicy") or "Delete",
                       "storageClassName": sc["metadata"]["name"],
                       "volumeMode": claim["spec"].get("volumeMode") or "Filesystem",
                       "hostPath": {"path": f"{base.rstrip('/')}/{name}_{md.get('namespace')}_{md['name']}",
                                    "type": "DirectoryOrCreate"},
                       "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                           {"key": m.HOSTNAME_LABEL, "operator": "In", "values": [hostname]}]}]}},
                       "claimRef": {"kind": "PersistentVolumeClaim", "namespace": md.get("namespace"),
                                    "name": md["name"], "uid": md.get("uid"), "apiVersion": "v1"}}}
        pvs = await self.ctx.client.resource("v1", "persistentvolumes")
        try:
            await pvs.create(pv)
        except errors.AlreadyExists:
            return
        self.recorder.event(claim, "Normal", "ProvisioningSucceeded",
                            f"Successfully provisioned volume {name} using {LOCAL_PATH_PROVISIONER}")

    def _class(self, name: str) -> Mapping[str, Any] | None:
        if not name:
            return None
        try:
            sc: Mapping[str, Any] = self.classes.get(name)
            return sc
        except errors.NotFound:
            return None

    def _node(self, name: str) -> Mapping[str, Any] | None:
        try:
            node: Mapping[str, Any] = self.nodes.get(name)
            return node
        except errors.NotFound:
            return None

    # ---- volumes ------------------------------------------------------------------------------------------

    async def sync_volume(self, name: str) -> Result | None:
        try:
            pv = self.pvs.get(name)
        except errors.NotFound:
            return None
        client = await self.ctx.client.resource("v1", "persistentvolumes")
        ref = (pv.get("spec") or {}).get("claimRef") or {}
        phase = (pv.get("status") or {}).get("phase")
        if not ref.get("name"):
            if phase != "Available":
                await client.update_status({**pv, "status": {"phase": "Available"}})
            return None
        try:
            claim = self.pvcs.namespaced(ref.get("namespace", "")).get(ref["name"])
        except errors.NotFound:
            claim = None
        if claim is not None and ref.get("uid") in (None, "", claim["metadata"].get("uid")):
            return None  # bound or binding: the claim's sync completes it
        if claim is None and not ref.get("uid"):
            return None  # pre-bound to a claim not yet created
        if phase != "Released" and phase != "Failed":
            await client.update_status({**pv, "status": {"phase": "Released"}})
            return None
        policy = (pv.get("spec") or {}).get("persistentVolumeReclaimPolicy")
        provisioned_here = (pv["metadata"].get("annotations") or {}).get(m.PROVISIONED_BY) == LOCAL_PATH_PROVISIONER
        if policy == "Delete" and not provisioned_here and not pv["metadata"].get("deletionTimestamp"):
            with contextlib.suppress(errors.NotFound):
                await client.delete(name)
        return None
