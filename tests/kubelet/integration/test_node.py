"""Node registration, node status heartbeats and the node Lease, against a real API server."""

from __future__ import annotations

import asyncio

from sampan.kubelet.node_lease import NODE_LEASE_NAMESPACE
from tests.kubelet.integration.conftest import Cluster, wait_for


def _cond(node: dict, ctype: str) -> dict:
    return next(c for c in node["status"]["conditions"] if c["type"] == ctype)


async def test_node_registers_ready_with_host_capacity(cluster: Cluster) -> None:
    nodes = await cluster.rc("v1", "nodes")
    node = await nodes.get("node-1")
    labels = node["metadata"]["labels"]
    assert labels["kubernetes.io/hostname"] == "node-1"
    assert labels["kubernetes.io/os"] == "linux"
    assert labels["kubernetes.io/arch"]
    status = node["status"]
    assert {c["type"] for c in status["conditions"]} == {"Ready", "MemoryPressure", "DiskPressure", "PIDPressure"}
    assert _cond(node, "Ready")["status"] == "True"
    assert _cond(node, "MemoryPressure")["status"] == "False"
    assert status["capacity"]["pods"] == "110"
    assert int(status["capacity"]["cpu"]) >= 1
    assert status["capacity"]["memory"].endswith("Ki")
    assert status["allocatable"] == status["capacity"]
    assert {"type": "InternalIP", "address": "127.0.0.1"} in status["addresses"]
    assert {"type": "Hostname", "address": "node-1"} in status["addresses"]  # not the machine's hostname
    assert status["daemonEndpoints"]["kubeletEndpoint"]["Port"] == cluster.kubelet.log_server.port
    assert status["nodeInfo"]["kubeletVersion"].startswith("v1.")
    assert status["nodeInfo"]["containerRuntimeVersion"].startswith("process://")


async def test_node_events_as_upstream(cluster: Cluster) -> None:
    events = await cluster.rc("v1", "events")
    found = await wait_for(lambda: events.list(namespace="default"),
                           lambda lst: {"Starting", "NodeReady", "NodeHasSufficientMemory"}
                           <= {e["reason"] for e in lst["items"]}, what="node events")
    ready = next(e for e in found["items"] if e["reason"] == "NodeReady")
    assert ready["involvedObject"]["kind"] == "Node"
    assert ready["involvedObject"]["name"] == "node-1"
    assert ready["message"] == "Node node-1 status is now: NodeReady"


async def test_heartbeats_advance_and_transition_time_stays(cluster: Cluster) -> None:
    nodes = await cluster.rc("v1", "nodes")
    first = _cond(await nodes.get("node-1"), "Ready")
    later = await wait_for(lambda: nodes.get("node-1"),
                           lambda n: _cond(n, "Ready")["lastHeartbeatTime"] != first["lastHeartbeatTime"],
                           what="a newer heartbeat")
    assert _cond(later, "Ready")["lastTransitionTime"] == first["lastTransitionTime"]


async def test_lease_is_renewed_and_stops_with_the_kubelet(cluster: Cluster) -> None:
    leases = await cluster.rc("coordination.k8s.io/v1", "leases")
    lease = await leases.get("node-1", namespace=NODE_LEASE_NAMESPACE)
    spec = lease["spec"]
    assert spec["holderIdentity"] == "node-1"
    assert spec["leaseDurationSeconds"] == 2
    assert spec["renewTime"].endswith("Z")
    assert "." in spec["renewTime"]
    node = await (await cluster.rc("v1", "nodes")).get("node-1")
    assert lease["metadata"]["ownerReferences"][0]["uid"] == node["metadata"]["uid"]
    renewed = await wait_for(lambda: leases.get("node-1", namespace=NODE_LEASE_NAMESPACE),
                             lambda x: x["spec"]["renewTime"] != spec["renewTime"], what="a renewal")
    await cluster.stop_kubelet()
    stopped = (await leases.get("node-1", namespace=NODE_LEASE_NAMESPACE))["spec"]["renewTime"]
    assert stopped >= renewed["spec"]["renewTime"]
    await asyncio.sleep(0.5)  # five renew intervals
    assert (await leases.get("node-1", namespace=NODE_LEASE_NAMESPACE))["spec"]["renewTime"] == stopped


async def test_restarted_kubelet_adopts_its_node(cluster: Cluster, tmp_path) -> None:
    from sampan.kubelet.kubelet import Kubelet
    from tests.kubelet.integration.conftest import kubelet_options

    nodes = await cluster.rc("v1", "nodes")
    uid = (await nodes.get("node-1"))["metadata"]["uid"]
    await cluster.stop_kubelet()
    again = Kubelet(cluster.client, kubelet_options(tmp_path))
    cluster.kubelet, cluster.task = again, asyncio.create_task(again.run())
    await asyncio.wait_for(again.ready.wait(), 20)
    node = await nodes.get("node-1")
    assert node["metadata"]["uid"] == uid
    assert node["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"] == again.log_server.port
