"""NodeUnschedulable (see the package docstring)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sampan.scheduler.framework import events as ev
from sampan.scheduler.framework.cycle_state import CycleState
from sampan.scheduler.framework.interface import Handle
from sampan.scheduler.framework.node_info import NodeInfo
from sampan.scheduler.framework.pod_info import PodInfo
from sampan.scheduler.framework.status import Status, unresolvable
from sampan.scheduler.framework.taints import NO_SCHEDULE, UNSCHEDULABLE_TAINT_KEY, Taint, tolerated

NAME = "NodeUnschedulable"
ERR_REASON = "node(s) were unschedulable"
_REJECT = unresolvable(ERR_REASON)
_TAINT = Taint(UNSCHEDULABLE_TAINT_KEY, "", NO_SCHEDULE)


class NodeUnschedulable:
    name = NAME

    def events_to_register(self) -> list[ev.ClusterEvent]:
        return [ev.ClusterEvent(ev.NODE, ev.ActionType.ADD | ev.ActionType.UPDATE_NODE_TAINT)]

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        if node.unschedulable and not tolerated(_TAINT, pod.tolerations):
            return _REJECT
        return None

    def filter_nodes(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]) -> list[tuple[int, Status]]:
        if tolerated(_TAINT, pod.tolerations):
            return []
        return [(i, _REJECT) for i, n in enumerate(nodes) if n.unschedulable]


def new(args: Mapping[str, Any], handle: Handle) -> NodeUnschedulable:
    return NodeUnschedulable()
