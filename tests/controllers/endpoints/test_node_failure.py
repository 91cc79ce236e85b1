"""Endpoints and the node lifecycle controller together: when a node's Lease expires its pods turn not
ready and their addresses move to ``notReadyAddresses``; the surviving node's pod stays ready."""

from __future__ import annotations

from sampan.client import Client
from tests.controllers.clients import unthrottled_client
from tests.controllers.endpoints.test_endpoints import SERVICE, _endpoints, _ips, _set_ready, pod
from tests.controllers.nodelifecycle.test_nodelifecycle import heartbeating, renew
from tests.controllers.support import create_nodes, fast_options, running_manager, wait_for
from tests.support.apiserver import InProcessAPIServer


async def test_addresses_on_a_lost_node_become_not_ready(inproc_apiserver: InProcessAPIServer) -> None:
    async with unthrottled_client(inproc_apiserver) as client:
        await create_nodes(client, 2)
        for n in ("node-0", "node-1"):
            await renew(client, n)
        pods = await client.resource("v1", "pods")
        svcs = await client.resource("v1", "services")
        for name, node, ip in (("a", "node-0", "10.3.0.1"), ("b", "node-1", "10.3.0.2")):
            await pods.create({k: v for k, v in pod(name, node=node).items() if k != "status"})
            await _set_ready(client, name, ip, True)
        await svcs.create(SERVICE)
        opts = fast_options(("endpoint", "nodelifecycle"), node_monitor_period=0.1, node_monitor_grace_period=1.0,
                            node_startup_grace_period=1.0, node_eviction_rate=100.0)
        async with heartbeating(client, "node-0"), running_manager(client, opts):
            async def split(c: Client) -> bool:
                ep = await _endpoints(c)
                return _ips(ep, "addresses") == ["10.3.0.1"] and _ips(ep, "notReadyAddresses") == ["10.3.0.2"]

            await wait_for(lambda: split(client), message="b's address not ready after node-1 went silent")
