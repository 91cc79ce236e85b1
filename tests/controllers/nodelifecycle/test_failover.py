"""End to end with the ReplicaSet controller: a node's Lease expires → unreachable taints → its pods are
evicted after their tolerationSeconds → the ReplicaSet replaces them, and (a minimal scheduler in the
test binds pending pods to untainted live nodes) the replacements run on the surviving node."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from sampan.api import errors
from sampan.client import Client
from sampan.controllers.nodelifecycle import taints as tz
from tests.controllers.clients import unthrottled_client
from tests.controllers.nodelifecycle.test_nodelifecycle import renew
from tests.controllers.support import FakeKubelet, create_nodes, fast_options, running, running_manager, wait_for
from tests.support.apiserver import InProcessAPIServer


@contextlib.asynccontextmanager
async def cluster_sim(client: Client, alive: set[str]) -> AsyncIterator[None]:
    """Heartbeats for the ``alive`` nodes and a scheduler binding pending pods to untainted live nodes."""
    pods = await client.resource("v1", "pods")
    nodes = await client.resource("v1", "nodes")

    async def heartbeat() -> None:
        while True:
            for name in sorted(alive):
                with contextlib.suppress(errors.Conflict):
                    await renew(client, name)
            await asyncio.sleep(0.1)

    async def schedule() -> None:
        while True:
            usable = [n["metadata"]["name"] for n in (await nodes.list())["items"]
                      if n["metadata"]["name"] in alive
                      and not any(t.get("effect") == "NoSchedule" for t in n["spec"].get("taints") or [])]
            items = (await pods.list(namespace="default"))["items"]
            load = {n: sum(1 for p in items if p["spec"].get("nodeName") == n) for n in usable}
            for p in items:
                if p["spec"].get("nodeName") or p["metadata"].get("deletionTimestamp") or not usable:
                    continue
                target = min(usable, key=lambda n: (load[n], n))
                load[target] += 1
                with contextlib.suppress(errors.Conflict, errors.NotFound):
                    await pods.create({"apiVersion": "v1", "kind": "Binding",
                                       "metadata": {"name": p["metadata"]["name"], "namespace": "default"},
                                       "target": {"apiVersion": "v1", "kind": "Node", "name": target}},
                                      subresource="binding", name=p["metadata"]["name"])
            await asyncio.sleep(0.05)

    async with running(heartbeat()), running(schedule()):
        yield


def rs_body(replicas: int) -> dict[str, Any]:
    tolerate = {"key": tz.UNREACHABLE, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 1}
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "web", "namespace": "default"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"tolerations": [tolerate],
                                           "containers": [{"name": "c", "image": "nginx"}]}}}}


async def test_failed_node_pods_replaced_elsewhere(inproc_apiserver: InProcessAPIServer) -> None:
    async with unthrottled_client(inproc_apiserver) as client:
        await create_nodes(client, 2)
        alive = {"node-0", "node-1"}
        pods = await client.resource("v1", "pods")
        kubelet = FakeKubelet(client, decide=lambda p: "Ready" if p["spec"].get("nodeName") in alive else None)
        opts = fast_options(("replicaset", "nodelifecycle"), node_monitor_period=0.1, node_monitor_grace_period=1.0,
                            node_startup_grace_period=1.0, node_eviction_rate=100.0)
        async with cluster_sim(client, alive), running(kubelet.run()), running_manager(client, opts):
            rss = await client.resource("apps/v1", "replicasets")
            await rss.create(rs_body(4))

            async def placement() -> dict[str, int]:
                out: dict[str, int] = {}
                for p in (await pods.list(namespace="default"))["items"]:
                    ready = any(c["type"] == "Ready" and c["status"] == "True"
                                for c in (p.get("status") or {}).get("conditions") or [])
                    if ready and not p["metadata"].get("deletionTimestamp"):
                        out[p["spec"]["nodeName"]] = out.get(p["spec"]["nodeName"], 0) + 1
                return out

            await wait_for(lambda: _eq(placement(), {"node-0": 2, "node-1": 2}), message="2 ready pods per node")
            alive.discard("node-1")  # node-1's kubelet dies: no more Lease renewals
            await wait_for(lambda: _eq(placement(), {"node-0": 4}), timeout=30,
                           message="4 ready pods, all on node-0")
            on_dead = [p for p in (await pods.list(namespace="default"))["items"]
                       if p["spec"].get("nodeName") == "node-1"]
            assert on_dead, "the evicted pods stay Terminating: nobody on node-1 confirms their end"
            assert all(p["metadata"].get("deletionTimestamp") for p in on_dead)


async def _eq(coro: Any, want: dict[str, int]) -> bool:
    return await coro == want
