"""Informer handlers that keep a :class:`~sampan.dns.zone.Zone` equal to what the API says.

Services and EndpointSlices (``discovery.k8s.io/v1``) come from shared informers; a slice belongs to the
Service named by its ``kubernetes.io/service-name`` label, found through an informer index. Every event
on a Service or one of its slices rebuilds that one Service's records from the informers' caches
(level-based: the rebuild reads the current state, whatever the event said) and swaps them into the
zone — O(that Service's endpoints), never a full rebuild. With pod mode ``verified`` a pod informer
indexed by (namespace, IP) answers whether a pod record may be served.
"""

from __future__ import annotations

import logging
from typing import Any

from sampan.client import DeletedFinalStateUnknown, EventHandlerFuncs, SharedIndexInformer, SharedInformerFactory
from sampan.dns.records import build_service_records
from sampan.dns.zone import Zone

log = logging.getLogger(__name__)

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
BY_SERVICE = "by-service"
BY_POD_IP = "by-pod-ip"


def _obj(obj: Any) -> Any:
    return obj.obj if isinstance(obj, DeletedFinalStateUnknown) else obj


def slice_service_key(obj: Any) -> list[str]:
    meta = obj.get("metadata") or {}
    name = (meta.get("labels") or {}).get(SERVICE_NAME_LABEL)
    return [f"{meta.get('namespace', '')}/{name}"] if name else []


def pod_ip_keys(obj: Any) -> list[str]:
    meta = obj.get("metadata") or {}
    status = obj.get("status") or {}
    ips = {p.get("ip") for p in status.get("podIPs") or []} | {status.get("podIP")}
    return [f"{meta.get('namespace', '')}/{ip}" for ip in ips if ip]


class ZoneSource:
    """Feeds ``zone`` from ``factory``'s Service and EndpointSlice informers (and pods if asked)."""

    def __init__(self, factory: SharedInformerFactory, zone: Zone, *, watch_pods: bool = False) -> None:
        self.zone = zone
        self._origin = zone.zone
        self.services: SharedIndexInformer = factory.informer("v1", "services")
        self.slices: SharedIndexInformer = factory.informer("discovery.k8s.io/v1", "endpointslices",
                                                            indexers={BY_SERVICE: slice_service_key})
        self.pods: SharedIndexInformer | None = None
        if watch_pods:
            self.pods = factory.informer("v1", "pods", indexers={BY_POD_IP: pod_ip_keys})
        self.services.add_event_handler(EventHandlerFuncs(
            on_add_func=self._on_service, on_update_func=lambda _old, new: self._on_service(new),
            on_delete_func=self._on_service))
        self.slices.add_event_handler(EventHandlerFuncs(
            on_add_func=self._on_slice, on_update_func=self._on_slice_update, on_delete_func=self._on_slice))

    def has_synced(self) -> bool:
        return self.services.has_synced() and self.slices.has_synced() and (
            self.pods is None or self.pods.has_synced())

    def _on_service(self, obj: Any) -> None:
        meta = _obj(obj).get("metadata") or {}
        self.sync(f"{meta.get('namespace', '')}/{meta.get('name', '')}")

    def _on_slice(self, obj: Any) -> None:
        for key in slice_service_key(_obj(obj)):
            self.sync(key)

    def _on_slice_update(self, old: Any, new: Any) -> None:
        keys = set(slice_service_key(old)) | set(slice_service_key(new))
        for key in sorted(keys):
            self.sync(key)

    def sync(self, key: str) -> None:
        """Rebuild Service ``key``'s records from the caches (removes them when the Service is gone)."""
        service = self.services.indexer.get_by_key(key)
        if service is None:
            self.zone.set_service(key, None)
            return
        slices = self.slices.indexer.by_index(BY_SERVICE, key)
        self.zone.set_service(key, build_service_records(service, slices, zone=self._origin))
        log.debug("dns records rebuilt service=%s", key)

    def pod_exists(self, namespace: str, ip: str) -> bool:
        return self.pods is not None and bool(self.pods.indexer.index_keys(BY_POD_IP, f"{namespace}/{ip}"))
