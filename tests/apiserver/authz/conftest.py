"""An in-process API server with ``--authorization-mode Node,RBAC`` and the bootstrap policy, and a small
JSON client that acts as any user through impersonation (the server's own user is the insecure admin,
in ``system:masters``, which may impersonate anyone)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.controllers.support import fast_options, running_manager, unthrottled_client
from tests.support.apiserver import InProcessAPIServer, run_apiserver_inprocess

RBAC = "rbac.authorization.k8s.io"


@dataclass
class Reply:
    status: int
    body: Any


class Client:
    """Requests as ``user`` (with ``groups``) via Impersonate-* headers; no user: the admin itself."""

    def __init__(self, session: aiohttp.ClientSession, url: str, user: str = "", groups: Sequence[str] = ()) -> None:
        self.session, self.url, self.user, self.groups = session, url, user, tuple(groups)

    def as_user(self, user: str, *groups: str) -> Client:
        return Client(self.session, self.url, user, groups)

    def _headers(self) -> list[tuple[str, str]]:
        if not self.user:
            return []
        return [("Impersonate-User", self.user)] + [("Impersonate-Group", g) for g in self.groups]

    async def request(self, method: str, path: str, body: Any = None, *, headers: Sequence[tuple[str, str]] = (),
                      params: dict[str, str] | None = None) -> Reply:
        hdrs = [*self._headers(), *headers]
        data = None if body is None else json.dumps(body)
        if data is not None:
            hdrs.append(("Content-Type", "application/json"))
        async with self.session.request(method, self.url + path, data=data, headers=hdrs, params=params) as r:
            text = await r.text()
            try:
                parsed = json.loads(text) if text else None
            except ValueError:
                parsed = text
            return Reply(r.status, parsed)

    async def get(self, path: str, **kw: Any) -> Reply:
        return await self.request("GET", path, **kw)

    async def post(self, path: str, body: Any, **kw: Any) -> Reply:
        return await self.request("POST", path, body, **kw)

    async def put(self, path: str, body: Any, **kw: Any) -> Reply:
        return await self.request("PUT", path, body, **kw)

    async def delete(self, path: str, **kw: Any) -> Reply:
        return await self.request("DELETE", path, **kw)


async def eventually(check: Callable[[], Any], *, timeout: float = 10.0) -> Any:
    """Poll the async ``check`` until it returns a truthy value (bounded; the last value otherwise)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await check()
        if value or asyncio.get_running_loop().time() > deadline:
            return value
        await asyncio.sleep(0.02)


def role_binding(name: str, namespace: str, role_kind: str, role: str, *subjects: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": f"{RBAC}/v1", "kind": "RoleBinding", "metadata": {"name": name, "namespace": namespace},
            "roleRef": {"apiGroup": RBAC, "kind": role_kind, "name": role}, "subjects": list(subjects)}


def user(name: str) -> dict[str, str]:
    return {"kind": "User", "apiGroup": RBAC, "name": name}


@pytest.fixture
async def rbac_server(tmp_path: Path) -> AsyncIterator[InProcessAPIServer]:
    async with run_apiserver_inprocess(tmp_path / "apiserver", authorization_modes=("Node", "RBAC"),
                                       system_namespaces=("default", "kube-system", "kube-public",
                                                          "kube-node-lease", "other")) as server:
        yield server


@pytest.fixture
async def admin(rbac_server: InProcessAPIServer) -> AsyncIterator[Client]:
    """The admin client, with the clusterrole-aggregation controller running (``view`` etc. filled)."""
    client = unthrottled_client(rbac_server.kubeconfig)
    async with running_manager(client, fast_options(("clusterrole-aggregation",))), aiohttp.ClientSession() as session:
        admin = Client(session, rbac_server.url)

        async def view_filled() -> bool:
            r = await admin.get(f"/apis/{RBAC}/v1/clusterroles/admin")
            return r.status == 200 and len(r.body.get("rules") or []) >= 19

        assert await eventually(view_filled), "aggregated roles not filled"
        yield admin
    await client.close()


class BearerNames:
    """A test authenticator: ``Authorization: Bearer <user>[|<group>,<group>…]`` is that user (plus
    ``system:authenticated``); no header: no opinion (anonymous follows)."""

    async def authenticate(self, request: Any) -> Any:
        from sampan.apiserver.userinfo import UserInfo

        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            return None
        name, _, groups = header[len("Bearer "):].partition("|")
        return UserInfo(name, groups=(*[g for g in groups.split(",") if g], "system:authenticated"))


class Anonymous:
    async def authenticate(self, request: Any) -> Any:
        from sampan.apiserver.userinfo import UserInfo

        return UserInfo("system:anonymous", groups=("system:unauthenticated",))


@dataclass
class SecureServer:
    url: str
    context: Any

    def client(self, session: aiohttp.ClientSession, token: str) -> Client:
        return _TokenClient(session, self.url, token)


class _TokenClient(Client):
    def __init__(self, session: aiohttp.ClientSession, url: str, token: str) -> None:
        super().__init__(session, url)
        self.token = token

    def _headers(self) -> list[tuple[str, str]]:
        return [("Authorization", f"Bearer {self.token}")]


@pytest.fixture
async def secure_server(tmp_path: Path) -> AsyncIterator[SecureServer]:
    """A server with an authentication chain (so the default modes are Node,RBAC, as in secure mode)."""
    from aiohttp import web

    from sampan.apiserver.app import build_app
    from sampan.apiserver.config import APIServerConfig
    from sampan.apiserver.routes import CONTEXT_KEY
    from sampan.storage.memory import MemoryStorage

    storage = MemoryStorage("/registry/")
    config = APIServerConfig(port=0, kubernetes_service=False)
    app = build_app(config, storage, authenticators=[BearerNames(), Anonymous()])
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server = site._server
    assert server is not None
    port = server.sockets[0].getsockname()[1]
    ctx = app[CONTEXT_KEY]
    await ctx.watch_cache.ready.wait()
    try:
        yield SecureServer(f"http://127.0.0.1:{port}", ctx)
    finally:
        await runner.cleanup()
        await storage.close()
