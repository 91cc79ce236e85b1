"""``spec.behavior``: stabilization windows and scaling policies (upstream's normalization with behaviors).

State per HPA is in :class:`History` (kept by the controller, lost on restart as upstream's is):
the recent recommendations (for the stabilization windows) and the recent scale events (for the
policies' periods).

* Stabilization: a scale up goes only as far as the *lowest* recommendation of the scale-up window, a
  scale down only as far as the *highest* of the scale-down window (default 300 s, the controller
  manager's ``--horizontal-pod-autoscaler-downscale-stabilization``; scale up 0 s).
* Policies: each limits the change within its ``periodSeconds`` relative to the replicas at the start of
  that period (``Pods`` adds/removes a count, ``Percent`` a share); ``selectPolicy`` Max takes the policy
  allowing the largest change, Min the smallest, Disabled none. Defaults as upstream: up = max(4 pods,
  100%) per 15 s; down = 100% per 15 s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

DEFAULT_UP = {"stabilizationWindowSeconds": 0, "selectPolicy": "Max",
              "policies": [{"type": "Pods", "value": 4, "periodSeconds": 15},
                           {"type": "Percent", "value": 100, "periodSeconds": 15}]}
DEFAULT_DOWN_POLICIES = [{"type": "Percent", "value": 100, "periodSeconds": 15}]


@dataclass(slots=True)
class History:
    recommendations: list[tuple[float, int]] = field(default_factory=list)
    events: list[tuple[float, int]] = field(default_factory=list)
    """(time, replica change) of each scale this controller made."""


def rules(behavior: dict[str, Any] | None, *, default_down_window: float) -> tuple[dict[str, Any], dict[str, Any]]:
    """(scaleUp, scaleDown) with upstream's defaults filled in."""
    behavior = behavior or {}
    up = {**DEFAULT_UP, **(behavior.get("scaleUp") or {})}
    down = {"stabilizationWindowSeconds": default_down_window, "selectPolicy": "Max",
            "policies": DEFAULT_DOWN_POLICIES, **(behavior.get("scaleDown") or {})}
    return up, down


def stabilize(history: History, *, now: float, current: int, desired: int, up: dict[str, Any],
              down: dict[str, Any]) -> int:
    up_cut = now - float(up.get("stabilizationWindowSeconds") or 0)
    down_cut = now - float(down.get("stabilizationWindowSeconds") or 0)
    up_rec = down_rec = desired
    for at, rec in history.recommendations:
        if at > up_cut:
            up_rec = min(up_rec, rec)
        if at > down_cut:
            down_rec = max(down_rec, rec)
    history.recommendations.append((now, desired))
    keep = min(up_cut, down_cut)
    history.recommendations[:] = [(at, r) for at, r in history.recommendations if at > keep]
    result = current
    result = max(result, up_rec)
    return min(result, down_rec)


def _changes(history: History, *, now: float, period: float) -> tuple[int, int]:
    added = sum(c for at, c in history.events if at > now - period and c > 0)
    removed = -sum(c for at, c in history.events if at > now - period and c < 0)
    return added, removed


def limit(history: History, *, now: float, current: int, desired: int, min_replicas: int, max_replicas: int,
          up: dict[str, Any], down: dict[str, Any]) -> tuple[int, str]:
    """``desired`` bounded by the policies and min/max; with the ScalingLimited reason when bounded."""
    if desired > current:
        rule = up
        if rule.get("selectPolicy") == "Disabled":
            return current, "ScaleUpDisabled"
        limits = []
        for p in rule.get("policies") or []:
            added, removed = _changes(history, now=now, period=float(p.get("periodSeconds") or 15))
            start = current - added + removed
            value = int(p.get("value") or 0)
            limits.append(start + value if p.get("type") == "Pods" else math.ceil(start * (1 + value / 100)))
        bound = (max(limits) if rule.get("selectPolicy", "Max") == "Max" else min(limits)) if limits else desired
        if bound < desired and bound < max_replicas:
            return max(bound, current), "ScaleUpLimit"
        if desired > max_replicas:
            return max_replicas, "TooManyReplicas"
        return desired, ""
    if desired < current:
        rule = down
        if rule.get("selectPolicy") == "Disabled":
            return current, "ScaleDownDisabled"
        limits = []
        for p in rule.get("policies") or []:
            added, removed = _changes(history, now=now, period=float(p.get("periodSeconds") or 15))
            start = current - added + removed
            value = int(p.get("value") or 0)
            limits.append(start - value if p.get("type") == "Pods" else math.floor(start * (1 - value / 100)))
        bound = (min(limits) if rule.get("selectPolicy", "Max") == "Max" else max(limits)) if limits else desired
        if bound > desired and bound > min_replicas:
            return min(bound, current), "ScaleDownLimit"
        if desired < min_replicas:
            return min_replicas, "TooFewReplicas"
        return desired, ""
    if desired > max_replicas:
        return max_replicas, "TooManyReplicas"
    if desired < min_replicas:
        return min_replicas, "TooFewReplicas"
    return desired, ""


def record_scale(history: History, *, now: float, change: int, longest_period: float = 1800.0) -> None:
    history.events.append((now, change))
    history.events[:] = [(at, c) for at, c in history.events if at > now - longest_period]
