"""A real API server (HTTP on loopback) with per-identity bearer tokens and a test-only ``/hold/<n>``
endpoint, for driving API Priority and Fairness deterministically.

* ``TokenAuthenticator`` follows the authentication seam's protocol: ``Authorization: Bearer <token>`` of
  a known token is that identity; no token falls through to the next authenticator (here the insecure
  admin, so kubectl and setup requests are ``system:masters``, i.e. exempt).
* ``GET /hold/<n>`` (a non-resource request, classified like any other) blocks until the test calls
  ``holds.release()``: concurrency is driven by held requests, never by timing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from sampan.api import errors
from sampan.apiserver.app import build_app
from sampan.apiserver.authn import InsecureAdmin
from sampan.apiserver.config import APIServerConfig, StorageOptions
from sampan.apiserver.context import ServerContext
from sampan.apiserver.flowcontrol.controller import APF
from sampan.apiserver.flowcontrol.filter import controller
from sampan.apiserver.routes import CONTEXT_KEY
from sampan.apiserver.userinfo import UserInfo
from sampan.storage.factory import open_storage
from tests.support.apiserver import write_kubeconfig

USERS = {
    "flooder-token": UserInfo("flooder", groups=("system:authenticated",)),
    "alice-token": UserInfo("alice", groups=("system:authenticated",)),
    "node-token": UserInfo("system:node:n1", groups=("system:nodes", "system:authenticated")),
    "node2-token": UserInfo("system:node:n2", groups=("system:nodes", "system:authenticated")),
    "node3-token": UserInfo("system:node:n3", groups=("system:nodes", "system:authenticated")),
    "scheduler-token": UserInfo("system:kube-scheduler", groups=("system:authenticated",)),
}


class TokenAuthenticator:
    def __init__(self, users: dict[str, UserInfo]) -> None:
        self.users = users

    async def authenticate(self, request: web.BaseRequest) -> UserInfo | None:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            return None
        user = self.users.get(header[len("Bearer "):])
        if user is None:
            raise errors.Unauthorized("Unauthorized")
        return user


@dataclass
class Holds:
    """Requests parked in ``/hold``: ``entered`` counts those whose handler runs (they hold seats)."""

    gate: asyncio.Event = field(default_factory=asyncio.Event)
    entered: int = 0

    async def handler(self, request: web.Request) -> web.Response:
        self.entered += 1
        await self.gate.wait()
        return web.Response(text="released")

    def release(self) -> None:
        self.gate.set()


@dataclass
class Reply:
    status: int
    text: str
    headers: Any

    def json(self) -> Any:
        return json.loads(self.text)


@dataclass
class Server:
    url: str
    ctx: ServerContext
    holds: Holds
    session: aiohttp.ClientSession
    kubeconfig: Path

    @property
    def apf(self) -> APF:
        found = controller(self.ctx)
        assert found is not None
        return found

    async def request(self, method: str, path: str, *, token: str = "", body: Any = None) -> Reply:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        async with self.session.request(method, self.url + path, data=data, headers=headers) as r:
            return Reply(r.status, await r.text(), r.headers)

    async def metrics(self) -> str:
        return (await self.request("GET", "/metrics")).text

    async def wait_for(self, predicate: Any, what: str, timeout: float = 20.0) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while not predicate():
            assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
            await asyncio.sleep(0.01)


@contextlib.asynccontextmanager
async def run_server(workdir: Path, **config: Any) -> AsyncIterator[Server]:
    config.setdefault("kubernetes_service", False)
    # flow control classifies by identity; whether those identities may do the work is not under test
    config.setdefault("authorization_modes", ("AlwaysAllow",))
    cfg = APIServerConfig(port=0, storage=StorageOptions(backend="memory", data_dir=workdir / "data"), **config)
    storage = await open_storage(cfg.storage)
    holds = Holds()
    app = build_app(cfg, storage, authenticators=[TokenAuthenticator(USERS), InsecureAdmin()])
    app.router.add_get("/hold/{n}", holds.handler)
    runner = web.AppRunner(app, handler_cancellation=True, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    url = f"http://127.0.0.1:{port}"
    ctx = app[CONTEXT_KEY]
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
            server = Server(url, ctx, holds, session, write_kubeconfig(workdir / "kubeconfig", url))
            if cfg.enable_priority_and_fairness:  # the configuration from the store is in force
                await server.wait_for(lambda: server.apf.generation >= 2 and all(
                    s.uid for s in server.apf.all_schemas), "APF configuration")
            yield server
            holds.release()
    finally:
        holds.release()
        await runner.cleanup()
        await storage.close()


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    async with run_server(tmp_path) as s:
        yield s
