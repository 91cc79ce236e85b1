"""Keep each selector Service's EndpointSlices equal to :func:`desired_slices` of its pods.

Keys are Service keys. Triggers: Service add/update/delete, pod add/update/delete (Services selecting
the old or new pod), and any change to a slice labelled ``kubernetes.io/service-name`` (its Service).
``reconcile``:

* Service gone → delete the slices this controller manages for it (the garbage collector would too,
  through the owner reference);
* Service without selector, or of type ExternalName → nothing (slices are someone else's);
* expectations not yet satisfied (a slice we created or deleted is not in the cache yet) → wait for the
  informer event, which requeues the key, so a stale cache never makes a second slice;
* otherwise pair each desired slice with an existing slice of the same address type and ports (and the
  current owner uid), PUT the ones whose endpoints, labels or owner differ, POST the missing ones
  (``generateName: <service>-``) and DELETE the leftovers.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
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
from sampan.controllers.endpointslice.desired import (
    MANAGED_BY,
    MANAGED_BY_LABEL,
    MAX_PER_SLICE,
    SERVICE_NAME_LABEL,
    DesiredSlice,
    desired_slices,
    owner_reference,
    slice_labels,
)
from sampan.controllers.expectations import ControllerExpectations
from sampan.controllers.runner import Enqueuer

log = logging.getLogger(__name__)

API_VERSION = "discovery.k8s.io/v1"
ZONE_LABEL = "topology.kubernetes.io/zone"


def _unwrap(obj: Any) -> Any:
    return obj.obj if isinstance(obj, DeletedFinalStateUnknown) else obj


def _service_key_of_slice(obj: Any) -> str | None:
    md = (_unwrap(obj) or {}).get("metadata") or {}
    labels = md.get("labels") or {}
    if labels.get(MANAGED_BY_LABEL) != MANAGED_BY or not labels.get(SERVICE_NAME_LABEL):
        return None
    return f"{md.get('namespace')}/{labels[SERVICE_NAME_LABEL]}"


class EndpointSliceController:
    """Writes the EndpointSlices of selector Services (see the module docstring)."""

    name = "endpointslice"

    def __init__(self, client: Client, factory: SharedInformerFactory, *,
                 max_endpoints_per_slice: int = MAX_PER_SLICE, expectations: ControllerExpectations | None = None
                 ) -> None:
        self._client = client
        self._max = max_endpoints_per_slice
        self.expectations = expectations or ControllerExpectations()
        self._svc_informer = factory.informer("v1", "services")
        self._pod_informer = factory.informer("v1", "pods")
        self._slice_informer = factory.informer(API_VERSION, "endpointslices")
        self._node_informer = factory.informer("v1", "nodes")
        self.nodes = factory.lister("v1", "nodes")
        self.services = factory.lister("v1", "services")
        self.pods = factory.lister("v1", "pods")
        self.slices = factory.lister(API_VERSION, "endpointslices")

    def informers(self) -> Sequence[SharedIndexInformer]:
        return (self._svc_informer, self._pod_informer, self._slice_informer, self._node_informer)

    def _zone(self, node_name: str) -> str | None:
        try:
            node = self.nodes.get(node_name)
        except errors.NotFound:
            return None
        zone = ((node.get("metadata") or {}).get("labels") or {}).get(ZONE_LABEL)
        return str(zone) if zone else None

    def watch(self, queue: Enqueuer) -> None:
        def service_key(obj: Any) -> None:
            queue.add(meta_namespace_key(obj))

        def pods_changed(*objs: Any) -> None:
            for key in rules.services_for_pod(self.services, [_unwrap(o) for o in objs]):
                queue.add(key)

        def slice_added(obj: Any) -> None:
            key = _service_key_of_slice(obj)
            if key is not None:
                self.expectations.creation_observed(key)
                queue.add(key)

        def slice_updated(_old: Any, new: Any) -> None:
            key = _service_key_of_slice(new)
            if key is not None:
                queue.add(key)

        def slice_deleted(obj: Any) -> None:
            key = _service_key_of_slice(obj)
            if key is not None:
                self.expectations.deletion_observed(key)
                queue.add(key)

        self._svc_informer.add_event_handler(EventHandlerFuncs(
            on_add_func=service_key, on_update_func=lambda _old, new: service_key(new), on_delete_func=service_key))
        self._pod_informer.add_event_handler(EventHandlerFuncs(
            on_add_func=lambda p: pods_changed(p), on_update_func=pods_changed, on_delete_func=pods_changed))
        self._slice_informer.add_event_handler(EventHandlerFuncs(
            on_add_func=slice_added, on_update_func=slice_updated, on_delete_func=slice_deleted))

    def _owned(self, namespace: str, name: str) -> list[dict[str, Any]]:
        selector = f"{SERVICE_NAME_LABEL}={name},{MANAGED_BY_LABEL}={MANAGED_BY}"
        return list(self.slices.namespaced(namespace).list(selector))

    async def reconcile(self, key: str) -> None:
        namespace, name = split_meta_namespace_key(key)
        api = await self._client.resource(API_VERSION, "endpointslices")
        try:
            service = self.services.namespaced(namespace).get(name)
        except errors.NotFound:
            self.expectations.delete_expectations(key)
            await self._delete(api, key, self._owned(namespace, name))
            return
        if rules.service_selector(service) is None or (service.get("spec") or {}).get("type") == "ExternalName":
            return
        if not self.expectations.satisfied(key):
            log.debug("endpointslice expectations pending service=%s", key)
            return
        selector = rules.service_selector(service) or {}
        pods = [p for p in self.pods.namespaced(namespace).list() if rules.selects(selector, p)]
        desired = desired_slices(service, pods, max_per_slice=self._max, zone_of=self._zone)
        labels = slice_labels(service)
        owner = owner_reference(service)
        existing = self._owned(namespace, name)
        unmatched = sorted(existing, key=lambda s: s["metadata"]["name"])
        to_create: list[DesiredSlice] = []
        for want in desired:
            match = next((s for s in unmatched if s.get("addressType") == want.address_type
                          and (s.get("ports") or []) == want.ports_json()
                          and any(r.get("uid") == owner["uid"] for r in s["metadata"].get("ownerReferences") or [])),
                         None)
            if match is None:
                to_create.append(want)
                continue
            unmatched.remove(match)
            body = self._body(want, namespace=namespace, labels=labels, owner=owner, base=match)
            if (match.get("endpoints") or []) != body["endpoints"] or match["metadata"].get("labels") != labels:
                await api.update(body)
        self.expectations.set(key, add=len(to_create), delete=len(unmatched))
        await self._delete(api, key, unmatched)
        for want in to_create:
            body = self._body(want, namespace=namespace, labels=labels, owner=owner, base=None)
            try:
                await api.create(body)
            except Exception:
                self.expectations.lower_expectations(key, add=1)
                raise

    def _body(self, want: DesiredSlice, *, namespace: str, labels: dict[str, str], owner: dict[str, Any],
              base: dict[str, Any] | None) -> dict[str, Any]:
        md: dict[str, Any] = {"namespace": namespace, "labels": labels, "ownerReferences": [owner]}
        if base is None:
            md["generateName"] = f"{labels[SERVICE_NAME_LABEL]}-"
        else:
            md = {**base["metadata"], **md}
        return {"apiVersion": API_VERSION, "kind": "EndpointSlice", "metadata": md,
                "addressType": want.address_type, "endpoints": want.endpoints, "ports": want.ports_json()}

    async def _delete(self, api: Any, key: str, slices: list[dict[str, Any]]) -> None:
        """Delete ``slices``; the caller has raised the deletion expectations (or dropped them)."""
        for s in slices:
            try:
                await api.delete(s["metadata"]["name"], namespace=s["metadata"]["namespace"])
            except errors.NotFound:
                self.expectations.lower_expectations(key, delete=1)
