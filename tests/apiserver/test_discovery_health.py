"""/healthz, /livez, /readyz with named checks, verbose output, exclusions and single checks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from sampan.apiserver import health


class Flag:
    def __init__(self) -> None:
        self.reason: str | None = None

    async def check(self) -> str | None:
        return self.reason


@pytest.fixture
def store_flag() -> Flag:
    return Flag()


@pytest.fixture
async def client(store_flag: Flag) -> AsyncIterator[TestClient[Any, Any]]:
    checks = health.HealthChecks()
    checks.add("etcd", store_flag.check)
    checks.add("informer-sync", lambda: None, readiness_only=True)

    def broken() -> str | None:
        raise RuntimeError("boom")

    checks.add("poststarthook/broken", broken, readiness_only=True)
    checks.add("poststarthook/broken", lambda: None, readiness_only=True)  # replaced: healthy now
    app = web.Application()
    health.register(app, checks)
    async with TestClient(TestServer(app, host="127.0.0.1")) as c:
        yield c


async def test_all_ok(client: TestClient[Any, Any]) -> None:
    for path in ("/healthz", "/livez", "/readyz", "/readyz/"):
        resp = await client.get(path)
        assert resp.status == 200
        assert await resp.text() == "ok"
        assert resp.headers["Content-Type"].startswith("text/plain")


async def test_verbose_lists_checks(client: TestClient[Any, Any]) -> None:
    text = await (await client.get("/readyz?verbose")).text()
    assert text.splitlines() == [
        "[+]ping ok", "[+]log ok", "[+]etcd ok", "[+]informer-sync ok", "[+]poststarthook/broken ok",
        "readyz check passed",
    ]
    live = await (await client.get("/livez?verbose=1")).text()
    assert "informer-sync" not in live
    assert live.endswith("livez check passed\n")


async def test_failing_check(client: TestClient[Any, Any], store_flag: Flag) -> None:
    store_flag.reason = "store unreachable"
    resp = await client.get("/readyz")
    assert resp.status == 500
    text = await resp.text()
    assert "[-]etcd failed: reason withheld" in text
    assert text.endswith("readyz check failed\n")
    assert "store unreachable" not in text
    excluded = await client.get("/readyz?exclude=etcd")
    assert excluded.status == 200
    single = await client.get("/livez/etcd")
    assert single.status == 500
    assert (await client.get("/livez/ping")).status == 200


async def test_raising_check_counts_as_failed() -> None:
    checks = health.HealthChecks()

    def broken() -> str | None:
        raise RuntimeError("boom")

    checks.add("broken", broken)
    results = await checks.run("healthz")
    assert dict(results)["broken"] == "RuntimeError: boom"


async def test_unknown_single_check_is_404(client: TestClient[Any, Any]) -> None:
    resp = await client.get("/healthz/nope")
    assert resp.status == 404
