"""TaintToleration (see the package docstring)."""

from __future__ import annotations

import operator
from collections.abc import Mapping, Sequence
from typing import Any

from sampan.scheduler.framework import events as ev
from sampan.scheduler.framework.cycle_state import CycleState
from sampan.scheduler.framework.interface import Handle
from sampan.scheduler.framework.node_info import NodeInfo
from sampan.scheduler.framework.normalize import default_normalize_score
from sampan.scheduler.framework.pod_info import PodInfo
from sampan.scheduler.framework.status import SKIP, Status, unresolvable
from sampan.scheduler.framework.taints import NO_EXECUTE, NO_SCHEDULE, PREFER_NO_SCHEDULE, first_untolerated, tolerated

NAME = "TaintToleration"
_DO_NOT_SCHEDULE = frozenset({NO_SCHEDULE, NO_EXECUTE})
_STATE_KEY = "PreScore" + NAME
_PREFER_TAINTS = operator.attrgetter("prefer_no_schedule_taints")


class TaintToleration:
    name = NAME

    def events_to_register(self) -> list[ev.ClusterEvent]:
        return [
            ev.ClusterEvent(ev.NODE, ev.ActionType.ADD | ev.ActionType.UPDATE_NODE_TAINT),
            ev.ClusterEvent(ev.POD, ev.ActionType.UPDATE_POD_OTHER),
        ]

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        if not node.taints:
            return None
        taint = first_untolerated(node.taints, pod.tolerations, effects=_DO_NOT_SCHEDULE)
        if taint is None:
            return None
        return unresolvable(f"node(s) had untolerated taint {{{taint.key}: {taint.value}}}")

    def filter_nodes(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]) -> list[tuple[int, Status]]:
        out = []
        for i, n in enumerate(nodes):
            if n.taints:
                st = self.filter(state, pod, n)
                if st is not None:
                    out.append((i, st))
        return out

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]) -> Status | None:
        if not any(map(_PREFER_TAINTS, nodes)):
            return SKIP
        state.write(_STATE_KEY, tuple(t for t in pod.tolerations if t.effect in ("", PREFER_NO_SCHEDULE)))
        return None

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        tolerations = state.read(_STATE_KEY)
        return sum(1 for t in node.prefer_no_schedule_taints if not tolerated(t, tolerations))

    def normalize_scores(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo], scores: list[int]) -> None:
        default_normalize_score(scores, reverse=True)


def new(args: Mapping[str, Any], handle: Handle) -> TaintToleration:
    return TaintToleration()
