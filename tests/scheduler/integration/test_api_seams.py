"""The seams over a real API server, one at a time: binding (and 409 on a second binding), the
PodScheduled condition and nominatedNodeName (and no write when nothing changes), eviction with a uid
precondition."""

from __future__ import annotations

from typing import Any

import pytest

from sampan.api import errors
from sampan.scheduler.api_seams import APIBinder, APIEvictor, APIPodStatusWriter
from sampan.scheduler.framework.pod_info import PodInfo
from tests.scheduler.integration.cluster import Cluster, node, pod


async def _created(cluster: Cluster, obj: dict[str, Any]) -> PodInfo:
    await cluster.ensure_priority_class(obj["spec"].get("priorityClassName"))
    return PodInfo.parse(await cluster.pods.create(obj, namespace="default"))


async def test_binder_binds_once(cluster: Cluster) -> None:
    await cluster.add_nodes(node("n1"), node("n2"))
    p = await _created(cluster, pod("p"))
    binder = APIBinder(cluster.pods)
    await binder.bind(p, "n1")
    assert await cluster.node_of("p") == "n1"
    with pytest.raises(errors.Conflict):
        await binder.bind(p, "n2")
    assert await cluster.node_of("p") == "n1"


async def test_status_writer(cluster: Cluster) -> None:
    p = await _created(cluster, pod("p"))
    writer = APIPodStatusWriter(cluster.pods)
    await writer.set_unschedulable(p, reason="Unschedulable", message="0/0 nodes are available.",
                                   nominated_node_name="n1")
    got = await cluster.pods.get("p", namespace="default")
    cond = next(c for c in got["status"]["conditions"] if c["type"] == "PodScheduled")
    assert (cond["status"], cond["reason"], cond["message"]) == ("False", "Unschedulable", "0/0 nodes are available.")
    assert got["status"]["nominatedNodeName"] == "n1"
    rv = got["metadata"]["resourceVersion"]
    await writer.set_unschedulable(p, reason="Unschedulable", message="0/0 nodes are available.",
                                   nominated_node_name=None)
    assert (await cluster.pods.get("p", namespace="default"))["metadata"]["resourceVersion"] == rv  # no write
    await writer.set_unschedulable(p, reason="Unschedulable", message="0/0 nodes are available.",
                                   nominated_node_name="")
    got = await cluster.pods.get("p", namespace="default")
    assert "nominatedNodeName" not in got["status"]
    await cluster.pods.delete("p", namespace="default")
    await writer.set_unschedulable(p, reason="Unschedulable", message="gone", nominated_node_name=None)  # no error


async def test_evictor_respects_the_uid(cluster: Cluster) -> None:
    await cluster.add_nodes(node("n1"))
    old = await _created(cluster, pod("victim", node_name="n1"))
    await cluster.pods.delete("victim", namespace="default", grace_period_seconds=0)
    await cluster.wait_gone("victim")
    await cluster.add_pods(pod("victim", node_name="n1"))  # same name, new uid
    preemptor = await _created(cluster, pod("high", priority=100))
    evictor = APIEvictor(cluster.pods, recorder=None)
    await evictor.evict(old, preemptor=preemptor)
    current = await cluster.pods.get("victim", namespace="default")
    assert not current["metadata"].get("deletionTimestamp")
    assert not any(c["type"] == "DisruptionTarget" for c in current["status"].get("conditions") or [])
    await evictor.evict(PodInfo.parse(current), preemptor=preemptor)
    await cluster.wait_pod("victim", lambda p: bool(p["metadata"].get("deletionTimestamp")))
