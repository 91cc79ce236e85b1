"""NodePorts (see the package docstring). PreFilter SKIPs pods without host ports."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sampan.scheduler.framework import events as ev
from sampan.scheduler.framework.cycle_state import CycleState
from sampan.scheduler.framework.interface import Handle, PreFilterExtensions, PreFilterResult
from sampan.scheduler.framework.node_info import NodeInfo
from sampan.scheduler.framework.pod_info import PodInfo
from sampan.scheduler.framework.status import SKIP, Status, unschedulable

NAME = "NodePorts"
ERR_REASON = "node(s) didn't have free ports for the requested pod ports"
_REJECT = unschedulable(ERR_REASON)


class NodePorts:
    name = NAME

    def events_to_register(self) -> list[ev.ClusterEvent]:
        return [
            ev.ClusterEvent(ev.ASSIGNED_POD, ev.ActionType.DELETE),
            ev.ClusterEvent(ev.NODE, ev.ActionType.ADD | ev.ActionType.UPDATE),
        ]

    def pre_filter(
        self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]
    ) -> tuple[PreFilterResult | None, Status | None]:
        return None, (None if pod.host_ports else SKIP)

    def pre_filter_extensions(self) -> PreFilterExtensions | None:
        return None

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        if not node.used_ports:
            return None
        for hp in pod.host_ports:
            if node.port_conflict(hp.ip, hp.protocol, hp.port):
                return _REJECT
        return None


def new(args: Mapping[str, Any], handle: Handle) -> NodePorts:
    return NodePorts()
