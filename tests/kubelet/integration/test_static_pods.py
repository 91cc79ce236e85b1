"""Static pods end to end: a kubelet with ``--pod-manifest-path`` runs pods from files on the process
runtime before the API server exists (here the API server *is* one of its static pods, as with kubeadm),
then keeps mirror pods in the API: upstream's annotations, the Node as owner, status, ``kubectl logs``,
recreated after a delete through the API, replaced when the file changes, gone when the file goes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from sampan.api import errors
from sampan.client import Client, load_config
from sampan.client.dynamic import ResourceClient
from sampan.kubelet.kubelet import Kubelet
from sampan.kubelet.runtime.interface import NotFoundError
from tests.kubelet.conftest import remove_empty_cgroup_parents
from tests.kubelet.integration.conftest import PY, kubelet_options, wait_for
from tests.support.apiserver import free_port, write_kubeconfig

NODE = "node-1"
SLEEPER = "import time; print('static hello', flush=True); time.sleep(600)"


def apiserver_manifest(port: int) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "kube-apiserver", "namespace": "kube-system",
                         "labels": {"component": "kube-apiserver", "tier": "control-plane"}},
            "spec": {"hostNetwork": True, "containers": [{
                "name": "kube-apiserver", "image": "sampan",
                "command": [PY, "-m", "sampan.cli.main", "apiserver", "--port", str(port), "--storage", "memory"]}]}}


def sleeper_manifest(message: str = "static hello") -> str:
    script = f"import time; print({message!r}, flush=True); time.sleep(600)"
    return ("apiVersion: v1\nkind: Pod\nmetadata:\n  name: sleeper\n  namespace: default\nspec:\n"
            f"  containers:\n  - name: main\n    image: python\n    command: [{PY!r}, '-c', {script!r}]\n")


@dataclass
class StaticNode:
    manifests: Path
    kubeconfig: Path
    kubelet: Kubelet
    client: Client
    task: asyncio.Task[None]

    async def pods(self) -> ResourceClient:
        return await self.client.resource("v1", "pods")

    async def get(self, name: str, namespace: str) -> dict[str, Any] | None:
        try:
            return await (await self.pods()).get(name, namespace=namespace)
        except (errors.NotFound, errors.APIError):
            return None

    async def stop(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


async def container_state(node: StaticNode, container_id: str) -> str:
    """The runtime's state of a container, ``GONE`` once removed with its sandbox."""
    try:
        return (await node.kubelet.runtime.container_status(container_id)).state.name
    except NotFoundError:
        return "GONE"


def running(pod: dict[str, Any] | None) -> bool:
    statuses = ((pod or {}).get("status") or {}).get("containerStatuses") or []
    return bool(statuses) and ((pod or {}).get("status") or {}).get("phase") == "Running" and all(
        "running" in (s.get("state") or {}) for s in statuses)


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[StaticNode]:
    port = free_port()
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    (manifests / "kube-apiserver.json").write_text(json.dumps(apiserver_manifest(port)))
    (manifests / "sleeper.yaml").write_text(sleeper_manifest())
    (manifests / ".hidden.yaml").write_text("not: a pod")
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", f"http://127.0.0.1:{port}")
    client = Client(load_config(str(kubeconfig)))
    options = replace(kubelet_options(tmp_path, name=NODE), pod_manifest_path=manifests, file_check_frequency=0.2)
    kubelet = Kubelet(client, options)
    n = StaticNode(manifests, kubeconfig, kubelet, client, asyncio.create_task(kubelet.run()))
    try:
        await asyncio.wait_for(kubelet.ready.wait(), 60)
        yield n
    finally:
        await n.stop()
        for sb in await kubelet.runtime.list_pod_sandboxes():  # leave no process behind
            for ctr in await kubelet.runtime.list_containers(sb.id):
                await kubelet.runtime.stop_container(ctr.id, 0)
            await kubelet.runtime.remove_pod_sandbox(sb.id)
        remove_empty_cgroup_parents("sampan")
        await client.close()


