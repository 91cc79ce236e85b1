from __future__ import annotations

import pytest

from sampan._lib.clock import FakeClock
from sampan.kubelet.runtime.interface import (
    ContainerConfig,
    ContainerConfigError,
    ContainerState,
    NotFoundError,
    PodSandboxConfig,
    SandboxState,
)
from sampan.kubelet.runtime.simulated import Behaviour, SimulatedRuntime, SimulatedRuntimeOptions


async def test_lifecycle_from_annotations_and_images() -> None:
    clock = FakeClock()
    rt = SimulatedRuntime(SimulatedRuntimeOptions(images={"crash:1": Behaviour(run_seconds=3, exit_code=9)}),
                          clock=clock)
    sid = await rt.run_pod_sandbox(PodSandboxConfig(name="p", namespace="ns", uid="u"))
    slow = await rt.create_container(sid, ContainerConfig(name="a", image="i", annotations={
        "sim.sampan.io/start-delay": "2", "sim.sampan.io/a.run-seconds": "5", "sim.sampan.io/exit-code": "4"}))
    crash = await rt.create_container(sid, ContainerConfig(name="b", image="crash:1"))
    assert (await rt.container_status(slow)).state is ContainerState.CREATED
    await rt.start_container(slow)
    await rt.start_container(crash)
    assert (await rt.container_status(slow)).state is ContainerState.CREATED  # still starting
    await clock.advance(2)
    assert (await rt.container_status(slow)).state is ContainerState.RUNNING
    await clock.advance(1)
    st = await rt.container_status(crash)
    assert (st.state, st.exit_code, st.reason) == (ContainerState.EXITED, 9, "Error")
    await clock.advance(4)
    st = await rt.container_status(slow)
    assert (st.state, st.exit_code, st.finished_at - st.started_at) == (ContainerState.EXITED, 4, 5)


async def test_stop_remove_and_sandbox() -> None:
    clock = FakeClock()
    rt = SimulatedRuntime(clock=clock)
    sid = await rt.run_pod_sandbox(PodSandboxConfig(name="p", namespace="ns", uid="u"))
    cid = await rt.create_container(sid, ContainerConfig(name="a", image="i"))
    await rt.start_container(cid)
    await rt.stop_container(cid, 30)
    st = await rt.container_status(cid)
    assert (st.state, st.exit_code) == (ContainerState.EXITED, 143)
    await rt.stop_container(cid, 0)  # idempotent: the first exit stays
    assert (await rt.container_status(cid)).exit_code == 143
    await rt.stop_pod_sandbox(sid)
    assert [s.state for s in await rt.list_pod_sandboxes()] == [SandboxState.NOTREADY]
    await rt.remove_pod_sandbox(sid)
    assert await rt.list_containers() == []
    with pytest.raises(NotFoundError):
        await rt.container_status(cid)
    with pytest.raises(NotFoundError):
        await rt.create_container(sid, ContainerConfig(name="a", image="i"))


async def test_bad_annotation_and_required_command() -> None:
    rt = SimulatedRuntime(SimulatedRuntimeOptions(require_command=True))
    sid = await rt.run_pod_sandbox(PodSandboxConfig(name="p", namespace="ns", uid="u"))
    with pytest.raises(ContainerConfigError, match="has no command"):
        await rt.create_container(sid, ContainerConfig(name="a", image="i"))
    with pytest.raises(ContainerConfigError, match="bad simulated-runtime annotation"):
        await rt.create_container(sid, ContainerConfig(name="a", image="i", command=("x",),
                                                       annotations={"sim.sampan.io/exit-code": "nope"}))


async def test_ten_thousand_containers_in_one_runtime() -> None:
    clock = FakeClock()
    rt = SimulatedRuntime(clock=clock)
    for i in range(2000):
        sid = await rt.run_pod_sandbox(PodSandboxConfig(name=f"p{i}", namespace="ns", uid=f"u{i}"))
        for j in range(5):
            await rt.start_container(await rt.create_container(sid, ContainerConfig(name=f"c{j}", image="i")))
    running = [c for c in await rt.list_containers() if c.state is ContainerState.RUNNING]
    assert len(running) == 10_000


async def test_synthetic_stats_from_annotations_and_requests() -> None:
    """Usage is deterministic: annotations win, else the requests; CPU accrues at that rate while running, and
    the node's counter (the containers' sum) keeps what removed containers used."""
    from sampan.kubelet.runtime.interface import LinuxResources
    from sampan.kubelet.stats.collector import StatsCollector

    clock = FakeClock()
    rt = SimulatedRuntime(clock=clock)
    sid = await rt.run_pod_sandbox(PodSandboxConfig(name="p", namespace="ns", uid="u"))
    labels = {"io.kubernetes.pod.uid": "u", "io.kubernetes.pod.name": "p", "io.kubernetes.pod.namespace": "ns"}
    hot = await rt.create_container(sid, ContainerConfig(name="hot", image="i", labels=labels, annotations={
        "sim.sampan.io/hot.cpu-usage": "1500m", "sim.sampan.io/memory-usage": "64Mi"}))
    plain = await rt.create_container(sid, ContainerConfig(name="plain", image="i", labels=labels, resources=(
        LinuxResources(cpu_request_milli=200, memory_request_bytes=10 << 20))))
    assert await rt.container_stats(hot) is None  # not running yet
    await rt.start_container(hot)
    await rt.start_container(plain)
    await clock.advance(2)
    s = await rt.container_stats(hot)
    assert s is not None
    assert (s.cpu_usage_core_ns, s.memory_working_set_bytes) == (3_000_000_000, 64 << 20)
    s = await rt.container_stats(plain)
    assert s is not None
    assert (s.cpu_usage_core_ns, s.memory_working_set_bytes) == (400_000_000, 10 << 20)
    collector = StatsCollector(rt, memory_capacity_bytes=1 << 30)
    first = await collector.read()
    await clock.advance(1)
    second = await collector.read()
    rates = {c.container: c.usage_nano_cores for c in second.containers}
    assert rates == {"hot": 1_500_000_000, "plain": 200_000_000}
    assert second.node.usage_nano_cores == 1_700_000_000
    assert (second.node.memory_working_set_bytes, second.node.memory_capacity_bytes) == (74 << 20, 1 << 30)
    assert first.node.cpu_usage_core_ns == 3_400_000_000
    await rt.stop_container(hot, 0)
    await rt.remove_container(hot)
    await clock.advance(1)
    assert rt.node_usage()[1] == 4_500_000_000 + 800_000_000  # hot's 3 s kept, plain's 4 s
    with pytest.raises(ContainerConfigError, match="cpu-usage"):
        await rt.create_container(sid, ContainerConfig(name="bad", image="i",
                                                       annotations={"sim.sampan.io/cpu-usage": "lots"}))
