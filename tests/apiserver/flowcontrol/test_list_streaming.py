"""Large LISTs are written in slices (``sampan.apiserver.liststream``): they keep their flow-control seats
while their body is sent, the loop serves a Lease renewal while one is mid-stream, and the bytes equal
those of a list built whole, in every representation.

The thresholds are shrunk (a "large" list here is 5+ items, a piece 300 bytes) and the stream is parked
after its second piece by a gate the test opens, so every assertion is about state and order, never
timing.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp import web

from sampan.apiserver import liststream
from tests.apiserver.flowcontrol.conftest import Server, run_server

CMS = "/api/v1/namespaces/default/configmaps"
LEASES = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases"
ALICE = {"Authorization": "Bearer alice-token"}
NODE = "node-token"
ITEMS = 30


@pytest.fixture
async def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Server]:
    monkeypatch.setattr(liststream, "STREAM_MIN_ITEMS", 5)
    monkeypatch.setattr(liststream, "PIECE_BYTES", 300)
    async with run_server(tmp_path) as s:
        for i in range(ITEMS):
            cm = {"apiVersion": "v1", "kind": "ConfigMap",
                  "metadata": {"name": f"cm-{i:02d}", "namespace": "default"}, "data": {"k": "v" * 50}}
            assert (await s.request("POST", CMS, body=cm)).status == 201
        scope = s.ctx.scope("", "v1", "configmaps")
        assert scope is not None
        await s.wait_for(lambda: len(scope.cache.objects) >= ITEMS, "cache holds the configmaps")
        yield s


class Gate:
    """Parks a streamed list after its ``after``-th piece until :meth:`open` (wraps ``liststream._send``)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, *, after: int) -> None:
        self.sent = 0
        self.after = after
        self.opened = asyncio.Event()
        real: Callable[[web.StreamResponse, bytes], Awaitable[None]] = liststream._send

        async def send(response: web.StreamResponse, piece: bytes) -> None:
            await real(response, piece)
            self.sent += 1
            if self.sent == self.after:
                await self.opened.wait()

        monkeypatch.setattr(liststream, "_send", send)

    def open(self) -> None:
        self.opened.set()


async def test_a_streaming_list_holds_its_seats_while_a_lease_renewal_is_served(
        server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
             "metadata": {"name": "n1", "namespace": "kube-node-lease"},
             "spec": {"holderIdentity": "n1", "leaseDurationSeconds": 40}}
    assert (await server.request("POST", LEASES, body=lease)).status == 201
    global_default = server.apf.levels["global-default"]
    gate = Gate(monkeypatch, after=2)

    async def list_all() -> bytes:
        async with server.session.get(server.url + "/api/v1/configmaps", headers=ALICE) as r:
            assert r.status == 200
            return await r.read()

    listing = asyncio.create_task(list_all())
    try:
        await server.wait_for(lambda: gate.sent >= 2, "the list is mid-stream")
        assert global_default.seats_in_use > 0  # its seats are held while the body is being sent
        # a kubelet renews its Lease while the list is parked mid-stream
        got = await server.request("GET", f"{LEASES}/n1", token=NODE)
        assert got.status == 200
        renewed = got.json()
        renewed["spec"]["renewTime"] = "2026-01-01T00:00:00.000000Z"
        put = await server.request("PUT", f"{LEASES}/n1", token=NODE, body=renewed)
        assert put.status == 200, put.text
        assert not listing.done()
        gate.open()
        body = json.loads(await listing)
    finally:
        gate.open()
        listing.cancel()
    assert [i["metadata"]["name"] for i in body["items"]] == [f"cm-{i:02d}" for i in range(ITEMS)]
    assert gate.sent > 10  # it really went out in pieces
    await server.wait_for(lambda: global_default.seats_in_use == 0, "seats returned after the list")


REPRESENTATIONS = {
    "json": "application/json",
    "protobuf": "application/vnd.kubernetes.protobuf",
    "table": "application/json;as=Table;v=v1;g=meta.k8s.io",
    "metadata": "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io",
    "yaml": "application/yaml",
}


async def test_streamed_lists_equal_lists_built_whole(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    async def fetch(accept: str, query: str = "") -> tuple[bytes, str, str | None]:
        async with server.session.get(f"{server.url}{CMS}{query}", headers={**ALICE, "Accept": accept}) as r:
            assert r.status == 200, await r.text()
            return await r.read(), r.headers["Content-Type"], r.headers.get("Content-Length")

    for name, accept in REPRESENTATIONS.items():
        for query in ("", "?pretty=true") if name == "json" else ("",):
            streamed = await fetch(accept, query)
            with monkeypatch.context() as m:
                m.setattr(liststream, "STREAM_MIN_ITEMS", 10**9)
                whole = await fetch(accept, query)
            assert streamed == whole, f"{name}{query}"
            assert streamed[2] == str(len(streamed[0]))
    # a paged read from the store goes the same way
    streamed = await fetch("application/json", "?limit=20")
    assert len(json.loads(streamed[0])["items"]) == 20


async def test_a_client_that_leaves_mid_stream_frees_the_seats(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    global_default = server.apf.levels["global-default"]
    gate = Gate(monkeypatch, after=2)
    response = await server.session.get(server.url + "/api/v1/configmaps", headers=ALICE)
    try:
        await server.wait_for(lambda: gate.sent >= 2, "the list is mid-stream")
        assert global_default.seats_in_use > 0
        response.close()  # the client goes away with the body half read
    finally:
        gate.open()
        response.close()
    await server.wait_for(lambda: global_default.seats_in_use == 0, "seats returned")
    after = await server.request("GET", CMS, token="alice-token")
    assert after.status == 200
    assert len(after.json()["items"]) == ITEMS
