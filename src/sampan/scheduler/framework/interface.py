"""The extension points: one Protocol per point, as kube-scheduler's framework defines them.

A cycle runs, for one pod: PreFilter → Filter (per node) → PostFilter (only when no node fits) →
PreScore → Score (per node) → NormalizeScore → Reserve → Permit; then, asynchronously, the binding
cycle: (wait for Permit) → PreBind → Bind → PostBind. A failure after Reserve calls Unreserve in reverse.

Conventions: hooks return ``Status | None`` and ``None`` means success (no allocation on hot paths);
``Score.score`` returns an int in [0, MAX_NODE_SCORE] (after normalization) and raises ``PluginError``
on internal errors. Pods arrive as parsed ``PodInfo``; nodes as ``NodeInfo``. Scheduling-cycle hooks are
synchronous (pure computation); binding-cycle hooks (PreBind, Bind) are coroutines because they talk to
the API server.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from sampan.scheduler.framework.cycle_state import CycleState
from sampan.scheduler.framework.events import ClusterEvent
from sampan.scheduler.framework.node_info import NodeInfo
from sampan.scheduler.framework.pod_info import PodInfo
from sampan.scheduler.framework.snapshot import Snapshot
from sampan.scheduler.framework.status import Status

if TYPE_CHECKING:
    from sampan.scheduler.cache.volumes import VolumeCache
    from sampan.scheduler.cache.workloads import WorkloadCache

MAX_NODE_SCORE = 100
MIN_NODE_SCORE = 0


@dataclass(slots=True)
class QueuedPodInfo:
    """A pod in the scheduling queue. ``timestamp`` is when it was last added to the queue (the
    QueueSort tie-breaker), ``attempts`` counts scheduling attempts (the back-off exponent),
    ``unschedulable_plugins`` the plugins that rejected it last time (which events may requeue it)."""

    pod_info: PodInfo
    timestamp: float
    initial_attempt_timestamp: float | None = None
    attempts: int = 0
    unschedulable_plugins: set[str] = field(default_factory=set)
    pending_plugins: set[str] = field(default_factory=set)


@dataclass(frozen=True, slots=True)
class PreFilterResult:
    """PreFilter may narrow the candidate nodes; ``None`` means all nodes. ``plugins`` names the
    plugins that narrowed (filled in by the framework, for the message on the other nodes)."""

    node_names: frozenset[str] | None = None
    plugins: tuple[str, ...] = ()

    def merge(self, other: PreFilterResult | None) -> PreFilterResult:
        if other is None or other.node_names is None:
            return self
        if self.node_names is None:
            return other
        return PreFilterResult(self.node_names & other.node_names, self.plugins + other.plugins)


@dataclass(frozen=True, slots=True)
class PostFilterResult:
    """What PostFilter achieved: a node for the pod to be nominated on (empty: clear the nomination)
    and the pods that must go (preemption victims) before it fits there. The scheduler's outer loop
    carries these out through the API (delete victims, set ``status.nominatedNodeName``)."""

    nominated_node_name: str = ""
    victims: tuple[PodInfo, ...] = ()


class Plugin(Protocol):
    @property
    def name(self) -> str: ...


@runtime_checkable
class QueueSortPlugin(Plugin, Protocol):
    def less(self, a: QueuedPodInfo, b: QueuedPodInfo) -> bool: ...


@runtime_checkable
class EnqueueExtensions(Plugin, Protocol):
    def events_to_register(self) -> Sequence[ClusterEvent]: ...


class PreFilterExtensions(Protocol):
    """Incremental updates of a plugin's PreFilter state when preemption removes/adds pods on a node."""

    def add_pod(self, state: CycleState, pod: PodInfo, to_add: PodInfo, node: NodeInfo) -> Status | None: ...
    def remove_pod(self, state: CycleState, pod: PodInfo, to_remove: PodInfo, node: NodeInfo) -> Status | None: ...


@runtime_checkable
class PreFilterPlugin(Plugin, Protocol):
    def pre_filter(
        self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]
    ) -> tuple[PreFilterResult | None, Status | None]: ...

    def pre_filter_extensions(self) -> PreFilterExtensions | None: ...


@runtime_checkable
class SlicedPreFilterPlugin(PreFilterPlugin, Protocol):
    """A PreFilter whose work is long (a walk over every node): ``pre_filter_steps`` is the same
    computation with safe points (framework/steps.py), which the framework runs sliced."""

    def pre_filter_steps(
        self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]
    ) -> Generator[None, None, tuple[PreFilterResult | None, Status | None]]: ...


@runtime_checkable
class FilterPlugin(Plugin, Protocol):
    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None: ...


@runtime_checkable
class BatchFilterPlugin(Plugin, Protocol):
    """Optional fast path of a FilterPlugin: filter many nodes in one call and return only the
    rejections as ``(index into nodes, status)`` in ascending index order. Must agree with ``filter``
    node by node; the framework prefers it when a plugin has it."""

    def filter_nodes(
        self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]
    ) -> list[tuple[int, Status]]: ...


