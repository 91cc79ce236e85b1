"""Preemption, and two schedulers with different names sharing one cluster, through a real API server."""

from __future__ import annotations

from tests.scheduler.integration.cluster import Cluster, node, pod

OTHER = """
profiles:
- schedulerName: other-scheduler
"""


async def test_preemption(cluster: Cluster) -> None:
    """The victim is deleted gracefully (no kubelet here, so it stays terminating and keeps its cpu);
    the preemptor is nominated and waits; once the "kubelet" finishes the deletion it is bound."""
    await cluster.add_nodes(node("n1", cpu="2"), node("n2", cpu="1"))
    await cluster.add_pods(pod("low", cpu="1500m", priority=10, node_name="n1"),
                           pod("keep", cpu="250m", priority=2000, node_name="n1"))
    async with cluster.scheduler():
        await cluster.add_pods(pod("high", cpu="1500m", priority=1000))
        terminating = await cluster.wait_pod("low", lambda p: bool(p["metadata"].get("deletionTimestamp")))
        conditions = {c["type"]: c for c in terminating["status"].get("conditions") or []}
        assert conditions["DisruptionTarget"]["reason"] == "PreemptionByScheduler"
        preempted = await cluster.wait_event("low", "Preempted")
        assert preempted["message"].startswith("Preempted by pod ")
        nominated = await cluster.wait_pod("high", lambda p: (p.get("status") or {}).get("nominatedNodeName") == "n1")
        assert not nominated["spec"].get("nodeName")  # the victim still holds the node
        failed = await cluster.wait_event("high", "FailedScheduling")
        assert failed["message"].startswith("0/2 nodes are available: 2 Insufficient cpu.")

        await cluster.pods.delete("low", namespace="default", grace_period_seconds=0)  # what the kubelet does
        assert await cluster.wait_bound("high") == "n1"
    assert await cluster.node_of("keep") == "n1"  # the higher-priority pod was not a victim


async def test_two_schedulers_with_different_names(cluster: Cluster) -> None:
    await cluster.add_nodes(node("n1", cpu="2"))
    async with cluster.scheduler(), cluster.scheduler(OTHER):
        await cluster.add_pods(pod("for-default", cpu="500m"), pod("for-other", cpu="500m",
                                                                    schedulerName="other-scheduler"),
                               pod("for-nobody", cpu="500m", schedulerName="nobody"),
                               pod("too-big", cpu="4", schedulerName="other-scheduler"))
        assert await cluster.wait_bound("for-default") == "n1"
        assert await cluster.wait_bound("for-other") == "n1"
        assert (await cluster.wait_event("for-default", "Scheduled"))["source"]["component"] == "default-scheduler"
        assert (await cluster.wait_event("for-other", "Scheduled"))["source"]["component"] == "other-scheduler"
        failed = await cluster.wait_event("too-big", "FailedScheduling")
        assert failed["source"]["component"] == "other-scheduler"
    assert await cluster.node_of("for-nobody") == ""
    assert not await cluster.events_for("for-nobody")
