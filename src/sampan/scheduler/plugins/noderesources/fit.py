"""NodeResourcesFit.

Filter (upstream's fitsRequest): "Too many pods" when the node already holds ``allocatable.pods``
pods; then, for each resource the pod requests, "Insufficient <resource>" when the request exceeds
allocatable minus requested. Every failing resource is a reason of the same status; the status is
UNSCHEDULABLE_AND_UNRESOLVABLE when some request exceeds the node's whole allocatable (no preemption
can help), UNSCHEDULABLE otherwise. ``ignoredResources`` / ``ignoredResourceGroups`` exempt extended
resources. Score: ``scoringStrategy.type`` LeastAllocated (default) or MostAllocated over
``scoringStrategy.resources`` (default cpu and memory, weight 1).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

from sampan.scheduler.framework import events as ev
from sampan.scheduler.framework.cycle_state import CycleState
from sampan.scheduler.framework.interface import Handle, PreFilterExtensions, PreFilterResult
from sampan.scheduler.framework.node_info import MEMO_LIMIT, MemoKeys, NodeInfo
from sampan.scheduler.framework.pod_info import PodInfo
from sampan.scheduler.framework.resources import Resource
from sampan.scheduler.framework.status import Code, Status
from sampan.scheduler.plugins.noderesources.scoring import (
    DEFAULT_RESOURCES,
    LEAST_ALLOCATED,
    MOST_ALLOCATED,
    ResourceSpec,
    parse_resources,
    weighted_score,
)

FIT_NAME = "NodeResourcesFit"
MAX = 100
_MISS = object()


def fits_request(
    req: Resource, node: NodeInfo, *,
    ignored: frozenset[str] = frozenset(), ignored_groups: frozenset[str] = frozenset(),
) -> Status | None:
    """The Filter rule as a pure function of a request vector and a node."""
    reasons: list[str] = []
    unresolvable = False
    alloc, used = node.allocatable, node.requested
    if len(node.pods) + 1 > alloc.allowed_pods:
        reasons.append("Too many pods")
    if req.milli_cpu and req.milli_cpu > alloc.milli_cpu - used.milli_cpu:
        reasons.append("Insufficient cpu")
        unresolvable |= req.milli_cpu > alloc.milli_cpu
    if req.memory and req.memory > alloc.memory - used.memory:
        reasons.append("Insufficient memory")
        unresolvable |= req.memory > alloc.memory
    if req.ephemeral_storage and req.ephemeral_storage > alloc.ephemeral_storage - used.ephemeral_storage:
        reasons.append("Insufficient ephemeral-storage")
        unresolvable |= req.ephemeral_storage > alloc.ephemeral_storage
    for name, q in req.scalars.items():
        if not q or name in ignored or name.split("/", 1)[0] in ignored_groups:
            continue
        have = alloc.scalars.get(name, 0)
        if q > have - used.scalars.get(name, 0):
            reasons.append(f"Insufficient {name}")
            unresolvable |= q > have
    if not reasons:
        return None
    return Status(Code.UNSCHEDULABLE_AND_UNRESOLVABLE if unresolvable else Code.UNSCHEDULABLE, *reasons)


class Fit:
    name = FIT_NAME

    def __init__(
        self, *, strategy: str = LEAST_ALLOCATED, resources: tuple[ResourceSpec, ...] = DEFAULT_RESOURCES,
        ignored: frozenset[str] = frozenset(), ignored_groups: frozenset[str] = frozenset(),
    ) -> None:
        self.strategy = strategy
        self.resources = resources
        self.ignored = ignored
        self.ignored_groups = ignored_groups
        self._fast = resources == DEFAULT_RESOURCES
        self._filter_keys = MemoKeys()
        self._score_keys = MemoKeys()

    def events_to_register(self) -> list[ev.ClusterEvent]:
        return [
            ev.ClusterEvent(ev.ASSIGNED_POD, ev.ActionType.DELETE | ev.ActionType.UPDATE_POD_SCALE_DOWN),
            ev.ClusterEvent(ev.NODE, ev.ActionType.ADD | ev.ActionType.UPDATE_NODE_ALLOCATABLE
                            | ev.ActionType.UPDATE_NODE_TAINT | ev.ActionType.UPDATE_NODE_LABEL),
        ]

    def pre_filter(
        self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]
    ) -> tuple[PreFilterResult | None, Status | None]:
        return None, None

    def pre_filter_extensions(self) -> PreFilterExtensions | None:
        return None

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        req = pod.requests
        alloc, used = node.allocatable, node.requested
        # fast path: room for one more pod and for cpu/memory, nothing else requested
        if (
            len(node.pods) < alloc.allowed_pods
            and req.milli_cpu <= alloc.milli_cpu - used.milli_cpu
            and req.memory <= alloc.memory - used.memory
            and not req.ephemeral_storage
            and not req.scalars
        ):
            return None
        return fits_request(req, node, ignored=self.ignored, ignored_groups=self.ignored_groups)

    def filter_nodes(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]) -> list[tuple[int, Status]]:
        req = pod.requests
        if req.ephemeral_storage or req.scalars:
            out = []
            for i, n in enumerate(nodes):
                st = fits_request(req, n, ignored=self.ignored, ignored_groups=self.ignored_groups)
                if st is not None:
                    out.append((i, st))
            return out
        cpu, mem = req.milli_cpu, req.memory
        # the verdict depends on the node's state and the pod's cpu/memory only: memoized per node (NodeInfo.memo)
        key = self._filter_keys.key((cpu, mem))
        rejected: list[tuple[int, Status]] = []
        for i, n in enumerate(nodes):
            memo = n.memo
            verdict: object = memo.get(key, _MISS)
            if verdict is _MISS:
                alloc, used = n.allocatable, n.requested
                verdict = None if (
                    len(n.pods) < alloc.allowed_pods
                    and cpu <= alloc.milli_cpu - used.milli_cpu
                    and mem <= alloc.memory - used.memory
                ) else fits_request(req, n)
                if len(memo) >= MEMO_LIMIT:
                    memo.clear()
                memo[key] = verdict
            if verdict is not None:
                rejected.append((i, cast(Status, verdict)))
        return rejected

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        return weighted_score(node, pod, self.resources, most=self.strategy == MOST_ALLOCATED)

    def score_nodes(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]) -> list[int]:
        if not self._fast:
            return [self.score(state, pod, n) for n in nodes]
        pc, pm = pod.non_zero_cpu, pod.non_zero_memory
        most = self.strategy == MOST_ALLOCATED
        # a node's score depends on its state and the pod's scoring requests only: memoized per node
        key = self._score_keys.key((pc, pm))
        out: list[int] = []
        for n in nodes:
            memo = n.memo
            score = memo.get(key)
            if score is None:
                score = _fast_score(n, pc, pm, most)
                if len(memo) >= MEMO_LIMIT:
                    memo.clear()
                memo[key] = score
            out.append(score)  # type: ignore[arg-type]
        return out


def _fast_score(n: NodeInfo, pc: int, pm: int, most: bool) -> int:
    """LeastAllocated / MostAllocated over cpu and memory, weight 1 each (the default resources)."""
    ac, am = n.allocatable.milli_cpu, n.allocatable.memory
    rc, rm = n.non_zero_cpu + pc, n.non_zero_memory + pm
    total = weights = 0
    if ac:
        weights += 1
        if most:
            total += (rc if rc < ac else ac) * MAX // ac
        elif rc <= ac:
            total += (ac - rc) * MAX // ac
    if am:
        weights += 1
        if most:
            total += (rm if rm < am else am) * MAX // am
        elif rm <= am:
            total += (am - rm) * MAX // am
    return total // weights if weights else 0


def new_fit(args: Mapping[str, Any], handle: Handle) -> Fit:
    strategy = args.get("scoringStrategy") or {}
    if not isinstance(strategy, dict):
        raise ValueError("NodeResourcesFit args.scoringStrategy: must be an object")
    kind = strategy.get("type") or LEAST_ALLOCATED
    if kind not in (LEAST_ALLOCATED, MOST_ALLOCATED):
        raise ValueError(f"NodeResourcesFit args.scoringStrategy.type: Unsupported value: {kind!r}: "
                         f"supported values: {LEAST_ALLOCATED!r}, {MOST_ALLOCATED!r}")
    resources = parse_resources(strategy.get("resources"), where="NodeResourcesFit args.scoringStrategy.resources")
    ignored = args.get("ignoredResources") or []
    groups = args.get("ignoredResourceGroups") or []
    if not isinstance(ignored, list) or not isinstance(groups, list):
        raise ValueError("NodeResourcesFit args: ignoredResources and ignoredResourceGroups must be lists")
    return Fit(strategy=kind, resources=resources, ignored=frozenset(ignored), ignored_groups=frozenset(groups))


