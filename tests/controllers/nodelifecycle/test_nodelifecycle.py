"""The node lifecycle controller against a real API server with shrunk timings: a node whose Lease stops
being renewed turns Ready=Unknown, gets the unreachable taints, its pods turn not ready and are evicted
as their tolerations allow; renewal and Ready=True reverse the taints. NoExecute tainting is rate-limited
and stops when every zone is down."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

from sampan.api import errors
from sampan.api.humanize import format_rfc3339_micro
from sampan.client import Client
from sampan.controllers.nodelifecycle import taints as tz
from tests.controllers.clients import unthrottled_client
from tests.controllers.support import create_nodes, fast_options, running, running_manager, wait_for
from tests.support.apiserver import InProcessAPIServer

GRACE = 1.0


def options(**overrides: Any) -> Any:
    fields = {"node_monitor_period": 0.1, "node_monitor_grace_period": GRACE, "node_startup_grace_period": GRACE,
              "node_eviction_rate": 100.0, **overrides}
    return fast_options(("nodelifecycle",), **fields)


async def renew(client: Client, name: str) -> None:
    leases = await client.resource("coordination.k8s.io/v1", "leases")
    now = format_rfc3339_micro(time.time())
    try:
        lease = await leases.get(name, namespace="kube-node-lease")
    except errors.NotFound:
        await leases.create({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                             "metadata": {"name": name, "namespace": "kube-node-lease"},
                             "spec": {"holderIdentity": name, "leaseDurationSeconds": 40, "renewTime": now}})
        return
    await leases.update({**lease, "spec": {**lease["spec"], "renewTime": now}})


@contextlib.asynccontextmanager
async def heartbeating(client: Client, *names: str) -> AsyncIterator[None]:
    """Renew the named nodes' Leases every 0.1 s (a live kubelet)."""
    async def loop() -> None:
        while True:
            for name in names:
                with contextlib.suppress(errors.Conflict):
                    await renew(client, name)
            await asyncio.sleep(0.1)

    async with running(loop()):
        yield


async def post_ready(client: Client, name: str) -> None:
    """What a kubelet that came back does: renew its Lease and post Ready=True."""
    await renew(client, name)
    nodes = await client.resource("v1", "nodes")
    node = await nodes.get(name)
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    conds = [c for c in node["status"].get("conditions") or [] if c["type"] != "Ready"]
    conds.append({"type": "Ready", "status": "True", "reason": "KubeletReady", "lastHeartbeatTime": now,
                  "lastTransitionTime": now})
    await nodes.update_status({**node, "status": {**node["status"], "conditions": conds}})


async def make_pod(client: Client, name: str, node: str, *tolerations: dict[str, Any]) -> None:
    pods = await client.resource("v1", "pods")
    created = await pods.create({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
        "spec": {"nodeName": node, "tolerations": list(tolerations),
                 "containers": [{"name": "c", "image": "nginx"}]}})
    await pods.update_status({**created, "status": {"phase": "Running", "podIP": "10.9.0.1",
                                                    "conditions": [{"type": "Ready", "status": "True"}]}})


async def node_taints(client: Client, name: str) -> set[tuple[str, str]]:
    nodes = await client.resource("v1", "nodes")
    return {(t["key"], t["effect"]) for t in (await nodes.get(name))["spec"].get("taints") or []}


async def pod_names(client: Client) -> set[str]:
    pods = await client.resource("v1", "pods")
    return {p["metadata"]["name"] for p in (await pods.list(namespace="default"))["items"]}


async def pod_ready(client: Client, name: str) -> bool:
    pods = await client.resource("v1", "pods")
    pod = await pods.get(name, namespace="default")
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions") or [])


UNREACHABLE = {(tz.UNREACHABLE, "NoSchedule"), (tz.UNREACHABLE, "NoExecute")}


