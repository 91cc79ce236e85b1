"""Authorization overhead: ConfigMap creates/s and p99 as a user RBAC must evaluate, beside the same
run without authorization.

    .venv/bin/python bench/authz.py            # 3,000 creates per run, 16 concurrent clients
    .venv/bin/python bench/authz.py --quick

Both runs use one in-process API server (memory store) with a bearer-name authenticator, so they differ
only in the authorizer chain:
* ``AlwaysAllow`` — requests as a plain user, no authorization work;
* ``Node,RBAC`` — the same user bound to ``edit`` in the namespace by a RoleBinding, among
  ``--bindings`` unrelated RoleBindings and ClusterRoleBindings (the subject index keeps the
  per-request cost independent of their number), with the bootstrap policy in place.
Also printed: the authorizer alone (decisions/s for an allowed and a refused request).
Server and load generator share one event loop and the machine's 2 cores: compare the ratio, not the
absolute figures (``bench/apiserver.py`` measures a separate server process). Goal (issue 17): the
authorized run keeps >= 70% of the creates/s.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from sampan.apiserver.app import build_app
from sampan.apiserver.authz import authorization_of
from sampan.apiserver.authz.attributes import Attributes
from sampan.apiserver.config import APIServerConfig
from sampan.apiserver.routes import CONTEXT_KEY
from sampan.apiserver.userinfo import UserInfo
from sampan.storage.memory import MemoryStorage

RBAC = "rbac.authorization.k8s.io"
NS = "default"


class BearerNames:
    async def authenticate(self, request: web.BaseRequest) -> UserInfo | None:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            return None
        name, _, groups = header[7:].partition("|")
        return UserInfo(name, groups=(*[g for g in groups.split(",") if g], "system:authenticated"))


def _binding(kind: str, name: str, subject: str, role: str, namespace: str = "") -> dict[str, Any]:
    md: dict[str, Any] = {"name": name}
    if namespace:
        md["namespace"] = namespace
    return {"apiVersion": f"{RBAC}/v1", "kind": kind, "metadata": md,
            "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": role},
            "subjects": [{"kind": "User", "apiGroup": RBAC, "name": subject}]}


async def _run(modes: tuple[str, ...], *, creates: int, concurrency: int, bindings: int) -> dict[str, float]:
    storage = MemoryStorage("/registry/")
    app = build_app(APIServerConfig(port=0, kubernetes_service=False, authorization_modes=modes), storage,
                    authenticators=[BearerNames()])
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    assert site._server is not None
    url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[attr-defined]
    ctx = app[CONTEXT_KEY]
    await ctx.watch_cache.ready.wait()
    admin = {"Authorization": "Bearer root|system:masters"}
    user = {"Authorization": "Bearer bench"}
    out: dict[str, float] = {}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:
        async def post(path: str, body: Any, headers: dict[str, str]) -> int:
            async with session.post(url + path, json=body, headers=headers) as r:
                await r.read()
                return r.status

        for i in range(bindings):
            await post(f"/apis/{RBAC}/v1/namespaces/{NS}/rolebindings",
                       _binding("RoleBinding", f"other-{i}", f"user-{i}", "view", NS), admin)
            await post(f"/apis/{RBAC}/v1/clusterrolebindings",
                       _binding("ClusterRoleBinding", f"other-{i}", f"user-{i}", "view"), admin)
        assert await post(f"/apis/{RBAC}/v1/namespaces/{NS}/rolebindings",
                          _binding("RoleBinding", "bench-edit", "bench", "edit", NS), admin) == 201
        assert await post(f"/apis/{RBAC}/v1/clusterroles", {
            "apiVersion": f"{RBAC}/v1", "kind": "ClusterRole", "metadata": {"name": "edit-extra", "labels": {}},
            "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["create"]}]}, admin) == 201
        assert await post(f"/apis/{RBAC}/v1/namespaces/{NS}/rolebindings",
                          _binding("RoleBinding", "bench-cm", "bench", "edit-extra", NS), admin) == 201
        await asyncio.sleep(0.2)
        latencies: list[float] = []
        counter = iter(range(creates))

        async def worker() -> None:
            for i in counter:
                body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"cm-{i}"},
                        "data": {"k": "v"}}
                t0 = time.perf_counter()
                status = await post(f"/api/v1/namespaces/{NS}/configmaps", body, user)
                latencies.append(time.perf_counter() - t0)
                assert status == 201, status

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
        latencies.sort()
        out["creates_per_s"] = creates / elapsed
        out["p50_ms"] = statistics.median(latencies) * 1000
        out["p99_ms"] = latencies[int(len(latencies) * 0.99) - 1] * 1000
    authz = authorization_of(ctx)
    assert authz is not None
    who = UserInfo("bench", groups=("system:authenticated",))
    for label, namespace in (("allowed", NS), ("refused", "kube-system")):
        attrs = Attributes(user=who, verb="create", api_version="v1", resource="configmaps", namespace=namespace)
        n = 20000
        t0 = time.perf_counter()
        for _ in range(n):
            authz.authorizer.authorize(attrs)
        out[f"decisions_per_s_{label}"] = n / (time.perf_counter() - t0)
    await runner.cleanup()
    await storage.close()
    return out


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--creates", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--bindings", type=int, default=500)
    args = parser.parse_args()
    creates = 800 if args.quick else args.creates
    bindings = 100 if args.quick else args.bindings
    base = await _run(("AlwaysAllow",), creates=creates, concurrency=args.concurrency, bindings=bindings)
    rbac = await _run(("Node", "RBAC"), creates=creates, concurrency=args.concurrency, bindings=bindings)
    print(f"creates={creates} concurrency={args.concurrency} unrelated bindings={2 * bindings}")
    print(f"{'chain':<14}{'creates/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'allow/s':>11}{'refuse/s':>11}")
    for name, r in (("AlwaysAllow", base), ("Node,RBAC", rbac)):
        print(f"{name:<14}{r['creates_per_s']:>10.0f}{r['p50_ms']:>9.1f}{r['p99_ms']:>9.1f}"
              f"{r['decisions_per_s_allowed']:>11.0f}{r['decisions_per_s_refused']:>11.0f}")
    print(f"RBAC keeps {rbac['creates_per_s'] / base['creates_per_s']:.0%} of the creates/s (goal >= 70%)")


if __name__ == "__main__":
    asyncio.run(main())
