"""The image side through real containerd (CRI PullImage from a real registry): a missing image goes
ErrImagePull → ImagePullBackOff and starts once pushed; a private registry needs the pod's
imagePullSecrets; ``imagePullPolicy: Never`` waits for ``sampan image load``; the HTTP test image
answers on the pod IP."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import json
import subprocess
import sys
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("sampan.kubelet.runtime.cri.runtime", reason="needs the containerd (CRI) runtime")

from sampan.client import Client, load_config
from sampan.kubelet.images.manager import ImageManagerOptions
from sampan.kubelet.kubelet import Kubelet
from sampan.testing.oci import OciImage, build_image, httpd_image
from sampan.testing.registry import Registry
from tests.kubelet.cri.conftest import POD_CIDR, Containerd, pytestmark  # noqa: F401
from tests.kubelet.integration.conftest import kubelet_options, wait_for
from tests.support.apiserver import InProcessAPIServer

NODE = "cri-images"


@dataclasses.dataclass
class Env:
    client: Client
    containerd: Containerd
    registry: Registry
    private: Registry
    tmp: Path

    async def create(self, resource: str, body: dict[str, Any]) -> None:
        await (await self.client.resource("v1", resource)).create(body, namespace="default")

    async def pod(self, name: str) -> dict[str, Any]:
        got: dict[str, Any] = await (await self.client.resource("v1", "pods")).get(name, namespace="default")
        return got

    async def waiting(self, name: str, reason: str) -> dict[str, Any]:
        def pred(p: dict[str, Any]) -> bool:
            cs = (p.get("status") or {}).get("containerStatuses") or [{}]
            return (cs[0].get("state") or {}).get("waiting", {}).get("reason") == reason
        p = await wait_for(lambda: self.pod(name), pred, timeout=60, what=f"{name} {reason}")
        waiting: dict[str, Any] = p["status"]["containerStatuses"][0]["state"]["waiting"]
        return waiting

    async def running(self, name: str) -> dict[str, Any]:
        def pred(p: dict[str, Any]) -> bool:
            cs = (p.get("status") or {}).get("containerStatuses") or [{}]
            return "running" in (cs[0].get("state") or {})
        p: dict[str, Any] = await wait_for(lambda: self.pod(name), pred, timeout=60, what=f"{name} running")
        return p

    async def reasons(self, name: str) -> set[str]:
        items = (await (await self.client.resource("v1", "events")).list(namespace="default")).get("items") or []
        return {e["reason"] for e in items if e["involvedObject"].get("name") == name}


@pytest.fixture
def registries(tmp_path: Path) -> Iterator[tuple[Registry, Registry]]:
    with Registry.start(tmp_path / "public") as public, \
            Registry.start(tmp_path / "private", auth=("alice", "s3cret")) as private:
        yield public, private


@pytest.fixture
async def env(inproc_apiserver: InProcessAPIServer, containerd: Containerd, registries: tuple[Registry, Registry],
              tmp_path: Path) -> AsyncIterator[Env]:
    client = Client(load_config(str(inproc_apiserver.kubeconfig)))
    options = dataclasses.replace(kubelet_options(tmp_path, name=NODE), runtime="containerd",
                                  container_runtime_endpoint=containerd.endpoint, pod_cidr=POD_CIDR,
                                  image_manager=ImageManagerOptions(backoff_initial=1.0, backoff_max=2.0))
    kubelet = Kubelet(client, options)
    task = asyncio.create_task(kubelet.run())
    try:
        await asyncio.wait_for(kubelet.ready.wait(), 30)
        yield Env(client, containerd, registries[0], registries[1], tmp_path)
    finally:
        pods = await client.resource("v1", "pods")
        for p in (await pods.list(namespace="default")).get("items") or []:
            with contextlib.suppress(Exception):
                await pods.delete(p["metadata"]["name"], namespace="default", grace_period_seconds=0)
        with contextlib.suppress(AssertionError):
            await wait_for(lambda: pods.list(namespace="default"), lambda lst: not lst.get("items"), timeout=30,
                           what="pods gone")
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await client.close()


def pod(name: str, image: str, policy: str = "IfNotPresent", **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"nodeName": NODE, "terminationGracePeriodSeconds": 0,
                     "containers": [{"name": "c", "image": image, "imagePullPolicy": policy}], **spec}}


def http_get(url: str) -> str:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=5) as response:
        return str(response.read().decode())


async def test_missing_image_backs_off_then_runs_and_serves_http_once_pushed(env: Env) -> None:
    image: OciImage = httpd_image(env.tmp / "web.tar", name=f"{env.registry.host}/web:1", index="hello images\n")
    await env.create("pods", pod("web", image.name))
    waiting = await env.waiting("web", "ErrImagePull")
    assert "not found" in waiting["message"]
    waiting = await env.waiting("web", "ImagePullBackOff")
    assert waiting["message"].startswith(f'Back-off pulling image "{image.name}": ErrImagePull: ')
    await asyncio.to_thread(env.registry.push, image.path, "web:1")
    p = await env.running("web")
    cs = p["status"]["containerStatuses"][0]
    # skopeo may compress layers on push: the registry's digest is the one containerd resolves
    assert cs["imageID"] == f"{env.registry.host}/web@{env.registry.manifest_digest('web:1')}"
    assert await asyncio.to_thread(http_get, f"http://{p['status']['podIP']}:8080/") == "hello images\n"
    await wait_for(lambda: env.reasons("web"), lambda r: {"Pulling", "Failed", "BackOff", "Pulled"} <= r,
                   what="image events")


def pull_secret(name: str, registry: str, user: str, password: str) -> dict[str, Any]:
    auths = {registry: {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}}
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "type": "kubernetes.io/dockerconfigjson",
            "data": {".dockerconfigjson": base64.b64encode(json.dumps({"auths": auths}).encode()).decode()}}


async def test_private_registry_with_and_without_pull_secret(env: Env) -> None:
    image = build_image(env.tmp / "app.tar", name=f"{env.private.host}/team/app:2", cmd=["sleep", "3600"])
    await asyncio.to_thread(env.private.push, image.path, "team/app:2")
    await env.create("pods", pod("without", image.name, policy="Always"))
    waiting = await env.waiting("without", "ErrImagePull")
    assert "401" in waiting["message"] or "unauthorized" in waiting["message"].lower()
    await env.create("secrets", pull_secret("regcred", env.private.host, "alice", "s3cret"))
    await env.create("pods", pod("with", image.name, policy="Always", imagePullSecrets=[{"name": "regcred"}]))
    p = await env.running("with")
    digest = env.private.manifest_digest("team/app:2")
    assert p["status"]["containerStatuses"][0]["imageID"] == f"{env.private.host}/team/app@{digest}"


async def test_never_policy_then_sampan_image_load(env: Env) -> None:
    # a config of its own: an image id shared with an image pulled earlier (the module's containerd is shared)
    # would carry that pull's repo digest
    image = build_image(env.tmp / "offline.tar", name="sampan.test/offline:1", cmd=["sleep", "3601"])
    await env.create("pods", pod("never", image.name, policy="Never"))
    waiting = await env.waiting("never", "ErrImageNeverPull")
    assert waiting["message"] == f'Container image "{image.name}" is not present with pull policy of Never'
    done = await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "sampan.cli.main", "image", "load",
                                                    str(image.path), "--address", env.containerd.endpoint],
                                   capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    p = await env.running("never")
    assert p["status"]["containerStatuses"][0]["imageID"] == image.image_id
