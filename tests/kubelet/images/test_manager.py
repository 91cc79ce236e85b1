"""The image manager over a fake ImageService: pull policy, back-off, secrets, events, serialized pulls."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import pytest

from sampan._lib.clock import FakeClock
from sampan.kubelet.images.manager import ImageError, ImageManager, ImageManagerOptions, go_duration
from tests.kubelet.conftest import make_pod
from tests.kubelet.images.fake import FakeImageService, RecordingEvents, image_id

WEB = "127.0.0.1:5000/web:1"


class Env:
    def __init__(self, *, serialize: bool = True) -> None:
        self.clock = FakeClock()
        self.service = FakeImageService()
        self.events = RecordingEvents()
        self.secrets: dict[tuple[str, str], dict[str, Any]] = {}
        self.manager = ImageManager(self.service, get_secret=lambda ns, name: self.secrets.get((ns, name)),
                                    events=self.events, clock=self.clock,
                                    options=ImageManagerOptions(serialize_pulls=serialize, backoff_initial=10.0,
                                                                backoff_max=40.0))


def pod_with(image: str, policy: str | None = None, **spec: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    container = {"name": "c", "image": image, **({"imagePullPolicy": policy} if policy else {})}
    pod = make_pod(containers=[container], **spec)
    return pod, container


async def test_if_not_present_pulls_once_then_reports_already_present() -> None:
    env = Env()
    env.service.remote["127.0.0.1:5000/web:1"] = 1234
    pod, c = pod_with(WEB, "IfNotPresent")
    pulled = await env.manager.ensure_image(pod, c)
    assert pulled.image == WEB
    assert pulled.image_id == f"127.0.0.1:5000/web@{image_id(WEB + '@')}"
    assert env.events.events == [
        ("Normal", "Pulling", f'Pulling image "{WEB}"'),
        ("Normal", "Pulled", f'Successfully pulled image "{WEB}" in 0s (0s including waiting). '
                             "Image size: 1234 bytes."),
    ]
    await env.manager.ensure_image(pod, c)
    assert len(env.service.pulls) == 1
    assert env.events.events[-1] == ("Normal", "Pulled", f'Container image "{WEB}" already present on machine')


async def test_always_pulls_every_time_and_untagged_images_default_to_always() -> None:
    env = Env()
    env.service.remote["docker.io/library/busybox:latest"] = 10
    env.service.add_local("busybox:latest")
    pod, c = pod_with("busybox")  # no policy in the spec: the API's default (Always) applies
    pulled = await env.manager.ensure_image(pod, c)
    await env.manager.ensure_image(pod, c)
    assert [p for p, _ in env.service.pulls] == ["busybox:latest", "busybox:latest"]
    assert pulled.image == "docker.io/library/busybox:latest"


async def test_never_uses_a_present_image_and_fails_with_upstream_message_when_absent() -> None:
    env = Env()
    pod, c = pod_with(WEB, "Never")
    with pytest.raises(ImageError) as info:
        await env.manager.ensure_image(pod, c)
    msg = f'Container image "{WEB}" is not present with pull policy of Never'
    assert (info.value.reason, info.value.message) == ("ErrImageNeverPull", msg)
    assert env.events.events == [("Warning", "ErrImageNeverPull", msg),
                                 ("Warning", "Failed", "Error: ErrImageNeverPull")]
    for _ in range(3):  # every sync meets the condition again: its events repeat only every 10 s
        with pytest.raises(ImageError):
            await env.manager.ensure_image(pod, c)
    assert len(env.events.events) == 2
    await env.clock.advance(10.0)
    with pytest.raises(ImageError):
        await env.manager.ensure_image(pod, c)
    assert len(env.events.events) == 4
    env.service.add_local(WEB)
    assert (await env.manager.ensure_image(pod, c)).image == WEB
    assert env.service.pulls == []


async def test_invalid_image_name() -> None:
    env = Env()
    pod, c = pod_with("Web:1", "IfNotPresent")
    with pytest.raises(ImageError) as info:
        await env.manager.ensure_image(pod, c)
    msg = ('Failed to apply default image tag "Web:1": couldn\'t parse image reference "Web:1": '
           "invalid reference format: repository name must be lowercase")
    assert (info.value.reason, info.value.message) == ("InvalidImageName", msg)
    assert env.events.events == [("Warning", "InspectFailed", msg), ("Warning", "Failed", "Error: InvalidImageName")]


async def test_failed_pull_backs_off_doubling_to_the_maximum() -> None:
    env = Env()
    pod, c = pod_with(WEB, "IfNotPresent")
    error = f'failed to pull and unpack image "{WEB}": {WEB}: not found'
    with pytest.raises(ImageError) as info:
        await env.manager.ensure_image(pod, c)
    assert (info.value.reason, info.value.message) == ("ErrImagePull", error)
    assert env.events.events == [("Normal", "Pulling", f'Pulling image "{WEB}"'),
                                 ("Warning", "Failed", f'Failed to pull image "{WEB}": {error}'),
                                 ("Warning", "Failed", "Error: ErrImagePull")]
    delays = []
    for _ in range(5):
        env.events.events.clear()
        with pytest.raises(ImageError) as info:
            await env.manager.ensure_image(pod, c)
        assert info.value.reason == "ImagePullBackOff"
        assert info.value.message == f'Back-off pulling image "{WEB}": ErrImagePull: {error}'
        assert env.events.events == [("Normal", "BackOff", f'Back-off pulling image "{WEB}"'),
                                     ("Warning", "Failed", "Error: ImagePullBackOff")]
        with pytest.raises(ImageError) as again:  # a second sync within the window: same error, no new events
            await env.manager.ensure_image(pod, c)
        assert (again.value.reason, again.value.message) == (info.value.reason, info.value.message)
        assert len(env.events.events) == 2
        delays.append(info.value.retry_after)
        pulls = len(env.service.pulls)
        await env.clock.advance(info.value.retry_after)
        with pytest.raises(ImageError) as info:
            await env.manager.ensure_image(pod, c)
        assert info.value.reason == "ErrImagePull"
        assert len(env.service.pulls) == pulls + 1
    assert delays == [10.0, 20.0, 40.0, 40.0, 40.0]
    env.service.remote[WEB] = 5  # "pushed": the pull after the back-off succeeds and clears it
    await env.clock.advance(40.0)
    await env.manager.ensure_image(pod, c)
    assert env.manager.backoff_delay(pod["metadata"]["uid"], WEB) == 0.0


async def test_back_off_is_per_pod_and_image_and_forgotten_with_the_pod() -> None:
    env = Env()
    pod, c = pod_with(WEB, "IfNotPresent")
    other, c2 = pod_with(WEB, "IfNotPresent")
    for p, cc in ((pod, c), (other, c2)):
        with pytest.raises(ImageError):
            await env.manager.ensure_image(p, cc)
    assert len(env.service.pulls) == 2  # the other pod was not held back by the first one's back-off
    env.manager.forget_pod(pod["metadata"]["uid"])
    with pytest.raises(ImageError) as info:
        await env.manager.ensure_image(pod, c)
    assert info.value.reason == "ErrImagePull"


async def test_back_off_starts_again_after_twice_the_maximum_idle() -> None:
    env = Env()
    pod, c = pod_with(WEB, "IfNotPresent")
    for _ in range(3):
        with pytest.raises(ImageError):
            await env.manager.ensure_image(pod, c)
        await env.clock.advance(40.0)
    assert env.manager.backoff_delay(pod["metadata"]["uid"], WEB) == 40.0
    await env.clock.advance(81.0)
    with pytest.raises(ImageError):
        await env.manager.ensure_image(pod, c)
    assert env.manager.backoff_delay(pod["metadata"]["uid"], WEB) == 10.0


def secret(name: str, registry: str, user: str, password: str) -> dict[str, Any]:
    config = {"auths": {registry: {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}}}
    return {"metadata": {"name": name, "namespace": "ns"}, "type": "kubernetes.io/dockerconfigjson",
            "data": {".dockerconfigjson": base64.b64encode(json.dumps(config).encode()).decode()}}


async def test_pull_secrets_are_tried_in_turn() -> None:
    env = Env()
    env.service.remote[WEB] = 1
    env.service.credentials["127.0.0.1:5000"] = ("alice", "right")
    env.secrets[("ns", "wrong")] = secret("wrong", "127.0.0.1:5000/web", "alice", "wrong")
    env.secrets[("ns", "right")] = secret("right", "127.0.0.1:5000", "alice", "right")
    pod, c = pod_with(WEB, "IfNotPresent", imagePullSecrets=[{"name": "right"}, {"name": "wrong"}, {"name": "gone"}])
    await env.manager.ensure_image(pod, c)
    assert [a.password if a else None for _, a in env.service.pulls] == ["wrong", "right"]
    assert ("Warning", "FailedToRetrieveImagePullSecret",
            "Unable to retrieve some image pull secrets (gone); attempting to pull the image may not succeed.") \
        in env.events.events


async def test_without_a_matching_secret_the_pull_is_anonymous_and_refused() -> None:
    env = Env()
    env.service.remote[WEB] = 1
    env.service.credentials["127.0.0.1:5000"] = ("alice", "right")
    env.secrets[("ns", "other")] = secret("other", "registry.example.com", "alice", "right")
    pod, c = pod_with(WEB, "IfNotPresent", imagePullSecrets=[{"name": "other"}])
    with pytest.raises(ImageError) as info:
        await env.manager.ensure_image(pod, c)
    assert info.value.reason == "ErrImagePull"
    assert "401 Unauthorized" in info.value.message
    assert env.service.pulls == [(WEB, None)]


@pytest.mark.parametrize(("serialize", "most_at_once"), [(True, 1), (False, 3)])
async def test_serialized_pulls(serialize: bool, most_at_once: int) -> None:
    env = Env(serialize=serialize)
    env.service.gate = asyncio.Event()
    images = [f"127.0.0.1:5000/app{i}:1" for i in range(3)]
    for image in images:
        env.service.remote[image] = 1
    tasks = [asyncio.create_task(env.manager.ensure_image(*pod_with(image, "IfNotPresent"))) for image in images]
    for _ in range(20):
        await asyncio.sleep(0)
    assert env.service.active == most_at_once
    env.service.gate.set()
    await asyncio.gather(*tasks)
    assert env.service.max_active == most_at_once


@pytest.mark.parametrize(("seconds", "text"), [
    (0.0, "0s"), (0.0004, "0s"), (0.313, "313ms"), (1.6619, "1.661s"), (2.0, "2s"), (62.5, "1m2.5s"),
    (3600.0, "1h0m0s"), (3725.25, "1h2m5.25s"),
])
def test_go_duration(seconds: float, text: str) -> None:
    assert go_duration(seconds) == text
