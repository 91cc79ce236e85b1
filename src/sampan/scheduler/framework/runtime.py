"""The framework runtime: one profile's plugins, run extension point by extension point.

``Framework`` instantiates a profile's plugins from the registry (one instance per plugin), orders
them per extension point as the profile says, and runs them with upstream's rules: PreFilter results
are intersected and a rejection stops the cycle; Filter stops at the first plugin that rejects a node;
PreFilter/PreScore ``SKIP`` suppresses that plugin's Filter/Score for the cycle; Score sums
``weight * normalized score``; Reserve failures unreserve in reverse; Permit may make the pod wait;
Bind plugins run in order until one does not SKIP.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Sequence
from typing import Any, Protocol

from sampan._lib.clock import Clock, RealClock
from sampan.scheduler.cache.volumes import VolumeCache
from sampan.scheduler.cache.workloads import WorkloadCache
from sampan.scheduler.framework.config import EXTENSION_POINTS, Profile
from sampan.scheduler.framework.cycle_state import CycleState
from sampan.scheduler.framework.events import ClusterEvent
from sampan.scheduler.framework.interface import (
    MAX_NODE_SCORE,
    MIN_NODE_SCORE,
    BatchFilterPlugin,
    BatchScorePlugin,
    Binder,
    BindPlugin,
    EnqueueExtensions,
    FilterPlugin,
    NodeToStatus,
    PermitPlugin,
    PostBindPlugin,
    PostFilterPlugin,
    PostFilterResult,
    PreBindPlugin,
    PreFilterExtensions,
    PreFilterPlugin,
    PreFilterResult,
    PreScorePlugin,
    QueuedPodInfo,
    QueueSortPlugin,
    ReservePlugin,
    ScoreNormalizer,
    ScorePlugin,
    SlicedPostFilterPlugin,
    SlicedPreFilterPlugin,
    SlicedPreScorePlugin,
    VolumeWriter,
)
from sampan.scheduler.framework.node_info import NodeInfo
from sampan.scheduler.framework.pod_info import PodInfo
from sampan.scheduler.framework.registry import Registry
from sampan.scheduler.framework.snapshot import Snapshot
from sampan.scheduler.framework.status import Code, PluginError, Status, error, is_success
from sampan.scheduler.framework.steps import Steps, run_to_end
from sampan.scheduler.framework.waiting import WaitingPods

log = logging.getLogger(__name__)

_POINT_TYPES: dict[str, type] = {
    "queueSort": QueueSortPlugin, "preFilter": PreFilterPlugin, "filter": FilterPlugin,
    "postFilter": PostFilterPlugin, "preScore": PreScorePlugin, "score": ScorePlugin,
    "reserve": ReservePlugin, "permit": PermitPlugin, "preBind": PreBindPlugin, "bind": BindPlugin,
    "postBind": PostBindPlugin,
}


class Nominator(Protocol):
    """Pods nominated to nodes by preemption, waiting for victims to go (the queue's PodNominator)."""

    def nominated_pods_for_node(self, node_name: str) -> list[PodInfo]: ...

    def nominated_node_names(self) -> Collection[str]: ...


class _NoNominations:
    def nominated_pods_for_node(self, node_name: str) -> list[PodInfo]:
        return []

    def nominated_node_names(self) -> Collection[str]:
        return ()


BatchFilter = Callable[[CycleState, PodInfo, Sequence[NodeInfo]], list[tuple[int, Status]]]
BatchScore = Callable[[CycleState, PodInfo, Sequence[NodeInfo]], list[int]]


def _batch_filter(f: Callable[[CycleState, PodInfo, NodeInfo], Status | None]) -> BatchFilter:
    def batch(state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]) -> list[tuple[int, Status]]:
        out = []
        for i, n in enumerate(nodes):
            st = f(state, pod, n)
            if st is not None and st.code:
                out.append((i, st))
        return out

    return batch


def _batch_score(f: Callable[[CycleState, PodInfo, NodeInfo], int]) -> BatchScore:
    def batch(state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]) -> list[int]:
        return [f(state, pod, n) for n in nodes]

    return batch


