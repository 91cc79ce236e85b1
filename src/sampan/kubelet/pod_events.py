"""The kubelet's pod handlers: admit a new pod or reject it, hand every add/update to the pod workers, stop
a deleted pod, route mirror pods to the static pod manager, resync pods whose secrets or configmaps changed."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from sampan.client.cache.store import DeletedFinalStateUnknown
from sampan.client.record import EventRecorder
from sampan.kubelet.admission import rejected_status
from sampan.kubelet.api_status import APIStatusSink
from sampan.kubelet.containers import group_by_name
from sampan.kubelet.metrics import KubeletMetrics
from sampan.kubelet.pod_workers import PodWorkers
from sampan.kubelet.runtime.interface import ContainerStatus, Runtime
from sampan.kubelet.sources import KubeletSources
from sampan.kubelet.static_pods.manager import StaticPods
from sampan.kubelet.static_pods.manifests import is_mirror
from sampan.kubelet.status_manager import pod_key

log = logging.getLogger(__name__)


def _is_terminal(pod: Mapping[str, Any]) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")



class PodEvents:
    """The pod informer's handlers (one listener task, as :class:`PodWorkers` requires) and the lookups
    of pods and their containers. A part of :class:`~sampan.kubelet.kubelet.Kubelet`, which owns the
    attributes declared here."""

    runtime: Runtime
    sources: KubeletSources
    workers: PodWorkers | None
    sink: APIStatusSink | None
    static_pods: StaticPods | None
    metrics: KubeletMetrics
    recorder: EventRecorder | None
    rejected: set[str]

    async def _on_pod(self, pod: dict[str, Any]) -> None:
        assert self.workers is not None
        assert self.sink is not None
        if is_mirror(pod):
            if self.static_pods is not None:
                self.static_pods.mirror_changed(pod)
            return
        md = pod.get("metadata") or {}
        uid = str(md.get("uid", ""))
        if uid in self.rejected:
            return
        self.metrics.seen(uid)
        worker = self.workers.workers.get(uid)
        if worker is None:
            if _is_terminal(pod):
                if md.get("deletionTimestamp"):
                    await self.sink.terminated(pod)
                return
            admission = self.workers.admit(pod)
            if not admission.admitted:
                self.rejected.add(uid)
                log.info("pod rejected pod=%s reason=%s", pod_key(pod), admission.reason)
                if self.recorder is not None:
                    self.recorder.event(pod, "Warning", admission.reason, admission.message)
                await self.sink.update_status(pod, {**(pod.get("status") or {}), **rejected_status(admission)})
                return
        elif md.get("deletionTimestamp") and worker.terminating is None:
            self.sink.killing(pod)
        self.workers.update_pod(pod)

    def _objects_changed(self, pod_keys: set[str]) -> None:
        """A watched secret, configmap or claim arrived or changed: sync the pods using it now."""
        for key in pod_keys:
            pod = self.sources.pods.indexer.get_by_key(key)
            uid = str(((pod or {}).get("metadata") or {}).get("uid", ""))
            worker = self.workers.workers.get(uid) if self.workers is not None else None
            if pod is not None and worker is not None:
                worker.update(pod)

    async def _on_pod_delete(self, obj: Any) -> None:
        assert self.workers is not None
        pod = obj.obj if isinstance(obj, DeletedFinalStateUnknown) else obj
        if is_mirror(pod or {}):
            if self.static_pods is not None:
                self.static_pods.mirror_changed(pod)
            return
        uid = str(((pod or {}).get("metadata") or {}).get("uid", ""))
        self.rejected.discard(uid)
        self.metrics.forget(uid)
        if uid in self.workers.workers:
            self.workers.remove_pod(uid)
            return
        # a pod no worker ran (finished before a kubelet restart): drop its sandbox and volumes
        await self.workers.cleanup_orphans(self._known_uids())

    def _known_uids(self) -> set[str]:
        """Pods this kubelet must keep: the API's (mirror pods aside) and the static ones."""
        known = {str((p.get("metadata") or {}).get("uid", "")) for p in self.sources.pods.indexer.list()
                 if not is_mirror(p)}
        return known | set(self.static_pods.pods if self.static_pods is not None else ())

    async def _find_containers(self, namespace: str, name: str, container: str) -> list[ContainerStatus] | None:
        pod = self.static_pods.by_full_name(namespace, name) if self.static_pods is not None else None
        pod = pod or self.sources.pods.indexer.get_by_key(f"{namespace}/{name}")
        if pod is None:
            return None
        uid = (pod.get("metadata") or {}).get("uid", "")
        records: list[ContainerStatus] = []
        for sb in await self.runtime.list_pod_sandboxes(uid):
            records.extend(await self.runtime.list_containers(sb.id))
        return group_by_name(records).get(container, [])
