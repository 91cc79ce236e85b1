"""The static pod manager without an API server: files become pod workers at once, removed files stop
them, a changed file replaces the pod only after the old one terminated, and status is kept for the mirror
pod to come. Simulated runtime, real clock with the file-check period shrunk."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from sampan.kubelet.pod_workers import PodWorkerOptions, PodWorkers
from sampan.kubelet.runtime.simulated import SimulatedRuntime
from sampan.kubelet.static_pods.manager import RoutingSink, StaticPodOptions, StaticPods
from sampan.kubelet.static_pods.manifests import CONFIG_SEEN, full_name
from sampan.kubelet.status_manager import MemoryStatusSink
from sampan.kubelet.volumes.manager import VolumeManager
from sampan.kubelet.volumes.objects import StaticObjects
from tests.kubelet.conftest import make_pod, until


def manifest(name: str, *, command: str = "serve") -> str:
    return (f"apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: kube-system}}\n"
            f"spec: {{containers: [{{name: main, image: i, command: [{command}]}}]}}\n")


class GatedRuntime(SimulatedRuntime):
    """A simulated runtime whose container stops wait for ``release`` (a slow SIGTERM handler)."""

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()
        self.release.set()

    async def stop_container(self, container_id: str, timeout: float) -> None:
        await self.release.wait()
        await super().stop_container(container_id, timeout)


class Env:
    def __init__(self, tmp: Path) -> None:
        self.dir = tmp / "manifests"
        self.dir.mkdir()
        self.runtime = GatedRuntime()
        self.api_sink = MemoryStatusSink()
        self.sink = RoutingSink(None)
        self.sink.api = self.api_sink
        volumes = VolumeManager(tmp / "pods", objects=StaticObjects(), node_allocatable={})
        self.workers = PodWorkers(self.runtime, sink=self.sink, volumes=volumes,
                                  options=PodWorkerOptions(sync_period=0.05))
        self.static = StaticPods(StaticPodOptions(manifest_path=self.dir, node_name="n1", file_check_frequency=0.05),
                                 self.workers)
        self.sink.static = self.static
        self.task: asyncio.Task[None] | None = None

    def running_names(self) -> list[str]:
        return sorted(full_name(w.pod) for w in self.workers.workers.values() if w.terminating is None)

    def status_of(self, name: str) -> dict[str, Any]:
        pod = self.static.by_full_name("kube-system", f"{name}-n1")
        return self.static.statuses.get(pod["metadata"]["uid"], {}) if pod else {}


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    e = Env(tmp_path)
    e.task = asyncio.create_task(e.static.run())
    yield e
    e.task.cancel()
    e.runtime.release.set()
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.wait_for(e.task, 10)  # bounded: a regression fails here instead of stalling the suite
    await asyncio.wait_for(e.workers.aclose(), 10)


def phase(status: dict[str, Any]) -> str:
    return str(status.get("phase", ""))


async def test_pods_run_from_files_and_their_status_is_kept_without_an_api(env: Env) -> None:
    (env.dir / "a.yaml").write_text(manifest("etcd"))
    await until(lambda: phase(env.status_of("etcd")) == "Running", what="etcd Running")
    assert env.running_names() == ["kube-system/etcd-n1"]
    pod = env.static.by_full_name("kube-system", "etcd-n1")
    assert pod is not None
    assert pod["metadata"]["annotations"][CONFIG_SEEN].endswith("Z")
    assert env.api_sink.history == []  # nothing of a static pod goes to the API pods' sink
    sandboxes = await env.runtime.list_pod_sandboxes()
    assert [sb.config.name for sb in sandboxes] == ["etcd-n1"]


async def test_a_removed_file_stops_its_pod(env: Env) -> None:
    (env.dir / "a.yaml").write_text(manifest("etcd"))
    (env.dir / "b.yaml").write_text(manifest("kube-scheduler"))
    await until(lambda: env.running_names() == ["kube-system/etcd-n1", "kube-system/kube-scheduler-n1"],
                what="two pods")
    (env.dir / "a.yaml").unlink()
    await until(lambda: env.running_names() == ["kube-system/kube-scheduler-n1"], what="etcd terminating")
    await until(lambda: len(env.workers.workers) == 1, what="etcd's worker gone")
    assert phase(env.status_of("kube-scheduler")) == "Running"
    assert len(env.static.statuses) == 1  # the removed pod's status is dropped
    assert [sb.config.name for sb in await env.runtime.list_pod_sandboxes()] == ["kube-scheduler-n1"]


async def test_a_changed_file_replaces_the_pod_after_the_old_one_terminated(env: Env) -> None:
    (env.dir / "a.yaml").write_text(manifest("api"))
    await until(lambda: phase(env.status_of("api")) == "Running", what="api Running")
    old_uid = next(iter(env.static.pods))
    env.runtime.release.clear()  # the old pod takes its time to stop
    (env.dir / "a.yaml").write_text(manifest("api", command="serve2"))
    await until(lambda: next(iter(env.static.pods)) != old_uid, what="the new manifest read")
    new_uid = next(iter(env.static.pods))
    for _ in range(5):  # several file checks pass: still only the old, terminating worker
        await asyncio.sleep(0.06)
        assert set(env.workers.workers) == {old_uid}
        assert env.workers.workers[old_uid].terminating is not None
    env.runtime.release.set()
    await until(lambda: set(env.workers.workers) == {new_uid}, what="the new pod started")
    await until(lambda: phase(env.static.statuses.get(new_uid, {})) == "Running", what="new pod Running")
    assert old_uid not in env.static.statuses


async def test_a_file_that_appears_later_is_picked_up_on_the_next_check(env: Env) -> None:
    await until(lambda: env.static.reads >= 2, what="two reads of an empty directory")
    assert env.workers.workers == {}
    (env.dir / "late.json").write_text('{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "late"}, '
                                       '"spec": {"containers": [{"name": "c", "image": "i", "command": ["x"]}]}}')
    await until(lambda: env.static.by_full_name("default", "late-n1") is not None, what="late pod read")
    await until(lambda: len(env.workers.workers) == 1, what="late pod running")


async def test_api_pods_still_go_to_the_api_sink(env: Env) -> None:
    pod = make_pod("from-api", containers=[{"name": "c", "image": "i", "command": ["x"]}])
    env.workers.update_pod(pod)
    await until(lambda: "ns/from-api" in env.api_sink.statuses, what="API pod status in the API sink")
    assert env.static.statuses == {}
