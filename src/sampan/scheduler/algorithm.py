"""The scheduling algorithm for one pod: filter (with adaptive sampling), score, select a host.

``find_nodes_that_fit`` runs PreFilter, then (if the pod has a nominated node) tries that node first,
then filters nodes round-robin from ``next_start_node_index`` and stops once
``num_feasible_nodes_to_find`` nodes passed — upstream's percentageOfNodesToScore: all nodes below
100, else ``percentage`` (profile, else global, else adaptive ``50 - nodes/125`` but at least 5) percent,
but at least 100. ``prioritize`` runs PreScore and Score; ``select_host`` picks the highest total,
breaking ties uniformly at random (reservoir sampling with the injected RNG). No feasible node raises
``FitError``; a plugin error raises ``PluginError``.

Each phase is a generator of ``Steps`` (framework/steps.py) with a safe point after every chunk of at
most ``FILTER_CHUNK`` nodes and between Score plugins; ``schedule_pod_steps`` is what the scheduler runs
sliced on its event loop, ``schedule_pod``/``find_nodes_that_fit`` run the same steps to the end.
"""

from __future__ import annotations

import random
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from sampan._lib import tracing
from sampan.scheduler.framework.cycle_state import CycleState
from sampan.scheduler.framework.fit_error import Diagnosis, FitError
from sampan.scheduler.framework.node_info import NodeInfo
from sampan.scheduler.framework.pod_info import PodInfo
from sampan.scheduler.framework.runtime import Framework
from sampan.scheduler.framework.snapshot import Snapshot
from sampan.scheduler.framework.status import Code, PluginError, Status
from sampan.scheduler.framework.steps import Steps, run_to_end

MIN_FEASIBLE_NODES_TO_FIND = 100
MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND = 5
FILTER_CHUNK = 512
"""Most nodes filtered between two safe points (a few ms of Filter plugins on a 2-core machine)."""


class NoNodesAvailable(Exception):
    def __init__(self) -> None:
        super().__init__("no nodes available to schedule pods")


@dataclass(frozen=True, slots=True)
class ScheduleResult:
    suggested_host: str
    evaluated_nodes: int
    feasible_nodes: int


