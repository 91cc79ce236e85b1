"""What one DaemonSet sync should do, as pure functions over the cached nodes and pods.

``plan_manage`` is upstream's ``manage``/``podsShouldBeOnNode``: a node that should run a daemon pod and
has none gets one; failed pods are replaced; duplicates are deleted (the oldest is kept, or with maxSurge
the oldest updated and the oldest old one); pods on nodes that should not keep them, or on nodes that no
longer exist, are deleted.

``plan_rolling_update`` is upstream's ``rollingUpdate``. Without surge: old pods are deleted, node by node,
while fewer than ``maxUnavailable`` eligible nodes lack an available pod (a node without any pod counts as
unavailable, so the budget holds between the delete and the replacement); old pods that are not available
anyway are always replaced. With surge: a new pod is started next to an old one on up to ``maxSurge``
nodes (at once where the old pod is not available) and the old pod is deleted once the new one is
available.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sampan.controllers.deployment.scaling import scaled_value
from sampan.controllers.pods import parse_time, phase

Pod = dict[str, Any]


@dataclass
class Plan:
    create_on: list[str] = field(default_factory=list)
    """Node names that get a new (current-template) pod."""
    delete: list[Pod] = field(default_factory=list)
    failed: list[Pod] = field(default_factory=list)
    """Failed pods among ``delete`` (upstream reports them with a ``FailedDaemonPod`` warning)."""

    def empty(self) -> bool:
        return not self.create_on and not self.delete


@dataclass(frozen=True)
class NodeState:
    name: str
    should_run: bool
    should_keep: bool
    pods: list[Pod]
    """Live (not terminating) daemon pods targeting this node, oldest first."""


def _created(pod: Pod) -> tuple[float, str]:
    md = pod.get("metadata") or {}
    return parse_time(md.get("creationTimestamp")) or 0.0, str(md.get("name", ""))


def oldest_first(pods: list[Pod]) -> list[Pod]:
    return sorted(pods, key=_created)


def surge_budget(strategy: Mapping[str, Any], desired: int) -> tuple[int, int]:
    """(maxSurge, maxUnavailable) as pod counts for ``desired`` nodes; at least one may be unavailable
    when both resolve to 0 (upstream)."""
    if strategy.get("type") != "RollingUpdate":
        return 0, 1
    rolling = strategy.get("rollingUpdate") or {}
    surge = scaled_value(rolling.get("maxSurge", 0), desired, round_up=True)
    unavailable = scaled_value(rolling.get("maxUnavailable", 1), desired, round_up=True)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def plan_manage(nodes: list[NodeState], strays: list[Pod], *, updated: Callable[[Pod], bool], surge: bool) -> Plan:
    plan = Plan(delete=list(strays))
    for node in nodes:
        failed = [p for p in node.pods if phase(p) == "Failed"]
        running = [p for p in node.pods if phase(p) != "Failed"]
        if not node.should_keep:
            plan.delete += node.pods
            continue
        plan.delete += failed
        plan.failed += failed
        if not running:
            if node.should_run:
                plan.create_on.append(node.name)
            continue
        if surge:
            new = [p for p in running if updated(p)]
            old = [p for p in running if not updated(p)]
            plan.delete += new[1:] + old[1:]
        else:
            plan.delete += running[1:]
    return plan


def plan_rolling_update(nodes: list[NodeState], *, updated: Callable[[Pod], bool],
                        available: Callable[[Pod], bool], max_surge: int, max_unavailable: int) -> Plan:
    plan = Plan()
    if max_surge == 0:
        unavailable = 0
        candidates: list[Pod] = []
        for node in nodes:
            if not node.should_keep:
                continue
            if not node.pods:
                unavailable += node.should_run
                continue
            new = [p for p in node.pods if updated(p)]
            old = [p for p in node.pods if not updated(p)]
            if new and old:
                continue
            if new:
                unavailable += not available(new[0])
            elif not available(old[0]):
                plan.delete.append(old[0])
            else:
                candidates.append(old[0])
        plan.delete += candidates[: max(0, max_unavailable - unavailable)]
        return plan
    surging = 0
    wants_surge: list[str] = []
    for node in nodes:
        if not node.should_keep:
            continue
        new = [p for p in node.pods if updated(p)]
        old = [p for p in node.pods if not updated(p)]
        if new and old:
            surging += 1
            if available(new[0]):
                plan.delete += old
        elif old:
            if not available(old[0]):
                plan.create_on.append(node.name)
                surging += 1
            else:
                wants_surge.append(node.name)
    plan.create_on += wants_surge[: max(0, max_surge - surging)]
    return plan
