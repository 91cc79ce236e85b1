"""Resource fit, taints, a pod that becomes schedulable when a node is added, and what an unschedulable
pod shows (condition, event, metrics) — all through a real API server."""

from __future__ import annotations

import socket

import aiohttp

from tests.scheduler.integration.cluster import Cluster, node, pod

TAINT = [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]
TOLERATION = [{"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}]


async def test_unschedulable_pod_gets_condition_event_and_metrics(cluster: Cluster) -> None:
    await cluster.add_nodes(node("small", cpu="1"), node("tainted", cpu="8", taints=TAINT))
    async with cluster.scheduler(metrics=True) as app:
        await cluster.add_pods(pod("big", cpu="2"))
        cond = await cluster.wait_unschedulable("big")
        assert cond["status"] == "False"
        assert cond["message"].startswith(
            "0/2 nodes are available: 1 Insufficient cpu, 1 node(s) had untolerated taint {dedicated: gpu}. ")
        event = await cluster.wait_event("big", "FailedScheduling")
        assert event["type"] == "Warning"
        assert event["message"] == cond["message"]
        assert event["source"]["component"] == "default-scheduler"
        assert app.metrics_server is not None
        async with aiohttp.ClientSession() as http, http.get(app.metrics_server.url + "/metrics") as resp:
            text = await resp.text()
        assert 'scheduler_schedule_attempts_total{profile="default-scheduler",result="unschedulable"}' in text
        assert 'scheduler_pending_pods{queue="unschedulable"} 1.0' in text
        assert "scheduler_scheduling_attempt_duration_seconds_bucket" in text


async def test_pod_for_another_scheduler_is_left_alone(cluster: Cluster) -> None:
    await cluster.add_nodes(node("small", cpu="1"))
    async with cluster.scheduler():
        await cluster.add_pods(pod("theirs", cpu="2", schedulerName="nobody"), pod("mine", cpu="2"))
        await cluster.wait_unschedulable("mine")
        theirs = await cluster.pods.get("theirs", namespace="default")
        assert not theirs["status"].get("conditions")
        assert not await cluster.events_for("theirs")


async def test_resource_fit(cluster: Cluster) -> None:
    await cluster.add_nodes(node("small", cpu="1"), node("large", cpu="4"))
    async with cluster.scheduler():
        await cluster.add_pods(pod("p", cpu="2", memory="1Gi"))
        assert await cluster.wait_bound("p") == "large"
        scheduled = await cluster.wait_event("p", "Scheduled")
        assert scheduled["message"] == "Successfully assigned default/p to large"
        # as upstream's events recorder: named after the profile and host, not the lease identity
        assert scheduled["source"] == {"component": "default-scheduler"}
        assert scheduled["reportingComponent"] == "default-scheduler"
        assert scheduled["reportingInstance"] == f"default-scheduler-{socket.gethostname()}"
        # the node now has 2 cpu left: two more fit, the third does not
        await cluster.add_pods(pod("q1", cpu="1"), pod("q2", cpu="1"), pod("q3", cpu="1500m"))
        assert await cluster.wait_bound("q1") in ("small", "large")
        assert await cluster.wait_bound("q2") in ("small", "large")
        await cluster.wait_unschedulable("q3")


async def test_taints_and_tolerations(cluster: Cluster) -> None:
    await cluster.add_nodes(node("plain", cpu="1"), node("gpu", cpu="8", taints=TAINT, labels={"gpu": "yes"}))
    async with cluster.scheduler():
        await cluster.add_pods(pod("ordinary", cpu="500m"),
                               pod("special", cpu="4", tolerations=TOLERATION, nodeSelector={"gpu": "yes"}))
        assert await cluster.wait_bound("ordinary") == "plain"
        assert await cluster.wait_bound("special") == "gpu"


async def test_pod_becomes_schedulable_when_a_node_is_added(cluster: Cluster) -> None:
    await cluster.add_nodes(node("small", cpu="1"))
    async with cluster.scheduler():
        await cluster.add_pods(pod("waiting", cpu="3"))
        await cluster.wait_unschedulable("waiting")
        await cluster.add_nodes(node("roomy", cpu="4"))
        assert await cluster.wait_bound("waiting") == "roomy"
