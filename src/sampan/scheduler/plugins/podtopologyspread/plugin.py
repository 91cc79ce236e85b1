"""PodTopologySpread plugin (see the package docstring). PreFilter SKIPs pods without DoNotSchedule
constraints, PreScore pods without ScheduleAnyway constraints. (Upstream's cluster-level default
constraints for pods owned by services/controllers are not applied yet.)"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sampan.scheduler.framework import events as ev
from sampan.scheduler.framework.cycle_state import CycleState
from sampan.scheduler.framework.interface import Handle, PreFilterExtensions, PreFilterResult
from sampan.scheduler.framework.node_info import NodeInfo
from sampan.scheduler.framework.pod_info import PodInfo
from sampan.scheduler.framework.status import SKIP, Status, unresolvable, unschedulable
from sampan.scheduler.plugins.podtopologyspread import filtering, scoring
from sampan.scheduler.plugins.podtopologyspread.common import MatchCounter

NAME = "PodTopologySpread"
ERR_CONSTRAINTS = "node(s) didn't match pod topology spread constraints"
ERR_NODE_LABEL = ERR_CONSTRAINTS + " (missing required label)"
_FILTER_KEY = "PreFilter" + NAME
_SCORE_KEY = "PreScore" + NAME


class PodTopologySpread:
    name = NAME

    def __init__(self, handle: Handle) -> None:
        self._handle = handle
        self._counter = MatchCounter()

    def events_to_register(self) -> list[ev.ClusterEvent]:
        return [
            ev.ClusterEvent(ev.ASSIGNED_POD, ev.ActionType.ALL),
            ev.ClusterEvent(ev.NODE, ev.ActionType.ADD | ev.ActionType.DELETE | ev.ActionType.UPDATE_NODE_LABEL
                            | ev.ActionType.UPDATE_NODE_TAINT),
        ]

    def pre_filter(
        self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]
    ) -> tuple[PreFilterResult | None, Status | None]:
        hard = tuple(c for c in pod.spread_constraints if c.when_unsatisfiable == "DoNotSchedule")
        if not hard:
            return None, SKIP
        state.write(_FILTER_KEY, filtering.build_filter_state(pod, hard, nodes, self._counter))
        return None, None

    def pre_filter_extensions(self) -> PreFilterExtensions | None:
        return self

    def add_pod(self, state: CycleState, pod: PodInfo, to_add: PodInfo, node: NodeInfo) -> Status | None:
        st: filtering.FilterState = state.read(_FILTER_KEY)
        st.update_with_pod(pod, to_add, node, 1)
        return None

    def remove_pod(self, state: CycleState, pod: PodInfo, to_remove: PodInfo, node: NodeInfo) -> Status | None:
        st: filtering.FilterState = state.read(_FILTER_KEY)
        st.update_with_pod(pod, to_remove, node, -1)
        return None

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        has_keys, ok = filtering.check(state.read(_FILTER_KEY), pod, node)
        if not has_keys:
            return unresolvable(ERR_NODE_LABEL)
        return None if ok else unschedulable(ERR_CONSTRAINTS)

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]) -> Status | None:
        soft = tuple(c for c in pod.spread_constraints if c.when_unsatisfiable == "ScheduleAnyway")
        if not soft:
            return SKIP
        state.write(_SCORE_KEY, scoring.build_score_state(
            pod, soft, feasible=nodes, all_nodes=self._handle.snapshot.node_infos, counter=self._counter))
        return None

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        return scoring.node_score(state.read(_SCORE_KEY), pod, node)

    def normalize_scores(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo], scores: list[int]) -> None:
        scoring.normalize(state.read(_SCORE_KEY), nodes, scores)


def new(args: Mapping[str, Any], handle: Handle) -> PodTopologySpread:
    return PodTopologySpread(handle)