async def test_lease_expiry_taints_evicts_and_reverses(inproc_apiserver: InProcessAPIServer) -> None:
    async with unthrottled_client(inproc_apiserver) as client:
        await create_nodes(client, 2)
        for n in ("node-0", "node-1"):
            await renew(client, n)
        await make_pod(client, "healthy", "node-0")
        await make_pod(client, "defaulted", "node-1")  # admission: tolerate not-ready/unreachable for 300 s
        await make_pod(client, "intolerant", "node-1",
                       {"key": tz.UNREACHABLE, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 0})
        await make_pod(client, "patient", "node-1",
                       {"key": tz.UNREACHABLE, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 2})
        await make_pod(client, "forever", "node-1", {"key": tz.UNREACHABLE, "operator": "Exists",
                                                     "effect": "NoExecute"})
        nodes = await client.resource("v1", "nodes")
        async with heartbeating(client, "node-0"), running_manager(client, options()):
            async def unknown() -> bool:
                return tz.ready_status(await nodes.get("node-1")) == "Unknown"

            await wait_for(unknown, message="node-1 Ready=Unknown")
            cond = tz.condition(await nodes.get("node-1"), "Ready")
            assert cond is not None
            assert cond["reason"] == "NodeStatusUnknown"
            await wait_for(lambda: _has(client, "node-1", UNREACHABLE), message="unreachable taints")
            await wait_for(lambda: _not(pod_ready(client, "forever")), message="pods on node-1 not ready")
            await wait_for(lambda: _evicted(client, "intolerant"), message="intolerant pod evicted at once")
            assert not await _evicted(client, "patient")  # still within its 2 s
            await wait_for(lambda: _evicted(client, "patient"), message="patient pod evicted after 2 s")
            assert not await _evicted(client, "forever")
            assert not await _evicted(client, "defaulted")
            # the healthy node is untouched
            assert tz.ready_status(await nodes.get("node-0")) == "True"
            assert await node_taints(client, "node-0") == set()
            assert await pod_ready(client, "healthy")
            # the kubelet comes back
            await post_ready(client, "node-1")
            async with heartbeating(client, "node-1"):
                await wait_for(lambda: _has(client, "node-1", set(), exact=True), message="taints removed")
                assert tz.ready_status(await nodes.get("node-1")) == "True"
                assert not await _evicted(client, "forever")


async def _has(client: Client, node: str, want: set[tuple[str, str]], *, exact: bool = False) -> bool:
    have = await node_taints(client, node)
    return have == want if exact else want <= have


async def _not(coro: Any) -> bool:
    return not await coro


async def _evicted(client: Client, name: str) -> bool:
    """Deleted: gone, or (graceful deletion on a node whose kubelet is away) marked for deletion."""
    pods = await client.resource("v1", "pods")
    try:
        pod = await pods.get(name, namespace="default")
    except errors.NotFound:
        return True
    return bool(pod["metadata"].get("deletionTimestamp"))


async def test_no_execute_tainting_is_rate_limited(inproc_apiserver: InProcessAPIServer) -> None:
    async with unthrottled_client(inproc_apiserver) as client:
        await create_nodes(client, 3)
        for n in ("node-0", "node-1", "node-2"):
            await renew(client, n)
        seen_one_only = False
        async with heartbeating(client, "node-0"), running_manager(client, options(node_eviction_rate=0.5)):
            async def both() -> bool:
                nonlocal seen_one_only
                t1, t2 = await node_taints(client, "node-1"), await node_taints(client, "node-2")
                no_exec = [(tz.UNREACHABLE, "NoExecute") in t for t in (t1, t2)]
                if sum(no_exec) == 1 and (tz.UNREACHABLE, "NoSchedule") in t1 & t2:
                    seen_one_only = True
                return all(no_exec)

            await wait_for(both, timeout=30, message="both silent nodes tainted NoExecute")
            assert seen_one_only, "the second NoExecute taint came with the first: not rate-limited"


async def test_all_zones_down_stops_no_execute(inproc_apiserver: InProcessAPIServer) -> None:
    async with unthrottled_client(inproc_apiserver) as client:
        await create_nodes(client, 1)
        await renew(client, "node-0")
        await make_pod(client, "intolerant", "node-0")
        async with running_manager(client, options()) as manager:
            await wait_for(lambda: _has(client, "node-0", {(tz.UNREACHABLE, "NoSchedule")}),
                           message="NoSchedule taint")
            runner = manager.runners["nodelifecycle"]
            seen = runner.reconciles
            await wait_for(lambda: runner.reconciles >= seen + 3, message="more node passes")
            assert (tz.UNREACHABLE, "NoExecute") not in await node_taints(client, "node-0")
            assert not await _evicted(client, "intolerant")


async def test_not_ready_node_gets_not_ready_taints(inproc_apiserver: InProcessAPIServer) -> None:
    async with unthrottled_client(inproc_apiserver) as client:
        await create_nodes(client, 2)
        nodes = await client.resource("v1", "nodes")
        async with heartbeating(client, "node-0", "node-1"), running_manager(client, options()):
            node = await nodes.get("node-1")
            conds = [{**c, "status": "False", "reason": "KubeletNotReady"} if c["type"] == "Ready" else c
                     for c in node["status"]["conditions"]]
            await nodes.update_status({**node, "status": {**node["status"], "conditions": conds}})
            not_ready = {(tz.NOT_READY, "NoSchedule"), (tz.NOT_READY, "NoExecute")}
            await wait_for(lambda: _has(client, "node-1", not_ready, exact=True), message="not-ready taints")
            assert tz.ready_status(await nodes.get("node-1")) == "False"  # a live kubelet's word is kept
            await post_ready(client, "node-1")
            await wait_for(lambda: _has(client, "node-1", set(), exact=True), message="taints removed")
            assert await node_taints(client, "node-0") == set()
