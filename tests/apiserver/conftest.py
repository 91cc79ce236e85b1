"""HTTP helpers for the API server tests: ``api`` is a small JSON client bound to ``inproc_apiserver``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
import yarl

from tests.support.apiserver import InProcessAPIServer


@dataclass
class Reply:
    status: int
    body: Any
    headers: Any

    @property
    def reason(self) -> str:
        return str(self.body.get("reason", "")) if isinstance(self.body, dict) else ""


class WatchStream:
    """An open watch response; ``next()`` returns the next decoded event (None at end of stream)."""

    def __init__(self, resp: aiohttp.ClientResponse) -> None:
        self.resp = resp
        self.status = resp.status

    async def next(self, timeout: float = 10.0) -> dict[str, Any] | None:
        line = await asyncio.wait_for(self.resp.content.readline(), timeout)
        if not line:
            return None
        event: dict[str, Any] = json.loads(line)
        return event

    async def take(self, n: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for _ in range(n):
            ev = await self.next(timeout)
            assert ev is not None, f"stream ended after {out}"
            out.append(ev)
        return out

    async def rest(self, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Every remaining event until the server ends the stream."""
        out: list[dict[str, Any]] = []
        while (ev := await self.next(timeout)) is not None:
            out.append(ev)
        return out


class API:
    def __init__(self, session: aiohttp.ClientSession, server: InProcessAPIServer) -> None:
        self.session = session
        self.server = server
        self.url = server.url

    async def request(self, method: str, path: str, body: Any = None, *, data: bytes | None = None,
                      headers: dict[str, str] | None = None, params: dict[str, str] | None = None) -> Reply:
        hdrs = dict(headers or {})
        if body is not None:
            data = json.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        url = yarl.URL(self.url + path, encoded=True)
        if params:
            url = url.update_query(params)
        async with self.session.request(method, url, data=data, headers=hdrs) as r:
            raw = await r.read()
            try:
                parsed: Any = json.loads(raw) if raw else None
            except ValueError:
                parsed = raw.decode(errors="replace")
            return Reply(r.status, parsed, r.headers)

    async def get(self, path: str, **params: str) -> Reply:
        return await self.request("GET", path, params=params or None)

    async def post(self, path: str, body: Any, **params: str) -> Reply:
        return await self.request("POST", path, body, params=params or None)

    async def put(self, path: str, body: Any, **params: str) -> Reply:
        return await self.request("PUT", path, body, params=params or None)

    async def delete(self, path: str, body: Any = None, **params: str) -> Reply:
        return await self.request("DELETE", path, body, params=params or None)

    async def watch(self, path: str, *, headers: dict[str, str] | None = None, **params: str) -> WatchStream:
        resp = await self.session.get(self.url + path, params={"watch": "true", **params}, headers=headers)
        return WatchStream(resp)

    async def create_cm(self, name: str, ns: str = "default", *, labels: dict[str, str] | None = None,
                        data: dict[str, str] | None = None) -> dict[str, Any]:
        body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": labels or {}},
                "data": data or {"k": "v"}}
        r = await self.post(f"/api/v1/namespaces/{ns}/configmaps", body)
        assert r.status == 201, r.body
        obj: dict[str, Any] = r.body
        return obj

    async def snapshot(self) -> tuple[int, list[Any]]:
        """The store's revision and every stored key and value: proof that nothing changed."""
        store = self.server.context.store
        rev = await store.current_revision()
        page = await store.list(store.root)
        return rev, [(kv.key, kv.value, kv.mod_revision) for kv in page.kvs]


@pytest.fixture
async def api(inproc_apiserver: InProcessAPIServer) -> AsyncIterator[API]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        yield API(session, inproc_apiserver)