NodeToStatus = dict[str, Status]


@runtime_checkable
class PostFilterPlugin(Plugin, Protocol):
    def post_filter(
        self, state: CycleState, pod: PodInfo, statuses: NodeToStatus
    ) -> tuple[PostFilterResult | None, Status | None]: ...


@runtime_checkable
class SlicedPostFilterPlugin(PostFilterPlugin, Protocol):
    """A PostFilter with safe points (``post_filter_steps``, e.g. between preemption dry runs), run
    sliced by the framework."""

    def post_filter_steps(
        self, state: CycleState, pod: PodInfo, statuses: NodeToStatus
    ) -> Generator[None, None, tuple[PostFilterResult | None, Status | None]]: ...


@runtime_checkable
class PreScorePlugin(Plugin, Protocol):
    def pre_score(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]) -> Status | None: ...


@runtime_checkable
class SlicedPreScorePlugin(PreScorePlugin, Protocol):
    """A PreScore with safe points (``pre_score_steps``), run sliced by the framework."""

    def pre_score_steps(
        self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]
    ) -> Generator[None, None, Status | None]: ...


@runtime_checkable
class ScorePlugin(Plugin, Protocol):
    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int: ...


@runtime_checkable
class ScoreNormalizer(Plugin, Protocol):
    """Score's extension: rescale the raw scores of all feasible nodes (in place) into [0, 100].
    ``scores[i]`` belongs to ``nodes[i]``."""

    def normalize_scores(
        self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo], scores: list[int]
    ) -> None: ...


@runtime_checkable
class BatchScorePlugin(Plugin, Protocol):
    """Optional fast path of a ScorePlugin: the scores of many nodes in one call. Must equal
    ``[score(state, pod, n) for n in nodes]``; the framework prefers it when a plugin has it."""

    def score_nodes(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]) -> list[int]: ...


@runtime_checkable
class ReservePlugin(Plugin, Protocol):
    def reserve(self, state: CycleState, pod: PodInfo, node_name: str) -> Status | None: ...
    def unreserve(self, state: CycleState, pod: PodInfo, node_name: str) -> None: ...


@runtime_checkable
class PermitPlugin(Plugin, Protocol):
    def permit(self, state: CycleState, pod: PodInfo, node_name: str) -> tuple[Status | None, float]:
        """Allow (None), reject, or WAIT with a timeout in seconds."""
        ...


@runtime_checkable
class PreBindPlugin(Plugin, Protocol):
    async def pre_bind(self, state: CycleState, pod: PodInfo, node_name: str) -> Status | None: ...


@runtime_checkable
class BindPlugin(Plugin, Protocol):
    async def bind(self, state: CycleState, pod: PodInfo, node_name: str) -> Status | None:
        """Bind, or return SKIP to let the next Bind plugin do it."""
        ...


@runtime_checkable
class PostBindPlugin(Plugin, Protocol):
    def post_bind(self, state: CycleState, pod: PodInfo, node_name: str) -> None: ...


class Binder(Protocol):
    """Writes a binding (``pods/binding``) for DefaultBinder; the API client implements it later."""

    async def bind(self, pod: PodInfo, node_name: str) -> None:
        """Bind, or raise an exception whose text explains why not."""
        ...


class VolumeWriter(Protocol):
    """The VolumeBinding plugin's API writes (upstream's volume binder); implemented over the API client."""

    async def bind_volume(self, volume: dict[str, Any]) -> None:
        """Update the PersistentVolume (its ``claimRef`` set), or raise."""
        ...

    async def select_node(self, claim: dict[str, Any], node_name: str) -> None:
        """Set ``volume.kubernetes.io/selected-node`` on the claim, or raise."""
        ...


class Handle(Protocol):
    """What the framework gives plugins: the cycle's snapshot, nominated pods, the filter chain
    (for preemption's what-if runs), the binder, and the volume cache and writer (VolumeBinding)."""

    @property
    def binder(self) -> Binder | None: ...

    @property
    def volumes(self) -> VolumeCache | None: ...

    @property
    def workloads(self) -> WorkloadCache:
        """Services and controllers, for PodTopologySpread's default selector."""
        ...

    @property
    def volume_writer(self) -> VolumeWriter | None: ...

    @property
    def snapshot(self) -> Snapshot: ...

    def nominated_pods_for_node(self, node_name: str) -> list[PodInfo]: ...

    def run_pre_filter_extension_add_pod(
        self, state: CycleState, pod: PodInfo, to_add: PodInfo, node: NodeInfo
    ) -> Status | None: ...

    def run_pre_filter_extension_remove_pod(
        self, state: CycleState, pod: PodInfo, to_remove: PodInfo, node: NodeInfo
    ) -> Status | None: ...

    def run_filter_plugins(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None: ...

    def run_filter_plugins_with_nominated_pods(
        self, state: CycleState, pod: PodInfo, node: NodeInfo
    ) -> Status | None: ...
