"""Kubelet pod watches (``fieldSelector=spec.nodeName=<node>``) are dispatched through the watch cache's
trigger index: over real HTTP watches, each pod event is offered to its node's watcher (and the unindexed
ones), not to every node's."""

from __future__ import annotations

import asyncio
from typing import Any

from sampan.apiserver.cacher.watcher import CacheWatcher
from tests.apiserver.conftest import API

PODS = "/api/v1/namespaces/default/pods"


def pod(name: str, node: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"nodeName": node, "containers": [{"name": "c", "image": "busybox"}]}}


async def test_node_watches_are_bucketed_and_offered_only_their_pods(api: API) -> None:
    cache = api.server.context.watch_cache.cache_for_prefix("/registry/pods/")
    streams = [await api.watch("/api/v1/pods", fieldSelector=f"spec.nodeName=node-{i}") for i in range(20)]
    everything = await api.watch("/api/v1/pods")
    try:
        deadline = asyncio.get_running_loop().time() + 30
        while len(cache.watchers) < 21:
            assert asyncio.get_running_loop().time() < deadline, "the watches never registered"
            await asyncio.sleep(0.05)
        offered: list[int] = []
        real = cache.watchers.candidates

        def counting(ev: Any) -> list[CacheWatcher]:
            out = list(real(ev))
            offered.append(len(out))
            return out

        cache.watchers.candidates = counting  # type: ignore[method-assign]
        r = await api.post(PODS, pod("p1", "node-7"))
        assert r.status == 201, r.body
        event = await streams[7].next(timeout=30)
        assert event is not None
        assert event["type"] == "ADDED"
        assert event["object"]["metadata"]["name"] == "p1"
        seen = await everything.next(timeout=30)
        assert seen is not None
        assert seen["object"]["metadata"]["name"] == "p1"
        assert offered == [2]  # node-7's watcher and the unfiltered one, of 21
    finally:
        for s in [*streams, everything]:
            s.resp.close()
