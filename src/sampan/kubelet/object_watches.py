"""The configmaps, secrets, PVCs and PVs a kubelet needs, each watched on its own (upstream's watch-based
secret and configmap managers).

A kubelet may read only what the pods bound to it reference (the API server's Node authorizer refuses
a list or watch of every secret), so instead of informers over all namespaces it keeps one
single-object informer (``fieldSelector=metadata.name=<name>`` in the object's namespace) per
referenced object:

* :meth:`ObjectWatches.pod_changed` / :meth:`pod_removed` (from the pod informer's handlers) start the
  watches a pod's references need and release those no pod needs any more (stopped by an owned task);
* a read (:meth:`get_secret` …) of an object nobody registered — a PV reached through a claim —
  starts its watch too and answers None until it has synced, like a missing object; the pod worker
  retries its sync every ``sync_period``.

Invariant: ``_watches[ref]`` exists iff some pod in ``_refs`` references ``ref`` or it was read on demand
(on-demand watches live until shutdown); every started factory is stopped by :meth:`shutdown`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sampan.api.podrefs import pod_references
from sampan.client.cache.handlers import EventHandlerFuncs
from sampan.client.cache.shared_informer import SharedIndexInformer
from sampan.client.dynamic import Client
from sampan.client.informers import SharedInformerFactory

log = logging.getLogger(__name__)

_RESOURCES = {"secret": "secrets", "configmap": "configmaps", "pvc": "persistentvolumeclaims",
              "pv": "persistentvolumes"}
WatchKey = tuple[str, str, str]
"""(kind, namespace, name); kind one of ``secret``, ``configmap``, ``pvc``, ``pv`` (namespace "")."""


@dataclass
class _Watch:
    factory: SharedInformerFactory
    informer: SharedIndexInformer
    pods: set[str] = field(default_factory=set)
    on_demand: bool = False


class ObjectWatches:
    """An :class:`~sampan.kubelet.volumes.objects.ObjectGetter` over per-object informers."""

    def __init__(self, client: Client) -> None:
        self._client = client
        self._watches: dict[WatchKey, _Watch] = {}
        self._refs: dict[str, set[WatchKey]] = {}
        self._stopping: set[asyncio.Task[None]] = set()
        self.on_change: Callable[[set[str]], None] | None = None
        """Called with the keys (``ns/name``) of the pods using an object that arrived or changed, so
        their workers sync at once instead of at their next period."""

    @property
    def watched(self) -> set[WatchKey]:
        return set(self._watches)

    def _start(self, key: WatchKey) -> _Watch:
        kind, namespace, name = key
        factory = SharedInformerFactory(self._client, namespace=namespace or None,
                                        field_selector=f"metadata.name={name}")
        informer = factory.informer("v1", _RESOURCES[kind])
        informer.add_event_handler(EventHandlerFuncs(on_add_func=lambda _obj: self._changed(key),
                                                     on_update_func=lambda _old, _new: self._changed(key)))
        factory.start()
        watch = self._watches[key] = _Watch(factory, informer)
        log.debug("watching object kind=%s object=%s/%s", kind, namespace, name)
        return watch

    def _stop(self, key: WatchKey) -> None:
        watch = self._watches.pop(key)
        task = asyncio.get_running_loop().create_task(watch.factory.shutdown(), name=f"stop-watch-{key}")
        self._stopping.add(task)
        task.add_done_callback(self._stopping.discard)

    def _changed(self, key: WatchKey) -> None:
        watch = self._watches.get(key)
        if watch is not None and watch.pods and self.on_change is not None:
            self.on_change(set(watch.pods))

    def pod_changed(self, pod: Mapping[str, Any]) -> None:
        md = pod.get("metadata") or {}
        pod_key = f"{md.get('namespace')}/{md.get('name')}"
        wanted = {(kind, ns, name) for kind, ns, name in pod_references(pod) if kind in _RESOURCES}
        old = self._refs.get(pod_key, set())
        for key in wanted - old:
            (self._watches.get(key) or self._start(key)).pods.add(pod_key)
        self._release(pod_key, old - wanted)
        self._refs[pod_key] = wanted

    def pod_removed(self, pod: Mapping[str, Any]) -> None:
        md = pod.get("metadata") or {}
        pod_key = f"{md.get('namespace')}/{md.get('name')}"
        self._release(pod_key, self._refs.pop(pod_key, set()))

    def _release(self, pod_key: str, keys: set[WatchKey]) -> None:
        for key in keys:
            watch = self._watches.get(key)
            if watch is None:
                continue
            watch.pods.discard(pod_key)
            if not watch.pods and not watch.on_demand:
                self._stop(key)

    def _get(self, kind: str, namespace: str, name: str) -> Mapping[str, Any] | None:
        if not name:
            return None
        key = (kind, namespace, name)
        watch = self._watches.get(key)
        if watch is None:
            watch = self._start(key)
            watch.on_demand = True
        obj = watch.informer.indexer.get_by_key(f"{namespace}/{name}" if namespace else name)
        return obj if isinstance(obj, Mapping) else None

    def get_configmap(self, namespace: str, name: str) -> Mapping[str, Any] | None:
        return self._get("configmap", namespace, name)

    def get_secret(self, namespace: str, name: str) -> Mapping[str, Any] | None:
        return self._get("secret", namespace, name)

    def get_claim(self, namespace: str, name: str) -> Mapping[str, Any] | None:
        return self._get("pvc", namespace, name)

    def get_volume(self, name: str) -> Mapping[str, Any] | None:
        return self._get("pv", "", name)

    async def shutdown(self) -> None:
        for key in list(self._watches):
            self._stop(key)
        for task in list(self._stopping):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
