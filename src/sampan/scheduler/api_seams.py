"""The scheduler's seams (``sampan.scheduler.interfaces``) implemented over the API client, as upstream
kube-scheduler writes to the API server:

- :class:`APIBinder`: ``POST pods/{name}/binding`` with a v1 ``Binding`` (201; 409 when the pod is
  already bound, which the framework treats as a failed binding: the assumed pod is forgotten).
- :class:`APIPodStatusWriter`: the ``PodScheduled=False`` condition (reason ``Unschedulable`` or
  ``SchedulerError`` and the fit-error message) and ``status.nominatedNodeName``, through
  ``pods/{name}/status``. Read-modify-write with the pod's resourceVersion, retried on Conflict; a
  write that would change nothing is skipped (so a pod retried a hundred times costs no writes).
- :class:`APIEvictor`: a preemption victim gets the ``DisruptionTarget`` condition (best effort), is
  deleted (uid precondition, so a re-created pod of the same name survives) and a ``Preempted`` event.
- :class:`APIVolumeWriter`: VolumeBinding's PreBind writes: the volume with its new ``claimRef`` (an update
  with the cached resourceVersion, so a volume changed meanwhile is a Conflict and the pod is retried) and
  the claim's ``volume.kubernetes.io/selected-node`` annotation (read-modify-write, retried on Conflict).
- :class:`APIEventRecorder`: ``Scheduled`` / ``FailedScheduling`` events through the client's
  aggregating :class:`~sampan.client.record.EventRecorder` (never blocks; drops when full).

Each method may raise :class:`sampan.api.errors.APIError` or ``OSError``; the scheduler logs and carries
on (see ``interfaces``).
"""

from __future__ import annotations

import logging
from typing import Any

from sampan._lib.clock import Clock, RealClock
from sampan.api import errors
from sampan.api.humanize import format_rfc3339
from sampan.client.dynamic import ResourceClient
from sampan.client.record import EventRecorder as ClientEventRecorder
from sampan.scheduler.framework.pod_info import PodInfo

log = logging.getLogger(__name__)

POD_SCHEDULED = "PodScheduled"
DISRUPTION_TARGET = "DisruptionTarget"
STATUS_RETRIES = 5



def pod_reference(pod: PodInfo) -> dict[str, Any]:
    """The pod as an object the event recorder can reference (list items may lack kind/apiVersion)."""
    meta = pod.pod.get("metadata") or {}
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": pod.name, "namespace": pod.namespace, "uid": meta.get("uid", ""),
                         "resourceVersion": meta.get("resourceVersion", "")}}


def binding_for(pod: PodInfo, node_name: str) -> dict[str, Any]:
    """The v1 Binding that assigns ``pod`` to ``node_name`` (uid included when the pod has one)."""
    meta: dict[str, Any] = {"name": pod.name, "namespace": pod.namespace}
    uid = (pod.pod.get("metadata") or {}).get("uid")
    if uid:
        meta["uid"] = uid
    return {"apiVersion": "v1", "kind": "Binding", "metadata": meta,
            "target": {"apiVersion": "v1", "kind": "Node", "name": node_name}}


def with_condition(status: dict[str, Any], condition: dict[str, Any], *, now: float) -> tuple[dict[str, Any], bool]:
    """``status`` with ``condition`` set (by type), and whether anything changed. The transition time is
    kept when the condition's status did not change, as upstream's ``UpdatePodCondition``."""
    conditions = [c for c in (status.get("conditions") or []) if isinstance(c, dict)]
    old = next((c for c in conditions if c.get("type") == condition["type"]), None)
    new = dict(condition)
    if old is not None and old.get("status") == new["status"] and old.get("lastTransitionTime"):
        new["lastTransitionTime"] = old["lastTransitionTime"]
    else:
        new["lastTransitionTime"] = format_rfc3339(now)
    new.setdefault("lastProbeTime", None)
    if old is not None and all(old.get(k) == new.get(k) for k in ("status", "reason", "message")):
        return status, False
    rest = [c for c in conditions if c.get("type") != condition["type"]]
    return {**status, "conditions": [*rest, new]}, True


class APIBinder:
    def __init__(self, pods: ResourceClient) -> None:
        self._pods = pods

    async def bind(self, pod: PodInfo, node_name: str) -> None:
        await self._pods.create(binding_for(pod, node_name), namespace=pod.namespace, subresource="binding",
                                name=pod.name)
        log.debug("bound pod=%s node=%s", pod.key, node_name)


