"""Node affinity, inter-pod affinity and anti-affinity, and topology spreading across zones, through a
real API server (nodes and the pods already running are API objects; no kubelet)."""

from __future__ import annotations

from collections import Counter

from tests.scheduler.integration.cluster import Cluster, node, pod

ZONE = "topology.kubernetes.io/zone"


def zoned(name: str, zone: str, **kw: str) -> dict[str, object]:
    return node(name, labels={ZONE: zone}, **kw)


async def test_node_affinity_required_and_preferred(cluster: Cluster) -> None:
    await cluster.add_nodes(zoned("a1", "a"), zoned("b1", "b"), zoned("c1", "c"))
    required = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": ZONE, "operator": "In", "values": ["b", "c"]}]}]}}}
    preferred = {"nodeAffinity": {
        **required["nodeAffinity"],
        "preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 100, "preference": {"matchExpressions": [{"key": ZONE, "operator": "In", "values": ["c"]}]}}]}}
    nowhere = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": ZONE, "operator": "In", "values": ["z"]}]}]}}}
    async with cluster.scheduler():
        await cluster.add_pods(pod("req", affinity=required), pod("pref", affinity=preferred),
                               pod("none", affinity=nowhere))
        assert await cluster.wait_bound("req") in ("b1", "c1")
        assert await cluster.wait_bound("pref") == "c1"
        cond = await cluster.wait_unschedulable("none")
        assert cond["message"].startswith("0/3 nodes are available: 3 node(s) didn't match Pod's node "
                                          "affinity/selector.")


async def test_pod_affinity_and_anti_affinity(cluster: Cluster) -> None:
    await cluster.add_nodes(zoned("a1", "a"), zoned("b1", "b"), zoned("b2", "b"))
    await cluster.add_pods(pod("db", labels={"app": "db"}, node_name="b2"))
    near_db = {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"app": "db"}}, "topologyKey": ZONE}]}}
    away_from_db = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"app": "db"}}, "topologyKey": ZONE}]}}
    async with cluster.scheduler():
        await cluster.add_pods(pod("cache", affinity=near_db), pod("batch", affinity=away_from_db))
        assert await cluster.wait_bound("cache") in ("b1", "b2")
        assert await cluster.wait_bound("batch") == "a1"


async def test_spreading_across_zones(cluster: Cluster) -> None:
    await cluster.add_nodes(zoned("a1", "a"), zoned("a2", "a"), zoned("a3", "a"), zoned("b1", "b"), zoned("c1", "c"))
    spread = [{"maxSkew": 1, "topologyKey": ZONE, "whenUnsatisfiable": "DoNotSchedule",
               "labelSelector": {"matchLabels": {"app": "web"}}}]
    async with cluster.scheduler():
        names = [f"web-{i}" for i in range(6)]
        await cluster.add_pods(*(pod(n, labels={"app": "web"}, topologySpreadConstraints=spread) for n in names))
        placed = [await cluster.wait_bound(n) for n in names]
    zones = Counter(n[0] for n in placed)
    assert zones == {"a": 2, "b": 2, "c": 2}


async def test_default_spreading_by_service_selector(cluster: Cluster) -> None:
    """No constraints of their own: the system defaults select by the pods' Service (read through the
    scheduler's services informer). ``vm`` runs control-plane pods; upstream places vm-2, vm, vm-2."""
    await cluster.add_nodes(node("vm", cpu="2", memory="4Gi"), node("vm-2", cpu="2", memory="4Gi"))
    await cluster.add_pods(pod("etcd-vm", cpu="100m", memory="100Mi", node_name="vm"),
                           pod("kube-apiserver-vm", cpu="250m", node_name="vm"),
                           pod("kube-controller-manager-vm", cpu="200m", node_name="vm"),
                           pod("kube-scheduler-vm", cpu="100m", node_name="vm"), namespace="kube-system")
    services = await cluster.client.resource("v1", "services")
    await services.create({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
                           "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}}, namespace="default")
    async with cluster.scheduler():
        for i in range(3):  # one at a time, so each sees the previous one bound
            await cluster.add_pods(pod(f"web-{i}", labels={"app": "web"}))
            await cluster.wait_bound(f"web-{i}")
        placed = [await cluster.node_of(f"web-{i}") for i in range(3)]
    assert placed == ["vm-2", "vm", "vm-2"]
