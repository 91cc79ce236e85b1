"""Where the kubelet's pods, configmaps and secrets come from: shared informers over the API server.

* pods: one informer with ``fieldSelector=spec.nodeName=<node>`` (the server indexes kubelet watches by
  node, so each kubelet sees only its own pods);
* services: an informer over all namespaces (service environment variables);
* configmaps, secrets, PVCs and PVs: one single-object watch per object this node's pods reference
  (:class:`~sampan.kubelet.object_watches.ObjectWatches`, the
  :class:`~sampan.kubelet.volumes.objects.ObjectGetter` the volume manager and env resolution use), since
  the Node authorizer lets a kubelet read only those. :class:`ListerObjects` is the same getter over
  ordinary listers (kept for callers that have them).

Two factories, because a factory's selectors apply to every informer it makes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sampan.api import errors
from sampan.client.cache import DeletedFinalStateUnknown
from sampan.client.cache.handlers import EventHandlerFuncs
from sampan.client.cache.listers import Lister
from sampan.client.cache.shared_informer import SharedIndexInformer
from sampan.client.dynamic import Client
from sampan.client.informers import SharedInformerFactory
from sampan.kubelet.object_watches import ObjectWatches


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


class KubeletSources:
    """The informers of one kubelet. ``start`` runs them; ``shutdown`` stops them."""

    def __init__(self, client: Client, *, node_name: str) -> None:
        self.pod_factory = SharedInformerFactory(client, field_selector=f"spec.nodeName={node_name}")
        self.object_factory = SharedInformerFactory(client)
        self.pods: SharedIndexInformer = self.pod_factory.informer("v1", "pods")
        self.objects = ObjectWatches(client)
        self.pods.add_event_handler(EventHandlerFuncs(
            on_add_func=self.objects.pod_changed, on_update_func=lambda _old, new: self.objects.pod_changed(new),
            on_delete_func=lambda obj: self.objects.pod_removed(obj.obj if isinstance(obj, DeletedFinalStateUnknown)
                                                                else obj)))
        self.services: Lister = self.object_factory.lister("v1", "services")
        """Every Service, for the service environment variables (upstream's kubelet watches them too)."""

    def start(self) -> None:
        self.object_factory.start()
        self.pod_factory.start()

    async def wait_synced(self, timeout: float | None = None) -> bool:
        a = await self.object_factory.wait_for_cache_sync(timeout)
        b = await self.pod_factory.wait_for_cache_sync(timeout)
        return all(a.values()) and all(b.values())

    async def shutdown(self) -> None:
        await self.pod_factory.shutdown()
        await self.object_factory.shutdown()
        await self.objects.shutdown()
