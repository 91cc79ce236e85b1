"""NodeAffinity (see the package docstring).

PreFilter SKIPs pods with neither a nodeSelector nor required affinity, and narrows the candidates when
every required term names nodes by ``metadata.name In``. PreScore SKIPs pods without preferred terms.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sampan.scheduler.framework import events as ev
from sampan.scheduler.framework.cycle_state import CycleState
from sampan.scheduler.framework.interface import Handle, PreFilterExtensions, PreFilterResult
from sampan.scheduler.framework.node_info import NodeInfo
from sampan.scheduler.framework.normalize import default_normalize_score
from sampan.scheduler.framework.pod_info import PodInfo
from sampan.scheduler.framework.status import SKIP, Status, unresolvable

NAME = "NodeAffinity"
ERR_REASON = "node(s) didn't match Pod's node affinity/selector"
_REJECT = unresolvable(ERR_REASON)


def matches_required(pod: PodInfo, node: NodeInfo) -> bool:
    """nodeSelector and required node affinity both hold (the rule PodTopologySpread also honours)."""
    labels = node.labels
    for k, v in pod.node_selector.items():
        if labels.get(k) != v:
            return False
    req = pod.required_node_affinity
    return req is None or req.matches(labels, node.name)


def _named_nodes(pod: PodInfo) -> frozenset[str] | None:
    req = pod.required_node_affinity
    if req is None or not req.terms:
        return None
    names: set[str] = set()
    for term in req.terms:
        in_names = [r for r in term.fields if r.op == "In"]
        if not in_names:
            return None
        picked = frozenset.intersection(*(r.values for r in in_names))
        names |= picked
    return frozenset(names)


class NodeAffinity:
    name = NAME

    def events_to_register(self) -> list[ev.ClusterEvent]:
        return [ev.ClusterEvent(ev.NODE, ev.ActionType.ADD | ev.ActionType.UPDATE_NODE_LABEL)]

    def pre_filter(
        self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]
    ) -> tuple[PreFilterResult | None, Status | None]:
        if not pod.node_selector and pod.required_node_affinity is None:
            return None, SKIP
        names = _named_nodes(pod)
        return (PreFilterResult(names) if names is not None else None), None

    def pre_filter_extensions(self) -> PreFilterExtensions | None:
        return None

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        return None if matches_required(pod, node) else _REJECT

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]) -> Status | None:
        return None if pod.preferred_node_affinity else SKIP

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        return sum(w for w, term in pod.preferred_node_affinity if term.matches(node.labels, node.name))

    def normalize_scores(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo], scores: list[int]) -> None:
        default_normalize_score(scores, reverse=False)


def new(args: Mapping[str, Any], handle: Handle) -> NodeAffinity:
    return NodeAffinity()
