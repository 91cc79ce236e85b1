"""The shared API server fixtures themselves work: a subprocess and an in-process server, both ready."""

from __future__ import annotations

import aiohttp
import yaml

from tests.support.apiserver import APIServerHandle, InProcessAPIServer


async def test_subprocess_apiserver_serves_and_writes_kubeconfig(apiserver: APIServerHandle) -> None:
    config = yaml.safe_load(apiserver.kubeconfig.read_text())
    assert config["clusters"][0]["cluster"]["server"] == apiserver.url
    async with aiohttp.ClientSession() as s, s.get(apiserver.url + "/api/v1/namespaces/default") as r:
        assert r.status == 200
        assert (await r.json())["metadata"]["name"] == "default"


async def test_inprocess_apiserver_serves(inproc_apiserver: InProcessAPIServer) -> None:
    async with aiohttp.ClientSession() as s, s.get(inproc_apiserver.url + "/api/v1/namespaces") as r:
        assert r.status == 200
        names = {i["metadata"]["name"] for i in (await r.json())["items"]}
    assert {"default", "kube-system", "kube-public", "kube-node-lease"} <= names