async def test_the_api_server_runs_as_a_static_pod_and_is_mirrored(node: StaticNode) -> None:
    mirror = await wait_for(lambda: node.get(f"kube-apiserver-{NODE}", "kube-system"), running,
                            what="the API server's mirror pod Running")
    md = mirror["metadata"]
    static = node.kubelet.static_pods.by_full_name("kube-system", f"kube-apiserver-{NODE}")  # type: ignore[union-attr]
    assert static is not None
    uid = static["metadata"]["uid"]
    assert md["annotations"]["kubernetes.io/config.mirror"] == uid
    assert md["annotations"]["kubernetes.io/config.hash"] == uid
    assert md["annotations"]["kubernetes.io/config.source"] == "file"
    assert md["annotations"]["kubernetes.io/config.seen"]
    assert md["uid"] != uid  # the API server gives the mirror pod its own uid
    nodes = await node.client.resource("v1", "nodes")
    node_obj = await nodes.get(NODE)
    assert md["ownerReferences"] == [{"apiVersion": "v1", "kind": "Node", "name": NODE,
                                      "uid": node_obj["metadata"]["uid"], "controller": True}]
    assert mirror["spec"]["nodeName"] == NODE
    assert {"operator": "Exists", "effect": "NoExecute"} in mirror["spec"]["tolerations"]
    cs = mirror["status"]["containerStatuses"][0]
    assert cs["name"] == "kube-apiserver"
    assert cs["restartCount"] == 0
    sleeper = await wait_for(lambda: node.get(f"sleeper-{NODE}", "default"), running, what="sleeper Running")
    assert sleeper["metadata"]["annotations"]["kubernetes.io/config.source"] == "file"
    # the hidden file was skipped, nothing else was mirrored
    listed = await (await node.pods()).list()
    assert sorted(p["metadata"]["name"] for p in listed["items"]) == [f"kube-apiserver-{NODE}", f"sleeper-{NODE}"]


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not installed")
async def test_kubectl_logs_of_a_static_pod(node: StaticNode) -> None:
    await wait_for(lambda: node.get(f"sleeper-{NODE}", "default"), running, what="sleeper Running")

    async def logs() -> str:
        proc = await asyncio.create_subprocess_exec(
            "kubectl", "--kubeconfig", str(node.kubeconfig), "logs", f"sleeper-{NODE}",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, _ = await asyncio.wait_for(proc.communicate(), 30)
        return out.decode()

    await wait_for(logs, lambda out: "static hello" in out, what="the static pod's output in kubectl logs")


async def test_a_mirror_pod_deleted_through_the_api_is_recreated(node: StaticNode) -> None:
    name = f"sleeper-{NODE}"
    before = await wait_for(lambda: node.get(name, "default"), running, what="sleeper Running")
    container_id = before["status"]["containerStatuses"][0]["containerID"]
    await (await node.pods()).delete(name, namespace="default")
    after = await wait_for(lambda: node.get(name, "default"),
                           lambda p: p is not None and p["metadata"]["uid"] != before["metadata"]["uid"]
                           and not p["metadata"].get("deletionTimestamp") and running(p),
                           what="a new mirror pod")
    # the static pod itself never stopped
    assert after["status"]["containerStatuses"][0]["containerID"] == container_id
    assert after["status"]["containerStatuses"][0]["restartCount"] == 0


async def test_a_changed_manifest_replaces_the_pod(node: StaticNode) -> None:
    name = f"sleeper-{NODE}"
    before = await wait_for(lambda: node.get(name, "default"), running, what="sleeper Running")
    (node.manifests / "sleeper.yaml").write_text(sleeper_manifest("second version"))
    after = await wait_for(
        lambda: node.get(name, "default"),
        lambda p: running(p) and p["metadata"]["annotations"]["kubernetes.io/config.mirror"]
        != before["metadata"]["annotations"]["kubernetes.io/config.mirror"],
        what="the mirror pod of the new manifest Running")
    assert after["status"]["containerStatuses"][0]["containerID"] != \
        before["status"]["containerStatuses"][0]["containerID"]
    old_id = before["status"]["containerStatuses"][0]["containerID"].split("://", 1)[1]
    assert await container_state(node, old_id) in ("EXITED", "GONE")


async def test_a_removed_manifest_stops_the_pod_and_deletes_its_mirror(node: StaticNode) -> None:
    name = f"sleeper-{NODE}"
    before = await wait_for(lambda: node.get(name, "default"), running, what="sleeper Running")
    (node.manifests / "sleeper.yaml").unlink()
    await wait_for(lambda: node.get(name, "default"), lambda p: p is None, what="the mirror pod gone")
    container_id = before["status"]["containerStatuses"][0]["containerID"].split("://", 1)[1]
    await wait_for(lambda: container_state(node, container_id), lambda s: s in ("EXITED", "GONE"),
                   what="the static pod's container stopped")
    assert (await node.get(f"kube-apiserver-{NODE}", "kube-system")) is not None


async def test_a_restarted_kubelet_readopts_its_static_pods(node: StaticNode, tmp_path: Path) -> None:
    name = f"kube-apiserver-{NODE}"
    before = await wait_for(lambda: node.get(name, "kube-system"), running, what="API server Running")
    await node.stop()
    assert (await node.get(name, "kube-system")) is not None  # the API server kept running without its kubelet
    node.kubelet = Kubelet(node.client, node.kubelet.options)
    node.task = asyncio.create_task(node.kubelet.run())
    await asyncio.wait_for(node.kubelet.ready.wait(), 30)
    after = await wait_for(lambda: node.get(name, "kube-system"), running, what="API server Running")
    assert after["metadata"]["uid"] == before["metadata"]["uid"]
    assert after["status"]["containerStatuses"][0]["containerID"] == \
        before["status"]["containerStatuses"][0]["containerID"]
