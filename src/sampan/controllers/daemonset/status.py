"""A DaemonSet's status counters, as upstream's ``updateDaemonSetStatus`` computes them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sampan.controllers.daemonset.plan import NodeState
from sampan.controllers.pods import is_ready


def daemonset_status(ds: dict[str, Any], nodes: list[NodeState], *, updated: Callable[[dict[str, Any]], bool],
                     available: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """desired: nodes that should run a pod; current: of those, nodes with one; misscheduled: nodes with a
    pod that should not run one; ready/available/updated: nodes (that should run one) whose pods include a
    ready/available/updated one; numberUnavailable = desired - available."""
    desired = current = mis = ready = avail = upd = 0
    for node in nodes:
        if not node.should_run:
            if node.pods:
                mis += 1
            continue
        desired += 1
        if not node.pods:
            continue
        current += 1
        ready += any(is_ready(p) for p in node.pods)
        avail += any(available(p) for p in node.pods)
        upd += any(updated(p) for p in node.pods)
    status: dict[str, Any] = {
        "desiredNumberScheduled": desired, "currentNumberScheduled": current, "numberMisscheduled": mis,
        "numberReady": ready, "numberAvailable": avail, "updatedNumberScheduled": upd,
        "numberUnavailable": desired - avail,
        "observedGeneration": ds["metadata"].get("generation"),
    }
    return {k: v for k, v in status.items() if v is not None}
