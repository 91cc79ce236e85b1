"""StaticPodRuntime: static pods' sandboxes and containers on one runtime, everything else on the other."""

from __future__ import annotations

import pytest

from sampan.kubelet.runtime.interface import ContainerConfig, NotFoundError, PodSandboxConfig
from sampan.kubelet.runtime.simulated import SimulatedRuntime
from sampan.kubelet.static_pods.manifests import CONFIG_SOURCE
from sampan.kubelet.static_pods.runtime import StaticPodRuntime


def sandbox(name: str, *, static: bool) -> PodSandboxConfig:
    return PodSandboxConfig(name=name, namespace="ns", uid=f"uid-{name}",
                            annotations={CONFIG_SOURCE: "file"} if static else {})


async def test_sandboxes_and_containers_go_to_the_runtime_of_their_pod() -> None:
    default, static = SimulatedRuntime(), SimulatedRuntime()
    rt = StaticPodRuntime(default, static)
    s_sb = await rt.run_pod_sandbox(sandbox("api", static=True))
    d_sb = await rt.run_pod_sandbox(sandbox("web", static=False))
    assert [sb.id for sb in await static.list_pod_sandboxes()] == [s_sb]
    assert [sb.id for sb in await default.list_pod_sandboxes()] == [d_sb]
    s_c = await rt.create_container(s_sb, ContainerConfig(name="c", image="i", command=("x",)))
    d_c = await rt.create_container(d_sb, ContainerConfig(name="c", image="i", command=("x",)))
    await rt.start_container(s_c)
    await rt.start_container(d_c)
    assert static.starts == 1
    assert default.starts == 1
    assert {c.id for c in await rt.list_containers()} == {s_c, d_c}
    assert [c.id for c in await rt.list_containers(s_sb)] == [s_c]
    assert (await rt.container_status(d_c)).sandbox_id == d_sb
    assert {sb.id for sb in await rt.list_pod_sandboxes()} == {s_sb, d_sb}
    assert rt.info() == default.info()

    # a new router over the same runtimes (a restarted kubelet) finds ids by listing
    again = StaticPodRuntime(default, static)
    await again.stop_container(s_c, 0)
    assert (await static.container_status(s_c)).state.name == "EXITED"
    await again.remove_pod_sandbox(s_sb)
    assert await static.list_pod_sandboxes() == []
    with pytest.raises(NotFoundError):
        await again.container_status("nope")


async def test_stats_come_from_the_owning_runtime() -> None:
    default, static = SimulatedRuntime(), SimulatedRuntime()
    rt = StaticPodRuntime(default, static)
    sb = await rt.run_pod_sandbox(sandbox("web", static=False))
    cid = await rt.create_container(sb, ContainerConfig(name="c", image="i", command=("x",)))
    await rt.start_container(cid)
    stats = await rt.container_stats(cid)
    assert stats is not None
    assert stats.container_id == cid
    await rt.stop_container(cid, 0)
    assert await rt.container_stats(cid) is None  # the owner has no figures for a stopped container
    assert await rt.container_stats("nope") is None
