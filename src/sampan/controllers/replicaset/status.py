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
    pods = list(pods)
    old = dict(rs.get("status") or {})
    status: dict[str, Any] = {
        "replicas": len(pods),
        "fullyLabeledReplicas": sum(1 for p in pods if template_sel.matches((p.get("metadata") or {}).get("labels")
                                                                           or {})),
        "readyReplicas": sum(1 for p in pods if is_ready(p)),
        "availableReplicas": sum(1 for p in pods if is_available(p, min_ready, now)),
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
