"""One pod watch for a process of many kubelets (hollow nodes), demultiplexed by ``spec.nodeName``.

N kubelets in one process would otherwise hold N pod watches, each a LIST at start and a connection;
instead :class:`PodsByNode` runs one informer over every bound pod (``fieldSelector=spec.nodeName!=``)
with an index by node, and hands each node a :class:`NodePods` view that behaves like the informer a
lone kubelet would have (``spec.nodeName=<node>``):

- ``indexer.get_by_key`` / ``indexer.list`` see only the node's pods;
- handlers get the node's pods' adds, updates and deletes, in order, from a listener task of their own
  (one node's slow handler never delays another node's events); a handler registered on a running
  source first gets the node's current pods as initial adds, as on a running informer.

A pod's ``spec.nodeName`` never changes once set (binding is the only way to set it), so a pod moves
from "no node" (not watched) to one node and stays there: an add for that node. Invariant: the demux
runs on the shared informer's one listener task, and registration happens on the same loop without
awaiting, so no event is lost between a node's replay and its live events; a pod cached but not yet
demultiplexed when its node registers is delivered twice (replay, then live), which the kubelet's
level-based handlers treat as one add and an update.
"""

from __future__ import annotations

import asyncio
from typing import Any

from sampan.client.cache.handlers import Kind, Listener, Notification, ResourceEventHandler
from sampan.client.cache.reflector import ReflectorOptions
from sampan.client.cache.shared_informer import HandlerRegistration, SharedIndexInformer
from sampan.client.cache.store import DeletedFinalStateUnknown
from sampan.client.cache.transforms import Transform
from sampan.client.dynamic import Client
from sampan.client.informers import SharedInformerFactory

NODE_INDEX = "spec.nodeName"
#: A node's handler may fall this far behind before the shared demux waits for it.
NODE_HANDLER_BUFFER = 1024


def node_of(obj: Any) -> str:
    pod = obj.obj if isinstance(obj, DeletedFinalStateUnknown) else obj
    return str(((pod or {}).get("spec") or {}).get("nodeName") or "")


def _node_index(obj: Any) -> list[str]:
    node = node_of(obj)
    return [node] if node else []


class NodePodCache:
    """The read side of one node's pods over the shared indexer."""

    def __init__(self, informer: SharedIndexInformer, node: str) -> None:
        self._informer = informer
        self._node = node

    def get_by_key(self, key: str) -> Any | None:
        pod = self._informer.indexer.get_by_key(key)
        return pod if pod is not None and node_of(pod) == self._node else None

    def list(self) -> list[Any]:
        return list(self._informer.indexer.by_index(NODE_INDEX, self._node))


class NodePods:
    """One node's view: what :class:`~sampan.kubelet.sources.PodSource` asks for."""

    def __init__(self, owner: PodsByNode, node: str) -> None:
        self._owner = owner
        self.node = node
        self.indexer = NodePodCache(owner.informer, node)

    def add_event_handler(self, handler: ResourceEventHandler) -> Listener:
        return self._owner.register(self.node, handler)


class PodsByNode:
    """The process's pod informer and the node listeners it feeds. ``run`` owns the informer and every
    listener task; ``view(node)`` is what each kubelet gets."""

    def __init__(self, client: Client, *, transform: Transform | None = None) -> None:
        self.factory = SharedInformerFactory(client, field_selector="spec.nodeName!=", transform=transform,
                                             reflector_options=ReflectorOptions(paged_initial_list=True))
        self.informer = self.factory.informer("v1", "pods", indexers={NODE_INDEX: _node_index})
        self._listeners: dict[str, Listener] = {}
        self._tg: asyncio.TaskGroup | None = None
        self._registration: HandlerRegistration | None = None
        self._pending: list[Listener] = []

    def view(self, node: str) -> NodePods:
        return NodePods(self, node)

    def register(self, node: str, handler: ResourceEventHandler) -> Listener:
        """Feed ``handler`` the node's pods (its current ones first). One handler per node."""
        if node in self._listeners:
            raise ValueError(f"node {node!r} already has a pod handler")
        listener = Listener(handler, capacity=NODE_HANDLER_BUFFER, resync_period=0.0, name=f"pods-{node}")
        for pod in self.informer.indexer.by_index(NODE_INDEX, node):
            listener.put_unbounded(Notification(Kind.ADD, pod, initial=True))
        self._listeners[node] = listener
        if self._tg is not None:
            self._tg.create_task(listener.run(), name=f"pods-{node}")
        else:
            self._pending.append(listener)
        return listener

    async def _on_add(self, obj: Any, initial: bool) -> None:
        listener = self._listeners.get(node_of(obj))
        if listener is not None:
            await listener.put(Notification(Kind.ADD, obj, initial=initial))

    async def _on_update(self, old: Any, new: Any) -> None:
        listener = self._listeners.get(node_of(new))
        if listener is not None:
            await listener.put(Notification(Kind.UPDATE, new, old))

    async def _on_delete(self, obj: Any) -> None:
        listener = self._listeners.get(node_of(obj))
        if listener is not None:
            await listener.put(Notification(Kind.DELETE, obj))

    async def run(self) -> None:
        """Run the informer and the node listeners until cancelled."""
        from sampan.client.cache.handlers import EventHandlerFuncs

        self._registration = self.informer.add_event_handler(EventHandlerFuncs(
            on_add_func=self._on_add, on_update_func=self._on_update, on_delete_func=self._on_delete),
            name="pods-by-node")
        try:
            async with asyncio.TaskGroup() as tg:
                self._tg = tg
                for listener in self._pending:
                    tg.create_task(listener.run(), name=f"listener-{listener.name}")
                self._pending.clear()
                self.factory.start()
                await asyncio.Event().wait()
        finally:
            self._tg = None
            await self.factory.shutdown()

    async def wait_synced(self, timeout: float | None = None) -> bool:
        synced = await self.factory.wait_for_cache_sync(timeout)
        return all(synced.values()) and bool(synced)
