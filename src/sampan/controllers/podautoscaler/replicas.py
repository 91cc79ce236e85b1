"""Upstream's replica calculator for resource metrics, as pure functions.

For a ``Utilization`` target: each pod's usage over the sum of its containers' requests; the ratio of
the pods' mean utilization to the target decides. For an ``AverageValue`` target: the pods' mean usage
over the target. Within ``tolerance`` (10%) of the target nothing changes. Pods without metrics count
as using nothing when scaling up and everything they request (the target) when scaling down, and pods
not yet Ready are left out when scaling up - upstream's rules that keep a scale from overshooting on
pods that just started. The result is ``ceil(ratio * pods counted)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from sampan.api.quantity import Quantity


class MetricsError(Exception):
    """No usable metric (no requests set, no metrics at all): the HPA reports ScalingActive False."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True, slots=True)
class Recommendation:
    replicas: int
    utilization: int | None
    """Mean utilization in percent of requests (Utilization targets)."""
    average_value: float
    """Mean usage per pod (millicores for cpu, bytes for memory)."""


def _usage_units(resource: str, quantity: str) -> float:
    value = float(Quantity.parse(quantity))
    return value * 1000 if resource == "cpu" else value


def pod_request(pod: dict[str, Any], resource: str) -> float | None:
    """Sum of the containers' requests of ``resource`` (millicores / bytes); None if any container has none."""
    total = 0.0
    for c in (pod.get("spec") or {}).get("containers") or []:
        req = ((c.get("resources") or {}).get("requests") or {}).get(resource)
        if req is None:
            return None
        total += _usage_units(resource, str(req))
    return total


def pod_usage(metrics: dict[str, Any], resource: str) -> float:
    return sum(_usage_units(resource, str((c.get("usage") or {}).get(resource, "0")))
               for c in metrics.get("containers") or [])


def _ready(pod: dict[str, Any]) -> bool:
    conds = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conds)


def calculate(*, current: int, pods: list[dict[str, Any]], metrics: dict[str, dict[str, Any]], resource: str,
              target_utilization: int | None, target_average: float | None, tolerance: float) -> Recommendation:
    """The replica count for one resource metric. ``metrics`` maps pod name -> PodMetrics."""
    live = [p for p in pods if not (p.get("metadata") or {}).get("deletionTimestamp")
            and (p.get("status") or {}).get("phase") not in ("Failed", "Succeeded")]
    if not live:
        raise MetricsError("FailedGetResourceMetric", "no pods matched the scale target's selector")
    measured = {}
    missing, unready = [], []
    for pod in live:
        name = pod["metadata"]["name"]
        if name not in metrics:
            missing.append(pod)
        elif not _ready(pod):
            unready.append(pod)
        else:
            measured[name] = pod_usage(metrics[name], resource)
    if not measured:
        raise MetricsError("FailedGetResourceMetric",
                           "did not receive metrics for targeted pods (pods might be unready)")
    requests: dict[str, float] = {}
    if target_utilization is not None:
        for pod in live:
            req = pod_request(pod, resource)
            if req is None or req <= 0:
                raise MetricsError("FailedGetResourceMetric",
                                   f"failed to get {resource} utilization: missing request for {resource} "
                                   f"in container of pod {pod['metadata']['name']}")
            requests[pod["metadata"]["name"]] = req

    def ratio_of(usage: dict[str, float]) -> float:
        if target_utilization is not None:
            util = sum(usage.values()) * 100 / sum(requests[n] for n in usage)
            return util / target_utilization
        assert target_average is not None
        return (sum(usage.values()) / len(usage)) / target_average

    ratio = ratio_of(measured)
    average = sum(measured.values()) / len(measured)
    utilization = (round(sum(measured.values()) * 100 / sum(requests[n] for n in measured))
                   if target_utilization is not None else None)
    if not missing and not unready:
        if abs(ratio - 1.0) <= tolerance:
            return Recommendation(current, utilization, average)
        return Recommendation(math.ceil(ratio * len(measured)), utilization, average)
    # upstream: fill the gaps pessimistically for the direction of the change, then re-check
    usage = dict(measured)
    if ratio < 1.0:
        for pod in missing:
            name = pod["metadata"]["name"]
            usage[name] = (requests[name] * target_utilization / 100 if target_utilization is not None
                           else float(target_average or 0.0))
    elif ratio > 1.0:
        for pod in [*missing, *unready]:
            usage[pod["metadata"]["name"]] = 0.0
    new_ratio = ratio_of(usage)
    if abs(new_ratio - 1.0) <= tolerance or (new_ratio < 1.0) != (ratio < 1.0):
        return Recommendation(current, utilization, average)
    desired = math.ceil(new_ratio * len(usage))
    if (new_ratio > 1.0 and desired < current) or (new_ratio < 1.0 and desired > current):
        return Recommendation(current, utilization, average)
    return Recommendation(desired, utilization, average)
