"""Image garbage collection and node.status.images over a fake ImageService."""

from __future__ import annotations

import asyncio

import pytest

from sampan._lib.clock import FakeClock
from sampan.kubelet.images.gc import ImageGC, ImageGCOptions, node_images
from sampan.kubelet.runtime.images import ImageFsUsage, ImageInfo
from sampan.kubelet.runtime.interface import ContainerState, ContainerStatus
from tests.kubelet.images.fake import FakeImageService, RecordingEvents

NODE = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1", "uid": "n1"}}


class Env:
    def __init__(self, **options: float) -> None:
        self.clock = FakeClock()
        self.service = FakeImageService()
        self.containers: list[ContainerStatus] = []
        self.events = RecordingEvents()
        self.gc = ImageGC(self.service, list_containers=self.list_containers, clock=self.clock,
                          options=ImageGCOptions(**options), events=self.events, node_ref=NODE)  # type: ignore[arg-type]

    async def list_containers(self) -> list[ContainerStatus]:
        return list(self.containers)

    def use(self, image: str) -> None:
        self.containers.append(ContainerStatus(id=f"c{len(self.containers)}", sandbox_id="s", name="c", attempt=0,
                                               image=image, state=ContainerState.EXITED, created_at=0.0))

    def disk(self, used_percent: int) -> None:
        self.service.fs = ImageFsUsage(used_bytes=0, capacity_bytes=1000, available_bytes=1000 - used_percent * 10)


async def test_below_the_high_threshold_nothing_is_removed() -> None:
    env = Env(min_age=0)
    env.service.add_local("a:1", 300)
    env.disk(84)
    assert await env.gc.garbage_collect() == 0
    assert env.service.removed == []


async def test_frees_down_to_the_low_threshold_oldest_unused_first_never_in_use_or_pinned() -> None:
    env = Env(min_age=0)
    old = env.service.add_local("old:1", 60)
    await env.gc.detect()
    await env.clock.advance(10)
    newer = env.service.add_local("newer:1", 60)
    used = env.service.add_local("used:1", 500)
    pinned = env.service.add_local("pause:3.9", 500, pinned=True)
    await env.gc.detect()
    await env.clock.advance(10)
    newest = env.service.add_local("newest:1", 60)
    await env.gc.detect()
    await env.clock.advance(10)
    env.use("used:1")  # the container's spelling, not the normalized tag: still counts as in use
    env.disk(90)  # 900 of 1000 used: free 100 bytes to reach 80 %
    assert await env.gc.garbage_collect() == 120
    assert env.service.removed == [old.id, newer.id]
    assert {used.id, pinned.id, newest.id} <= set(env.service.local)


async def test_configured_pinned_images_are_never_collected() -> None:
    env = Env(min_age=0)
    env.gc.options = ImageGCOptions(min_age=0, pinned_images=("registry.k8s.io/pause:3.9",))
    pause = env.service.add_local("registry.k8s.io/pause:3.9", 500)
    other = env.service.add_local("other:1", 500)
    await env.gc.detect()
    await env.clock.advance(10)
    env.disk(100)
    await env.gc.run_once()
    assert env.service.removed == [other.id]
    assert pause.id in env.service.local


async def test_recently_detected_images_are_kept_and_the_shortfall_is_reported() -> None:
    env = Env(min_age=120)
    env.service.add_local("young:1", 300)
    env.disk(95)
    await env.gc.run_once()
    msg = "Failed to garbage collect required amount of images. Attempted to free 150 bytes, but only found 0 bytes " \
          "eligible to free."
    assert env.events.events == [("Warning", "FreeDiskSpaceFailed", msg)]
    await env.gc.run_once()  # a second failure in a row is also an ImageGCFailed
    assert env.events.events[-2:] == [("Warning", "FreeDiskSpaceFailed", msg), ("Warning", "ImageGCFailed", msg)]
    await env.clock.advance(121)
    await env.gc.run_once()
    assert len(env.service.local) == 0
    assert env.events.reasons().count("ImageGCFailed") == 1


async def test_high_threshold_100_disables_collection() -> None:
    env = Env(min_age=0, high_threshold=100, low_threshold=90)
    env.service.add_local("a:1", 300)
    env.disk(100)
    assert await env.gc.garbage_collect() == 0
    assert env.service.removed == []


async def test_run_refreshes_the_image_list_for_the_node_status() -> None:
    env = Env(list_period=1.0, gc_period=1000.0)
    env.service.add_local("a:1", 5)
    task = asyncio.create_task(env.gc.run())
    try:
        for _ in range(10):
            await asyncio.sleep(0)
        assert [i["sizeBytes"] for i in env.gc.node_images()] == [5]
        env.service.add_local("b:1", 50)
        await env.clock.advance(1.0)
        for _ in range(10):
            await asyncio.sleep(0)
        assert [i["sizeBytes"] for i in env.gc.node_images()] == [50, 5]
    finally:
        task.cancel()


def test_node_images_largest_first_digests_then_tags_at_most_five_names() -> None:
    many = ImageInfo(id="sha256:m", repo_tags=tuple(f"r/m:{i}" for i in range(4)),
                     repo_digests=("r/m@sha256:1", "r/m@sha256:2"), size=30)
    images = [ImageInfo(id="sha256:s", repo_tags=("r/s:1",), size=10), many,
              ImageInfo(id="sha256:l", repo_tags=("r/l:1",), repo_digests=("r/l@sha256:3",), size=20)]
    out = node_images(images)
    assert [i["sizeBytes"] for i in out] == [30, 20, 10]
    assert out[0]["names"] == ["r/m@sha256:1", "r/m@sha256:2", "r/m:0", "r/m:1", "r/m:2"]
    assert out[1]["names"] == ["r/l@sha256:3", "r/l:1"]
    assert len(node_images(images, max_images=2)) == 2
    assert len(node_images(images * 30)) == 50
    assert len(node_images(images * 30, max_images=-1)) == 90


@pytest.mark.parametrize(("high", "low", "message"), [
    (101, 80, "image-gc-high-threshold must be in [0, 100], got 101"),
    (85, -1, "image-gc-low-threshold must be in [0, 100], got -1"),
    (80, 80, "image-gc-low-threshold (80) must be less than image-gc-high-threshold (80)"),
])
def test_bad_thresholds(high: int, low: int, message: str) -> None:
    with pytest.raises(ValueError) as info:
        ImageGCOptions(high_threshold=high, low_threshold=low)
    assert str(info.value) == message