class APIPodStatusWriter:
    def __init__(self, pods: ResourceClient, *, clock: Clock | None = None) -> None:
        self._pods = pods
        self._clock = clock or RealClock()

    async def set_unschedulable(self, pod: PodInfo, *, reason: str, message: str, nominated_node_name: str | None
                                ) -> None:
        condition = {"type": POD_SCHEDULED, "status": "False", "reason": reason, "message": message}
        for _ in range(STATUS_RETRIES):
            try:
                current = await self._pods.get(pod.name, namespace=pod.namespace)
            except errors.NotFound:
                return  # deleted meanwhile: nothing to report on
            if (current.get("metadata") or {}).get("uid") not in (None, "", pod.uid) or \
                    (current.get("spec") or {}).get("nodeName"):
                return  # another pod of that name, or bound meanwhile
            status, changed = with_condition(dict(current.get("status") or {}), condition, now=self._clock.wall())
            if nominated_node_name is not None and (status.get("nominatedNodeName") or "") != nominated_node_name:
                status = dict(status)
                if nominated_node_name:
                    status["nominatedNodeName"] = nominated_node_name
                else:
                    status.pop("nominatedNodeName", None)
                changed = True
            if not changed:
                return
            try:
                await self._pods.update({**current, "status": status}, namespace=pod.namespace, subresource="status")
                return
            except errors.Conflict:
                continue
            except errors.NotFound:
                return
        log.warning("gave up writing pod status after conflicts pod=%s", pod.key)


class APIEvictor:
    def __init__(self, pods: ResourceClient, *, recorder: ClientEventRecorder | None, clock: Clock | None = None
                 ) -> None:
        self._pods = pods
        self._recorder = recorder
        self._clock = clock or RealClock()

    async def evict(self, victim: PodInfo, *, preemptor: PodInfo) -> None:
        condition = {"type": DISRUPTION_TARGET, "status": "True", "reason": "PreemptionByScheduler",
                     "message": f"{preemptor.scheduler_name}: preempting to accommodate a higher priority pod"}
        try:
            current = await self._pods.get(victim.name, namespace=victim.namespace)
            if (current.get("metadata") or {}).get("uid") in (None, "", victim.uid):
                status, changed = with_condition(dict(current.get("status") or {}), condition, now=self._clock.wall())
                if changed:
                    await self._pods.update({**current, "status": status}, namespace=victim.namespace,
                                            subresource="status")
        except errors.APIError as e:  # the condition is informative; the delete below is what matters
            log.debug("could not mark preemption victim pod=%s err=%s", victim.key, e)
        uid = (victim.pod.get("metadata") or {}).get("uid") or None
        try:
            await self._pods.delete(victim.name, namespace=victim.namespace, uid=uid)
        except errors.NotFound:
            return
        except errors.Conflict:
            return  # the precondition failed: a different pod now has that name
        log.info("preempted pod=%s preemptor=%s node=%s", victim.key, preemptor.key, victim.node_name)
        if self._recorder is not None:
            self._recorder.event(pod_reference(victim), "Normal", "Preempted",
                                 f"Preempted by pod {preemptor.uid} on node {victim.node_name}")


class APIEventRecorder:
    """Adapts the scheduler's ``EventRecorder`` seam to the client's recorder."""

    def __init__(self, recorder: ClientEventRecorder) -> None:
        self._recorder = recorder

    def event(self, pod: PodInfo, *, type_: str, reason: str, message: str) -> None:
        self._recorder.event(pod_reference(pod), type_, reason, message)


SELECTED_NODE = "volume.kubernetes.io/selected-node"


class APIVolumeWriter:
    def __init__(self, volumes: ResourceClient, claims: ResourceClient) -> None:
        self._volumes = volumes
        self._claims = claims

    async def bind_volume(self, volume: dict[str, Any]) -> None:
        await self._volumes.update(volume)

    async def select_node(self, claim: dict[str, Any], node_name: str) -> None:
        md = claim["metadata"]
        for _ in range(STATUS_RETRIES):
            current = await self._claims.get(md["name"], namespace=md.get("namespace"))
            annotations = (current.get("metadata") or {}).get("annotations") or {}
            if annotations.get(SELECTED_NODE) == node_name:
                return
            current["metadata"]["annotations"] = {**annotations, SELECTED_NODE: node_name}
            try:
                await self._claims.update(current, namespace=md.get("namespace"))
                return
            except errors.Conflict:
                continue
        raise errors.Conflict(f"could not set {SELECTED_NODE} on claim {md['name']!r}: too many conflicts")
