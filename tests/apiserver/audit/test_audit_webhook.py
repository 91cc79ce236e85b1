"""The audit webhook backend: batches POSTed as EventLists to a real HTTP server, retried, then dropped."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web
from prometheus_client import CollectorRegistry

from sampan.apiserver.audit.backend import AuditMetrics
from sampan.apiserver.audit.webhook import WebhookBackend


class Receiver:
    def __init__(self) -> None:
        self.batches: list[dict[str, Any]] = []
        self.failures_left = 0

    async def handle(self, request: web.Request) -> web.Response:
        if self.failures_left:
            self.failures_left -= 1
            return web.Response(status=503)
        self.batches.append(await request.json())
        return web.Response(status=200)


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    r = Receiver()
    app = web.Application()
    app.router.add_post("/audit", r.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield r, f"http://127.0.0.1:{runner.addresses[0][1]}/audit"
    await runner.cleanup()


async def test_events_arrive_in_batches_and_failures_are_retried(receiver: tuple[Receiver, str],
                                                                tmp_path: Path) -> None:
    r, url = receiver
    config = {"apiVersion": "v1", "kind": "Config", "current-context": "a",
              "clusters": [{"name": "a", "cluster": {"server": url}}], "users": [{"name": "a", "user": {}}],
              "contexts": [{"name": "a", "context": {"cluster": "a", "user": "a"}}]}
    (tmp_path / "webhook.yaml").write_text(yaml.safe_dump(config))
    registry = CollectorRegistry()
    backend = WebhookBackend.from_kubeconfig(tmp_path / "webhook.yaml", metrics=AuditMetrics(registry),
                                             batch_size=3, max_wait=0.05, initial_backoff=0.01)
    r.failures_left = 1
    for i in range(4):
        backend.process({"auditID": str(i)})
    task = asyncio.create_task(backend.run())
    try:
        for _ in range(200):
            if sum(len(b["items"]) for b in r.batches) == 4:
                break
            await asyncio.sleep(0.02)
        assert [len(b["items"]) for b in r.batches] == [3, 1]  # full batch first, then the rest after max_wait
        assert r.batches[0]["kind"] == "EventList"
        assert r.batches[0]["apiVersion"] == "audit.k8s.io/v1"
        r.failures_left = 3  # every try fails: the batch is dropped and counted
        backend.process({"auditID": "lost"})
        for _ in range(200):
            if registry.get_sample_value("apiserver_audit_error_total", {"plugin": "webhook"}):
                break
            await asyncio.sleep(0.02)
        assert registry.get_sample_value("apiserver_audit_error_total", {"plugin": "webhook"}) == 1
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
