"""Node IPAM against a real API server: every node gets a distinct pod CIDR from the cluster CIDR, nodes
that have one keep it, a deleted node's CIDR is reused, a full range leaves nodes without one."""

from __future__ import annotations

from typing import Any

import pytest

from sampan.client import Client
from sampan.controllers.nodeipam.cidrs import CIDRSet
from sampan.controllers.options import ControllerManagerOptions
from tests.controllers.clients import unthrottled_client
from tests.controllers.support import fast_options, running_manager, wait_for
from tests.support.apiserver import InProcessAPIServer


def _node(name: str, cidr: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}}
    if cidr:
        body["spec"] = {"podCIDR": cidr, "podCIDRs": [cidr]}
    return body


async def _cidrs(client: Client) -> dict[str, str]:
    nodes = await client.resource("v1", "nodes")
    return {n["metadata"]["name"]: (n.get("spec") or {}).get("podCIDR", "") for n in (await nodes.list())["items"]}


def test_cidr_set() -> None:
    s = CIDRSet.parse("100.64.0.0/16", 24)
    assert s.size == 256
    assert s.cidr(0) == "100.64.0.0/24"
    assert s.cidr(3) == "100.64.3.0/24"
    assert s.index("100.64.7.0/24") == 7
    assert s.index("100.65.0.0/24") is None
    assert s.index("100.64.0.0/25") is None
    assert s.next_free({0, 1, 3}) == 2
    with pytest.raises(ValueError):
        CIDRSet.parse("100.64.0.0/16", 8)
    with pytest.raises(ValueError):
        ControllerManagerOptions(allocate_node_cidrs=True, cluster_cidr="nonsense")


async def test_nodes_get_distinct_cidrs(inproc_apiserver: InProcessAPIServer) -> None:
    async with unthrottled_client(inproc_apiserver) as client:
        nodes = await client.resource("v1", "nodes")
        await nodes.create(_node("has", "100.64.0.0/24"))
        await nodes.create(_node("early"))
        opts = fast_options(("nodeipam",), allocate_node_cidrs=True, cluster_cidr="100.64.0.0/21")
        async with running_manager(client, opts):
            for i in range(3):
                await nodes.create(_node(f"n{i}"))

            async def all_set() -> dict[str, str] | None:
                got = await _cidrs(client)
                return got if all(got.values()) and len(got) == 5 else None

            got = await wait_for(all_set, message="every node has a pod CIDR")
            assert got["has"] == "100.64.0.0/24"  # kept
            assert len(set(got.values())) == 5
            assert all(c.startswith("100.64.") and c.endswith(".0/24") for c in got.values())
            node = await nodes.get("n0")
            assert node["spec"]["podCIDRs"] == [node["spec"]["podCIDR"]]


async def test_full_range_then_freed(inproc_apiserver: InProcessAPIServer) -> None:
    async with unthrottled_client(inproc_apiserver) as client:
        nodes = await client.resource("v1", "nodes")
        opts = fast_options(("nodeipam",), allocate_node_cidrs=True, cluster_cidr="100.64.0.0/23")
        async with running_manager(client, opts):
            for i in range(3):
                await nodes.create(_node(f"n{i}"))

            async def two_set() -> dict[str, str] | None:
                got = await _cidrs(client)
                return got if sum(1 for c in got.values() if c) == 2 else None

            got = await wait_for(two_set, message="both CIDRs handed out")
            assert set(got.values()) - {""} == {"100.64.0.0/24", "100.64.1.0/24"}
            waiting = next(n for n, c in got.items() if not c)
            victim = next(n for n, c in got.items() if c)
            freed = got[victim]
            await nodes.delete(victim)

            async def reused() -> bool:
                return (await _cidrs(client)).get(waiting) == freed

            await wait_for(reused, message="the freed CIDR reused")


async def test_disabled_without_the_flag(inproc_apiserver: InProcessAPIServer) -> None:
    assert "nodeipam" not in fast_options(("*",)).enabled()
    assert "nodeipam" in fast_options(("*",), allocate_node_cidrs=True).enabled()
