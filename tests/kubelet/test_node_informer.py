"""A lone kubelet reads its own Node from an informer (``metadata.name=<node>``), as upstream's kubelet reads
its node lister: against a real API server (a subprocess, so its request counters are the kubelet's and this
test's only), status ticks send no GET; a status another writer changed is corrected on the next tick; a
stale copy still converges through Conflict -> GET -> retry."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from sampan.client import Client, load_config
from sampan.client.dynamic import ResourceClient
from sampan.kubelet.kubelet import Kubelet, KubeletOptions
from tests.controllers.support import wait_for
from tests.support.apiserver import APIServerHandle, request_count

TICK = 0.2
"""node_status_update_frequency of these kubelets (seconds)."""


async def count(apiserver: APIServerHandle, verb: str, subresource: str = "") -> float:
    return await asyncio.to_thread(request_count, apiserver.url, verb, "nodes", subresource)


class Ticks:
    """Counts the kubelet's status ticks (wraps ``post_status`` before the heartbeat takes it)."""

    def __init__(self, kubelet: Kubelet) -> None:
        self.count = 0
        inner = kubelet.post_status

        async def counted(nodes: ResourceClient) -> None:
            self.count += 1
            await inner(nodes)

        kubelet.post_status = counted  # type: ignore[method-assign]


@contextlib.asynccontextmanager
async def kubelet(apiserver: APIServerHandle, tmp_path: Path,
                  report: float) -> AsyncIterator[tuple[Client, Kubelet, Ticks]]:
    rest = dataclasses.replace(load_config(str(apiserver.kubeconfig)), qps=0.0)
    options = KubeletOptions(node_name="n1", root_dir=tmp_path / "n1", runtime="simulated", port=0,
                             node_status_update_frequency=TICK, node_status_report_frequency=report,
                             lease_renew_interval=0.5, sync_period=60.0, local_path_reclaim_period=60.0)
    async with Client(rest) as client:
        k = Kubelet(client, options)
        ticks = Ticks(k)
        task = asyncio.create_task(k.run())
        try:
            await asyncio.wait_for(k.ready.wait(), 30)

            async def cached() -> bool:  # the informer has the Node (synced right after registration)
                return k.node_cache.get_by_key("n1") is not None

            await wait_for(cached, message="the node informer's copy of n1", timeout=30.0)
            yield client, k, ticks
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def listed_node(nodes: ResourceClient) -> dict[str, Any]:
    """n1 through a LIST (so this test's own reads are not GETs)."""
    items = (await nodes.list(field_selector="metadata.name=n1"))["items"]
    assert len(items) == 1
    node: dict[str, Any] = items[0]
    return node


def ready_status(node: dict[str, Any]) -> str:
    return next(str(c["status"]) for c in node["status"]["conditions"] if c["type"] == "Ready")


async def mark_unknown(nodes: ResourceClient) -> None:
    """What the node lifecycle controller writes when the node's Lease is late."""
    node = await listed_node(nodes)
    for c in node["status"]["conditions"]:
        if c["type"] == "Ready":
            c.update(status="Unknown", reason="NodeStatusUnknown", message="Kubelet stopped posting node status.")
    await nodes.update(node, subresource="status")


async def test_an_unchanged_status_sends_nothing_per_tick(apiserver: APIServerHandle, tmp_path: Path) -> None:
    async with kubelet(apiserver, tmp_path, report=300.0) as (_client, k, ticks):
        gets, puts, posts, seen = (await count(apiserver, "GET"), await count(apiserver, "PUT", "status"),
                                   k.status_posts, ticks.count)

        async def ten_ticks() -> bool:
            return ticks.count >= seen + 10

        await wait_for(ten_ticks, message="ten status ticks", timeout=30.0)
        assert await count(apiserver, "GET") == gets, "a status tick read the Node from the API server"
        assert await count(apiserver, "PUT", "status") == puts
        assert k.status_posts == posts


async def test_a_node_marked_unknown_is_corrected_on_the_next_tick_without_a_get(
        apiserver: APIServerHandle, tmp_path: Path) -> None:
    async with kubelet(apiserver, tmp_path, report=300.0) as (client, k, ticks):
        nodes = await client.resource("v1", "nodes")
        gets, puts, posts = await count(apiserver, "GET"), await count(apiserver, "PUT", "status"), k.status_posts
        await mark_unknown(nodes)
        marked = ticks.count

        async def ready_again() -> bool:
            return ready_status(await listed_node(nodes)) == "True"

        await wait_for(ready_again, message="n1 Ready again", timeout=10.0)
        # the informer's event, then the next tick: a few ticks, not the 300 s report period nor a 40 s recheck
        assert ticks.count - marked <= 25
        assert k.status_posts == posts + 1
        assert await count(apiserver, "PUT", "status") == puts + 2  # this test's Unknown, the kubelet's Ready
        assert await count(apiserver, "GET") == gets, "the kubelet read its Node with a GET"


class Frozen:
    """A node cache stuck on one copy (an informer that lags behind another writer)."""

    def __init__(self, node: dict[str, Any]) -> None:
        self.node = node

    def get_by_key(self, key: str) -> Any | None:
        return self.node if key == self.node["metadata"]["name"] else None


async def test_a_stale_copy_converges_through_a_conflict(apiserver: APIServerHandle, tmp_path: Path) -> None:
    async with kubelet(apiserver, tmp_path, report=0.0) as (client, k, _ticks):  # posts on every tick
        nodes = await client.resource("v1", "nodes")
        stale = k.node_cache.get_by_key("n1")
        assert stale is not None
        k.node_cache = Frozen(stale)
        k.node = dict(stale)  # the kubelet's own last copy is as old
        beat = k.heartbeat
        assert beat is not None
        failures, gets = beat.status_failures.total, await count(apiserver, "GET")
        # every tick from here writes with a copy older than the server's (the kubelet's own posts since, then
        # this Unknown): each first attempt conflicts, re-reads and writes again
        await mark_unknown(nodes)

        async def ready_again() -> bool:
            return ready_status(await listed_node(nodes)) == "True"

        await wait_for(ready_again, message="n1 Ready again", timeout=10.0)
        assert await count(apiserver, "GET") > gets, "no Conflict -> GET (the copy was stale)"
        assert beat.status_failures.total == failures, "a Conflict failed a tick instead of being retried"