class Framework:
    """A profile, instantiated. Also the ``Handle`` the plugins receive."""

    def __init__(
        self, profile: Profile, registry: Registry, *, clock: Clock | None = None,
        nominator: Nominator | None = None, extra_args: dict[str, Any] | None = None,
        binder: Binder | None = None, volumes: VolumeCache | None = None,
        volume_writer: VolumeWriter | None = None, workloads: WorkloadCache | None = None,
    ) -> None:
        self.binder = binder
        self.workloads = workloads if workloads is not None else WorkloadCache()
        self.volumes = volumes
        self.volume_writer = volume_writer
        self.profile = profile
        self.profile_name = profile.scheduler_name
        self.clock = clock or RealClock()
        self.nominator: Nominator = nominator or _NoNominations()
        self.snapshot: Snapshot = Snapshot()
        self.waiting_pods = WaitingPods(self.clock)
        self._instances: dict[str, object] = {}
        self.points: dict[str, list[Any]] = {}
        self.score_weights: dict[str, int] = {}
        mp_weights = {r.name: r.weight for r in profile.multi_point}
        for point in EXTENSION_POINTS:
            ptype = _POINT_TYPES[point]
            chosen: list[str] = []
            disabled = profile.disabled.get(point, frozenset())
            for ref in profile.multi_point:
                if "*" in disabled or ref.name in disabled:
                    continue
                if isinstance(self._plugin(ref.name, registry, extra_args), ptype):
                    chosen.append(ref.name)
            for ref in profile.enabled.get(point, ()):
                plugin = self._plugin(ref.name, registry, extra_args)
                if not isinstance(plugin, ptype):
                    raise ValueError(f"plugin {ref.name!r} does not extend {point}")
                if ref.name not in chosen:
                    chosen.append(ref.name)
                if point == "score" and ref.weight:
                    self.score_weights[ref.name] = ref.weight
            self.points[point] = [self._instances[n] for n in chosen]
        for p in self.points["score"]:
            self.score_weights.setdefault(p.name, mp_weights.get(p.name) or 1)
        if len(self.points["queueSort"]) != 1:
            raise ValueError(f"profile {profile.scheduler_name!r}: exactly one queueSort plugin is required")
        if not self.points["bind"]:
            raise ValueError(f"profile {profile.scheduler_name!r}: at least one bind plugin is required")
        self.queue_sort: QueueSortPlugin = self.points["queueSort"][0]
        self._pre_filters: list[tuple[PreFilterPlugin, SlicedPreFilterPlugin | None]] = [
            (p, p if isinstance(p, SlicedPreFilterPlugin) else None) for p in self.points["preFilter"]]
        self._pre_scores: list[tuple[PreScorePlugin, SlicedPreScorePlugin | None]] = [
            (p, p if isinstance(p, SlicedPreScorePlugin) else None) for p in self.points["preScore"]]
        self._filters: list[tuple[str, Any, BatchFilter]] = [
            (p.name, p.filter, p.filter_nodes if isinstance(p, BatchFilterPlugin) else _batch_filter(p.filter))
            for p in self.points["filter"]
        ]
        self._scorers: list[tuple[str, BatchScore, Any, int]] = [
            (
                p.name,
                p.score_nodes if isinstance(p, BatchScorePlugin) else _batch_score(p.score),
                p.normalize_scores if isinstance(p, ScoreNormalizer) else None,
                self.score_weights[p.name],
            )
            for p in self.points["score"]
        ]

    def _plugin(self, name: str, registry: Registry, extra_args: dict[str, Any] | None) -> object:
        if name not in self._instances:
            args = dict(self.profile.plugin_args.get(name, {}))
            if extra_args and name in extra_args:
                args.update(extra_args[name])
            plugin = registry.factory(name)(args, self)
            self._instances[name] = plugin
        return self._instances[name]

    def plugin(self, name: str) -> object | None:
        return self._instances.get(name)

    # -- Handle ------------------------------------------------------------------------------
    def nominated_pods_for_node(self, node_name: str) -> list[PodInfo]:
        return self.nominator.nominated_pods_for_node(node_name)

    def events_to_register(self) -> dict[str, list[ClusterEvent]]:
        """Plugin name -> events that may make a pod it rejected schedulable."""
        return {
            name: list(p.events_to_register()) for name, p in self._instances.items()
            if isinstance(p, EnqueueExtensions)
        }

    def less(self, a: QueuedPodInfo, b: QueuedPodInfo) -> bool:
        return self.queue_sort.less(a, b)

    # -- scheduling cycle ----------------------------------------------------------------------
    def run_pre_filter_plugins(
        self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]
    ) -> tuple[PreFilterResult | None, Status | None]:
        """Merged result, and the first rejection (with ``plugin`` set) or None."""
        return run_to_end(self.pre_filter_steps(state, pod, nodes))

    def pre_filter_steps(
        self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]
    ) -> Steps[tuple[PreFilterResult | None, Status | None]]:
        """``run_pre_filter_plugins`` with a safe point after each plugin and inside a
        :class:`SlicedPreFilterPlugin`'s own walk (framework/steps.py)."""
        result: PreFilterResult | None = None
        for p, sliced in self._pre_filters:
            try:
                if sliced is not None:
                    r, st = yield from sliced.pre_filter_steps(state, pod, nodes)
                else:
                    r, st = p.pre_filter(state, pod, nodes)
                yield
            except PluginError as exc:
                return None, error(f"running PreFilter plugin {p.name!r}: {exc}").with_plugin(p.name)
            if st is not None and st.code == Code.SKIP:
                state.skip_filter.add(p.name)
                continue
            if not is_success(st):
                assert st is not None
                return None, st.with_plugin(p.name)
            if r is not None and r.node_names is not None:
                r = PreFilterResult(r.node_names, (p.name,))
                result = r if result is None else result.merge(r)
                if result.node_names is not None and not result.node_names:
                    return result, Status(Code.UNSCHEDULABLE_AND_UNRESOLVABLE,
                                          "node(s) didn't satisfy plugin(s) [" + p.name + "]", plugin=p.name)
        return result, None

    def active_filters(self, state: CycleState) -> list[tuple[str, BatchFilter]]:
        """(name, batch filter) for the filters this cycle runs, in order."""
        skip = state.skip_filter
        return [(name, batch) for name, _, batch in self._filters if name not in skip]

    def run_filter_plugins(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        skip = state.skip_filter
        for name, f, _ in self._filters:
            if name in skip:
                continue
            st = f(state, pod, node)
            if st is not None and st.code != Code.SUCCESS:
                return st.with_plugin(name)
        return None

    def run_filter_plugins_with_nominated_pods(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        """Filter as if the pods nominated to this node with priority >= the pod's were already there
        (and, if that passes, also without them, as upstream does)."""
        nominated = [p for p in self.nominated_pods_for_node(node.name)
                     if p.priority >= pod.priority and p.uid != pod.uid]
        if nominated:
            s2 = state.clone()
            n2 = node.clone()
            for p in nominated:
                n2.add_pod(p)
                st = self.run_pre_filter_extension_add_pod(s2, pod, p, n2)
                if not is_success(st):
                    return st
            st = self.run_filter_plugins(s2, pod, n2)
            if st is not None:
                return st
        return self.run_filter_plugins(state, pod, node)

    def run_pre_filter_extension_add_pod(
        self, state: CycleState, pod: PodInfo, to_add: PodInfo, node: NodeInfo
    ) -> Status | None:
        return self._run_pre_filter_extensions(state, lambda ext: ext.add_pod(state, pod, to_add, node))

    def run_pre_filter_extension_remove_pod(
        self, state: CycleState, pod: PodInfo, to_remove: PodInfo, node: NodeInfo
    ) -> Status | None:
        return self._run_pre_filter_extensions(state, lambda ext: ext.remove_pod(state, pod, to_remove, node))

    def _run_pre_filter_extensions(
        self, state: CycleState, call: Callable[[PreFilterExtensions], Status | None]
    ) -> Status | None:
        """``call`` on each non-skipped PreFilter plugin's extensions; the first failure, named."""
        for p in self.points["preFilter"]:
            if p.name in state.skip_filter:
                continue
            ext = p.pre_filter_extensions()
            if ext is not None:
                st = call(ext)
                if not is_success(st):
                    assert st is not None
                    return st.with_plugin(p.name)
        return None

    def run_post_filter_plugins(
        self, state: CycleState, pod: PodInfo, statuses: NodeToStatus
    ) -> tuple[PostFilterResult | None, Status]:
        """Runs until one plugin succeeds (or errs, or is unresolvable); otherwise all rejections'
        reasons together, with the last non-empty result (e.g. "clear the nomination")."""
        return run_to_end(self.post_filter_steps(state, pod, statuses))

    def post_filter_steps(
        self, state: CycleState, pod: PodInfo, statuses: NodeToStatus
    ) -> Steps[tuple[PostFilterResult | None, Status]]:
        """``run_post_filter_plugins`` with a safe point after each plugin and inside a
        :class:`SlicedPostFilterPlugin`'s own work (preemption's dry runs)."""
        result: PostFilterResult | None = None
        reasons: list[str] = []
        plugin = ""
        for p in self.points["postFilter"]:
            if isinstance(p, SlicedPostFilterPlugin):
                r, st = yield from p.post_filter_steps(state, pod, statuses)
            else:
                r, st = p.post_filter(state, pod, statuses)
            yield
            if is_success(st):
                return r, Status(Code.SUCCESS)
            assert st is not None
            if st.code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE:
                return r, st.with_plugin(p.name)
            if st.code == Code.ERROR:
                return None, st.with_plugin(p.name)
            if r is not None:
                result = r
            reasons.extend(st.reasons)
            plugin = p.name
        return result, Status(Code.UNSCHEDULABLE, *reasons, plugin=plugin)

    def run_pre_score_plugins(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]) -> Status | None:
        return run_to_end(self.pre_score_steps(state, pod, nodes))

    def pre_score_steps(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]) -> Steps[Status | None]:
        """``run_pre_score_plugins`` with a safe point after each plugin and inside a
        :class:`SlicedPreScorePlugin`'s own walk."""
        for p, sliced_score in self._pre_scores:
            if sliced_score is not None:
                st = yield from sliced_score.pre_score_steps(state, pod, nodes)
            else:
                st = p.pre_score(state, pod, nodes)
            yield
            if st is not None and st.code == Code.SKIP:
                state.skip_score.add(p.name)
            elif not is_success(st):
                assert st is not None
                return st.with_plugin(p.name)
        return None

    def run_score_plugins(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]) -> list[int]:
        """Weighted total score per node (same order as ``nodes``). Raises PluginError naming the plugin."""
        return run_to_end(self.score_steps(state, pod, nodes))

    def score_steps(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]) -> Steps[list[int]]:
        """``run_score_plugins`` with a safe point after each Score plugin (framework/steps.py)."""
        totals: list[int] | None = None
        skip = state.skip_score
        for name, batch, normalize, weight in self._scorers:
            if name in skip:
                continue
            try:
                scores = batch(state, pod, nodes)
                if normalize is not None:
                    normalize(state, pod, nodes, scores)
            except PluginError as exc:
                raise PluginError(f"running Score plugin {name!r}: {exc}") from exc
            if scores and (min(scores) < MIN_NODE_SCORE or max(scores) > MAX_NODE_SCORE):
                bad = next(s for s in scores if not MIN_NODE_SCORE <= s <= MAX_NODE_SCORE)
                raise PluginError(f"plugin {name!r} returns an invalid score {bad}, it should be in [0, 100]")
            if totals is None:
                totals = [s * weight for s in scores] if weight != 1 else scores
            elif weight == 1:
                totals = [t + s for t, s in zip(totals, scores, strict=True)]
            else:
                totals = [t + s * weight for t, s in zip(totals, scores, strict=True)]
            yield
        return totals if totals is not None else [0] * len(nodes)

    def run_reserve_plugins_reserve(self, state: CycleState, pod: PodInfo, node_name: str) -> Status | None:
        for p in self.points["reserve"]:
            st = p.reserve(state, pod, node_name)
            if not is_success(st):
                assert st is not None
                return st.with_plugin(p.name)
        return None

    def run_reserve_plugins_unreserve(self, state: CycleState, pod: PodInfo, node_name: str) -> None:
        for p in reversed(self.points["reserve"]):
            try:
                p.unreserve(state, pod, node_name)
            except Exception:
                log.exception("unreserve failed plugin=%s pod=%s", p.name, pod.key)

    def run_permit_plugins(self, state: CycleState, pod: PodInfo, node_name: str) -> Status | None:
        """None when allowed; a WAIT status after registering the pod as waiting; else the rejection."""
        waits: dict[str, float] = {}
        for p in self.points["permit"]:
            st, timeout = p.permit(state, pod, node_name)
            if st is None or st.code == Code.SUCCESS:
                continue
            if st.code == Code.WAIT:
                waits[p.name] = min(timeout, 15 * 60.0)
                continue
            return st.with_plugin(p.name)
        if waits:
            self.waiting_pods.add(pod, waits)
            return Status(Code.WAIT, "one or more plugins asked to wait")
        return None

    async def wait_on_permit(self, pod: PodInfo) -> Status | None:
        return await self.waiting_pods.wait(pod.uid)

    # -- binding cycle ---------------------------------------------------------------------------
    async def run_pre_bind_plugins(self, state: CycleState, pod: PodInfo, node_name: str) -> Status | None:
        for p in self.points["preBind"]:
            st = await p.pre_bind(state, pod, node_name)
            if not is_success(st):
                assert st is not None
                return st.with_plugin(p.name)
        return None

    async def run_bind_plugins(self, state: CycleState, pod: PodInfo, node_name: str) -> Status | None:
        for p in self.points["bind"]:
            st = await p.bind(state, pod, node_name)
            if st is not None and st.code == Code.SKIP:
                continue
            return None if st is None or st.code == Code.SUCCESS else st.with_plugin(p.name)
        return Status(Code.SKIP, "all bind plugins skipped")

    def run_post_bind_plugins(self, state: CycleState, pod: PodInfo, node_name: str) -> None:
        for p in self.points["postBind"]:
            try:
                p.post_bind(state, pod, node_name)
            except Exception:
                log.exception("postBind failed plugin=%s pod=%s", p.name, pod.key)
