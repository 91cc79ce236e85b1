"""InterPodAffinity's Score: a weight per (topologyKey, value), summed over the node's labels.

For every existing pod (on every node when the incoming pod has preferred terms, else only on nodes
with affinity pods) and its node's domain: + weight of each incoming preferred affinity term it
matches, - weight of each incoming preferred anti-affinity term it matches, + ``hard_weight`` for each
of the existing pod's required affinity terms matching the incoming pod, +/- weight of the existing
pod's preferred affinity/anti-affinity terms matching the incoming pod. Normalization maps [min, max]
onto [0, 100] (all zero when max == min).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from sampan.scheduler.framework.interface import MAX_NODE_SCORE
from sampan.scheduler.framework.node_info import NodeInfo
from sampan.scheduler.framework.pod_info import PodInfo
from sampan.scheduler.framework.steps import Steps, run_to_end
from sampan.scheduler.plugins.interpodaffinity.filtering import NODE_CHUNK

TopologyScore = dict[str, dict[str, int]]


def build_topology_score(
    pod: PodInfo, nodes: Sequence[NodeInfo], *, hard_weight: int, ns_labels: dict[str, dict[str, str]]
) -> TopologyScore:
    return run_to_end(build_topology_score_steps(pod, nodes, hard_weight=hard_weight, ns_labels=ns_labels))


def build_topology_score_steps(
    pod: PodInfo, nodes: Sequence[NodeInfo], *, hard_weight: int, ns_labels: dict[str, dict[str, str]]
) -> Steps[TopologyScore]:
    """``build_topology_score`` with a safe point after every ``NODE_CHUNK`` nodes (reads only the
    cycle's snapshot and its own sums)."""
    scores: defaultdict[str, defaultdict[str, int]] = defaultdict(lambda: defaultdict(int))
    own_ns = ns_labels.get(pod.namespace)
    has_preferred = bool(pod.preferred_affinity or pod.preferred_anti_affinity)
    for i, node in enumerate(nodes, 1):
        if i % NODE_CHUNK == 0:
            yield
        labels = node.labels
        existing_pods = node.pods if has_preferred else node.pods_with_affinity
        for existing in existing_pods:
            ens = ns_labels.get(existing.namespace)
            for w in pod.preferred_affinity:
                t = w.term
                if t.topology_key in labels and t.matches(existing, ens):
                    scores[t.topology_key][labels[t.topology_key]] += w.weight
            for w in pod.preferred_anti_affinity:
                t = w.term
                if t.topology_key in labels and t.matches(existing, ens):
                    scores[t.topology_key][labels[t.topology_key]] -= w.weight
            if hard_weight:
                for t in existing.required_affinity:
                    if t.topology_key in labels and t.matches(pod, own_ns):
                        scores[t.topology_key][labels[t.topology_key]] += hard_weight
            for w in existing.preferred_affinity:
                t = w.term
                if t.topology_key in labels and t.matches(pod, own_ns):
                    scores[t.topology_key][labels[t.topology_key]] += w.weight
            for w in existing.preferred_anti_affinity:
                t = w.term
                if t.topology_key in labels and t.matches(pod, own_ns):
                    scores[t.topology_key][labels[t.topology_key]] -= w.weight
    return {k: {v: s for v, s in vals.items() if s} for k, vals in scores.items() if any(vals.values())}


def node_score(topology_score: TopologyScore, node: NodeInfo) -> int:
    total = 0
    for key, values in topology_score.items():
        v = node.labels.get(key)
        if v is not None:
            total += values.get(v, 0)
    return total


def normalize(scores: list[int]) -> None:
    if not scores:
        return
    lo, hi = min(scores), max(scores)
    diff = hi - lo
    scores[:] = [int(MAX_NODE_SCORE * ((s - lo) / diff)) if diff > 0 else 0 for s in scores]
