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


def pod_request(pod: dict[str, Any], resource: str, container: str | None = None) -> float | None:
    """Sum of the containers' requests of ``resource`` (millicores / bytes); None if any container has none.
    With ``container``: that container's request only (None when the pod has no such container)."""
    total = 0.0
    containers = [c for c in (pod.get("spec") or {}).get("containers") or []
                  if container is None or c.get("name") == container]
    if not containers:
        return None
    for c in containers:
        req = ((c.get("resources") or {}).get("requests") or {}).get(resource)
        if req is None:
            return None
        total += _usage_units(resource, str(req))
    return total


def pod_usage(metrics: dict[str, Any], resource: str, container: str | None = None) -> float:
    return sum(_usage_units(resource, str((c.get("usage") or {}).get(resource, "0")))
               for c in metrics.get("containers") or [] if container is None or c.get("name") == container)


def has_container(metrics: dict[str, Any], container: str) -> bool:
    return any(c.get("name") == container for c in metrics.get("containers") or [])


def _ready(pod: dict[str, Any]) -> bool:
    conds = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conds)


def _live(pods: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [p for p in pods if not (p.get("metadata") or {}).get("deletionTimestamp")
            and (p.get("status") or {}).get("phase") not in ("Failed", "Succeeded")]


def calculate(*, current: int, pods: list[dict[str, Any]], metrics: dict[str, dict[str, Any]], resource: str,
              target_utilization: int | None, target_average: float | None, tolerance: float,
              container: str | None = None, reason: str = "FailedGetResourceMetric") -> Recommendation:
    """The replica count for one resource metric (of one ``container`` of each pod: ContainerResource).
    ``metrics`` maps pod name -> PodMetrics."""
    live = _live(pods)
    if not live:
        raise MetricsError(reason, "no pods matched the scale target's selector")
    measured = {}
    missing, unready = [], []
    for pod in live:
        name = pod["metadata"]["name"]
        if name not in metrics or (container is not None and not has_container(metrics[name], container)):
            missing.append(pod)
        elif not _ready(pod) and resource == "cpu":
            unready.append(pod)
        else:
            measured[name] = pod_usage(metrics[name], resource, container)
    if not measured:
        raise MetricsError(reason, "did not receive metrics for targeted pods (pods might be unready)")
    requests: dict[str, float] = {}
    if target_utilization is not None:
        for pod in live:
            req = pod_request(pod, resource, container)
            if req is None or req <= 0:
                raise MetricsError(reason,
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


def calculate_plain(*, current: int, pods: list[dict[str, Any]], values: dict[str, float], target_average: float,
                    tolerance: float, reason: str = "FailedGetPodsMetric") -> Recommendation:
    """Upstream's ``calcPlainMetricReplicas`` for a Pods metric: ``values`` maps pod name -> value (milli
    units), the target is a per-pod average; readiness does not matter, missing pods are filled in
    pessimistically as for resources."""
    live = _live(pods)
    measured = {p["metadata"]["name"]: values[p["metadata"]["name"]] for p in live if p["metadata"]["name"] in values}
    if not measured:
        raise MetricsError(reason, "did not receive metrics for targeted pods (pods might be unready)")
    missing = [p["metadata"]["name"] for p in live if p["metadata"]["name"] not in measured]
    average = sum(measured.values()) / len(measured)
    ratio = average / target_average
    if not missing:
        if abs(ratio - 1.0) <= tolerance:
            return Recommendation(current, None, average)
        return Recommendation(math.ceil(ratio * len(measured)), None, average)
    usage = dict(measured)
    for name in missing:
        usage[name] = target_average if ratio < 1.0 else 0.0
    new_ratio = (sum(usage.values()) / len(usage)) / target_average
    if abs(new_ratio - 1.0) <= tolerance or (new_ratio < 1.0) != (ratio < 1.0):
        return Recommendation(current, None, average)
    desired = math.ceil(new_ratio * len(usage))
    if (new_ratio > 1.0 and desired < current) or (new_ratio < 1.0 and desired > current):
        return Recommendation(current, None, average)
    return Recommendation(desired, None, average)


def ready_pod_count(pods: list[dict[str, Any]]) -> int:
    """Pods Running and Ready (upstream's ``getReadyPodsCount``)."""
    return sum(1 for p in pods if (p.get("status") or {}).get("phase") == "Running" and _ready(p))


def replicas_for_ratio(*, current: int, ratio: float, ready_pods: int, tolerance: float) -> int:
    """Upstream's ``getUsageRatioReplicaCount`` (Object and External ``Value`` targets): unchanged within
    tolerance, else ``ceil(ratio * ready pods)``; from zero replicas, ``ceil(ratio)``."""
    if current == 0:
        return math.ceil(ratio)
    if abs(1.0 - ratio) <= tolerance:
        return current
    return math.ceil(ratio * ready_pods)


def replicas_for_total(*, current: int, total: float, target_average: float, tolerance: float) -> int:
    """Object and External ``AverageValue`` targets (upstream's ``Get*PerPodMetricReplicas``): the total over
    the per-pod target, unless ``total / (target * current)`` is within tolerance."""
    if current and abs(1.0 - total / (target_average * current)) <= tolerance:
        return current
    return math.ceil(total / target_average)
