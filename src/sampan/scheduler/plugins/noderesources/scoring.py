"""Pure scoring helpers for the node-resources plugins (upstream's resource allocation scorers).

``requested``/``allocatable`` are per-resource integers in the units of ``Resource``; a resource whose
allocatable is 0 is left out of the weighted mean.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sampan.scheduler.framework.interface import MAX_NODE_SCORE
from sampan.scheduler.framework.node_info import NodeInfo
from sampan.scheduler.framework.pod_info import PodInfo
from sampan.scheduler.framework.resources import CPU, MEMORY

LEAST_ALLOCATED = "LeastAllocated"
MOST_ALLOCATED = "MostAllocated"


@dataclass(frozen=True, slots=True)
class ResourceSpec:
    name: str
    weight: int


DEFAULT_RESOURCES = (ResourceSpec(CPU, 1), ResourceSpec(MEMORY, 1))


def parse_resources(raw: Any, *, where: str) -> tuple[ResourceSpec, ...]:
    if raw is None:
        return DEFAULT_RESOURCES
    if not isinstance(raw, list) or not raw:
        raise ValueError(f"{where}: must be a non-empty list")
    out = []
    for i, r in enumerate(raw):
        if not isinstance(r, dict) or not isinstance(r.get("name"), str):
            raise ValueError(f"{where}[{i}].name: Required value")
        w = r.get("weight", 1)
        if not isinstance(w, int) or not 1 <= w <= 100:
            raise ValueError(f"{where}[{i}].weight: must be in the range [1, 100]")
        out.append(ResourceSpec(r["name"], w))
    return tuple(out)


def least_requested_score(requested: int, capacity: int) -> int:
    if capacity == 0 or requested > capacity:
        return 0
    return (capacity - requested) * MAX_NODE_SCORE // capacity


def most_requested_score(requested: int, capacity: int) -> int:
    if capacity == 0:
        return 0
    return min(requested, capacity) * MAX_NODE_SCORE // capacity


def allocatable_and_requested(
    node: NodeInfo, pod: PodInfo, resource: str, *, use_requested: bool
) -> tuple[int, int]:
    """(allocatable, requested including the pod) for one resource. cpu/memory use the scoring
    (non-zero) requests unless ``use_requested``; an extended resource the pod does not ask for gives
    (0, 0) and so drops out."""
    if resource == CPU:
        if use_requested:
            return node.allocatable.milli_cpu, node.requested.milli_cpu + pod.requests.milli_cpu
        return node.allocatable.milli_cpu, node.non_zero_cpu + pod.non_zero_cpu
    if resource == MEMORY:
        if use_requested:
            return node.allocatable.memory, node.requested.memory + pod.requests.memory
        return node.allocatable.memory, node.non_zero_memory + pod.non_zero_memory
    want = pod.requests.get(resource)
    if want == 0 and resource not in ("ephemeral-storage", "pods"):
        return 0, 0
    return node.allocatable.get(resource), node.requested.get(resource) + want


def weighted_score(
    node: NodeInfo, pod: PodInfo, resources: Sequence[ResourceSpec], *, most: bool
) -> int:
    total = weights = 0
    fn = most_requested_score if most else least_requested_score
    for r in resources:
        alloc, req = allocatable_and_requested(node, pod, r.name, use_requested=False)
        if alloc == 0:
            continue
        total += fn(req, alloc) * r.weight
        weights += r.weight
    return total // weights if weights else 0


def balanced_score(fractions: Sequence[float]) -> int:
    """(1 - standard deviation of the utilisation fractions) * 100; each fraction capped at 1."""
    fr = [min(f, 1.0) for f in fractions]
    if len(fr) == 2:
        std = abs(fr[0] - fr[1]) / 2
    elif len(fr) > 2:
        mean = sum(fr) / len(fr)
        std = math.sqrt(sum((f - mean) ** 2 for f in fr) / len(fr))
    else:
        std = 0.0
    return int((1 - std) * MAX_NODE_SCORE)
