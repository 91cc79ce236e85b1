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
from sampan.scheduler.framework.snapshot import Snapshot
from sampan.scheduler.plugins.podtopologyspread.common import (
    HOSTNAME_LABEL,
    MatchCounter,
    has_all_keys,
    node_included,
    policies_matter,
)
from sampan.scheduler.plugins.podtopologyspread.domains import DomainCounter


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
    snapshot: Snapshot | None = None, domains: DomainCounter | None = None,
) -> ScoreState:
    """``require_all_keys`` False (system default constraints, as upstream): nodes lacking a key are not
    ignored; their domain is the empty value, which counts in the number of domains but never scores.

    Cost: one pass over ``feasible``, then only the work a Score can read. A constraint none of whose
    feasible domains is ever read (the default zone constraint on unzoned nodes) gets no pass over
    ``all_nodes``; with ``snapshot`` (whose ``node_infos`` is ``all_nodes``) and ``domains``, a constraint
    whose counts do not depend on the pod's node inclusion policies reads the incrementally kept per-domain
    totals instead of a pass. ``counts[i]`` then equals the full pass's for every domain a Score reads."""
    ignored: set[str] = set()
    kept = feasible
    if require_all_keys:
        kept = [n for n in feasible if has_all_keys(n, constraints)]
        if len(kept) < len(feasible):
            ignored = {n.name for n in feasible if not has_all_keys(n, constraints)}
    counts: list[dict[str, int]] = [{} for _ in constraints]
    # Score reads a domain's count only for feasible nodes that have the key; the "" domain of nodes
    # lacking it is read only if some feasible node spells the value "" itself. Otherwise nodes lacking the
    # key are not counted at all (every node, for a default zone constraint on unzoned nodes).
    read_empty = [False] * len(constraints)
    spread = [i for i, c in enumerate(constraints) if c.topology_key != HOSTNAME_LABEL]
    for i in spread:
        key = constraints[i].topology_key
        values = {n.labels.get(key) for n in kept}
        read_empty[i] = "" in values
        counts[i] = dict.fromkeys(("" if v is None else v for v in values), 0)
    sizes = [
        len(feasible) - len(ignored) if c.topology_key == HOSTNAME_LABEL else len(counts[i])
        for i, c in enumerate(constraints)
    ]
    tables = [counter.table(c, pod.namespace) for c in constraints]
    # Constraints with a domain some Score reads: a value other than "" (or "" spelled by a feasible node).
    wanted = [i for i in spread if read_empty[i] or len(counts[i]) > ("" in counts[i])]
    passes: list[int] = []
    required = tuple(c.topology_key for c in constraints) if require_all_keys else None
    for i in wanted:
        c = constraints[i]
        totals = None
        if snapshot is not None and domains is not None and not policies_matter(c, pod):
            totals = domains.totals(snapshot, c, pod.namespace, required, counter)
        if totals is None:
            passes.append(i)
            continue
        ci = counts[i]
        for value in ci:
            ci[value] = totals.get(value, 0)
        if read_empty[i]:
            ci[""] += totals.get(None, 0)
    if passes:
        _count_all_nodes(pod, constraints, passes, all_nodes, counter, tables, counts, read_empty, require_all_keys)
    return ScoreState(constraints, ignored, counts, [math.log(s + 2) for s in sizes], tables)


def _count_all_nodes(
    pod: PodInfo, constraints: tuple[SpreadConstraint, ...], which: list[int], all_nodes: Sequence[NodeInfo],
    counter: MatchCounter, tables: list[dict[str, tuple[int, int]]], counts: list[dict[str, int]],
    read_empty: list[bool], require_all_keys: bool,
) -> None:
    """The plain pass: add each node's matching pods to its domain, for the constraints ``which``."""
    for node in all_nodes:
        if require_all_keys and not has_all_keys(node, constraints):
            continue
        for i in which:
            c = constraints[i]
            value = node.labels.get(c.topology_key)
            if value is None:
                if not read_empty[i]:
                    continue
                value = ""
            if value in counts[i] and node_included(c, pod, node):
                counts[i][value] += counter.count(tables[i], node, c, pod.namespace)


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


def node_scores(state: ScoreState, pod: PodInfo, nodes: Sequence[NodeInfo]) -> list[int]:
    """``[node_score(state, pod, n) for n in nodes]`` in one call: the same terms added in the same order, so
    the same floats. A domain constraint's term ``count * weight + maxSkew - 1`` is worked out once per
    domain (an unknown domain counts 0: the term is ``maxSkew - 1``), a hostname one per node through the
    memo (its hit inlined)."""
    ignored = state.ignored
    namespace = pod.namespace
    specs = []
    for i, c in enumerate(state.constraints):
        w, skew = state.weights[i], c.max_skew - 1
        terms = {} if c.topology_key == HOSTNAME_LABEL else {v: n * w + skew for v, n in state.counts[i].items()}
        specs.append((c.topology_key, c.topology_key == HOSTNAME_LABEL, w, skew, 0 * w + skew, terms,
                      state.tables[i], c))
    count = MatchCounter.count
    out: list[int] = []
    for node in nodes:
        if ignored and node.name in ignored:
            out.append(0)
            continue
        labels = node.labels
        total = 0.0
        for key, by_host, weight, skew, unknown, terms, table, c in specs:
            value = labels.get(key)
            if value is None:
                continue
            if by_host:
                hit = table.get(node.name)
                cnt = hit[1] if hit is not None and hit[0] == node.generation else count(table, node, c, namespace)
                total += cnt * weight + skew
            else:
                total += terms.get(value, unknown)
        out.append(round(total))
    return out


def normalize(state: ScoreState, nodes: Sequence[NodeInfo], scores: list[int]) -> None:
    if not state.ignored:
        lo = min(scores, default=0)
        hi = max(scores, default=0)
        if hi == 0:
            scores[:] = [MAX_NODE_SCORE] * len(scores)
        else:
            scores[:] = [MAX_NODE_SCORE * (hi + lo - s) // hi for s in scores]
        return
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
