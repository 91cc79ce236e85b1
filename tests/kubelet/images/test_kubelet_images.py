"""The kubelet's image side end to end, short of containerd: a real API server, a real registry
(docker-registry, htpasswd auth), real pulls (skopeo into a local OCI store behind the ImageService
seam) and the simulated runtime. Checks statuses, events and node.status.images as the API shows them."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import json
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from sampan.client import Client, load_config
from sampan.kubelet.images.gc import ImageGCOptions
from sampan.kubelet.images.manager import ImageManagerOptions
from sampan.kubelet.kubelet import Kubelet
from sampan.testing.oci import OciImage, build_image, httpd_image
from sampan.testing.registry import Registry
from tests.kubelet.integration.conftest import kubelet_options, wait_for
from tests.support.apiserver import InProcessAPIServer
from tests.support.skopeo_images import SkopeoImageService

pytestmark = pytest.mark.skipif(not (shutil.which("docker-registry") and shutil.which("skopeo")),
                                reason="docker-registry and skopeo are installed by scripts/install-system-deps.sh")

NS = "default"


@dataclasses.dataclass
class Env:
    client: Client
    kubelet: Kubelet
    images: SkopeoImageService
    registry: Registry
    private: Registry
    tmp: Path

    async def create(self, resource: str, body: dict[str, Any]) -> dict[str, Any]:
        rc = await self.client.resource("v1", resource)
        created: dict[str, Any] = await rc.create(body, namespace=NS)
        return created

    async def pod(self, name: str) -> dict[str, Any]:
        rc = await self.client.resource("v1", "pods")
        got: dict[str, Any] = await rc.get(name, namespace=NS)
        return got

    async def events(self, name: str) -> list[tuple[str, str, str]]:
        rc = await self.client.resource("v1", "events")
        items = (await rc.list(namespace=NS)).get("items") or []
        return [(e["type"], e["reason"], e["message"]) for e in items
                if e["involvedObject"].get("name") == name]

    async def waiting(self, name: str, reason: str) -> dict[str, Any]:
        def pred(pod: dict[str, Any]) -> bool:
            cs = (pod.get("status") or {}).get("containerStatuses") or [{}]
            return (cs[0].get("state") or {}).get("waiting", {}).get("reason") == reason
        pod = await wait_for(lambda: self.pod(name), pred, what=f"{name} waiting {reason}")
        waiting: dict[str, Any] = pod["status"]["containerStatuses"][0]["state"]["waiting"]
        return waiting

    async def running(self, name: str) -> dict[str, Any]:
        pod = await wait_for(lambda: self.pod(name), lambda p: (p.get("status") or {}).get("phase") == "Running",
                             what=f"{name} Running")
        status: dict[str, Any] = pod["status"]["containerStatuses"][0]
        return status

    async def has_events(self, name: str, wanted: set[str]) -> list[tuple[str, str, str]]:
        events: list[tuple[str, str, str]] = await wait_for(
            lambda: self.events(name), lambda evs: wanted <= {r for _, r, _ in evs}, what=f"events {wanted}")
        return events


@pytest.fixture
def registries(tmp_path: Path) -> Iterator[tuple[Registry, Registry]]:
    with Registry.start(tmp_path / "public") as public, \
            Registry.start(tmp_path / "private", auth=("alice", "s3cret")) as private:
        yield public, private


@pytest.fixture
async def env(inproc_apiserver: InProcessAPIServer, registries: tuple[Registry, Registry],
              tmp_path: Path) -> AsyncIterator[Env]:
    client = Client(load_config(str(inproc_apiserver.kubeconfig)))
    images = SkopeoImageService(tmp_path / "store")
    options = dataclasses.replace(
        kubelet_options(tmp_path, runtime="simulated"),
        image_manager=ImageManagerOptions(backoff_initial=1.0, backoff_max=2.0),
        image_gc=ImageGCOptions(list_period=0.1))
    kubelet = Kubelet(client, options, image_service=images)
    task = asyncio.create_task(kubelet.run())
    try:
        await asyncio.wait_for(kubelet.ready.wait(), 20)
        yield Env(client, kubelet, images, registries[0], registries[1], tmp_path)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await client.close()


def pod(name: str, image: str, policy: str = "IfNotPresent", **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"nodeName": "node-1", "containers": [{"name": "c", "image": image, "imagePullPolicy": policy}],
                     **spec}}


def web_image(env: Env, registry: Registry, name: str = "web:1") -> OciImage:
    return httpd_image(env.tmp / f"{name.replace(':', '-')}.tar", name=f"{registry.host}/{name}")


async def test_missing_image_backs_off_then_starts_once_pushed(env: Env) -> None:
    image = web_image(env, env.registry)
    await env.create("pods", pod("web", image.name))
    waiting = await env.waiting("web", "ErrImagePull")
    assert waiting["message"].startswith(f'failed to pull and unpack image "{image.name}"')
    waiting = await env.waiting("web", "ImagePullBackOff")
    assert waiting["message"].startswith(f'Back-off pulling image "{image.name}": ErrImagePull: failed to pull')
    events = await env.has_events("web", {"Pulling", "Failed", "BackOff"})
    assert ("Normal", "Pulling", f'Pulling image "{image.name}"') in events
    assert ("Normal", "BackOff", f'Back-off pulling image "{image.name}"') in events
    assert ("Warning", "Failed", "Error: ErrImagePull") in events
    assert any(m.startswith(f'Failed to pull image "{image.name}": ') for _, r, m in events if r == "Failed")
    # nothing else is done: the next pull after the back-off succeeds
    await asyncio.to_thread(env.registry.push, image.path, "web:1")
    status = await env.running("web")
    assert status["image"] == image.name
    digest = env.registry.manifest_digest("web:1")  # the registry's (skopeo may rewrite the manifest)
    assert status["imageID"] == f"{env.registry.host}/web@{digest}"
    nodes = await env.client.resource("v1", "nodes")
    node = await wait_for(lambda: nodes.get("node-1"), lambda n: bool((n.get("status") or {}).get("images")),
                          what="node.status.images")
    [entry] = node["status"]["images"]
    assert entry["names"] == [f"{env.registry.host}/web@{digest}", image.name]
    events = await env.has_events("web", {"Pulled"})
    [pulled] = [m for _, r, m in events if r == "Pulled"]
    assert pulled.startswith(f'Successfully pulled image "{image.name}" in ')
    assert pulled.endswith(f"including waiting). Image size: {entry['sizeBytes']} bytes.")


def pull_secret(name: str, registry: str, user: str, password: str) -> dict[str, Any]:
    config = {"auths": {registry: {"username": user, "password": password,
                                   "auth": base64.b64encode(f"{user}:{password}".encode()).decode()}}}
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name},
            "type": "kubernetes.io/dockerconfigjson",
            "data": {".dockerconfigjson": base64.b64encode(json.dumps(config).encode()).decode()}}


async def test_private_registry_needs_the_pull_secret(env: Env) -> None:
    image = build_image(env.tmp / "app.tar", name=f"{env.private.host}/team/app:2", cmd=["sleep", "3600"])
    await asyncio.to_thread(env.private.push, image.path, "team/app:2")
    await env.create("secrets", pull_secret("regcred", env.private.host, "alice", "s3cret"))
    await env.create("pods", pod("without", image.name))
    waiting = await env.waiting("without", "ErrImagePull")
    assert "unauthorized" in waiting["message"].lower() or "authentication required" in waiting["message"].lower()
    await env.create("pods", pod("with", image.name, imagePullSecrets=[{"name": "regcred"}]))
    status = await env.running("with")
    assert status["imageID"] == f"{env.private.host}/team/app@{env.private.manifest_digest('team/app:2')}"
    # Always pulls again, with the pod's (absent) credentials: refused although the image is on the node
    await env.create("pods", pod("always", image.name, policy="Always"))
    waiting = await env.waiting("always", "ErrImagePull")
    assert "unauthorized" in waiting["message"].lower() or "authentication required" in waiting["message"].lower()
    # images are node-wide (upstream without the KubeletEnsureSecretPulledImages gate): once present,
    # IfNotPresent uses it whoever pulled it
    await env.running("without")


async def test_never_policy_then_offline_load(env: Env) -> None:
    image = web_image(env, env.registry, "offline:1")
    await env.create("pods", pod("never", image.name, policy="Never"))
    waiting = await env.waiting("never", "ErrImageNeverPull")
    message = f'Container image "{image.name}" is not present with pull policy of Never'
    assert waiting["message"] == message
    events = await env.has_events("never", {"ErrImageNeverPull"})
    assert ("Warning", "ErrImageNeverPull", message) in events
    await env.images.load(image.path, image.name)
    status = await env.running("never")
    assert status["imageID"] == image.image_id  # loaded, never pulled: no repo digest, the image id
    assert env.images.pulls == 0
    events = await env.has_events("never", {"Pulled"})
    assert ("Normal", "Pulled", f'Container image "{image.name}" already present on machine') in events


async def test_invalid_image_name(env: Env) -> None:
    await env.create("pods", pod("bad", "Web:1"))
    waiting = await env.waiting("bad", "InvalidImageName")
    message = ('Failed to apply default image tag "Web:1": couldn\'t parse image reference "Web:1": '
               "invalid reference format: repository name must be lowercase")
    assert waiting["message"] == message
    events = await env.has_events("bad", {"InspectFailed", "Failed"})
    assert ("Warning", "InspectFailed", message) in events
    assert ("Warning", "Failed", "Error: InvalidImageName") in events
