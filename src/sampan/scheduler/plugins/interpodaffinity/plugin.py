"""InterPodAffinity plugin (see the package docstring). Args: ``hardPodAffinityWeight`` (default 1,
0..100). PreFilter SKIPs when neither the pod nor any existing pod has required terms; PreScore SKIPs
when no term anywhere produces a score."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sampan.scheduler.framework import events as ev
from sampan.scheduler.framework.cycle_state import CycleState
from sampan.scheduler.framework.interface import Handle, PreFilterExtensions, PreFilterResult
from sampan.scheduler.framework.node_info import NodeInfo
from sampan.scheduler.framework.pod_info import PodInfo
from sampan.scheduler.framework.status import SKIP, Status, unresolvable, unschedulable
from sampan.scheduler.framework.steps import Steps, run_to_end
from sampan.scheduler.plugins.interpodaffinity.filtering import (
    FilterState,
    build_filter_state_steps,
    satisfies_affinity,
    satisfies_anti_affinity,
    satisfies_existing_anti_affinity,
)
from sampan.scheduler.plugins.interpodaffinity.scoring import build_topology_score_steps, node_score, normalize

NAME = "InterPodAffinity"
ERR_AFFINITY = "node(s) didn't match pod affinity rules"
ERR_ANTI_AFFINITY = "node(s) didn't match pod anti-affinity rules"
ERR_EXISTING_ANTI_AFFINITY = "node(s) didn't satisfy existing pods anti-affinity rules"
_FILTER_KEY = "PreFilter" + NAME
_SCORE_KEY = "PreScore" + NAME


class InterPodAffinity:
    name = NAME

    def __init__(self, handle: Handle, *, hard_weight: int = 1) -> None:
        self._handle = handle
        self.hard_weight = hard_weight

    def events_to_register(self) -> list[ev.ClusterEvent]:
        return [
            ev.ClusterEvent(ev.ASSIGNED_POD, ev.ActionType.ALL),
            ev.ClusterEvent(ev.NODE, ev.ActionType.ADD | ev.ActionType.UPDATE_NODE_LABEL),
        ]

    # -- filter ------------------------------------------------------------------------------
    def pre_filter(
        self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]
    ) -> tuple[PreFilterResult | None, Status | None]:
        return run_to_end(self.pre_filter_steps(state, pod, nodes))

    def pre_filter_steps(
        self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]
    ) -> Steps[tuple[PreFilterResult | None, Status | None]]:
        """PreFilter with safe points every ``NODE_CHUNK`` nodes (the framework slices it)."""
        snap = self._handle.snapshot
        own_terms = pod.required_affinity or pod.required_anti_affinity
        if not own_terms and not snap.have_pods_with_required_anti_affinity:
            return None, SKIP
        state.write(_FILTER_KEY, (yield from build_filter_state_steps(
            pod, all_nodes=nodes, anti_nodes=snap.have_pods_with_required_anti_affinity,
            ns_labels=snap.namespace_labels,
        )))
        return None, None

    def pre_filter_extensions(self) -> PreFilterExtensions | None:
        return self

    def add_pod(self, state: CycleState, pod: PodInfo, to_add: PodInfo, node: NodeInfo) -> Status | None:
        st: FilterState = state.read(_FILTER_KEY)
        st.update_with_pod(to_add, node, 1)
        return None

    def remove_pod(self, state: CycleState, pod: PodInfo, to_remove: PodInfo, node: NodeInfo) -> Status | None:
        st: FilterState = state.read(_FILTER_KEY)
        st.update_with_pod(to_remove, node, -1)
        return None

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        st: FilterState = state.read(_FILTER_KEY)
        if not satisfies_affinity(st, node):
            return unresolvable(ERR_AFFINITY)
        if not satisfies_anti_affinity(st, node):
            return unschedulable(ERR_ANTI_AFFINITY)
        if not satisfies_existing_anti_affinity(st, node):
            return unschedulable(ERR_EXISTING_ANTI_AFFINITY)
        return None

    # -- score -------------------------------------------------------------------------------
    def pre_score(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]) -> Status | None:
        return run_to_end(self.pre_score_steps(state, pod, nodes))

    def pre_score_steps(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]) -> Steps[Status | None]:
        """PreScore with safe points every ``NODE_CHUNK`` nodes (the framework slices it)."""
        snap = self._handle.snapshot
        has_preferred = bool(pod.preferred_affinity or pod.preferred_anti_affinity)
        if not has_preferred and not snap.have_pods_with_affinity:
            return SKIP
        candidates = snap.node_infos if has_preferred else snap.have_pods_with_affinity
        ts = yield from build_topology_score_steps(pod, candidates, hard_weight=self.hard_weight,
                                                   ns_labels=snap.namespace_labels)
        if not ts:
            return SKIP
        state.write(_SCORE_KEY, ts)
        return None

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        return node_score(state.read(_SCORE_KEY), node)

    def normalize_scores(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo], scores: list[int]) -> None:
        normalize(scores)


def new(args: Mapping[str, Any], handle: Handle) -> InterPodAffinity:
    w = args.get("hardPodAffinityWeight", 1)
    if not isinstance(w, int) or not 0 <= w <= 100:
        raise ValueError("InterPodAffinity args.hardPodAffinityWeight: must be in the range [0, 100]")
    return InterPodAffinity(handle, hard_weight=w)
