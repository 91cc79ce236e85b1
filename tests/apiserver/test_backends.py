"""The same REST and watch behaviour on the embedded sqlite store, in-process and as a real subprocess."""

from __future__ import annotations

import aiohttp
import pytest

from tests.apiserver.conftest import API
from tests.support.apiserver import APIServerHandle

CMS = "/api/v1/namespaces/default/configmaps"


@pytest.mark.parametrize(
    "inproc_apiserver", ["sqlite", pytest.param("etcd", marks=pytest.mark.etcd)], indirect=True
)
async def test_crud_list_watch_on_real_backends(api: API) -> None:
    w = await api.watch(CMS, resourceVersion="0", timeoutSeconds="30")
    obj = await api.create_cm("sq")
    obj["data"] = {"k": "2"}
    assert (await api.put(f"{CMS}/sq", obj)).status == 200
    obj["data"] = {"k": "3"}
    assert (await api.put(f"{CMS}/sq", obj)).status == 409  # stale
    for i in range(4):
        await api.create_cm(f"p{i}")
    page = await api.get(CMS, limit="2")
    more = await api.get(CMS, limit="10", **{"continue": page.body["metadata"]["continue"]})
    assert [i["metadata"]["name"] for i in page.body["items"] + more.body["items"]] == [
        "p0", "p1", "p2", "p3", "sq"]
    events = await w.take(6)
    assert [e["type"] for e in events] == ["ADDED", "MODIFIED", "ADDED", "ADDED", "ADDED", "ADDED"]
    assert (await api.delete(f"{CMS}/sq")).status == 200
    w.resp.close()


@pytest.mark.slow
@pytest.mark.parametrize("apiserver", ["sqlite"], indirect=True)
async def test_sqlite_subprocess_keeps_data_across_restart(apiserver: APIServerHandle) -> None:
    async with aiohttp.ClientSession() as s:
        async with s.post(apiserver.url + CMS, json={"metadata": {"name": "durable"}}) as r:
            assert r.status == 201
        async with s.get(apiserver.url + "/readyz?verbose") as r:
            assert r.status == 200
    apiserver.process.terminate()
    apiserver.process.wait(timeout=60)  # a loaded machine may be slow to flush and exit
    from tests.support.apiserver import run_apiserver_process

    with run_apiserver_process(apiserver.data_dir.parent, storage="sqlite") as again:
        async with aiohttp.ClientSession() as s, s.get(again.url + CMS + "/durable") as r:
            assert r.status == 200
