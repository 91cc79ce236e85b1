"""NodeResourcesBalancedAllocation: score = (1 - std of requested/allocatable fractions) * 100 over
``resources`` (default cpu and memory), using actual requests (not the scoring defaults). PreScore
SKIPs pods that request none of the resources."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sampan.scheduler.framework import events as ev
from sampan.scheduler.framework.cycle_state import CycleState
from sampan.scheduler.framework.interface import MAX_NODE_SCORE, Handle
from sampan.scheduler.framework.node_info import MEMO_LIMIT, MemoKeys, NodeInfo
from sampan.scheduler.framework.pod_info import PodInfo
from sampan.scheduler.framework.status import SKIP, Status
from sampan.scheduler.plugins.noderesources.scoring import (
    DEFAULT_RESOURCES,
    ResourceSpec,
    allocatable_and_requested,
    balanced_score,
    parse_resources,
)

BALANCED_NAME = "NodeResourcesBalancedAllocation"


class BalancedAllocation:
    name = BALANCED_NAME

    def __init__(self, resources: tuple[ResourceSpec, ...] = DEFAULT_RESOURCES) -> None:
        self.resources = resources
        self._fast = resources == DEFAULT_RESOURCES
        self._keys = MemoKeys()

    def events_to_register(self) -> list[ev.ClusterEvent]:
        return [
            ev.ClusterEvent(ev.ASSIGNED_POD, ev.ActionType.DELETE | ev.ActionType.ADD),
            ev.ClusterEvent(ev.NODE, ev.ActionType.ADD | ev.ActionType.UPDATE_NODE_ALLOCATABLE),
        ]

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]) -> Status | None:
        if all(pod.requests.get(r.name) == 0 for r in self.resources):
            return SKIP
        return None

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        fractions = []
        for r in self.resources:
            alloc, req = allocatable_and_requested(node, pod, r.name, use_requested=True)
            if alloc:
                fractions.append(req / alloc)
        return balanced_score(fractions)

    def score_nodes(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]) -> list[int]:
        if not self._fast:
            return [self.score(state, pod, n) for n in nodes]
        pc, pm = pod.requests.milli_cpu, pod.requests.memory
        # a node's score depends on its state and the pod's cpu/memory requests only: memoized per node
        key = self._keys.key((pc, pm))
        out: list[int] = []
        for n in nodes:
            memo = n.memo
            score = memo.get(key)
            if score is None:
                ac, am = n.allocatable.milli_cpu, n.allocatable.memory
                if ac and am:
                    fc = (n.requested.milli_cpu + pc) / ac
                    fm = (n.requested.memory + pm) / am
                    fc = 1.0 if fc > 1.0 else fc
                    fm = 1.0 if fm > 1.0 else fm
                    score = int((1 - abs(fc - fm) / 2) * MAX_NODE_SCORE)
                else:
                    score = MAX_NODE_SCORE
                if len(memo) >= MEMO_LIMIT:
                    memo.clear()
                memo[key] = score
            out.append(score)  # type: ignore[arg-type]
        return out


def new_balanced(args: Mapping[str, Any], handle: Handle) -> BalancedAllocation:
    where = "NodeResourcesBalancedAllocation args.resources"
    return BalancedAllocation(parse_resources(args.get("resources"), where=where))
