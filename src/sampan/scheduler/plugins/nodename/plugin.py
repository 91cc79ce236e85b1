"""NodeName (see the package docstring)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sampan.scheduler.framework import events as ev
from sampan.scheduler.framework.cycle_state import CycleState
from sampan.scheduler.framework.interface import Handle, PreFilterExtensions, PreFilterResult
from sampan.scheduler.framework.node_info import NodeInfo
from sampan.scheduler.framework.pod_info import PodInfo
from sampan.scheduler.framework.status import SKIP, Status, unresolvable

NAME = "NodeName"
ERR_REASON = "node(s) didn't match the requested node name"
_REJECT = unresolvable(ERR_REASON)


class NodeName:
    name = NAME

    def events_to_register(self) -> list[ev.ClusterEvent]:
        return [ev.ClusterEvent(ev.NODE, ev.ActionType.ADD | ev.ActionType.UPDATE)]

    def pre_filter(
        self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]
    ) -> tuple[PreFilterResult | None, Status | None]:
        if not pod.node_name:
            return None, SKIP
        return PreFilterResult(frozenset({pod.node_name})), None

    def pre_filter_extensions(self) -> PreFilterExtensions | None:
        return None

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        if pod.node_name and pod.node_name != node.name:
            return _REJECT
        return None


def new(args: Mapping[str, Any], handle: Handle) -> NodeName:
    return NodeName()