def num_feasible_nodes_to_find(percentage: int, num_all_nodes: int) -> int:
    if num_all_nodes < MIN_FEASIBLE_NODES_TO_FIND:
        return num_all_nodes
    if percentage == 0:
        percentage = max(50 - num_all_nodes // 125, MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND)
    n = num_all_nodes * percentage // 100
    return max(n, MIN_FEASIBLE_NODES_TO_FIND)


class Algorithm:
    """Holds what persists across cycles: the round-robin start index, the RNG, the global percentage."""

    def __init__(self, *, percentage_of_nodes_to_score: int = 0, rng: random.Random | None = None) -> None:
        self.percentage = percentage_of_nodes_to_score
        self.rng = rng or random.Random()
        self.next_start_node_index = 0

    def schedule_pod(self, fwk: Framework, state: CycleState, pod: PodInfo, snapshot: Snapshot) -> ScheduleResult:
        return run_to_end(self.schedule_pod_steps(fwk, state, pod, snapshot))

    def schedule_pod_steps(
        self, fwk: Framework, state: CycleState, pod: PodInfo, snapshot: Snapshot
    ) -> Steps[ScheduleResult]:
        if not len(snapshot):
            raise NoNodesAvailable()
        if tracing.STATE.on:
            with tracing.span("scheduler.filter", {tracing.UID: pod.uid, "nodes": len(snapshot)}) as span:
                feasible, diagnosis, evaluated = yield from self.find_nodes_that_fit_steps(fwk, state, pod, snapshot)
                span.set_attribute("feasible", len(feasible))
        else:
            feasible, diagnosis, evaluated = yield from self.find_nodes_that_fit_steps(fwk, state, pod, snapshot)
        if not feasible:
            raise FitError(pod, len(snapshot), diagnosis)
        if len(feasible) == 1:
            return ScheduleResult(feasible[0].name, evaluated, 1)
        if tracing.STATE.on:
            with tracing.span("scheduler.score", {tracing.UID: pod.uid, "nodes": len(feasible)}):
                scores = yield from self.prioritize_steps(fwk, state, pod, feasible)
        else:
            scores = yield from self.prioritize_steps(fwk, state, pod, feasible)
        return ScheduleResult(self.select_host(feasible, scores), evaluated, len(feasible))

    def find_nodes_that_fit(
        self, fwk: Framework, state: CycleState, pod: PodInfo, snapshot: Snapshot
    ) -> tuple[list[NodeInfo], Diagnosis, int]:
        return run_to_end(self.find_nodes_that_fit_steps(fwk, state, pod, snapshot))

    def find_nodes_that_fit_steps(
        self, fwk: Framework, state: CycleState, pod: PodInfo, snapshot: Snapshot
    ) -> Steps[tuple[list[NodeInfo], Diagnosis, int]]:
        diagnosis = Diagnosis()
        all_nodes = snapshot.node_infos
        result, st = yield from fwk.pre_filter_steps(state, pod, all_nodes)
        if st is not None:
            if st.code == Code.ERROR:
                raise PluginError(st.message)
            diagnosis.node_to_status = {n.name: st for n in all_nodes}
            diagnosis.pre_filter_msg = st.message
            if st.plugin:
                diagnosis.unschedulable_plugins.add(st.plugin)
            return [], diagnosis, 0
        if pod.nominated_node_name:
            ni = snapshot.get(pod.nominated_node_name)
            if ni is not None and fwk.run_filter_plugins_with_nominated_pods(state, pod, ni) is None:
                return [ni], diagnosis, 1
        nodes: Sequence[NodeInfo] = all_nodes
        if result is not None and result.node_names is not None:
            nodes = [ni for ni in (snapshot.get(n) for n in sorted(result.node_names)) if ni is not None]
            excluded = Status(Code.UNSCHEDULABLE_AND_UNRESOLVABLE,
                              f"node(s) didn't satisfy plugin(s) [{', '.join(sorted(set(result.plugins)))}]")
            for ni in all_nodes:
                if ni.name not in result.node_names:
                    diagnosis.node_to_status[ni.name] = excluded
            diagnosis.unschedulable_plugins.update(result.plugins)
        yield  # PreFilter can be long (affinity over every node): a safe point before filtering
        feasible, evaluated = yield from self._filter(fwk, state, pod, nodes, diagnosis)
        return feasible, diagnosis, evaluated

    def _filter(
        self, fwk: Framework, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo], diagnosis: Diagnosis
    ) -> Steps[tuple[list[NodeInfo], int]]:
        """Filter in chunks of at most the number of feasible nodes still wanted (and ``FILTER_CHUNK``),
        plugin by plugin (batch hooks), so the result equals a node-by-node scan that stops at
        ``to_find``. A safe point after every chunk."""
        n = len(nodes)
        if n == 0:
            return [], 0
        pct = fwk.profile.percentage_of_nodes_to_score
        to_find = num_feasible_nodes_to_find(self.percentage if pct is None else pct, n)
        start = self.next_start_node_index % n
        filters = fwk.active_filters(state)
        nominated = fwk.nominator.nominated_node_names()
        statuses = diagnosis.node_to_status
        feasible: list[NodeInfo] = []
        pos = 0
        while pos < n and len(feasible) < to_find:
            size = min(to_find - len(feasible), FILTER_CHUNK, n - pos)
            at = (start + pos) % n  # round robin from ``start``, wrapping past the end (no rotated copy)
            chunk = nodes[at:at + size]
            if len(chunk) < size:
                chunk = [*chunk, *nodes[:size - len(chunk)]]
            pos += size
            if nominated:
                chunk = self._filter_nominated(fwk, state, pod, chunk, nominated, diagnosis)
            for name, batch in filters:
                if not chunk:
                    break
                rejected = batch(state, pod, chunk)
                if not rejected:
                    continue
                for i, st in rejected:
                    if st.code == Code.ERROR:
                        raise PluginError(f"running Filter plugin {name!r}: {st.message}")
                    statuses[chunk[i].name] = st.with_plugin(name)
                diagnosis.unschedulable_plugins.add(name)
                gone = {i for i, _ in rejected}
                chunk = [ni for i, ni in enumerate(chunk) if i not in gone]
            feasible.extend(chunk)
            yield
        self.next_start_node_index = (start + pos) % n
        return feasible, pos

    @staticmethod
    def _filter_nominated(
        fwk: Framework, state: CycleState, pod: PodInfo, chunk: Sequence[NodeInfo], nominated: Collection[str],
        diagnosis: Diagnosis,
    ) -> list[NodeInfo]:
        """Nodes with nominated pods need the two-pass filter; drop the ones it rejects."""
        kept = []
        for ni in chunk:
            if ni.name in nominated:
                st = fwk.run_filter_plugins_with_nominated_pods(state, pod, ni)
                if st is not None:
                    if st.code == Code.ERROR:
                        raise PluginError(st.message)
                    diagnosis.node_to_status[ni.name] = st
                    diagnosis.unschedulable_plugins.add(st.plugin)
                    continue
            kept.append(ni)
        return kept

    def prioritize(self, fwk: Framework, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]) -> list[int]:
        return run_to_end(self.prioritize_steps(fwk, state, pod, nodes))

    def prioritize_steps(
        self, fwk: Framework, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]
    ) -> Steps[list[int]]:
        if not fwk.points["score"]:
            return [1] * len(nodes)
        st = yield from fwk.pre_score_steps(state, pod, nodes)
        if st is not None:
            raise PluginError(f"running PreScore plugin {st.plugin!r}: {st.message}")
        return (yield from fwk.score_steps(state, pod, nodes))

    def select_host(self, nodes: Sequence[NodeInfo], scores: Sequence[int]) -> str:
        """A node with the highest score, uniformly among ties."""
        best = max(scores)
        ties = [i for i, s in enumerate(scores) if s == best]
        return nodes[ties[0] if len(ties) == 1 else self.rng.choice(ties)].name
