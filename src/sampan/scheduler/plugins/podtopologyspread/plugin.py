"""PodTopologySpread plugin (see the package docstring). PreFilter SKIPs pods without DoNotSchedule
constraints, PreScore pods without ScheduleAnyway constraints.

Default constraints (as upstream): a pod with no ``topologySpreadConstraints`` of its own gets the
plugin's default constraints, selecting the pod's *default selector* (its Services' selectors plus its
controlling RC/ReplicaSet/StatefulSet's selector, see :mod:`sampan.scheduler.cache.workloads`); none when
that selector is empty. Args ``defaultingType: System`` (the default) uses the system defaults
(hostname maxSkew 3, zone maxSkew 5, both ScheduleAnyway) and then scores nodes lacking a key instead
of ignoring them; ``defaultingType: List`` uses ``defaultConstraints`` (no labelSelector allowed).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from sampan.scheduler.framework import events as ev
from sampan.scheduler.framework.cycle_state import CycleState
from sampan.scheduler.framework.interface import Handle, PreFilterExtensions, PreFilterResult
from sampan.scheduler.framework.node_info import NodeInfo
from sampan.scheduler.framework.pod_info import PodInfo, SpreadConstraint, parse_spread_constraints
from sampan.scheduler.framework.status import SKIP, Status, unresolvable, unschedulable
from sampan.scheduler.plugins.podtopologyspread import filtering, scoring
from sampan.scheduler.plugins.podtopologyspread.common import MatchCounter
from sampan.scheduler.plugins.podtopologyspread.domains import DomainCounter

NAME = "PodTopologySpread"
ERR_CONSTRAINTS = "node(s) didn't match pod topology spread constraints"
ERR_NODE_LABEL = ERR_CONSTRAINTS + " (missing required label)"
_FILTER_KEY = "PreFilter" + NAME
_SCORE_KEY = "PreScore" + NAME
ZONE_LABEL = "topology.kubernetes.io/zone"
SYSTEM_DEFAULT_CONSTRAINTS: tuple[dict[str, Any], ...] = (
    {"maxSkew": 3, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "ScheduleAnyway"},
    {"maxSkew": 5, "topologyKey": ZONE_LABEL, "whenUnsatisfiable": "ScheduleAnyway"},
)


class PodTopologySpread:
    name = NAME

    def __init__(self, handle: Handle, *, defaults: tuple[SpreadConstraint, ...] = (),
                 system_defaulted: bool = True) -> None:
        self._handle = handle
        self._counter = MatchCounter()
        self._domains = DomainCounter()
        self._defaults = defaults
        self._system_defaulted = system_defaulted

    def _constraints(self, pod: PodInfo, when: str) -> tuple[SpreadConstraint, ...]:
        """The pod's own constraints of kind ``when``, or the defaults of that kind with its default selector."""
        if pod.spread_constraints:
            return tuple(c for c in pod.spread_constraints if c.when_unsatisfiable == when)
        defaults = tuple(c for c in self._defaults if c.when_unsatisfiable == when)
        if not defaults:
            return ()
        selector = self._handle.workloads.default_selector(
            namespace=pod.namespace, labels=pod.labels, metadata=pod.pod.get("metadata") or {})
        if selector.empty:
            return ()
        return tuple(dataclasses.replace(c, selector=selector) for c in defaults)

    def events_to_register(self) -> list[ev.ClusterEvent]:
        return [
            ev.ClusterEvent(ev.ASSIGNED_POD, ev.ActionType.ALL),
            ev.ClusterEvent(ev.NODE, ev.ActionType.ADD | ev.ActionType.DELETE | ev.ActionType.UPDATE_NODE_LABEL
                            | ev.ActionType.UPDATE_NODE_TAINT),
        ]

    def pre_filter(
        self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]
    ) -> tuple[PreFilterResult | None, Status | None]:
        hard = self._constraints(pod, "DoNotSchedule")
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
        soft = self._constraints(pod, "ScheduleAnyway")
        if not soft:
            return SKIP
        require_all = bool(pod.spread_constraints) or not self._system_defaulted
        snapshot = self._handle.snapshot
        state.write(_SCORE_KEY, scoring.build_score_state(
            pod, soft, feasible=nodes, all_nodes=snapshot.node_infos, counter=self._counter,
            require_all_keys=require_all, snapshot=snapshot, domains=self._domains))
        return None

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        return scoring.node_score(state.read(_SCORE_KEY), pod, node)

    def score_nodes(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]) -> list[int]:
        return scoring.node_scores(state.read(_SCORE_KEY), pod, nodes)

    def normalize_scores(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo], scores: list[int]) -> None:
        scoring.normalize(state.read(_SCORE_KEY), nodes, scores)


def new(args: Mapping[str, Any], handle: Handle) -> PodTopologySpread:
    """Args: ``defaultingType`` (System | List) and ``defaultConstraints``; ValueError on bad args."""
    defaulting = args.get("defaultingType") or "System"
    raw = args.get("defaultConstraints") or []
    if defaulting not in ("System", "List"):
        raise ValueError(f'defaultingType: Unsupported value: "{defaulting}": supported values: "List", "System"')
    if defaulting == "System":
        if raw:
            raise ValueError('defaultConstraints: Invalid value: when .defaultingType is "System", '
                             "defaultConstraints must be empty")
        raw = list(SYSTEM_DEFAULT_CONSTRAINTS)
    if not isinstance(raw, list):
        raise ValueError("defaultConstraints: must be a list")
    for i, c in enumerate(raw):
        if isinstance(c, dict) and c.get("labelSelector") is not None:
            raise ValueError(f"defaultConstraints[{i}].labelSelector: Forbidden: "
                             "constraint must not define a selector, as they deduced for each pod")
    try:
        defaults = parse_spread_constraints(raw, {})
    except ValueError as exc:
        raise ValueError(str(exc).replace("spec.topologySpreadConstraints", "defaultConstraints")) from None
    return PodTopologySpread(handle, defaults=defaults, system_defaulted=defaulting == "System")
