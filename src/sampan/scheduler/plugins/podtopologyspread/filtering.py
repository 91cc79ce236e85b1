"""PodTopologySpread's Filter: PreFilter counts matching pods per (topologyKey, value) over every node
that has all the constraints' keys and passes the inclusion policies; Filter checks the skew.

Invariant of ``FilterState``: ``counts[i]`` maps each eligible domain value of constraint ``i`` to its
matching-pod count (domains with no pods are present with 0), so ``min(counts[i].values())`` is the
global minimum and ``len(counts[i])`` the number of domains.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sampan.scheduler.framework.node_info import NodeInfo
from sampan.scheduler.framework.pod_info import PodInfo, SpreadConstraint
from sampan.scheduler.plugins.podtopologyspread.common import (
    MatchCounter,
    count_matching,
    has_all_keys,
    node_included,
    policies_matter,
)


@dataclass
class FilterState:
    """``mins[i]`` caches the global minimum of ``counts[i]`` (None: recompute); every mutation of
    ``counts`` goes through ``update_with_pod``, which resets it."""

    constraints: tuple[SpreadConstraint, ...]
    counts: list[dict[str, int]]
    mins: list[int | None] = field(default_factory=list)

    def clone(self) -> FilterState:
        return FilterState(self.constraints, [dict(c) for c in self.counts], list(self.mins))

    def global_min(self, i: int) -> int:
        if len(self.mins) != len(self.counts):
            self.mins = [None] * len(self.counts)
        m = self.mins[i]
        if m is None:
            m = self.mins[i] = min(self.counts[i].values(), default=0)
        return m

    def update_with_pod(self, pod: PodInfo, existing: PodInfo, node: NodeInfo, delta: int) -> None:
        if existing.namespace != pod.namespace or not has_all_keys(node, self.constraints):
            return
        for i, c in enumerate(self.constraints):
            if not node_included(c, pod, node) or not c.selector.matches(existing.labels):
                continue
            value = node.labels[c.topology_key]
            self.counts[i][value] = self.counts[i].get(value, 0) + delta
            self.mins = []


def build_filter_state(
    pod: PodInfo, constraints: tuple[SpreadConstraint, ...], nodes: Sequence[NodeInfo], counter: MatchCounter
) -> FilterState:
    counts: list[dict[str, int]] = [{} for _ in constraints]
    tables = [counter.table(c, pod.namespace) for c in constraints]
    if len(constraints) == 1 and not policies_matter(constraints[0], pod):
        _count_one(pod, constraints[0], nodes, counts[0], tables[0])
        return FilterState(constraints, counts)
    count = counter.count
    for node in nodes:
        if not has_all_keys(node, constraints):
            continue
        for i, c in enumerate(constraints):
            if not node_included(c, pod, node):
                continue
            value = node.labels[c.topology_key]
            counts[i][value] = counts[i].get(value, 0) + count(tables[i], node, c, pod.namespace)
    return FilterState(constraints, counts)


def _count_one(
    pod: PodInfo, c: SpreadConstraint, nodes: Sequence[NodeInfo], out: dict[str, int],
    table: dict[str, tuple[int, int]],
) -> None:
    """The common case inlined (one constraint, every node with the key counts): the same result as
    the general loop, without a call per node."""
    key = c.topology_key
    ns = pod.namespace
    for node in nodes:
        value = node.labels.get(key)
        if value is None:
            continue
        n = 0
        if node.pods:
            hit = table.get(node.name)
            if hit is not None and hit[0] == node.generation:
                n = hit[1]
            else:
                n = count_matching(node.pods, c, ns)
                table[node.name] = (node.generation, n)
        out[value] = out.get(value, 0) + n


def check(state: FilterState, pod: PodInfo, node: NodeInfo) -> tuple[bool, bool]:
    """(has every key, skew ok)."""
    for i, c in enumerate(state.constraints):
        value = node.labels.get(c.topology_key)
        if value is None:
            return False, False
        domains = state.counts[i]
        self_match = 1 if c.selector.matches(pod.labels) else 0
        global_min = state.global_min(i)
        if len(domains) < c.min_domains:
            global_min = 0
        skew = domains.get(value, 0) + self_match - global_min
        if skew > c.max_skew:
            return True, False
    return True, True
