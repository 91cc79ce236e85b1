"""InterPodAffinity's PreFilter state and Filter rules (pure functions over the snapshot).

``TopologyCounts`` maps (topologyKey, value) -> number of matching terms. PreFilter builds three:
``existing_anti``: existing pods' required anti-affinity terms that match the incoming pod, counted on
their node's domain; ``affinity``: the incoming pod's required affinity terms, counted where an existing
pod matches *all* of them; ``anti``: the incoming pod's required anti-affinity terms, each counted where
an existing pod matches it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from sampan.scheduler.framework.node_info import NodeInfo
from sampan.scheduler.framework.pod_info import AffinityTerm, PodInfo
from sampan.scheduler.framework.steps import Steps, run_to_end

TopologyCounts = Counter[tuple[str, str]]

NODE_CHUNK = 64
"""PreFilter and PreScore offer a safe point (framework/steps.py) after every this many nodes."""


def matches_all(terms: Iterable[AffinityTerm], pod: PodInfo) -> bool:
    return all(t.matches(pod) for t in terms)


@dataclass
class FilterState:
    pod: PodInfo
    ns_labels: dict[str, dict[str, str]]
    existing_anti: TopologyCounts = field(default_factory=Counter)
    affinity: TopologyCounts = field(default_factory=Counter)
    anti: TopologyCounts = field(default_factory=Counter)

    def clone(self) -> FilterState:
        return FilterState(self.pod, self.ns_labels, Counter(self.existing_anti), Counter(self.affinity),
                           Counter(self.anti))

    def update_with_pod(self, existing: PodInfo, node: NodeInfo, delta: int) -> None:
        """Count (delta=+1) or uncount (-1) one existing pod on ``node``."""
        labels = node.labels
        ns = self.ns_labels.get(self.pod.namespace)
        for t in existing.required_anti_affinity:
            if t.topology_key in labels and t.matches(self.pod, ns):
                self.existing_anti[(t.topology_key, labels[t.topology_key])] += delta
        pod = self.pod
        if pod.required_affinity and matches_all(pod.required_affinity, existing):
            for t in pod.required_affinity:
                if t.topology_key in labels:
                    self.affinity[(t.topology_key, labels[t.topology_key])] += delta
        ens = self.ns_labels.get(existing.namespace)
        for t in pod.required_anti_affinity:
            if t.topology_key in labels and t.matches(existing, ens):
                self.anti[(t.topology_key, labels[t.topology_key])] += delta


def build_filter_state(
    pod: PodInfo, *, all_nodes: Sequence[NodeInfo], anti_nodes: Sequence[NodeInfo],
    ns_labels: dict[str, dict[str, str]],
) -> FilterState:
    return run_to_end(build_filter_state_steps(pod, all_nodes=all_nodes, anti_nodes=anti_nodes, ns_labels=ns_labels))


def build_filter_state_steps(
    pod: PodInfo, *, all_nodes: Sequence[NodeInfo], anti_nodes: Sequence[NodeInfo],
    ns_labels: dict[str, dict[str, str]],
) -> Steps[FilterState]:
    """``build_filter_state`` with a safe point after every ``NODE_CHUNK`` nodes: it reads only the
    cycle's snapshot (its NodeInfos are copies no event changes during a yield) and its own counts."""
    st = FilterState(pod, ns_labels)
    own_ns = ns_labels.get(pod.namespace)
    for i, node in enumerate(anti_nodes, 1):
        if i % NODE_CHUNK == 0:
            yield
        labels = node.labels
        for existing in node.pods_with_required_anti_affinity:
            for t in existing.required_anti_affinity:
                if t.topology_key in labels and t.matches(pod, own_ns):
                    st.existing_anti[(t.topology_key, labels[t.topology_key])] += 1
    if pod.required_affinity or pod.required_anti_affinity:
        for i, node in enumerate(all_nodes, 1):
            if i % NODE_CHUNK == 0:
                yield
            labels = node.labels
            for existing in node.pods:
                if pod.required_affinity and matches_all(pod.required_affinity, existing):
                    for t in pod.required_affinity:
                        if t.topology_key in labels:
                            st.affinity[(t.topology_key, labels[t.topology_key])] += 1
                ens = ns_labels.get(existing.namespace)
                for t in pod.required_anti_affinity:
                    if t.topology_key in labels and t.matches(existing, ens):
                        st.anti[(t.topology_key, labels[t.topology_key])] += 1
    return st


def satisfies_affinity(st: FilterState, node: NodeInfo) -> bool:
    terms = st.pod.required_affinity
    exist = True
    for t in terms:
        value = node.labels.get(t.topology_key)
        if value is None:
            return False
        if st.affinity[(t.topology_key, value)] <= 0:
            exist = False
    if not exist:
        # the first pod of a group that has affinity to itself may go anywhere with the topology
        return not +st.affinity and matches_all(terms, st.pod)
    return True


def satisfies_anti_affinity(st: FilterState, node: NodeInfo) -> bool:
    if not +st.anti:
        return True
    for t in st.pod.required_anti_affinity:
        value = node.labels.get(t.topology_key)
        if value is not None and st.anti[(t.topology_key, value)] > 0:
            return False
    return True


def satisfies_existing_anti_affinity(st: FilterState, node: NodeInfo) -> bool:
    if not +st.existing_anti:
        return True
    return all(st.existing_anti[(k, v)] <= 0 for k, v in node.labels.items())
