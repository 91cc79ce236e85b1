"""The service load-balancer controller against a real API server: addresses from the pool, stored in the
API (a restart or a second controller never double-assigns), released on delete or type change."""

from __future__ import annotations

import asyncio
import ipaddress
from typing import Any

import pytest

from sampan.api import errors
from sampan.client import Client
from sampan.controllers.servicelb.pool import RECORD_NAME, RECORD_NAMESPACE, choose, parse_pool
from tests.controllers.clients import unthrottled_client
from tests.controllers.support import fast_options, running_manager, wait_for
from tests.support.apiserver import InProcessAPIServer

POOL = "100.127.0.0/29"  # six usable addresses: .1 - .6


def lb(name: str, *, ip: str = "", type_: str = "LoadBalancer") -> dict[str, Any]:
    spec: dict[str, Any] = {"type": type_, "ports": [{"port": 80, "targetPort": 8080}]}
    if type_ != "ClusterIP":
        spec["ports"][0]["nodePort"] = 30000 + sum(map(ord, name)) % 2000
    if ip:
        spec["loadBalancerIP"] = ip
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "default"}, "spec": spec}


async def ingress(client: Client, name: str) -> str:
    svcs = await client.resource("v1", "services")
    try:
        svc = await svcs.get(name, namespace="default")
    except errors.NotFound:
        return ""
    items = ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    return str(items[0]["ip"]) if items else ""


async def record(client: Client) -> dict[str, str]:
    cms = await client.resource("v1", "configmaps")
    try:
        return dict((await cms.get(RECORD_NAME, namespace=RECORD_NAMESPACE)).get("data") or {})
    except errors.NotFound:
        return {}


def test_choose() -> None:
    net = ipaddress.IPv4Network(POOL)
    assert choose(net, {}, "a/b") == "100.127.0.1"
    assert choose(net, {"100.127.0.1": "x/y"}, "a/b") == "100.127.0.2"
    assert choose(net, {"100.127.0.4": "a/b"}, "a/b") == "100.127.0.4"
    assert choose(net, {}, "a/b", "100.127.0.5") == "100.127.0.5"
    assert choose(net, {"100.127.0.5": "x/y"}, "a/b", "100.127.0.5") is None
    assert choose(net, {}, "a/b", "100.127.9.9") is None
    assert choose(net, {f"100.127.0.{i}": f"s/{i}" for i in range(1, 7)}, "a/b") is None
    with pytest.raises(ValueError, match=r"inside 100\.64\.0\.0/10"):
        parse_pool("10.0.0.0/24")


async def test_allocate_release_and_restart(inproc_apiserver: InProcessAPIServer) -> None:
    async with unthrottled_client(inproc_apiserver) as client:
        svcs = await client.resource("v1", "services")
        opts = fast_options(("service-lb-controller",), load_balancer_ip_range=POOL)
        await svcs.create(lb("before"), namespace="default")
        async with running_manager(client, opts):
            await svcs.create(lb("web"), namespace="default")
            await svcs.create(lb("wanted", ip="100.127.0.6"), namespace="default")
            await svcs.create(lb("plain", type_="ClusterIP"), namespace="default")
            ips = {n: await wait_for(lambda n=n: ingress(client, n), message=f"{n} ingress")
                   for n in ("before", "web", "wanted")}
            assert ips["wanted"] == "100.127.0.6"
            assert len(set(ips.values())) == 3
            assert await record(client) == {ip: f"default/{n}" for n, ip in ips.items()}
            assert await ingress(client, "plain") == ""
            # deleting frees the address; a type change releases and clears the status
            await svcs.delete("web", namespace="default")
            await wait_for(lambda: _released(client, ips["web"]), message="web's address released")
            svc = await svcs.get("before", namespace="default")
            svc["spec"]["type"] = "NodePort"
            await svcs.update(svc, namespace="default")
            await wait_for(lambda: _no_ingress(client, "before"), message="ingress cleared")
            assert ips["before"] not in await record(client)
        # while no controller runs: one Service deleted, one created
        await svcs.delete("wanted", namespace="default")
        await svcs.create(lb("later"), namespace="default")
        async with running_manager(client, opts):
            later = await wait_for(lambda: ingress(client, "later"), message="later ingress")
            await wait_for(lambda: _released(client, "100.127.0.6"), message="repair freed wanted's address")
            assert list((await record(client)).values()) == ["default/later"]
            assert later.startswith("100.127.0.")


async def _released(client: Client, ip: str) -> bool:
    return ip not in await record(client)


async def _no_ingress(client: Client, name: str) -> bool:
    return await ingress(client, name) == ""


async def test_two_controllers_never_share_an_address(inproc_apiserver: InProcessAPIServer) -> None:
    """Two managers (as after a leader change with a stale cache) race on the record: the compare-and-swap
    keeps every address with one Service."""
    async with unthrottled_client(inproc_apiserver) as client:
        svcs = await client.resource("v1", "services")
        opts = fast_options(("service-lb-controller",), load_balancer_ip_range=POOL)
        async with running_manager(client, opts), running_manager(client, opts):
            for i in range(5):
                await svcs.create(lb(f"s{i}"), namespace="default")
            ips = [await wait_for(lambda i=i: ingress(client, f"s{i}"), message=f"s{i}") for i in range(5)]
            await asyncio.sleep(0.5)
            ips = [await ingress(client, f"s{i}") for i in range(5)]
        assert len(set(ips)) == 5
        data = await record(client)
        assert sorted(data) == sorted(ips)
        assert sorted(data.values()) == [f"default/s{i}" for i in range(5)]
