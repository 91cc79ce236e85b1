"""A ReplicaSet's status computed from the pods it owns (upstream's ``calculateStatus``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sampan.api.omitempty import REPLICA_SET_STATUS, drop_zero
from sampan.api.selectors import LabelSelector
from sampan.controllers.pods import format_time, is_available, is_ready

REPLICA_FAILURE = "ReplicaFailure"


def desired_replicas(spec: Mapping[str, Any]) -> int:
    """``spec.replicas``, defaulting to 1 as the API does."""
    value = spec.get("replicas")
    return 1 if value is None else int(value)


def calculate_status(rs: Mapping[str, Any], pods: Iterable[Mapping[str, Any]], *, now: float,
                     manage_error: BaseException | None) -> dict[str, Any]:
    """The new ``status`` for ``rs`` given its active pods and the error of this sync's create/delete."""
    spec = rs.get("spec") or {}
    template_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    template_sel = LabelSelector.from_dict({"matchLabels": template_labels})
    min_ready = int(spec.get("minReadySeconds") or 0)
    total = labeled = ready = available = 0
    for p in pods:  # one pass: thousands of pods per ReplicaSet, and a sync per batch of their events
        total += 1
        if template_sel.matches((p.get("metadata") or {}).get("labels") or {}):
            labeled += 1
        if is_ready(p):
            ready += 1
            if min_ready <= 0 or is_available(p, min_ready, now):
                available += 1
    old = dict(rs.get("status") or {})
    status: dict[str, Any] = {
        "replicas": total,
        "fullyLabeledReplicas": labeled,
        "readyReplicas": ready,
        "availableReplicas": available,
        "observedGeneration": int((rs.get("metadata") or {}).get("generation") or 0),
    }
    conditions = [c for c in old.get("conditions") or [] if c.get("type") != REPLICA_FAILURE]
    failure = next((c for c in old.get("conditions") or [] if c.get("type") == REPLICA_FAILURE), None)
    if manage_error is not None:
        reason = "FailedDelete" if "delet" in str(manage_error).lower() else "FailedCreate"
        if failure is None:
            failure = {"type": REPLICA_FAILURE, "status": "True", "lastTransitionTime": format_time(now)}
        conditions.append({**failure, "reason": reason, "message": str(manage_error)})
    if conditions:
        status["conditions"] = conditions
    return drop_zero(status, REPLICA_SET_STATUS)


def status_differs(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> bool:
    old = old or {}
    keys = ("replicas", "fullyLabeledReplicas", "readyReplicas", "availableReplicas", "observedGeneration")
    if any(int(old.get(k) or 0) != int(new.get(k) or 0) for k in keys):
        return True
    return (old.get("conditions") or []) != (new.get("conditions") or [])
