"""PodNominator: pods that preemption nominated to a node, so other pods' filters account for them.

Invariant: a uid appears in at most one node's list, and ``_node_of[uid]`` names that node.
"""

from __future__ import annotations

from collections.abc import Collection

from sampan.scheduler.framework.pod_info import PodInfo


class PodNominator:
    def __init__(self) -> None:
        self._by_node: dict[str, list[PodInfo]] = {}
        self._node_of: dict[str, str] = {}

    def add(self, pod: PodInfo, node_name: str = "") -> None:
        """Nominate ``pod`` to ``node_name`` (or to its ``status.nominatedNodeName``)."""
        self.delete(pod.uid)
        node_name = node_name or pod.nominated_node_name
        if not node_name:
            return
        self._by_node.setdefault(node_name, []).append(pod)
        self._node_of[pod.uid] = node_name

    def delete(self, uid: str) -> None:
        node = self._node_of.pop(uid, None)
        if node is None:
            return
        rest = [p for p in self._by_node.get(node, []) if p.uid != uid]
        if rest:
            self._by_node[node] = rest
        else:
            self._by_node.pop(node, None)

    def nominated_node(self, uid: str) -> str:
        return self._node_of.get(uid, "")

    def nominated_node_names(self) -> Collection[str]:
        """Nodes with at least one nominated pod (a live view)."""
        return self._by_node.keys()

    def nominated_pods_for_node(self, node_name: str) -> list[PodInfo]:
        return list(self._by_node.get(node_name, ()))
