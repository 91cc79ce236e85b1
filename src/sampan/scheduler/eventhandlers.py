"""EventHandlers: turn informer notifications (wire-format dicts) into cache and queue updates, as
upstream's event handlers do.

- Pods with ``spec.nodeName`` are *assigned*: they go to the cache (an assumed pod is confirmed), and
  their arrival, label change or deletion may help unschedulable pods (cluster events).
- Pods without it are *pending*: those whose ``spec.schedulerName`` names one of our profiles and that
  have not finished go to the queue; updates to a pod we have assumed are ignored (its binding is in
  flight). Pods for other schedulers are ignored.
- Node add/update/delete update the cache; add and relevant updates move unschedulable pods.
- PersistentVolumeClaims, PersistentVolumes and StorageClasses feed the volume cache (VolumeBinding); any
  add or update moves unschedulable pods that VolumeBinding rejected.

Malformed objects are logged and skipped (never raised into the informer).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from sampan.scheduler.cache import Cache, VolumeCache, WorkloadCache
from sampan.scheduler.framework import events as ev
from sampan.scheduler.framework.pod_info import PodInfo
from sampan.scheduler.framework.runtime import Framework
from sampan.scheduler.queue import SchedulingQueue

log = logging.getLogger(__name__)


def _finished(pod: dict[str, Any]) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


_BOOKKEEPING = ("resourceVersion", "generation", "managedFields")


def _pod_updated(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """Whether anything but status and metadata bookkeeping changed (upstream's ``isPodUpdated``)."""
    if old.get("spec") != new.get("spec"):
        return True
    om, nm = old.get("metadata") or {}, new.get("metadata") or {}
    keys = (set(om) | set(nm)) - set(_BOOKKEEPING)
    return any(om.get(k) != nm.get(k) for k in keys)


def _parse(pod: dict[str, Any]) -> PodInfo | None:
    try:
        return PodInfo.parse(pod)
    except ValueError as exc:
        meta = pod.get("metadata") or {} if isinstance(pod, dict) else {}
        log.warning("skipping malformed pod pod=%s/%s err=%s", meta.get("namespace"), meta.get("name"), exc)
        return None


class EventHandlers:
    def __init__(self, cache: Cache, queue: SchedulingQueue, frameworks: Mapping[str, Framework], *,
                 volumes: VolumeCache | None = None, workloads: WorkloadCache | None = None) -> None:
        self.cache = cache
        self.volumes = volumes if volumes is not None else VolumeCache()
        self.workloads = workloads if workloads is not None else WorkloadCache()
        self.queue = queue
        self.frameworks = frameworks

    def responsible_for(self, pod: PodInfo) -> bool:
        return pod.scheduler_name in self.frameworks

    # -- pods ----------------------------------------------------------------------------------
    def add_pod(self, obj: dict[str, Any]) -> None:
        pod = _parse(obj)
        if pod is not None:
            self._add_parsed(pod, obj)

    def _add_parsed(self, pod: PodInfo, obj: dict[str, Any]) -> None:
        if pod.node_name:
            if self.cache.is_assumed(pod.uid):
                self.queue.done(pod.uid)
            else:
                self.queue.delete(pod.uid)
            self.cache.add_pod(pod)
            self.queue.assigned_pod_added(pod)
        elif self.responsible_for(pod) and not _finished(obj):
            self.queue.add(pod)

    def update_pod(self, old: dict[str, Any], new: dict[str, Any]) -> None:
        pod = _parse(new)
        if pod is None:
            return
        was_assigned = bool((old.get("spec") or {}).get("nodeName"))
        if pod.node_name:
            if not was_assigned:
                self._add_parsed(pod, new)  # just bound: confirm the assumption
                return
            self.cache.update_pod(pod)
            if (old.get("metadata") or {}).get("labels") != (new.get("metadata") or {}).get("labels"):
                self.queue.move_all_to_active_or_backoff(
                    ev.ClusterEvent(ev.ASSIGNED_POD, ev.ActionType.UPDATE_POD_LABEL, "AssignedPodUpdate"))
            if _finished(new):
                self.cache.remove_pod(pod.uid)
                self.queue.move_all_to_active_or_backoff(ev.ASSIGNED_POD_DELETE)
            return
        if not self.responsible_for(pod) or self.cache.is_assumed(pod.uid):
            return
        old_rv = (old.get("metadata") or {}).get("resourceVersion")
        if old_rv and old_rv == (new.get("metadata") or {}).get("resourceVersion"):
            return  # a resync or relist echo: nothing changed
        if _finished(new):
            self.queue.delete(pod.uid)
        else:
            self.queue.update(pod, spec_changed=_pod_updated(old, new))

    def delete_pod(self, obj: dict[str, Any]) -> None:
        meta = obj.get("metadata") or {}
        uid = meta.get("uid") or f"{meta.get('namespace') or 'default'}/{meta.get('name')}"
        if (obj.get("spec") or {}).get("nodeName") or self.cache.get_pod(uid) is not None:
            self.cache.remove_pod(uid)
            self.queue.move_all_to_active_or_backoff(ev.ASSIGNED_POD_DELETE)
        self.queue.delete(uid)
        for fwk in self.frameworks.values():
            wp = fwk.waiting_pods.get(uid)
            if wp is not None:
                wp.reject("", "pod deleted while waiting at permit")

    # -- nodes ---------------------------------------------------------------------------------
    def add_node(self, obj: dict[str, Any]) -> None:
        try:
            self.cache.add_node(obj)
        except ValueError as exc:
            log.warning("skipping malformed node err=%s", exc)
            return
        self.queue.move_all_to_active_or_backoff(ev.NODE_ADD)

    def update_node(self, old: dict[str, Any], new: dict[str, Any]) -> None:
        try:
            self.cache.update_node(new)
        except ValueError as exc:
            log.warning("skipping malformed node err=%s", exc)
            return
        actions = ev.node_update_actions(old, new)
        if actions:
            self.queue.move_all_to_active_or_backoff(ev.ClusterEvent(ev.NODE, actions, "NodeUpdate"))

    def delete_node(self, obj: dict[str, Any]) -> None:
        name = (obj.get("metadata") or {}).get("name")
        if isinstance(name, str):
            self.cache.remove_node(name)

    # -- namespaces (for affinity namespaceSelector) -----------------------------------------------
    def set_namespace(self, obj: dict[str, Any]) -> None:
        meta = obj.get("metadata") or {}
        if isinstance(meta.get("name"), str):
            self.cache.namespace_labels[meta["name"]] = dict(meta.get("labels") or {})

    def delete_namespace(self, obj: dict[str, Any]) -> None:
        self.cache.namespace_labels.pop((obj.get("metadata") or {}).get("name") or "", None)

    # -- volumes (VolumeBinding): claims, volumes and classes; a change may make a pod schedulable ----------
    def set_claim(self, obj: dict[str, Any]) -> None:
        self.volumes.set_claim(obj)
        self.queue.move_all_to_active_or_backoff(_VOLUME_EVENTS[ev.PERSISTENT_VOLUME_CLAIM])

    def delete_claim(self, obj: dict[str, Any]) -> None:
        self.volumes.delete_claim(obj)

    def set_volume(self, obj: dict[str, Any]) -> None:
        self.volumes.set_volume(obj)
        self.queue.move_all_to_active_or_backoff(_VOLUME_EVENTS[ev.PERSISTENT_VOLUME])

    def delete_volume(self, obj: dict[str, Any]) -> None:
        self.volumes.delete_volume(obj)

    def set_class(self, obj: dict[str, Any]) -> None:
        self.volumes.set_class(obj)
        self.queue.move_all_to_active_or_backoff(_VOLUME_EVENTS[ev.STORAGE_CLASS])

    def delete_class(self, obj: dict[str, Any]) -> None:
        self.volumes.delete_class(obj)

    # -- services and controllers (PodTopologySpread's default selector); read at the next cycle -------------
    def set_workload(self, kind: str, obj: dict[str, Any]) -> None:
        self.workloads.set(kind, obj)

    def delete_workload(self, kind: str, obj: dict[str, Any]) -> None:
        self.workloads.delete(kind, obj)


_VOLUME_EVENTS = {
    kind: ev.ClusterEvent(kind, ev.ActionType.ADD | ev.ActionType.UPDATE, f"{kind}Change")
    for kind in (ev.PERSISTENT_VOLUME_CLAIM, ev.PERSISTENT_VOLUME, ev.STORAGE_CLASS)
}
