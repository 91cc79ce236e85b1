"""A real API server (in process) and a real kubelet wired to it through the client library, with the
heartbeat periods shrunk so tests run in seconds."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sampan.client import Client, load_config
from sampan.kubelet.kubelet import Kubelet, KubeletOptions
from tests.kubelet.conftest import remove_empty_cgroup_parents
from tests.support.apiserver import InProcessAPIServer

PY = sys.executable


@dataclass
class Cluster:
    server: InProcessAPIServer
    client: Client
    kubelet: Kubelet
    task: asyncio.Task[None]

    async def rc(self, api_version: str, resource: str) -> Any:
        return await self.client.resource(api_version, resource)

    async def stop_kubelet(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


def kubelet_options(tmp_path: Path, *, name: str = "node-1", runtime: str = "process") -> KubeletOptions:
    return KubeletOptions(node_name=name, root_dir=tmp_path / name, runtime=runtime,
                          node_status_update_frequency=0.2, lease_renew_interval=0.1, node_lease_duration=2,
                          port=0, sync_period=0.1, log_follow_poll=0.02, local_path_reclaim_period=0.2,
                          backoff_event_period=0.2)


async def wait_for(fetch: Callable[[], Awaitable[Any]], pred: Callable[[Any], bool], *, timeout: float = 20.0,
                   what: str = "condition") -> Any:
    """Poll ``fetch()`` until ``pred`` holds on its result; returns that result."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last: Any = None
    while loop.time() < deadline:
        last = await fetch()
        if pred(last):
            return last
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}; last: {last}")


@pytest.fixture
async def cluster(inproc_apiserver: InProcessAPIServer, tmp_path: Path) -> AsyncIterator[Cluster]:
    client = Client(load_config(str(inproc_apiserver.kubeconfig)))
    kubelet = Kubelet(client, kubelet_options(tmp_path))
    task = asyncio.create_task(kubelet.run())
    c = Cluster(inproc_apiserver, client, kubelet, task)
    try:
        await asyncio.wait_for(kubelet.ready.wait(), 20)
        yield c
    finally:
        await c.stop_kubelet()
        for sb in await kubelet.runtime.list_pod_sandboxes():  # leave no process behind
            for ctr in await kubelet.runtime.list_containers(sb.id):
                await kubelet.runtime.stop_container(ctr.id, 0)
            await kubelet.runtime.remove_pod_sandbox(sb.id)
        remove_empty_cgroup_parents("sampan")  # only removes empty directories
        await client.close()
