"""PodTopologySpread's Score for ScheduleAnyway constraints (upstream's algorithm).

PreScore: nodes (among the feasible ones) lacking a constraint key are *ignored* (score 0). For each
non-hostname constraint, the domains of the feasible nodes get the count of matching pods over all
nodes passing the inclusion policies; each constraint's weight is log(number of domains + 2). Score:
sum over constraints of ``count * weight + maxSkew - 1`` over the keys the node has (hostname constraints
count the node's own pods), rounded. Normalize: ``100 * (max + min - score) / max`` (100 for all when max is 0).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from sampan.scheduler.framework.interface import MAX_NODE_SCORE
from sampan.scheduler.framework.node_info import NodeInfo
from sampan.scheduler.framework.pod_info import PodInfo, SpreadConstraint
from sampan.scheduler.plugins.podtopologyspread.common import (
    HOSTNAME_LABEL,
    MatchCounter,
    has_all_keys,
    node_included,
)


@dataclass
class ScoreState:
    constraints: tuple[SpreadConstraint, ...]
    ignored: set[str]
    counts: list[dict[str, int]]
    weights: list[float]
    tables: list[dict[str, tuple[int, int]]]
    """Per constraint, the :class:`MatchCounter` memo of its per-node counts: a hostname constraint's Score
    counts the node's own pods, and a node's count changes only when a pod lands on or leaves it (its
    generation), so scoring N nodes for each of many pods of one Deployment recounts ~one node per pod,
    not every pod on every node (the scheduler's largest cost at 1,000 nodes / 30,000 pods)."""


def build_score_state(
    pod: PodInfo, constraints: tuple[SpreadConstraint, ...], *, feasible: Sequence[NodeInfo],
    all_nodes: Sequence[NodeInfo], counter: MatchCounter, require_all_keys: bool = True,
) -> ScoreState:
    """``require_all_keys`` False (system default constraints, as upstream): nodes lacking a key are not
    ignored; their domain is the empty value, which counts in the number of domains but never scores."""
    ignored: set[str] = set()
    counts: list[dict[str, int]] = [{} for _ in constraints]
    # Score reads a domain's count only for feasible nodes that have the key; the "" domain of nodes
    # lacking it is read only if some feasible node spells the value "" itself. Otherwise nodes lacking the
    # key are not counted at all (every node, for a default zone constraint on unzoned nodes).
    read_empty = [False] * len(constraints)
    for node in feasible:
        if require_all_keys and not has_all_keys(node, constraints):
            ignored.add(node.name)
            continue
        for i, c in enumerate(constraints):
            if c.topology_key != HOSTNAME_LABEL:
                value = node.labels.get(c.topology_key)
                counts[i].setdefault("" if value is None else value, 0)
                read_empty[i] = read_empty[i] or value == ""
    sizes = [
        len(feasible) - len(ignored) if c.topology_key == HOSTNAME_LABEL else len(counts[i])
        for i, c in enumerate(constraints)
    ]
    tables = [counter.table(c, pod.namespace) for c in constraints]
    for node in all_nodes:
        if require_all_keys and not has_all_keys(node, constraints):
            continue
        for i, c in enumerate(constraints):
            if c.topology_key == HOSTNAME_LABEL:
                continue
            value = node.labels.get(c.topology_key)
            if value is None:
                if not read_empty[i]:
                    continue
                value = ""
            if value in counts[i] and node_included(c, pod, node):
                counts[i][value] += counter.count(tables[i], node, c, pod.namespace)
    return ScoreState(constraints, ignored, counts, [math.log(s + 2) for s in sizes], tables)


def node_score(state: ScoreState, pod: PodInfo, node: NodeInfo) -> int:
    if node.name in state.ignored:
        return 0
    total = 0.0
    for i, c in enumerate(state.constraints):
        value = node.labels.get(c.topology_key)
        if value is None:
            continue
        if c.topology_key == HOSTNAME_LABEL:
            cnt = MatchCounter.count(state.tables[i], node, c, pod.namespace)
        else:
            cnt = state.counts[i].get(value, 0)
        total += cnt * state.weights[i] + (c.max_skew - 1)
    return round(total)


def normalize(state: ScoreState, nodes: Sequence[NodeInfo], scores: list[int]) -> None:
    live = [s for n, s in zip(nodes, scores, strict=True) if n.name not in state.ignored]
    lo = min(live, default=0)
    hi = max(live, default=0)
    for i, n in enumerate(nodes):
        if n.name in state.ignored:
            scores[i] = 0
        elif hi == 0:
            scores[i] = MAX_NODE_SCORE
        else:
            scores[i] = MAX_NODE_SCORE * (hi + lo - scores[i]) // hi
