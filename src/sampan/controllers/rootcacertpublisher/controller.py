"""Publish the cluster's root CA as ConfigMap ``kube-root-ca.crt`` (key ``ca.crt``) in every namespace, as
upstream's root-ca-cert-publisher does, so that pods and clients can find the CA that verifies the API
server (the projected service-account volume mounts it).

Keys are namespace names. A namespace is queued when added, when updated while Active, and when its
``kube-root-ca.crt`` is updated or deleted. ``reconcile`` is level-based: a missing ConfigMap is created;
one whose ``data`` differs from ``{"ca.crt": <CA>}`` or lacks the ``kubernetes.io/description`` annotation
is put back (other annotations and labels are kept). A create answered NotFound, or refused because the
namespace is terminating, is left alone (upstream does not retry those).

The CA is the PEM text of ``--root-ca-file``; without that flag, the CA data of the controller-manager's
own kubeconfig (upstream's fallback); without either (a plain-HTTP API server has no CA), ``ca.crt`` is
the empty string, so that clients still find the object they expect.
"""

from __future__ import annotations

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
from sampan.client.cache import DeletedFinalStateUnknown
from sampan.controllers.runner import Enqueuer

log = logging.getLogger(__name__)

CONFIG_MAP_NAME = "kube-root-ca.crt"
CA_KEY = "ca.crt"
DESCRIPTION_ANNOTATION = "kubernetes.io/description"
DESCRIPTION = ("Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints "
               "such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across "
               "distributions of Kubernetes clusters.")


def read_root_ca(path: str | None, *, kubeconfig_ca_data: bytes | None = None,
                 kubeconfig_ca_file: str | None = None) -> str:
    """The CA to publish: ``--root-ca-file``'s text, else the kubeconfig's CA (data, then file), else "".
    OSError when a named file cannot be read."""
    for candidate in (path, None if kubeconfig_ca_data else kubeconfig_ca_file):
        if candidate:
            with open(candidate, encoding="utf-8", errors="replace") as f:
                return f.read()
    return kubeconfig_ca_data.decode("utf-8", errors="replace") if kubeconfig_ca_data else ""


class RootCACertPublisher:
    """Keeps ``kube-root-ca.crt`` in every namespace (see the module docstring)."""

    name = "root-ca-cert-publisher"

    def __init__(self, client: Client, factory: SharedInformerFactory, *, root_ca: str) -> None:
        self._client = client
        self._data = {CA_KEY: root_ca}
        self._ns_informer = factory.informer("v1", "namespaces")
        self._cm_informer = factory.informer("v1", "configmaps")
        self.namespaces = factory.lister("v1", "namespaces")
        self.configmaps = factory.lister("v1", "configmaps")

    def informers(self) -> Sequence[SharedIndexInformer]:
        return (self._ns_informer, self._cm_informer)

    def watch(self, queue: Enqueuer) -> None:
        def namespace_updated(_old: Any, new: Any) -> None:
            if (new.get("status") or {}).get("phase", "Active") == "Active":
                queue.add(new["metadata"]["name"])

        self._ns_informer.add_event_handler(EventHandlerFuncs(
            on_add_func=lambda ns: queue.add(ns["metadata"]["name"]), on_update_func=namespace_updated))

        def configmap_changed(obj: Any) -> None:
            cm = obj.obj if isinstance(obj, DeletedFinalStateUnknown) else obj
            namespace, name = split_meta_namespace_key(meta_namespace_key(cm))
            if name == CONFIG_MAP_NAME and namespace:
                queue.add(namespace)

        self._cm_informer.add_event_handler(EventHandlerFuncs(
            on_update_func=lambda _old, new: configmap_changed(new), on_delete_func=configmap_changed))

    async def reconcile(self, key: str) -> None:
        try:
            ns = self.namespaces.get(key)
        except errors.NotFound:
            return
        if ns["metadata"].get("deletionTimestamp") or (ns.get("status") or {}).get("phase") == "Terminating":
            return
        configmaps = await self._client.resource("v1", "configmaps")
        try:
            current = self.configmaps.namespaced(key).get(CONFIG_MAP_NAME)
        except errors.NotFound:
            await self._create(configmaps, key)
            return
        annotations = (current.get("metadata") or {}).get("annotations") or {}
        if current.get("data") == self._data and annotations.get(DESCRIPTION_ANNOTATION):
            return
        md = dict(current["metadata"])
        md["annotations"] = {**annotations, DESCRIPTION_ANNOTATION: DESCRIPTION}
        body = {k: v for k, v in current.items() if k != "data"}
        await configmaps.update({**body, "metadata": md, "data": dict(self._data)})  # Conflict: runner retries
        log.info("restored configmap cm=%s/%s", key, CONFIG_MAP_NAME)

    async def _create(self, configmaps: Any, namespace: str) -> None:
        body = {"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": CONFIG_MAP_NAME, "namespace": namespace,
                             "annotations": {DESCRIPTION_ANNOTATION: DESCRIPTION}},
                "data": dict(self._data)}
        try:
            await configmaps.create(body)
        except errors.AlreadyExists:
            return  # the cache was behind; the update event brings us back if it differs
        except (errors.NotFound, errors.Forbidden) as exc:  # namespace gone or terminating
            log.debug("configmap not created cm=%s/%s error=%s", namespace, CONFIG_MAP_NAME, exc)
            return
        log.info("created configmap cm=%s/%s", namespace, CONFIG_MAP_NAME)
