"""WATCH over real HTTP: initial state, resume, 410 on too-old versions, bookmarks, timeouts,
sendInitialEvents, selector transitions, slow watchers, Table events."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import aiohttp
import pytest

from tests.apiserver.conftest import API
from tests.support.apiserver import run_apiserver_inprocess

CMS = "/api/v1/namespaces/default/configmaps"


async def test_watch_without_version_sends_state_then_changes(api: API) -> None:
    await api.create_cm("pre")
    w = await api.watch(CMS, timeoutSeconds="30")
    assert w.status == 200
    assert w.resp.headers["Content-Type"] == "application/json"
    (added,) = await w.take(1)
    assert added["type"] == "ADDED"
    assert added["object"]["metadata"]["name"] == "pre"
    obj = await api.create_cm("live")
    obj["data"] = {"k": "changed"}
    await api.put(f"{CMS}/live", obj)
    await api.delete(f"{CMS}/live")
    events = await w.take(3)
    assert [e["type"] for e in events] == ["ADDED", "MODIFIED", "DELETED"]
    rvs = [int(e["object"]["metadata"]["resourceVersion"]) for e in events]
    assert rvs == sorted(rvs)
    assert len(set(rvs)) == 3
    w.resp.close()


async def test_watch_resumes_from_a_resource_version(api: API) -> None:
    first = await api.create_cm("r1")
    await api.create_cm("r2")
    await api.create_cm("r3")
    w = await api.watch(CMS, resourceVersion=first["metadata"]["resourceVersion"], timeoutSeconds="30")
    events = await w.take(2)
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("ADDED", "r2"), ("ADDED", "r3")]
    w.resp.close()


@pytest.mark.apiserver_config(default_watch_cache_size=3)
async def test_too_old_resource_version_gives_410_error_event(api: API) -> None:
    first = await api.create_cm("old")
    for i in range(5):
        await api.create_cm(f"n{i}")
    w = await api.watch(CMS, resourceVersion=first["metadata"]["resourceVersion"])
    assert w.status == 200
    events = await w.rest()
    assert len(events) == 1
    err = events[0]
    assert err["type"] == "ERROR"
    status = err["object"]
    assert status["kind"] == "Status"
    assert status["code"] == 410
    assert status["reason"] == "Expired"
    assert status["message"].startswith(f"too old resource version: {first['metadata']['resourceVersion']} (")


@pytest.mark.apiserver_config(bookmark_interval=0.1)
async def test_bookmarks_are_sent_when_allowed(api: API) -> None:
    await api.create_cm("b")
    w = await api.watch(CMS, resourceVersion="0", allowWatchBookmarks="true", timeoutSeconds="30")
    (added,) = await w.take(1)
    assert added["type"] == "ADDED"
    bookmark = await w.next()
    assert bookmark is not None
    assert bookmark["type"] == "BOOKMARK"
    assert bookmark["object"]["kind"] == "ConfigMap"
    assert int(bookmark["object"]["metadata"]["resourceVersion"]) >= int(added["object"]["metadata"]["resourceVersion"])
    w.resp.close()


@pytest.mark.apiserver_config(bookmark_interval=0.05)
async def test_no_bookmarks_unless_asked(api: API) -> None:
    w = await api.watch(CMS, resourceVersion="0", timeoutSeconds="1")
    events = await w.rest()
    assert events == []


async def test_timeout_seconds_ends_the_stream(api: API) -> None:
    w = await api.watch(CMS, timeoutSeconds="1")
    assert await w.rest(timeout=10) == []


async def test_send_initial_events_ends_with_annotated_bookmark(api: API) -> None:
    await api.create_cm("i1")
    await api.create_cm("i2")
    w = await api.watch(CMS, sendInitialEvents="true", resourceVersionMatch="NotOlderThan",
                        allowWatchBookmarks="true", timeoutSeconds="30")
    events = await w.take(3)
    assert [e["type"] for e in events] == ["ADDED", "ADDED", "BOOKMARK"]
    end = events[2]["object"]["metadata"]
    assert end["annotations"] == {"k8s.io/initial-events-end": "true"}
    assert int(end["resourceVersion"]) >= max(int(e["object"]["metadata"]["resourceVersion"]) for e in events[:2])
    await api.create_cm("i3")
    (nxt,) = await w.take(1)
    assert nxt["type"] == "ADDED"
    assert nxt["object"]["metadata"]["name"] == "i3"
    w.resp.close()


async def test_label_selector_transitions_become_added_and_deleted(api: API) -> None:
    w = await api.watch(CMS, labelSelector="app=web", resourceVersion="0", timeoutSeconds="30")
    obj = await api.create_cm("t", labels={"app": "db"})
    obj["metadata"]["labels"] = {"app": "web"}
    obj = (await api.put(f"{CMS}/t", obj)).body
    obj["data"] = {"k": "again"}
    obj = (await api.put(f"{CMS}/t", obj)).body
    obj["metadata"]["labels"] = {"app": "db"}
    obj = (await api.put(f"{CMS}/t", obj)).body
    await api.delete(f"{CMS}/t")
    events = await w.take(3)
    assert [e["type"] for e in events] == ["ADDED", "MODIFIED", "DELETED"]
    deleted = events[2]["object"]
    assert deleted["metadata"]["labels"] == {"app": "web"}  # the last state that matched...
    assert deleted["metadata"]["resourceVersion"] == obj["metadata"]["resourceVersion"]  # ...at the new version
    await api.create_cm("sentinel", labels={"app": "web"})
    (last,) = await w.take(1)  # the final delete of a non-matching object was not sent
    assert last["object"]["metadata"]["name"] == "sentinel"
    w.resp.close()


async def test_field_selector_on_watch(api: API) -> None:
    w = await api.watch(CMS, fieldSelector="metadata.name=pick", resourceVersion="0", timeoutSeconds="30")
    await api.create_cm("skip")
    await api.create_cm("pick")
    (ev,) = await w.take(1)
    assert ev["object"]["metadata"]["name"] == "pick"
    w.resp.close()


async def test_watch_in_one_namespace_sees_only_it(api: API) -> None:
    await api.post("/api/v1/namespaces", {"metadata": {"name": "elsewhere"}})
    w = await api.watch(CMS, resourceVersion="0", timeoutSeconds="30")
    await api.create_cm("away", ns="elsewhere")
    await api.create_cm("home")
    (ev,) = await w.take(1)
    assert ev["object"]["metadata"]["name"] == "home"
    w.resp.close()


@pytest.mark.apiserver_config(consistent_read_timeout=0.2)
async def test_future_resource_version_on_watch_is_504(api: API) -> None:
    r = await api.request("GET", CMS, params={"watch": "1", "resourceVersion": "99999999"})
    assert r.status == 504
    assert r.body["reason"] == "Timeout"
    assert r.body["message"].startswith("Too large resource version: 99999999")


@pytest.mark.apiserver_config(watcher_queue_size=4)
async def test_slow_watcher_is_closed_not_buffered(api: API) -> None:
    ctx = api.server.context
    w = await api.watch(CMS, resourceVersion="0", timeoutSeconds="60")
    cache = ctx.scope("", "v1", "configmaps").cache
    # Let the watcher register, then stall it: events pile up while its writer is blocked.
    for _ in range(50):
        if cache.watchers:
            break
        await asyncio.sleep(0.01)
    (watcher,) = cache.watchers
    big = "x" * 200_000
    tasks = [api.create_cm(f"slow{i}", data={"k": big}) for i in range(60)]
    await asyncio.gather(*tasks)
    # the writer cannot have drained 60 x 200 kB while we never read: the watcher overflowed
    assert watcher.closed
    assert watcher.overflowed
    assert watcher not in cache.watchers
    # the connection was stuck in a write, so the server dropped it: the client sees the stream end
    # (cleanly or cut mid-chunk) after fewer events than were written
    received = 0
    with contextlib.suppress(aiohttp.ClientPayloadError):
        while await w.next(timeout=20) is not None:
            received += 1
    assert received < 60


async def test_table_watch_for_kubectl_get_w(api: API) -> None:
    obj = await api.create_cm("tw")
    accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
    w = await api.watch(CMS, headers={"Accept": accept}, resourceVersion=obj["metadata"]["resourceVersion"],
                        timeoutSeconds="30")
    await api.create_cm("tw2")
    (ev,) = await w.take(1)
    assert ev["type"] == "ADDED"
    assert ev["object"]["kind"] == "Table"
    assert ev["object"]["rows"][0]["cells"][0] == "tw2"
    w.resp.close()


async def test_stopping_the_server_ends_open_watches(tmp_path: Path) -> None:
    async with aiohttp.ClientSession() as session:
        async with run_apiserver_inprocess(tmp_path) as srv:
            resp = await session.get(srv.url + CMS, params={"watch": "1", "resourceVersion": "0"})
            assert resp.status == 200
            cache = srv.context.scope("", "v1", "configmaps").cache
            for _ in range(1000):
                if cache.watchers:
                    break
                await asyncio.sleep(0.01)
        assert await asyncio.wait_for(resp.content.read(), 30) == b""
        resp.close()


async def test_legacy_watch_path_of_one_object(api: API) -> None:
    w = await api.watch("/api/v1/watch/namespaces/default/configmaps/solo", resourceVersion="0", timeoutSeconds="30")
    assert w.status == 200
    await api.create_cm("other")
    await api.create_cm("solo")
    (ev,) = await w.take(1)
    assert ev["object"]["metadata"]["name"] == "solo"
    w.resp.close()
