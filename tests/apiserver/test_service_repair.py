"""The repair loop frees values leaked by a crash (allocated, never stored) after several runs, and marks
values that stored Services hold but the bitmap lost."""

from __future__ import annotations

from typing import Any

import pytest

from sampan.apiserver.services import hooks
from sampan.apiserver.services.repair import Repair
from tests.apiserver.conftest import API

SVCS = "/api/v1/namespaces/default/services"


def _repair(api: API, leak_repairs: int = 3) -> Repair:
    ctx = api.server.context
    allocators = hooks.allocators(ctx)
    services = ctx.scope("", "v1", "services")
    assert allocators is not None
    assert services is not None
    return Repair(ctx.store, services, allocators, clock=ctx.clock, interval=1.0, leak_repairs=leak_repairs)


def _svc(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"selector": {"app": name}, "ports": [{"port": 80}], **spec}}


async def test_leaked_ip_and_port_freed_after_three_runs(api: API) -> None:
    allocators = hooks.allocators(api.server.context)
    assert allocators is not None
    r = await api.post(SVCS, _svc("kept", type="NodePort"))
    assert r.status == 201
    kept_ip, kept_port = r.body["spec"]["clusterIP"], r.body["spec"]["ports"][0]["nodePort"]
    # a "crash" between allocating and storing: values held by no Service
    await allocators.ips.allocate("100.96.44.44")
    await allocators.ports.allocate(31555)
    repair = _repair(api)
    first = await repair.run_once()
    assert first.freed == 0
    assert first.leaked == 2
    assert "100.96.44.44" in await allocators.ips.allocated()
    await repair.run_once()
    third = await repair.run_once()
    assert third.freed == 2
    assert "100.96.44.44" not in await allocators.ips.allocated()
    assert 31555 not in await allocators.ports.allocated()
    assert kept_ip in await allocators.ips.allocated()
    assert kept_port in await allocators.ports.allocated()
    # the freed values are allocatable again
    r = await api.post(SVCS, _svc("again", clusterIP="100.96.44.44", type="NodePort",
                                  ports=[{"port": 80, "nodePort": 31555}]))
    assert r.status == 201, r.body


async def test_value_reused_before_cleanup_is_not_freed(api: API) -> None:
    allocators = hooks.allocators(api.server.context)
    assert allocators is not None
    await allocators.ips.allocate("100.96.45.45")
    repair = _repair(api)
    await repair.run_once()
    # the "in-flight create" stores its Service after all
    await allocators.ips.release(["100.96.45.45"])
    assert (await api.post(SVCS, _svc("late", clusterIP="100.96.45.45"))).status == 201
    for _ in range(3):
        await repair.run_once()
    assert "100.96.45.45" in await allocators.ips.allocated()


async def test_lost_allocation_is_marked(api: API) -> None:
    allocators = hooks.allocators(api.server.context)
    assert allocators is not None
    r = await api.post(SVCS, _svc("held", type="NodePort"))
    ip, port = r.body["spec"]["clusterIP"], r.body["spec"]["ports"][0]["nodePort"]
    await allocators.ips.release([ip])
    await allocators.ports.release([port])
    result = await _repair(api).run_once()
    assert result.marked == 2
    assert ip in await allocators.ips.allocated()
    assert port in await allocators.ports.allocated()
    r = await api.post(SVCS, _svc("clash", clusterIP=ip))
    assert r.status == 422


@pytest.mark.apiserver_config(service_repair_interval=0.05, service_leak_repairs=2)
async def test_the_server_runs_the_loop(api: API) -> None:
    import asyncio

    allocators = hooks.allocators(api.server.context)
    assert allocators is not None
    await allocators.ports.allocate(32000)
    for _ in range(200):
        if 32000 not in await allocators.ports.allocated():
            break
        await asyncio.sleep(0.05)
    assert 32000 not in await allocators.ports.allocated()
