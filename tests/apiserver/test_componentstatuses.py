"""``kubectl get componentstatuses`` and the official client's ``list_component_status`` against a real
API server whose "scheduler" is a live /healthz and whose "controller-manager" listens nowhere."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from tests.support.apiserver import InProcessAPIServer, free_port, run_apiserver_inprocess


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[InProcessAPIServer]:
    health = web.Application()
    health.router.add_get("/healthz", lambda _: web.Response(text="ok"))
    runner = web.AppRunner(health)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    servers = {"scheduler": f"http://127.0.0.1:{port}/healthz",
               "controller-manager": f"http://127.0.0.1:{free_port()}/healthz"}  # nothing listens there
    try:
        async with run_apiserver_inprocess(tmp_path / "api", component_status_servers=servers) as s:
            yield s
    finally:
        await runner.cleanup()


async def kubectl(server: InProcessAPIServer, *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec("kubectl", "--kubeconfig", str(server.kubeconfig), *args,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return int(proc.returncode or 0), out.decode(), err.decode()


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
async def test_kubectl_get_componentstatuses(server: InProcessAPIServer) -> None:
    code, out, err = await kubectl(server, "get", "cs")
    assert code == 0, err
    lines = [line.rstrip().split(None, 2) for line in out.splitlines()]
    assert out.split()[:4] == ["NAME", "STATUS", "MESSAGE", "ERROR"]
    assert lines[1] == ["scheduler", "Healthy", "ok"]
    assert lines[2][:2] == ["controller-manager", "Unhealthy"]
    assert "connect" in lines[2][2].lower()  # the probe's error, as upstream shows it
    assert "Warning: v1 ComponentStatus is deprecated in v1.19+" in err
    code, _, err = await kubectl(server, "get", "componentstatus", "etcd-9")
    assert code == 1
    assert 'componentstatuses "etcd-9" not found' in err


async def test_official_client_lists_component_statuses(server: InProcessAPIServer) -> None:
    from kubernetes import client as kclient
    from kubernetes import config as kconfig

    api = kclient.CoreV1Api(kconfig.new_client_from_config(config_file=str(server.kubeconfig)))
    listed = await asyncio.to_thread(api.list_component_status)
    conditions = {cs.metadata.name: cs.conditions[0] for cs in listed.items}
    assert set(conditions) == {"scheduler", "controller-manager"}  # memory storage: no etcd member to probe
    assert (conditions["scheduler"].type, conditions["scheduler"].status) == ("Healthy", "True")
    assert conditions["controller-manager"].status == "False"
    assert conditions["controller-manager"].error.startswith('Get "http://127.0.0.1:')
    one = await asyncio.to_thread(api.read_component_status, "scheduler")
    assert one.conditions[0].message == "ok"
    api.api_client.close()
