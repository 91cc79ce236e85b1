"""PATCH and PUT without a resourceVersion never answer 409 (upstream's GuaranteedUpdate retry loop).

The server re-reads the object and re-applies the patch (or re-checks the PUT body) when its
compare-and-swap loses to a concurrent write; only a request that carries a resourceVersion
precondition itself gets 409 Conflict.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from sampan.apiserver.app import APIServer
from sampan.apiserver.config import APIServerConfig, StorageOptions
from sampan.storage.factory import open_storage
from tests.support.pyclient import official_client

kubernetes = pytest.importorskip("kubernetes")

from kubernetes import client as kclient  # noqa: E402
from kubernetes.client.rest import ApiException  # noqa: E402

POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "busy"},
       "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
PATCHES = 40


@pytest.fixture(scope="module")
def core(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with official_client(tmp_path_factory.mktemp("patch-409")) as (api_client, _):
        yield kclient.CoreV1Api(api_client)


def _status_writer(core: Any, stop: threading.Event, counts: dict[str, int]) -> None:
    """What a kubelet does: write the pod's status about 10 times a second."""
    i = 0
    while not stop.is_set():
        i += 1
        core.patch_namespaced_pod_status("busy", "default", {"status": {"conditions": [
            {"type": "Ready", "status": "False", "reason": f"Tick{i}", "message": f"tick {i}"}]}})
        counts["status"] = i
        stop.wait(0.1)


def test_concurrent_label_patches_never_conflict(core: Any) -> None:
    core.create_namespaced_pod("default", POD)
    stop = threading.Event()
    counts: dict[str, int] = {}
    writer = threading.Thread(target=_status_writer, args=(core, stop, counts))
    writer.start()
    results: list[int] = []

    def label(i: int) -> int:
        try:
            core.patch_namespaced_pod("busy", "default", {"metadata": {"labels": {f"l{i}": "v"}}},
                                      _content_type="application/merge-patch+json")
            return 200
        except ApiException as exc:
            return int(exc.status)

    try:
        with ThreadPoolExecutor(max_workers=PATCHES) as pool:
            results = list(pool.map(label, range(PATCHES)))
    finally:
        stop.set()
        writer.join()
    assert results.count(409) == 0
    assert results == [200] * PATCHES
    pod = core.read_namespaced_pod("busy", "default")
    assert {f"l{i}" for i in range(PATCHES)} <= set(pod.metadata.labels)
    assert counts["status"] >= 1


def test_resource_version_precondition_still_conflicts(core: Any) -> None:
    cm = core.create_namespaced_config_map("default", {"metadata": {"name": "pre"}, "data": {"a": "1"}})
    stale = cm.metadata.resource_version
    core.patch_namespaced_config_map("pre", "default", {"data": {"a": "2"}})
    with pytest.raises(ApiException) as err:
        core.patch_namespaced_config_map("pre", "default", {"metadata": {"resourceVersion": stale},
                                                             "data": {"a": "3"}},
                                         _content_type="application/merge-patch+json")
    assert err.value.status == 409
    assert json.loads(err.value.body)["reason"] == "Conflict"
    with pytest.raises(ApiException) as err:
        core.replace_namespaced_config_map("pre", "default", {"metadata": {"name": "pre", "resourceVersion": stale},
                                                               "data": {"a": "4"}})
    assert err.value.status == 409
    # without a resourceVersion the PUT is unconditional
    done = core.replace_namespaced_config_map("pre", "default", {"metadata": {"name": "pre"}, "data": {"a": "5"}})
    assert done.data == {"a": "5"}


@contextlib.asynccontextmanager
async def _two_servers(tmp: Path) -> AsyncIterator[list[str]]:
    """Two API servers over one store (as with HA): their writes race on compare-and-swap."""
    options = StorageOptions(backend="sqlite", data_dir=tmp / "data")
    store = await open_storage(options)  # reads and writes in threads: requests really interleave
    servers = [APIServer(APIServerConfig(port=0, storage=options, custom_resources=False), storage=store)
               for _ in range(2)]
    for s in servers:
        await s.start()
    try:
        yield [s.url for s in servers]
    finally:
        for s in servers:
            await s.stop()
        await store.close()


async def test_patches_through_two_servers_retry_instead_of_conflicting(tmp_path: Path) -> None:
    async with _two_servers(tmp_path) as urls, aiohttp.ClientSession() as http:
        cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "shared"}, "data": {}}
        async with http.post(f"{urls[0]}/api/v1/namespaces/default/configmaps", json=cm) as r:
            assert r.status == 201

        async def patch(i: int) -> int:
            body = {"metadata": {"labels": {f"l{i}": "v"}}, "data": {f"k{i}": str(i)}}
            async with http.patch(f"{urls[i % 2]}/api/v1/namespaces/default/configmaps/shared", data=json.dumps(body),
                                  headers={"Content-Type": "application/merge-patch+json"}) as r:
                await r.read()
                return r.status

        async def put(i: int) -> int:
            url = f"{urls[i % 2]}/api/v1/namespaces/default/configmaps/shared"
            async with http.get(url) as r:
                current = await r.json()
            current["metadata"].pop("resourceVersion")
            current["data"][f"put{i}"] = "x"
            async with http.put(url, json=current) as r:
                await r.read()
                return r.status

        # unconditional PUTs (whose bodies may overwrite each other's data, as upstream) racing patches
        statuses = await asyncio.gather(*(patch(i) for i in range(PATCHES)), *(put(i) for i in range(6)))
        assert statuses == [200] * (PATCHES + 6)
        # patches alone: each one is applied to the latest object, so none is lost
        assert await asyncio.gather(*(patch(i) for i in range(PATCHES))) == [200] * PATCHES
        async with http.get(f"{urls[1]}/api/v1/namespaces/default/configmaps/shared") as r:
            final = await r.json()
        assert {f"k{i}" for i in range(PATCHES)} <= set(final["data"])
