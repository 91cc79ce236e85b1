"""The real kubelet with the real node lifecycle controller: a stopped kubelet's node turns Ready=Unknown
after the (shrunk) grace period; a kubelet started again on the same node brings it back to True; Lease
renewals are never throttled by the kubelet's own client."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from pathlib import Path

from sampan.client import Client, load_config
from sampan.kubelet.kubelet import Kubelet
from tests.controllers.support import fast_options, running_manager, unthrottled_client
from tests.kubelet.integration.conftest import Cluster, kubelet_options, wait_for
from tests.support.apiserver import InProcessAPIServer


def ready(node: dict) -> str:
    return next(c["status"] for c in node["status"]["conditions"] if c["type"] == "Ready")


async def test_stopped_kubelet_makes_node_unknown_and_restart_recovers(cluster: Cluster, tmp_path: Path) -> None:
    client = unthrottled_client(cluster.server.kubeconfig)
    options = fast_options(("nodelifecycle",), node_monitor_period=0.1, node_monitor_grace_period=1.0,
                           node_startup_grace_period=1.0)
    try:
        async with running_manager(client, options):
            nodes = await cluster.rc("v1", "nodes")
            assert ready(await nodes.get("node-1")) == "True"
            await cluster.stop_kubelet()
            await wait_for(lambda: nodes.get("node-1"), lambda n: ready(n) == "Unknown", what="Ready=Unknown")
            again = Kubelet(cluster.client, kubelet_options(tmp_path))
            cluster.kubelet, cluster.task = again, asyncio.create_task(again.run())
            await wait_for(lambda: nodes.get("node-1"), lambda n: ready(n) == "True", what="Ready=True again")
    finally:
        await client.close()


async def test_lease_renewals_are_not_throttled_by_the_kubelet_client(inproc_apiserver: InProcessAPIServer,
                                                                      tmp_path: Path) -> None:
    """The Lease goes through a heartbeat client of its own (upstream's QPS -1): with the kubelet's client
    limited to 1 request/s (burst 5), 30 renewals 0.1 s apart still happen — a throttled loop could not
    make more than ~25 in the 20 s allowed, and its informers' requests would queue renewals past the
    node monitor's grace period."""
    slow = Client(dataclasses.replace(load_config(str(inproc_apiserver.kubeconfig)), qps=1.0, burst=5))
    kubelet = Kubelet(slow, kubelet_options(tmp_path))
    task = asyncio.create_task(kubelet.run())
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 20
        while (kubelet.lease is None or kubelet.lease.renewals < 30) and loop.time() < deadline:
            assert not task.done(), task
            await asyncio.sleep(0.05)
        assert kubelet.lease is not None
        assert kubelet.lease.renewals >= 30
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await slow.close()
