"""The preemption algorithm, as pure functions over a Handle (no API calls).

``select_victims_on_node``: on a copy of the node, remove every pod of lower priority; if the pod still
does not fit, the node is no candidate. Otherwise add the removed pods back most important first
(higher priority, then earlier start) and keep each one that still lets the pod fit ("reprieve"); the
rest are the victims. ``pick_one_node`` chooses among candidates by upstream's criteria, in order:
lowest highest-victim priority, lowest sum of victim priorities (each offset by 2^31), fewest victims,
latest start among the highest-priority victims, then the first candidate. (PodDisruptionBudgets are
not considered yet: every candidate has zero violations.)
"""

from __future__ import annotations

from dataclasses import dataclass

from sampan.scheduler.framework.cycle_state import CycleState
from sampan.scheduler.framework.interface import Handle
from sampan.scheduler.framework.node_info import NodeInfo
from sampan.scheduler.framework.pod_info import PodInfo
from sampan.scheduler.framework.status import Status, is_success, unresolvable

NO_VICTIMS = "No preemption victims found for incoming pod"
NOT_HELPFUL = "Preemption is not helpful for scheduling"
_OFFSET = 2**31


@dataclass(frozen=True)
class Candidate:
    node_name: str
    victims: tuple[PodInfo, ...]


def _importance(p: PodInfo) -> tuple[int, str]:
    return (-p.priority, p.start_time or "~")


def select_victims_on_node(
    handle: Handle, state: CycleState, pod: PodInfo, node: NodeInfo
) -> tuple[tuple[PodInfo, ...], Status | None]:
    """Victims on ``node`` (which is mutated: pass a clone) and None, or () and the reason it fails."""
    potential = [p for p in node.pods if p.priority < pod.priority]
    if not potential:
        return (), unresolvable(NO_VICTIMS)
    for p in potential:
        node.remove_pod(p.uid)
        st = handle.run_pre_filter_extension_remove_pod(state, pod, p, node)
        if not is_success(st):
            assert st is not None
            return (), st
    st = handle.run_filter_plugins_with_nominated_pods(state, pod, node)
    if st is not None:
        return (), st
    victims: list[PodInfo] = []
    for p in sorted(potential, key=_importance):
        node.add_pod(p)
        handle.run_pre_filter_extension_add_pod(state, pod, p, node)
        if handle.run_filter_plugins_with_nominated_pods(state, pod, node) is not None:
            node.remove_pod(p.uid)
            handle.run_pre_filter_extension_remove_pod(state, pod, p, node)
            victims.append(p)
    return tuple(victims), None


def pick_one_node(candidates: list[Candidate]) -> Candidate | None:
    if not candidates:
        return None
    rest = candidates
    for key in (
        lambda c: max((v.priority for v in c.victims), default=-_OFFSET),
        lambda c: sum(v.priority + _OFFSET for v in c.victims),
        lambda c: len(c.victims),
    ):
        best = min(key(c) for c in rest)
        rest = [c for c in rest if key(c) == best]
        if len(rest) == 1:
            return rest[0]

    def latest_start(c: Candidate) -> str:
        top = max(v.priority for v in c.victims) if c.victims else 0
        return min((v.start_time for v in c.victims if v.priority == top), default="")

    best_time = max(latest_start(c) for c in rest)
    return next(c for c in rest if latest_start(c) == best_time)
