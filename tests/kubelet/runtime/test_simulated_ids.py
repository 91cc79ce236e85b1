"""Simulated sandbox and container IDs: unique in the process, hex, the lengths CRI runtimes use."""

from __future__ import annotations

import re

from sampan.kubelet.runtime.simulated import new_id


def test_ids_are_unique_hex_of_the_asked_length() -> None:
    ids = [new_id(64) for _ in range(10_000)] + [new_id(32) for _ in range(10_000)]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"[0-9a-f]{64}", i) for i in ids[:10_000])
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids[10_000:])


async def test_a_running_record_is_built_once_and_equals_a_fresh_one() -> None:
    """A started container that never exits by itself reports one RUNNING record (reused) equal to the one
    built from its created record; a start delay still reports CREATED first; stopping still exits it."""
    from dataclasses import replace

    from sampan._lib.clock import FakeClock
    from sampan.kubelet.runtime.interface import ContainerConfig, ContainerState, PodSandboxConfig
    from sampan.kubelet.runtime.simulated import SimulatedRuntime

    clock = FakeClock()
    rt = SimulatedRuntime(clock=clock)
    sid = await rt.run_pod_sandbox(PodSandboxConfig(name="p", namespace="ns", uid="u"))
    cid = await rt.create_container(sid, ContainerConfig(name="a", image="i", annotations={
        "sim.sampan.io/start-delay": "2"}))
    await rt.start_container(cid)
    created = await rt.container_status(cid)
    assert created.state is ContainerState.CREATED
    await clock.advance(2.5)
    first = await rt.container_status(cid)
    assert first == replace(created, state=ContainerState.RUNNING)
    await clock.advance(60)
    assert [c for c in await rt.list_containers(sid)] == [first]
    assert (await rt.container_status(cid)) is first
    await rt.stop_container(cid, 30)
    stopped = await rt.container_status(cid)
    assert (stopped.state, stopped.exit_code, stopped.finished_at) == (ContainerState.EXITED, 143, clock.wall())
    assert stopped.started_at == first.started_at
