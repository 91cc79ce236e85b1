"""Shared rules: which nodes count for a constraint, and which pods match it."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

from sampan.scheduler.framework.node_info import NodeInfo
from sampan.scheduler.framework.pod_info import PodInfo, SpreadConstraint
from sampan.scheduler.framework.taints import NO_EXECUTE, NO_SCHEDULE, first_untolerated
from sampan.scheduler.plugins.nodeaffinity import matches_required

HOSTNAME_LABEL = "kubernetes.io/hostname"
_DO_NOT_SCHEDULE = frozenset({NO_SCHEDULE, NO_EXECUTE})


def has_all_keys(node: NodeInfo, constraints: Sequence[SpreadConstraint]) -> bool:
    labels = node.labels
    return all(c.topology_key in labels for c in constraints)


def policies_matter(c: SpreadConstraint, pod: PodInfo) -> bool:
    """Whether ``node_included`` can ever be False for this pod and constraint."""
    return (c.node_affinity_policy == "Honor" and bool(pod.node_selector or pod.required_node_affinity is not None)) \
        or c.node_taints_policy == "Honor"


def node_included(c: SpreadConstraint, pod: PodInfo, node: NodeInfo) -> bool:
    """nodeAffinityPolicy Honor: the node must satisfy the pod's nodeSelector/required affinity;
    nodeTaintsPolicy Honor: the pod must tolerate the node's NoSchedule/NoExecute taints."""
    if (
        c.node_affinity_policy == "Honor" and (pod.node_selector or pod.required_node_affinity is not None)
        and not matches_required(pod, node)
    ):
        return False
    return not (
        c.node_taints_policy == "Honor" and node.taints
        and first_untolerated(node.taints, pod.tolerations, effects=_DO_NOT_SCHEDULE) is not None
    )


def count_matching(pods: Sequence[PodInfo], c: SpreadConstraint, namespace: str) -> int:
    """Pods in ``namespace``, not being deleted, whose labels match the constraint's selector."""
    sel = c.selector
    n = 0
    for p in pods:
        if p.namespace != namespace or p.terminating:
            continue
        if sel.matches(p.labels):
            n += 1
    return n


class MatchCounter:
    """``count_matching`` memoized per node: an entry is (node generation, count) and is valid while the
    node's generation is unchanged (every pod add/remove bumps it). Keyed by namespace and selector
    text; at most ``max_selectors`` selectors are remembered (least recently used go first)."""

    def __init__(self, max_selectors: int = 64) -> None:
        self._max = max_selectors
        self._by_selector: OrderedDict[tuple[str, str], dict[str, tuple[int, int]]] = OrderedDict()

    def table(self, c: SpreadConstraint, namespace: str) -> dict[str, tuple[int, int]]:
        key = (namespace, str(c.selector) if not c.selector.empty else "")
        t = self._by_selector.get(key)
        if t is None:
            t = self._by_selector[key] = {}
            if len(self._by_selector) > self._max:
                self._by_selector.popitem(last=False)
        else:
            self._by_selector.move_to_end(key)
        return t

    @staticmethod
    def count(table: dict[str, tuple[int, int]], node: NodeInfo, c: SpreadConstraint, namespace: str) -> int:
        hit = table.get(node.name)
        if hit is not None and hit[0] == node.generation:
            return hit[1]
        n = count_matching(node.pods, c, namespace) if node.pods else 0
        table[node.name] = (node.generation, n)
        return n
