"""Two scheduler replicas with ``--leader-elect``: exactly one holds the Lease kube-system/kube-scheduler
and schedules; when it stops (releasing the lease) the other takes over and schedules."""

from __future__ import annotations

import asyncio

from tests.scheduler.integration.cluster import WAIT, Cluster, node, pod


async def test_one_leader_schedules_and_a_standby_takes_over(cluster: Cluster) -> None:
    leases = await cluster.client.resource("coordination.k8s.io/v1", "leases")
    await cluster.add_nodes(node("n1"))
    first_cm = cluster.scheduler(leader_elect=True, identity="first")
    first = await first_cm.__aenter__()
    try:
        await asyncio.wait_for(first.ready.wait(), WAIT)  # alone: it gets the lease
        async with cluster.scheduler(leader_elect=True, identity="second") as second:
            await cluster.add_pods(pod("p1"))
            assert await cluster.wait_bound("p1") == "n1"
            lease = await leases.get("kube-scheduler", namespace="kube-system")
            assert lease["spec"]["holderIdentity"] == "first"
            assert not second.ready.is_set()
            assert second.scheduler is None  # the standby never built a scheduler, so never scheduled

            await first_cm.__aexit__(None, None, None)  # the leader stops and releases the lease
            first_cm = None
            await asyncio.wait_for(second.ready.wait(), WAIT)
            await cluster.add_pods(pod("p2"))
            assert await cluster.wait_bound("p2") == "n1"
            lease = await leases.get("kube-scheduler", namespace="kube-system")
            assert lease["spec"]["holderIdentity"] == "second"
    finally:
        if first_cm is not None:
            await first_cm.__aexit__(None, None, None)
