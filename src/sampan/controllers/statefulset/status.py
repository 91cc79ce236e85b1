"""A StatefulSet's status from its pods (upstream ``computeReplicaStatus`` + ``completeRollingUpdate``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sampan.controllers.pods import is_available, is_ready, is_terminating, phase
from sampan.controllers.statefulset.identity import REVISION_LABEL


def is_running_and_ready(pod: Mapping[str, Any]) -> bool:
    return phase(pod) == "Running" and is_ready(pod)


def is_healthy(pod: Mapping[str, Any]) -> bool:
    return is_running_and_ready(pod) and not is_terminating(pod)


def compute_status(sts: Mapping[str, Any], pods: Iterable[Mapping[str, Any]], *, current: str, update: str,
                   collision_count: int, now: float) -> dict[str, Any]:
    spec = sts.get("spec") or {}
    min_ready = int(spec.get("minReadySeconds") or 0)
    replicas = ready = available = current_n = updated = 0
    for pod in pods:
        replicas += 1
        if is_running_and_ready(pod):
            ready += 1
            if is_available(pod, min_ready, now):
                available += 1
        if is_terminating(pod):
            continue
        rev = (pod["metadata"].get("labels") or {}).get(REVISION_LABEL)
        if rev == current:
            current_n += 1
        if rev == update:
            updated += 1
    status: dict[str, Any] = {
        "observedGeneration": sts["metadata"].get("generation"), "replicas": replicas, "readyReplicas": ready,
        "currentReplicas": current_n, "updatedReplicas": updated, "availableReplicas": available,
        "currentRevision": current, "updateRevision": update, "collisionCount": collision_count,
    }
    strategy = (spec.get("updateStrategy") or {}).get("type", "RollingUpdate")
    if strategy == "RollingUpdate" and updated == replicas and ready == replicas:
        status["currentRevision"] = update
        status["currentReplicas"] = updated
    kept = {k: v for k, v in status.items() if v or k in ("replicas", "availableReplicas")}
    kept["observedGeneration"] = status["observedGeneration"]
    return kept


def status_differs(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> bool:
    old = old or {}
    return any(old.get(k) != v for k, v in new.items()) or any(
        k not in new and k != "conditions" for k in old)
