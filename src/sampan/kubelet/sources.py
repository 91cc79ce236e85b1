"""Where the kubelet's pods, configmaps and secrets come from: shared informers over the API server.

* pods: one informer with ``fieldSelector=spec.nodeName=<node>`` (the server indexes kubelet watches by
  node, so each kubelet sees only its own pods);
* its own Node: one informer with ``fieldSelector=metadata.name=<node>`` (upstream's kubelet keeps the same
  node lister): each status tick compares the fresh status with the server's copy, which shows other
  writers (the node lifecycle controller marking the node ``Unknown``) without a GET. Started on its own
  (:meth:`KubeletSources.start_node`), as soon as the node is registered, before the heartbeat;
* services: an informer over all namespaces (service environment variables);
* configmaps, secrets, PVCs and PVs: one single-object watch per object this node's pods reference
  (:class:`~sampan.kubelet.object_watches.ObjectWatches`, the
  :class:`~sampan.kubelet.volumes.objects.ObjectGetter` the volume manager and env resolution use), since
  the Node authorizer lets a kubelet read only those. :class:`ListerObjects` is the same getter over
  ordinary listers (kept for callers that have them).

Three factories, because a factory's selectors apply to every informer it makes.

Many kubelets in one process (hollow nodes) share them: :class:`KubeletSources` is then given the process's
object factory, a per-node view of the process's one pod informer (:class:`PodSource`, see
:mod:`sampan.kubelet.hollow_pods`) and the process's one node informer (each kubelet looks its own name up in
its indexer); the owner of the shared parts starts and stops them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from sampan.api import errors
from sampan.client.cache import DeletedFinalStateUnknown
from sampan.client.cache.handlers import EventHandlerFuncs, ResourceEventHandler
from sampan.client.cache.listers import Lister
from sampan.client.cache.shared_informer import SharedIndexInformer
from sampan.client.cache.transforms import component_transform
from sampan.client.dynamic import Client
from sampan.client.informers import SharedInformerFactory
from sampan.kubelet.object_watches import ObjectWatches
from sampan.kubelet.volumes.objects import ObjectGetter


class ListerObjects:
    """An ObjectGetter over the configmap and secret listers (None when not cached)."""

    def __init__(self, configmaps: Lister, secrets: Lister, claims: Lister | None = None,
                 volumes: Lister | None = None) -> None:
        self._configmaps = configmaps
        self._secrets = secrets
        self._claims = claims
        self._volumes = volumes

    @staticmethod
    def _get(lister: Lister, namespace: str, name: str) -> Mapping[str, Any] | None:
        try:
            obj: Mapping[str, Any] = lister.namespaced(namespace).get(name)
        except errors.NotFound:
            return None
        return obj

    def get_configmap(self, namespace: str, name: str) -> Mapping[str, Any] | None:
        return self._get(self._configmaps, namespace, name)

    def get_secret(self, namespace: str, name: str) -> Mapping[str, Any] | None:
        return self._get(self._secrets, namespace, name)

    def get_claim(self, namespace: str, name: str) -> Mapping[str, Any] | None:
        return None if self._claims is None else self._get(self._claims, namespace, name)

    def get_volume(self, name: str) -> Mapping[str, Any] | None:
        if self._volumes is None:
            return None
        try:
            volume: Mapping[str, Any] = self._volumes.get(name)
            return volume
        except errors.NotFound:
            return None


class PodCache(Protocol):
    """What the kubelet reads of its pod cache."""

    def get_by_key(self, key: str) -> Any | None: ...
    def list(self) -> list[Any]: ...


class NodeCache(Protocol):
    """What the kubelet reads of its node cache: its Node by name (cluster-scoped: the key is the name), None
    when not (yet) cached. Read from the heartbeat thread too: a store lookup is one dict ``get`` and the
    informer replaces cached objects whole, never changing one in place, so a reader on another thread sees
    either the old object or the new one (callers must not change what they get)."""

    def get_by_key(self, key: str) -> Any | None: ...


class PodSource(Protocol):
    """The kubelet's pods: a cache of this node's pods and handlers called for their changes, in order."""

    @property
    def indexer(self) -> Any: ...
    def add_event_handler(self, handler: ResourceEventHandler) -> Any: ...


class KubeletSources:
    """The informers of one kubelet. ``start`` runs them; ``shutdown`` stops them (only the ones it owns)."""

    def __init__(self, client: Client, *, node_name: str, pods: PodSource | None = None,
                 object_factory: SharedInformerFactory | None = None,
                 nodes: SharedIndexInformer | None = None) -> None:
        """``pods``, ``object_factory``, ``nodes``: the process's shared ones (hollow nodes; ``nodes`` an
        informer of every node, or at least of this one), started and stopped by their owner."""
        self._owned = pods is None
        self._owns_node = nodes is None
        transform = component_transform()  # cached without managedFields, strings shared
        self.pod_factory = SharedInformerFactory(client, field_selector=f"spec.nodeName={node_name}",
                                                 transform=transform)
        self.node_factory = SharedInformerFactory(client, field_selector=f"metadata.name={node_name}",
                                                  transform=transform)
        node_informer = nodes if nodes is not None else self.node_factory.informer("v1", "nodes")
        self.node_cache: NodeCache = node_informer.indexer
        """This kubelet's Node as the server has it (upstream's node lister)."""
        self.object_factory = object_factory or SharedInformerFactory(client, transform=transform)
        self.pods: PodSource = pods if pods is not None else self.pod_factory.informer("v1", "pods")
        self.watches: ObjectWatches | None = None
        self.objects: ObjectGetter
        if object_factory is not None:  # hollow nodes: the process's shared listers (one identity for all)
            self.objects = ListerObjects(self.object_factory.lister("v1", "configmaps"),
                                         self.object_factory.lister("v1", "secrets"),
                                         self.object_factory.lister("v1", "persistentvolumeclaims"),
                                         self.object_factory.lister("v1", "persistentvolumes"))
        else:  # one watch per referenced object: all the Node authorizer lets a kubelet read
            watches = self.watches = ObjectWatches(client)
            self.objects = watches
            self.pods.add_event_handler(EventHandlerFuncs(
                on_add_func=watches.pod_changed, on_update_func=lambda _old, new: watches.pod_changed(new),
                on_delete_func=lambda obj: watches.pod_removed(obj.obj if isinstance(obj, DeletedFinalStateUnknown)
                                                               else obj)))
        self.services: Lister = self.object_factory.lister("v1", "services")
        """Every Service, for the service environment variables (upstream's kubelet watches them too)."""

    def start_node(self) -> None:
        """Start the node informer (when owned; idempotent)."""
        if self._owns_node:
            self.node_factory.start()

    def start(self) -> None:
        self.start_node()
        if self._owned:
            self.object_factory.start()
            self.pod_factory.start()

    async def wait_synced(self, timeout: float | None = None) -> bool:
        a = await self.object_factory.wait_for_cache_sync(timeout)
        b = await self.pod_factory.wait_for_cache_sync(timeout)
        c = await self.node_factory.wait_for_cache_sync(timeout)
        return all(a.values()) and all(b.values()) and all(c.values())

    async def shutdown(self) -> None:
        if self._owns_node:
            await self.node_factory.shutdown()
        if self._owned:
            await self.pod_factory.shutdown()
            await self.object_factory.shutdown()
        if self.watches is not None:
            await self.watches.shutdown()
