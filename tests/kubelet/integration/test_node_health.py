"""The real kubelet with the real node lifecycle controller: a stopped kubelet's node turns Ready=Unknown
after the (shrunk) grace period; a kubelet started again on the same node brings it back to True."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sampan.kubelet.kubelet import Kubelet
from tests.controllers.support import fast_options, running_manager, unthrottled_client
from tests.kubelet.integration.conftest import Cluster, kubelet_options, wait_for


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
