"""Give every Node a pod CIDR from the cluster CIDR.

Keys are node names; a node is queued when added or updated (while it has no pod CIDR) and when deleted.
``reconcile`` is level-based: a node with ``spec.podCIDR`` keeps it (the value is immutable); one without
gets the lowest subnet that no node in the cache holds and that this controller did not just hand out
(``_pending``: name -> index, kept until the cache shows the node with it, so two nodes reconciled before
the cache caught up never get one CIDR). The patch sets ``spec.podCIDR`` and ``spec.podCIDRs``. A full
range leaves the node without one and records a ``CIDRNotAvailable`` event, as upstream; a node
deletion requeues every node still without one. One worker, so
allocations never race in this process; a single leader-elected manager makes that cluster-wide.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from sampan.api import errors
from sampan.client import Client, EventHandlerFuncs, SharedIndexInformer, SharedInformerFactory
from sampan.client.record import EventRecorder
from sampan.controllers.nodeipam.cidrs import CIDRSet
from sampan.controllers.runner import Enqueuer

log = logging.getLogger(__name__)


def _name(obj: Any) -> str:
    if isinstance(obj, dict):
        return str((obj.get("metadata") or {}).get("name") or "")
    inner = getattr(obj, "obj", None)  # a tombstone
    return _name(inner) if inner is not None else ""


def pod_cidr(node: dict[str, Any]) -> str:
    spec = node.get("spec") or {}
    return str(spec.get("podCIDR") or (spec.get("podCIDRs") or [""])[0] or "")


class NodeIPAMController:
    name = "nodeipam"

    def __init__(self, client: Client, factory: SharedInformerFactory, *, cidrs: CIDRSet,
                 recorder: EventRecorder | None = None) -> None:
        self._client = client
        self.cidrs = cidrs
        self._recorder = recorder
        self._informer = factory.informer("v1", "nodes")
        self.nodes = factory.lister("v1", "nodes")
        self._pending: dict[str, int] = {}

    def informers(self) -> Sequence[SharedIndexInformer]:
        return (self._informer,)

    def watch(self, queue: Enqueuer) -> None:
        def changed(node: Any) -> None:
            name = _name(node)
            if name and (not pod_cidr(node) or name in self._pending):
                queue.add(name)

        def deleted(node: Any) -> None:
            if _name(node):
                queue.add(_name(node))
            for other in self.nodes.list():  # a freed CIDR: nodes left without one may get it now
                if not pod_cidr(other):
                    queue.add(_name(other))

        self._informer.add_event_handler(EventHandlerFuncs(
            on_add_func=changed, on_update_func=lambda _old, new: changed(new), on_delete_func=deleted))

    def _occupied(self) -> set[int]:
        held: set[int] = set()
        for node in self.nodes.list():
            index = self.cidrs.index(pod_cidr(node)) if pod_cidr(node) else None
            if index is not None:
                held.add(index)
        return held | set(self._pending.values())

    async def reconcile(self, key: str) -> None:
        try:
            node = self.nodes.get(key)
        except errors.NotFound:
            self._pending.pop(key, None)  # its CIDR is free once no cached node holds it
            return
        if pod_cidr(node):
            self._pending.pop(key, None)
            return
        index = self._pending.get(key)
        if index is None:
            index = self.cidrs.next_free(self._occupied())
            if index is None:
                log.error("no pod CIDR left node=%s cluster_cidr=%s", key, self.cidrs.cluster)
                if self._recorder is not None:
                    self._recorder.event(
                        {"apiVersion": "v1", "kind": "Node", "metadata": {"name": key, "uid": key}}, "Normal",
                        "CIDRNotAvailable", f"Node {key} status is now: CIDRNotAvailable")
                return
            self._pending[key] = index
        cidr = self.cidrs.cidr(index)
        nodes = await self._client.resource("v1", "nodes")
        try:
            await nodes.patch(key, {"spec": {"podCIDR": cidr, "podCIDRs": [cidr]}})
        except errors.NotFound:
            self._pending.pop(key, None)
            return
        log.info("pod CIDR assigned node=%s cidr=%s", key, cidr)
