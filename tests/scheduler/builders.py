"""Builders for wire-format pods and nodes in scheduler tests (small, explicit dicts)."""

from __future__ import annotations

from typing import Any

from sampan.scheduler.cache import Cache
from sampan.scheduler.framework.config import Profile
from sampan.scheduler.framework.cycle_state import CycleState
from sampan.scheduler.framework.node_info import NodeInfo
from sampan.scheduler.framework.pod_info import PodInfo
from sampan.scheduler.framework.runtime import Framework
from sampan.scheduler.framework.snapshot import Snapshot
from sampan.scheduler.plugins import in_tree_registry


def node(
    name: str, *, cpu: str = "4", memory: str = "32Gi", pods: str = "110", labels: dict[str, str] | None = None,
    taints: list[dict[str, str]] | None = None, unschedulable: bool = False, extra: dict[str, str] | None = None,
    images: list[tuple[str, int]] | None = None,
) -> dict[str, Any]:
    alloc = {"cpu": cpu, "memory": memory, "pods": pods, **(extra or {})}
    spec: dict[str, Any] = {}
    if taints:
        spec["taints"] = taints
    if unschedulable:
        spec["unschedulable"] = True
    status: dict[str, Any] = {"allocatable": alloc, "capacity": alloc}
    if images:
        status["images"] = [{"names": [n], "sizeBytes": s} for n, s in images]
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, **(labels or {})}},
            "spec": spec, "status": status}


def pod(
    name: str, *, ns: str = "default", cpu: str | None = None, memory: str | None = None,
    labels: dict[str, str] | None = None, priority: int | None = None, node_name: str = "",
    extra_requests: dict[str, str] | None = None, host_ports: list[int] | None = None, image: str = "pause:3.10",
    **spec_fields: Any,
) -> dict[str, Any]:
    requests: dict[str, str] = {}
    if cpu:
        requests["cpu"] = cpu
    if memory:
        requests["memory"] = memory
    requests.update(extra_requests or {})
    container: dict[str, Any] = {"name": "c", "image": image, "resources": {"requests": requests}}
    if host_ports:
        container["ports"] = [{"containerPort": p, "hostPort": p} for p in host_ports]
    spec: dict[str, Any] = {"containers": [container], **spec_fields}
    if priority is not None:
        spec["priority"] = priority
    if node_name:
        spec["nodeName"] = node_name
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": ns, "uid": f"uid-{ns}-{name}", "labels": labels or {}},
            "spec": spec, "status": {"phase": "Pending"}}


def pi(name: str, **kw: Any) -> PodInfo:
    return PodInfo.parse(pod(name, **kw))


def ni(n: dict[str, Any], *pods: dict[str, Any]) -> NodeInfo:
    info = NodeInfo(n)
    for p in pods:
        info.add_pod(PodInfo.parse(p))
    return info


class World:
    """A cache, its snapshot and a default framework: enough to run plugins as the scheduler does."""

    def __init__(self, nodes: list[dict[str, Any]], pods: list[dict[str, Any]] | None = None,
                 profile: Profile | None = None) -> None:
        self.cache = Cache()
        for n in nodes:
            self.cache.add_node(n)
        for p in pods or []:
            self.cache.add_pod(PodInfo.parse(p))
        self.snapshot = Snapshot()
        self.cache.update_snapshot(self.snapshot)
        self.fwk = Framework(profile or Profile(), in_tree_registry())
        self.fwk.snapshot = self.snapshot

    def plugin(self, name: str) -> Any:
        p = self.fwk.plugin(name)
        assert p is not None
        return p

    def node(self, name: str) -> NodeInfo:
        n = self.snapshot.get(name)
        assert n is not None
        return n

    def run_filter(self, plugin_name: str, p: PodInfo) -> dict[str, str | None]:
        """PreFilter then Filter of one plugin on every node: node -> joined reasons (None = fits,
        "SKIP" when PreFilter skipped)."""
        plugin = self.plugin(plugin_name)
        state = CycleState()
        if hasattr(plugin, "pre_filter"):
            _, st = plugin.pre_filter(state, p, self.snapshot.node_infos)
            if st is not None and st.code.name == "SKIP":
                return {n.name: "SKIP" for n in self.snapshot.node_infos}
            assert st is None, st
        out: dict[str, str | None] = {}
        for n in self.snapshot.node_infos:
            st = plugin.filter(state, p, n)
            out[n.name] = None if st is None else st.message
            if hasattr(plugin, "filter_nodes"):
                batch = dict(plugin.filter_nodes(state, p, [n]))
                assert (batch.get(0) is None) == (st is None), "batch filter disagrees with filter"
        return out

    def run_score(self, plugin_name: str, p: PodInfo) -> dict[str, int] | None:
        """PreScore, Score and NormalizeScore of one plugin over all nodes (None when PreScore SKIPs)."""
        plugin = self.plugin(plugin_name)
        state = CycleState()
        nodes = self.snapshot.node_infos
        if hasattr(plugin, "pre_score"):
            st = plugin.pre_score(state, p, nodes)
            if st is not None and st.code.name == "SKIP":
                return None
            assert st is None, st
        scores = [plugin.score(state, p, n) for n in nodes]
        if hasattr(plugin, "score_nodes"):
            assert plugin.score_nodes(state, p, nodes) == scores, "batch score disagrees with score"
        if hasattr(plugin, "normalize_scores"):
            plugin.normalize_scores(state, p, nodes, scores)
        return {n.name: s for n, s in zip(nodes, scores, strict=True)}


__all__ = ["World", "ni", "node", "pi", "pod"]
