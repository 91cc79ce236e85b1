"""PodDisruptionBudget helpers shared by the API server's eviction subresource and the controller-manager's
disruption controller (upstream's ``pdb`` helper package).

* :func:`selects` — does a budget cover a pod (policy/v1: a nil selector selects nothing, ``{}`` every pod
  of the namespace; an invalid selector selects nothing);
* :func:`pod_ready` — upstream's ``IsPodReady`` (the health test of both sides);
* :func:`scaled_value` — ``GetScaledValueFromIntOrPercent`` (percentages of a count, rounded up);
* :func:`set_disruption_allowed_condition` — the ``DisruptionAllowed`` condition for the current
  ``disruptionsAllowed``: True/``SufficientPods`` when > 0, else False/``InsufficientPods``; its
  ``lastTransitionTime`` changes only when its status does.
"""

from __future__ import annotations

import math
from typing import Any

from sampan.api.selectors import LabelSelector

DISRUPTION_ALLOWED = "DisruptionAllowed"
SUFFICIENT_PODS = "SufficientPods"
INSUFFICIENT_PODS = "InsufficientPods"
SYNC_FAILED = "SyncFailed"
DISRUPTION_BUDGET_CAUSE = "DisruptionBudget"
DELETION_TIMEOUT = 120.0
"""Seconds an eviction's entry in ``status.disruptedPods`` keeps its pod out of ``currentHealthy``."""


def _d(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def selects(pdb: dict[str, Any], pod: dict[str, Any]) -> bool:
    md, pmd = _d(pdb.get("metadata")), _d(pod.get("metadata"))
    if md.get("namespace") != pmd.get("namespace"):
        return False
    try:
        selector = LabelSelector.from_dict(_d(pdb.get("spec")).get("selector"))
    except ValueError:
        return False
    labels = pmd.get("labels")
    return selector.matches(labels if isinstance(labels, dict) else {})


def pod_ready(pod: dict[str, Any]) -> bool:
    for cond in _d(pod.get("status")).get("conditions") or []:
        if isinstance(cond, dict) and cond.get("type") == "Ready":
            return cond.get("status") == "True"
    return False


def scaled_value(value: Any, total: int) -> int:
    """An int as is; ``"N%"`` of ``total`` rounded up. ValueError for anything else."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        text = value[:-1] if value.endswith("%") else value
        if value.endswith("%") and text.isdigit():
            return math.ceil(int(text) * total / 100)
        if text.isdigit():
            return int(text)
    raise ValueError(f"invalid value for IntOrString: invalid value {value!r}")


def set_condition(status: dict[str, Any], condition: dict[str, Any], *, now: str) -> None:
    """``meta.SetStatusCondition``: replace the condition of that type, keeping its transition time when
    the status did not change."""
    conditions = [c for c in status.get("conditions") or [] if isinstance(c, dict)]
    for i, old in enumerate(conditions):
        if old.get("type") == condition["type"]:
            stamp = old.get("lastTransitionTime") if old.get("status") == condition["status"] else now
            conditions[i] = {**condition, "lastTransitionTime": stamp or now}
            break
    else:
        conditions.append({**condition, "lastTransitionTime": now})
    status["conditions"] = conditions


def set_disruption_allowed_condition(status: dict[str, Any], *, now: str) -> None:
    allowed = int(status.get("disruptionsAllowed") or 0) > 0
    set_condition(status, {
        "type": DISRUPTION_ALLOWED, "status": "True" if allowed else "False",
        "reason": SUFFICIENT_PODS if allowed else INSUFFICIENT_PODS, "message": "",
        "observedGeneration": int(status.get("observedGeneration") or 0),
    }, now=now)
