"""The pod worker with an image manager: pulls before containers start, waits in ImagePullBackOff,
reports image/imageID (simulated runtime, fake ImageService, fake clock)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from sampan._lib.clock import FakeClock
from sampan.kubelet.images.manager import ImageManager, ImageManagerOptions
from sampan.kubelet.pod_workers import PodWorkerOptions, PodWorkers
from sampan.kubelet.runtime.simulated import SimulatedRuntime
from sampan.kubelet.status_manager import MemoryStatusSink
from sampan.kubelet.volumes.manager import VolumeManager
from sampan.kubelet.volumes.objects import StaticObjects
from tests.kubelet.conftest import make_pod, until
from tests.kubelet.images.fake import FakeImageService, RecordingEvents, image_id

WEB = "127.0.0.1:5000/web:1"


class Env:
    def __init__(self, tmp: Path) -> None:
        self.clock = FakeClock()
        self.runtime = SimulatedRuntime(clock=self.clock)
        self.sink = MemoryStatusSink()
        self.service = FakeImageService()
        self.events = RecordingEvents()
        self.images = ImageManager(self.service, get_secret=lambda _ns, _n: None, events=self.events, clock=self.clock,
                                   options=ImageManagerOptions(backoff_initial=10.0, backoff_max=40.0))
        self.volumes = VolumeManager(tmp / "pods", objects=StaticObjects(), node_allocatable={"cpu": "2"})
        self.workers = PodWorkers(self.runtime, sink=self.sink, volumes=self.volumes, clock=self.clock,
                                  options=PodWorkerOptions(sync_period=1.0), images=self.images)

    def cs(self, pod: dict[str, Any]) -> dict[str, Any]:
        statuses = self.sink.statuses.get(f"ns/{pod['metadata']['name']}", {}).get("containerStatuses") or [{}]
        return statuses[0]

    def waiting(self, pod: dict[str, Any]) -> str:
        return str(((self.cs(pod).get("state") or {}).get("waiting") or {}).get("reason", ""))

    async def tick(self, seconds: float) -> None:
        for _ in range(30):
            await asyncio.sleep(0)
        await self.clock.advance(seconds)
        for _ in range(30):
            await asyncio.sleep(0)


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    e = Env(tmp_path)
    yield e
    await e.workers.aclose()


async def test_missing_image_backs_off_then_runs_once_pushed(env: Env) -> None:
    pod = make_pod(containers=[{"name": "c", "image": WEB, "imagePullPolicy": "IfNotPresent"}])
    env.workers.update_pod(pod)
    await until(lambda: env.waiting(pod) == "ErrImagePull", what="ErrImagePull")
    assert env.cs(pod)["state"]["waiting"]["message"] == f'failed to pull and unpack image "{WEB}": {WEB}: not found'
    await env.tick(1.0)
    await until(lambda: env.waiting(pod) == "ImagePullBackOff", what="ImagePullBackOff")
    assert env.cs(pod)["state"]["waiting"]["message"].startswith(f'Back-off pulling image "{WEB}": ErrImagePull: ')
    pulls = len(env.service.pulls)
    for _ in range(8):  # within the 10 s back-off: no pull
        await env.tick(1.0)
    assert len(env.service.pulls) == pulls
    env.service.remote[WEB] = 7
    await env.tick(2.0)
    await until(lambda: "running" in (env.cs(pod).get("state") or {}), what="running")
    assert env.cs(pod)["image"] == WEB
    assert env.cs(pod)["imageID"] == f"127.0.0.1:5000/web@{image_id(WEB + '@')}"
    assert {"Pulling", "Failed", "BackOff", "Pulled"} <= set(env.events.reasons())


async def test_never_policy_waits_with_err_image_never_pull(env: Env) -> None:
    pod = make_pod(containers=[{"name": "c", "image": WEB, "imagePullPolicy": "Never"}])
    env.workers.update_pod(pod)
    await until(lambda: env.waiting(pod) == "ErrImageNeverPull", what="ErrImageNeverPull")
    assert env.service.pulls == []
    env.service.add_local(WEB)  # what `sampan image load` does
    await env.tick(1.0)
    await until(lambda: "running" in (env.cs(pod).get("state") or {}), what="running")


async def test_without_an_image_manager_the_image_is_a_label(tmp_path: Path) -> None:
    clock = FakeClock()
    sink = MemoryStatusSink()
    workers = PodWorkers(SimulatedRuntime(clock=clock), sink=sink,
                         volumes=VolumeManager(tmp_path / "pods", objects=StaticObjects(), node_allocatable={}),
                         clock=clock)
    pod = make_pod(containers=[{"name": "c", "image": "Not A Valid Reference"}])
    try:
        workers.update_pod(pod)
        await until(lambda: sink.statuses.get("ns/web", {}).get("phase") == "Running", what="Running")
        assert sink.statuses["ns/web"]["containerStatuses"][0]["imageID"] == ""
    finally:
        await workers.aclose()
