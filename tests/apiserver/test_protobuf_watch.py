"""Protobuf watches over real HTTP: ``application/vnd.kubernetes.protobuf;stream=watch`` frames (4-byte
length + WatchEvent), 410 as an ERROR frame, bookmarks, JSON and protobuf watchers side by side sharing
each event's memoized encodings, and the byte builders against the codec."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

from sampan.api import protobuf
from sampan.apiserver import protobuf_bodies
from sampan.apiserver.cacher.objects import ADDED, CachedObject, WatchEvent
from tests.apiserver.conftest import API
from tests.apiserver.test_protobuf import KUBECTL_ACCEPT, configmap, full_deployment

CMS = "/api/v1/namespaces/default/configmaps"
WATCH_CT = "application/vnd.kubernetes.protobuf;stream=watch"


class FrameStream:
    """An open protobuf watch; ``next()`` returns the next decoded event (None at end of stream)."""

    def __init__(self, resp: aiohttp.ClientResponse) -> None:
        self.resp = resp
        self.frames: list[bytes] = []

    async def next(self, timeout: float = 10.0) -> dict[str, Any] | None:
        try:
            head = await asyncio.wait_for(self.resp.content.readexactly(4), timeout)
        except asyncio.IncompleteReadError as exc:
            partial = exc.partial
            if partial:
                raise AssertionError(f"stream ended inside a frame header: {partial!r}") from None
            return None
        body = await asyncio.wait_for(self.resp.content.readexactly(int.from_bytes(head, "big")), timeout)
        self.frames.append(head + body)
        return protobuf.decode_watch_frame(head + body)  # the object comes decoded from its envelope

    async def take(self, n: int) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for _ in range(n):
            ev = await self.next()
            assert ev is not None, f"stream ended after {out}"
            out.append(ev)
        return out


async def pb_watch(api: API, path: str, *, accept: str = KUBECTL_ACCEPT, **params: str) -> FrameStream:
    resp = await api.session.get(api.url + path, params={"watch": "true", **params}, headers={"Accept": accept})
    assert resp.status == 200, await resp.text()
    assert resp.headers["Content-Type"] == WATCH_CT
    return FrameStream(resp)


@pytest.mark.parametrize("accept", [KUBECTL_ACCEPT, WATCH_CT, "application/vnd.kubernetes.protobuf"])
async def test_protobuf_watch_sends_state_then_changes(api: API, accept: str) -> None:
    await api.create_cm("pre")
    w = await pb_watch(api, CMS, accept=accept, timeoutSeconds="30")
    (added,) = await w.take(1)
    assert added["type"] == "ADDED"
    assert added["object"]["metadata"]["name"] == "pre"
    assert added["object"]["kind"] == "ConfigMap"
    assert added["object"]["apiVersion"] == "v1"
    obj = await api.create_cm("live")
    obj["data"] = {"k": "changed"}
    assert (await api.put(f"{CMS}/live", obj)).status == 200
    assert (await api.delete(f"{CMS}/live")).status == 200
    events = await w.take(3)
    assert [e["type"] for e in events] == ["ADDED", "MODIFIED", "DELETED"]
    assert events[1]["object"]["data"] == {"k": "changed"}
    stored = (await api.get(f"{CMS}/pre")).body
    assert w.frames[0] == protobuf.encode_watch_frame("ADDED", stored)  # the codec's (Go's) bytes
    w.resp.close()


async def test_json_and_protobuf_watchers_side_by_side(api: API) -> None:
    pb = await pb_watch(api, CMS, resourceVersion="0", timeoutSeconds="30")
    js = await api.watch(CMS, resourceVersion="0", timeoutSeconds="30")
    assert js.resp.headers["Content-Type"] == "application/json"
    for i in range(5):
        await api.create_cm(f"w{i}", data={"i": str(i)})
    pb_events = await pb.take(5)
    js_events = await js.take(5)
    assert [e["object"]["metadata"]["name"] for e in pb_events] == [f"w{i}" for i in range(5)]
    for p, j in zip(pb_events, js_events, strict=True):
        assert p["type"] == j["type"]
        assert p["object"] == protobuf.decode(protobuf.encode(j["object"]))
    pb.resp.close()
    js.resp.close()


@pytest.mark.apiserver_config(default_watch_cache_size=5)
async def test_too_old_version_is_an_error_frame(api: API) -> None:
    first = await api.create_cm("old")
    for i in range(10):
        await api.create_cm(f"n{i}")
    w = await pb_watch(api, CMS, resourceVersion=first["metadata"]["resourceVersion"])
    (event,) = await w.take(1)
    assert event["type"] == "ERROR"
    assert event["object"]["kind"] == "Status"
    assert event["object"]["code"] == 410
    assert event["object"]["reason"] == "Expired"
    assert await w.next() is None


async def test_initial_events_end_bookmark(api: API) -> None:
    await api.create_cm("b1")
    w = await pb_watch(api, CMS, sendInitialEvents="true", resourceVersionMatch="NotOlderThan",
                       allowWatchBookmarks="true", timeoutSeconds="30")
    added, bookmark = await w.take(2)
    assert added["type"] == "ADDED"
    assert bookmark["type"] == "BOOKMARK"
    md = bookmark["object"]["metadata"]
    assert md["annotations"] == {"k8s.io/initial-events-end": "true"}
    assert int(md["resourceVersion"]) >= int(added["object"]["metadata"]["resourceVersion"])
    w.resp.close()


async def test_unencodable_object_ends_a_protobuf_watch_with_an_error(api: API) -> None:
    w = await pb_watch(api, CMS, resourceVersion="0", timeoutSeconds="30")
    js = await api.watch(CMS, resourceVersion="0", timeoutSeconds="30")
    await api.server.context.store.create(
        "/registry/configmaps/default/odd",
        b'{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"odd","namespace":"default"},"data":{"k":1}}')
    (event,) = await w.take(1)
    assert event["type"] == "ERROR"
    assert event["object"]["code"] == 500
    assert await w.next() is None
    (json_event,) = await js.take(1)  # JSON watchers are not affected
    assert json_event["object"]["data"] == {"k": 1}
    js.resp.close()


async def test_table_watch_stays_json(api: API) -> None:
    accept = ("application/vnd.kubernetes.protobuf;as=Table;v=v1;g=meta.k8s.io,"
              "application/json;as=Table;v=v1;g=meta.k8s.io")
    resp = await api.session.get(api.url + CMS, params={"watch": "true", "timeoutSeconds": "1"},
                                 headers={"Accept": accept})
    assert resp.headers["Content-Type"] == "application/json"
    resp.close()


def _cached(obj: dict[str, Any]) -> CachedObject:
    return CachedObject("/k", "default", obj["metadata"]["name"], 7, obj, lambda o: {})


def test_builders_write_the_codecs_bytes() -> None:
    dep = full_deployment("web")
    dep["metadata"]["resourceVersion"] = "7"
    co = _cached(dep)
    assert co.envelope == protobuf.encode(dep)
    assert protobuf_bodies.watch_frame("MODIFIED", co.envelope) == protobuf.encode_watch_frame("MODIFIED", dep)
    head = {"kind": "DeploymentList", "apiVersion": "apps/v1", "metadata": {"resourceVersion": "9"}}
    both = [co, _cached({**dep, "metadata": {**dep["metadata"], "name": "two"}})]
    assert protobuf_bodies.list_body(head, [c.message for c in both]) == protobuf.encode(
        {**head, "items": [c.obj for c in both]})
    status = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "code": 410}
    assert protobuf_bodies.error_frame(status) == protobuf.encode_watch_frame("ERROR", status)


def test_watch_event_memoizes_its_frame() -> None:
    co = _cached(configmap("m", a="b") | {"metadata": {"name": "m", "resourceVersion": "7"}})
    event = WatchEvent(ADDED, co, None, 7)
    first = event.frame(ADDED)
    assert event.frame(ADDED) is first
    assert co.message is co.message
    assert protobuf.decode_watch_frame(first)["type"] == "ADDED"
