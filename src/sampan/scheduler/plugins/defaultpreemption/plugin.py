"""DefaultPreemption plugin (see the package docstring).

Messages, as upstream: "not eligible due to preemptionPolicy=Never."; otherwise a FitError over the
nodes' preemption statuses, e.g. "0/3 nodes are available: 1 No preemption victims found for incoming
pod, 2 Preemption is not helpful for scheduling." — the framework prefixes "preemption: ".
Args: ``minCandidateNodesPercentage`` (10) and ``minCandidateNodesAbsolute`` (100) bound how many
candidates are evaluated once some are found.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sampan.scheduler.framework.cycle_state import CycleState
from sampan.scheduler.framework.fit_error import Diagnosis, fit_message
from sampan.scheduler.framework.interface import Handle, NodeToStatus, PostFilterResult
from sampan.scheduler.framework.pod_info import PodInfo
from sampan.scheduler.framework.status import Code, Status, unresolvable
from sampan.scheduler.framework.steps import Steps, run_to_end
from sampan.scheduler.plugins.defaultpreemption.preemption import (
    NOT_HELPFUL,
    Candidate,
    pick_one_node,
    select_victims_on_node,
)

NAME = "DefaultPreemption"


class DefaultPreemption:
    name = NAME

    def __init__(self, handle: Handle, *, min_percentage: int = 10, min_absolute: int = 100) -> None:
        self._handle = handle
        self.min_percentage = min_percentage
        self.min_absolute = min_absolute

    def _ineligible(self, pod: PodInfo) -> str:
        if pod.preemption_policy == "Never":
            return "not eligible due to preemptionPolicy=Never."
        if pod.nominated_node_name:
            node = self._handle.snapshot.get(pod.nominated_node_name)
            if node is not None and any(p.priority < pod.priority and p.terminating for p in node.pods):
                return "not eligible due to a terminating pod on the nominated node."
        return ""

    def post_filter(
        self, state: CycleState, pod: PodInfo, statuses: NodeToStatus
    ) -> tuple[PostFilterResult | None, Status | None]:
        return run_to_end(self.post_filter_steps(state, pod, statuses))

    def post_filter_steps(
        self, state: CycleState, pod: PodInfo, statuses: NodeToStatus
    ) -> Steps[tuple[PostFilterResult | None, Status | None]]:
        """PostFilter with a safe point after each node's dry run (framework/steps.py): a dry run works
        on clones of the cycle's snapshot NodeInfo and CycleState, which no event changes during a yield."""
        why = self._ineligible(pod)
        if why:
            return None, Status(Code.UNSCHEDULABLE, "preemption: " + why)
        nodes = self._handle.snapshot.node_infos
        result: NodeToStatus = {}
        potential = []
        for n in nodes:
            st = statuses.get(n.name)
            if st is not None and st.code == Code.UNSCHEDULABLE:
                potential.append(n)
            else:
                result[n.name] = unresolvable(NOT_HELPFUL)
        wanted = max(len(potential) * self.min_percentage // 100, self.min_absolute)
        candidates: list[Candidate] = []
        for n in potential:
            victims, st = select_victims_on_node(self._handle, state.clone(), pod, n.clone())
            if st is None and victims:
                candidates.append(Candidate(n.name, victims))
                if len(candidates) >= wanted:
                    break
            else:
                result[n.name] = st if st is not None else unresolvable("expected at least one victim pod")
            yield
        best = pick_one_node(candidates)
        if best is None:
            msg = fit_message(len(result), Diagnosis(node_to_status=result))
            return PostFilterResult(""), Status(Code.UNSCHEDULABLE, "preemption: " + msg)
        return PostFilterResult(best.node_name, best.victims), None


def new(args: Mapping[str, Any], handle: Handle) -> DefaultPreemption:
    pct = args.get("minCandidateNodesPercentage", 10)
    absolute = args.get("minCandidateNodesAbsolute", 100)
    if not isinstance(pct, int) or not 0 <= pct <= 100:
        raise ValueError("DefaultPreemption args.minCandidateNodesPercentage: must be in the range [0, 100]")
    if not isinstance(absolute, int) or absolute < 0:
        raise ValueError("DefaultPreemption args.minCandidateNodesAbsolute: must be >= 0")
    return DefaultPreemption(handle, min_percentage=pct, min_absolute=absolute)
