"""Keep each selector Service's ``Endpoints`` object equal to its selected pods.

Keys are Service keys (``ns/name``). Triggers: Service add/update/delete; pod add/update/delete (every
Service selecting the old or the new pod); Endpoints deletion (recreate it). ``reconcile``:

* Service gone → delete its Endpoints (NotFound is fine);
* Service without selector → leave its Endpoints alone (managed by hand);
* otherwise build the subsets: one address per selected pod that has an IP, is not finished and not being
  deleted; ready when its Ready condition is True (or ``publishNotReadyAddresses``); ports are the
  Service ports resolved per pod (a named ``targetPort`` the pod lacks leaves that port out for it);
  addresses with the same port set share a subset; at most ``max_addresses`` addresses (then the
  ``endpoints.kubernetes.io/over-capacity: truncated`` annotation, as upstream);
* write only when subsets, labels or the annotation differ (PUT, or POST when absent).

Endpoints carry the Service's labels (+ ``service.kubernetes.io/headless`` for headless Services) and no
owner reference (same name as the Service), as upstream.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from sampan.api import errors
from sampan.client import (
    Client,
    DeletedFinalStateUnknown,
    EventHandlerFuncs,
    SharedIndexInformer,
    SharedInformerFactory,
    meta_namespace_key,
    split_meta_namespace_key,
)
from sampan.controllers.endpoints import pods as rules
from sampan.controllers.runner import Enqueuer

log = logging.getLogger(__name__)

HEADLESS_LABEL = "service.kubernetes.io/headless"
OVER_CAPACITY = "endpoints.kubernetes.io/over-capacity"
MAX_ADDRESSES = 1000


def _unwrap(obj: Any) -> Any:
    return obj.obj if isinstance(obj, DeletedFinalStateUnknown) else obj


def _address(pod: Mapping[str, Any], ip: str, service: Mapping[str, Any]) -> dict[str, Any]:
    addr: dict[str, Any] = {"ip": ip, "targetRef": rules.target_ref(pod)}
    node = (pod.get("spec") or {}).get("nodeName")
    if node:
        addr["nodeName"] = node
    host = rules.hostname(pod, service)
    if host:
        addr["hostname"] = host
    return addr


def _endpoint_ports(service: Mapping[str, Any], pod: Mapping[str, Any]) -> tuple[tuple[str, int, str, str], ...]:
    """(name, port, protocol, appProtocol) for every Service port the pod serves, sorted."""
    out = []
    for sp in (service.get("spec") or {}).get("ports") or []:
        port = rules.target_port(sp, pod)
        if port is None:
            continue
        out.append((str(sp.get("name") or ""), port, str(sp.get("protocol") or "TCP"),
                    str(sp.get("appProtocol") or "")))
    return tuple(sorted(out))


def desired_subsets(service: Mapping[str, Any], pods: Sequence[Mapping[str, Any]], *,
                    max_addresses: int = MAX_ADDRESSES) -> tuple[list[dict[str, Any]], bool]:
    """The subsets ``service`` should have given ``pods`` (its selected pods), and whether they were
    truncated to ``max_addresses``. Deterministic: subsets ordered by ports, addresses by IP then name."""
    publish_not_ready = bool((service.get("spec") or {}).get("publishNotReadyAddresses"))
    has_ports = bool((service.get("spec") or {}).get("ports"))
    groups: dict[tuple[tuple[str, int, str, str], ...], tuple[list[dict[str, Any]], list[dict[str, Any]]]] = {}
    total = 0
    truncated = False
    for pod in sorted(pods, key=lambda p: (p["metadata"].get("namespace", ""), p["metadata"]["name"])):
        if not rules.should_include(pod, include_terminating=False):
            continue
        ports = _endpoint_ports(service, pod)
        if has_ports and not ports:
            continue  # none of the Service's ports exists on this pod
        ready = publish_not_ready or rules.pod_ready(pod)
        for ip in rules.pod_ips(pod)[:1]:
            if total >= max_addresses:
                truncated = True
                break
            ready_list, not_ready_list = groups.setdefault(ports, ([], []))
            (ready_list if ready else not_ready_list).append(_address(pod, ip, service))
            total += 1
    subsets = []
    for ports, (ready_list, not_ready_list) in sorted(groups.items()):
        subset: dict[str, Any] = {}
        if ready_list:
            subset["addresses"] = sorted(ready_list, key=lambda a: (a["ip"], a["targetRef"]["name"]))
        if not_ready_list:
            subset["notReadyAddresses"] = sorted(not_ready_list, key=lambda a: (a["ip"], a["targetRef"]["name"]))
        if ports:
            subset["ports"] = [{k: v for k, v in (("name", n), ("port", p), ("protocol", proto),
                                                  ("appProtocol", app)) if v != ""} for n, p, proto, app in ports]
        subsets.append(subset)
    return subsets, truncated


class EndpointsController:
    """Writes one Endpoints object per selector Service (see the module docstring)."""

    name = "endpoint"

    def __init__(self, client: Client, factory: SharedInformerFactory, *, max_addresses: int = MAX_ADDRESSES) -> None:
        self._client = client
        self._max = max_addresses
        self._svc_informer = factory.informer("v1", "services")
        self._pod_informer = factory.informer("v1", "pods")
        self._ep_informer = factory.informer("v1", "endpoints")
        self.services = factory.lister("v1", "services")
        self.pods = factory.lister("v1", "pods")
        self.endpoints = factory.lister("v1", "endpoints")

    def informers(self) -> Sequence[SharedIndexInformer]:
        return (self._svc_informer, self._pod_informer, self._ep_informer)

    def watch(self, queue: Enqueuer) -> None:
        def service_key(obj: Any) -> None:
            queue.add(meta_namespace_key(obj))

        def pods_changed(*objs: Any) -> None:
            for key in rules.services_for_pod(self.services, [_unwrap(o) for o in objs]):
                queue.add(key)

        self._svc_informer.add_event_handler(EventHandlerFuncs(
            on_add_func=service_key, on_update_func=lambda _old, new: service_key(new), on_delete_func=service_key))
        self._pod_informer.add_event_handler(EventHandlerFuncs(
            on_add_func=lambda p: pods_changed(p), on_update_func=pods_changed, on_delete_func=pods_changed))
        self._ep_informer.add_event_handler(EventHandlerFuncs(on_delete_func=service_key))

    async def reconcile(self, key: str) -> None:
        namespace, name = split_meta_namespace_key(key)
        eps = await self._client.resource("v1", "endpoints")
        try:
            service = self.services.namespaced(namespace).get(name)
        except errors.NotFound:
            try:
                self.endpoints.namespaced(namespace).get(name)
            except errors.NotFound:
                return
            try:
                await eps.delete(name, namespace=namespace)
            except errors.NotFound:
                pass
            return
        selector = rules.service_selector(service)
        if selector is None:
            return
        selected = [p for p in self.pods.namespaced(namespace).list() if rules.selects(selector, p)]
        subsets, truncated = desired_subsets(service, selected, max_addresses=self._max)
        labels = dict(service["metadata"].get("labels") or {})
        if rules.is_headless(service):
            labels[HEADLESS_LABEL] = ""
        try:
            current = self.endpoints.namespaced(namespace).get(name)
        except errors.NotFound:
            current = None
        annotations = dict(((current or {}).get("metadata") or {}).get("annotations") or {})
        annotations.pop(OVER_CAPACITY, None)
        if truncated:
            annotations[OVER_CAPACITY] = "truncated"
        if current is not None and (current.get("subsets") or []) == subsets \
                and (current["metadata"].get("labels") or {}) == labels \
                and (current["metadata"].get("annotations") or {}) == annotations:
            return
        md: dict[str, Any] = {"name": name, "namespace": namespace, "labels": labels}
        if annotations:
            md["annotations"] = annotations
        body = {"apiVersion": "v1", "kind": "Endpoints", "metadata": md, "subsets": subsets}
        if current is None:
            try:
                await eps.create(body)
            except errors.AlreadyExists as exc:  # our cache is behind: retry once it caught up
                raise errors.Conflict(str(exc)) from exc
        else:
            md["resourceVersion"] = current["metadata"]["resourceVersion"]
            await eps.update(body)
        log.debug("endpoints written service=%s addresses=%d", key, sum(
            len(s.get("addresses") or []) + len(s.get("notReadyAddresses") or []) for s in subsets))
