"""The ``default/kubernetes`` Service and its Endpoints/EndpointSlices, kept by every API server through
master leases in the store (upstream's lease endpoint reconciler)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from sampan.apiserver.app import APIServer
from sampan.apiserver.config import APIServerConfig, StorageOptions
from sampan.storage import Storage
from sampan.storage.factory import open_storage
from tests.apiserver.conftest import API

FAST = {"endpoint_reconciler_interval": 0.05, "master_lease_ttl": 0.5}


async def _get(url: str, path: str) -> dict[str, Any]:
    async with aiohttp.ClientSession() as s, s.get(url + path) as r:
        assert r.status == 200, await r.text()
        body: dict[str, Any] = await r.json()
        return body


async def test_kubernetes_service_shape(api: API) -> None:
    svc = (await api.get("/api/v1/namespaces/default/services/kubernetes")).body
    assert svc["metadata"]["labels"] == {"component": "apiserver", "provider": "kubernetes"}
    spec = svc["spec"]
    assert spec["clusterIP"] == "100.96.0.1"
    assert spec["clusterIPs"] == ["100.96.0.1"]
    port = api.server.server.port
    assert spec["ports"] == [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": port}]
    assert spec["type"] == "ClusterIP"
    assert spec["sessionAffinity"] == "None"
    ep = (await api.get("/api/v1/namespaces/default/endpoints/kubernetes")).body
    assert ep["metadata"]["labels"] == {"endpointslice.kubernetes.io/skip-mirror": "true"}
    assert ep["subsets"] == [{"addresses": [{"ip": "127.0.0.1"}],
                              "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}]
    eps = (await api.get("/apis/discovery.k8s.io/v1/namespaces/default/endpointslices/kubernetes")).body
    assert eps["metadata"]["labels"] == {"kubernetes.io/service-name": "kubernetes"}
    assert eps["addressType"] == "IPv4"
    assert eps["endpoints"] == [{"addresses": ["127.0.0.1"], "conditions": {"ready": True}}]
    assert eps["ports"] == [{"name": "https", "port": port, "protocol": "TCP"}]


@pytest.mark.apiserver_config(advertise_address="100.64.250.1")
async def test_advertise_address(api: API) -> None:
    ep = (await api.get("/api/v1/namespaces/default/endpoints/kubernetes")).body
    assert ep["subsets"][0]["addresses"] == [{"ip": "100.64.250.1"}]


@contextlib.asynccontextmanager
async def _server(store: Storage, tmp: Path) -> AsyncIterator[APIServer]:
    cfg = APIServerConfig(port=0, storage=StorageOptions(backend="memory", data_dir=tmp), **FAST)
    server = APIServer(cfg, storage=store)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def _wait_for(url: str, want: set[int]) -> dict[str, Any]:
    ep: dict[str, Any] = {}
    for _ in range(200):
        ep = await _get(url, "/api/v1/namespaces/default/endpoints/kubernetes")
        ports = {p["port"] for sub in ep.get("subsets") or [] for p in sub["ports"]}
        if ports == want:
            return ep
        await asyncio.sleep(0.05)
    raise AssertionError(f"endpoints never became {want}: {ep}")


async def test_each_server_adds_itself_and_leaves(tmp_path: Path) -> None:
    store = await open_storage(StorageOptions(backend="memory", data_dir=tmp_path))
    try:
        async with _server(store, tmp_path / "a") as a:
            async with _server(store, tmp_path / "b") as b:
                await _wait_for(a.url, {a.port, b.port})
                names = {s["metadata"]["name"] for s in (await _get(
                    a.url, "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices"))["items"]}
                assert names == {"kubernetes", f"kubernetes-{max(a.port, b.port)}"}
                svc = await _get(a.url, "/api/v1/namespaces/default/services/kubernetes")
                assert svc["spec"]["clusterIP"] == "100.96.0.1"  # created once, by whichever came first
            await _wait_for(a.url, {a.port})  # b stopped: removed its lease at once
            slices = (await _get(a.url, "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices"))["items"]
            assert [s["metadata"]["name"] for s in slices] == ["kubernetes"]
            # a server that died without cleaning up: dropped once its lease is older than the TTL
            await store.create(f"{store.root}masterleases/127.0.0.1:1",
                               orjson.dumps({"ip": "127.0.0.1", "port": 1, "renewTime": 0}))
            for _ in range(200):
                if await store.count(f"{store.root}masterleases/127.0.0.1:1") == 0:
                    break
                await asyncio.sleep(0.05)
            assert await store.count(f"{store.root}masterleases/") == 1
            await _wait_for(a.url, {a.port})
    finally:
        await store.close()
