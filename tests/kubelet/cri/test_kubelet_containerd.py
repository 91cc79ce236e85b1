"""A real kubelet on the containerd runtime (CRI) with a real API server: pods run from images, logs,
exec probes, graceful deletion, restart back-off after OOM, and re-adoption by a restarted kubelet."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import shutil
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from sampan.client import Client, load_config
from sampan.kubelet.kubelet import Kubelet
from tests.kubelet.cri.conftest import BUSYBOX, POD_CIDR, SHELL, Containerd, pytestmark  # noqa: F401
from tests.kubelet.cri.test_cri_runtime import cgroup_exists
from tests.kubelet.integration.conftest import kubelet_options, wait_for
from tests.support.apiserver import InProcessAPIServer

NODE = "cri-kubelet"


def pod(name: str, containers: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
            "spec": {"nodeName": NODE, "containers": containers, **spec}}


def cs(p: dict[str, Any], index: int = 0) -> dict[str, Any]:
    return ((p.get("status") or {}).get("containerStatuses") or [{}])[index]


async def pod_log(node: Node, name: str) -> str:
    """GET pods/log through the API server (which asks the kubelet)."""
    async with aiohttp.ClientSession() as session, session.get(
            f"{node.server.url}/api/v1/namespaces/default/pods/{name}/log") as resp:
        return await resp.text() if resp.status == 200 else ""


def running(p: dict[str, Any]) -> bool:
    return (p.get("status") or {}).get("phase") == "Running" and "running" in cs(p).get("state", {})


@dataclasses.dataclass
class Node:
    server: InProcessAPIServer
    client: Client
    kubelet: Kubelet
    task: asyncio.Task[None]
    containerd: Containerd
    tmp: Path

    async def pods(self) -> Any:
        return await self.client.resource("v1", "pods")

    async def stop(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task

    async def start(self) -> None:
        self.kubelet = Kubelet(self.client, options(self.tmp, self.containerd))
        self.task = asyncio.create_task(self.kubelet.run())
        await asyncio.wait_for(self.kubelet.ready.wait(), 30)


def options(tmp: Path, containerd: Containerd) -> Any:
    return dataclasses.replace(kubelet_options(tmp, name=NODE), runtime="containerd",
                               container_runtime_endpoint=containerd.endpoint, pod_cidr=POD_CIDR)


@contextlib.asynccontextmanager
async def running_node(server: InProcessAPIServer, containerd: Containerd, tmp_path: Path) -> AsyncIterator[Node]:
    """A kubelet on ``containerd`` registered with ``server``; its sandboxes are removed at the end."""
    client = Client(load_config(str(server.kubeconfig)))
    n = Node(server, client, None, None, containerd, tmp_path)  # type: ignore[arg-type]
    await n.start()
    try:
        yield n
    finally:
        await n.stop()
        runtime = Kubelet(client, options(tmp_path, containerd)).runtime
        for sb in await runtime.list_pod_sandboxes():
            await runtime.stop_pod_sandbox(sb.id)
            await runtime.remove_pod_sandbox(sb.id)
        await client.close()


@pytest.fixture
async def node(inproc_apiserver: InProcessAPIServer, containerd: Containerd, tmp_path: Path) -> AsyncIterator[Node]:
    async with running_node(inproc_apiserver, containerd, tmp_path) as n:
        yield n


async def test_pod_from_image_entrypoint_ip_and_logs(node: Node) -> None:
    pods = await node.pods()
    await pods.create(pod("ep", [{"name": "c", "image": BUSYBOX}], restartPolicy="Never"))
    await pods.create(pod("web", [{"name": "c", "image": SHELL, "command": ["sh", "-c"],
                                   "args": ["echo started; echo $POD_NAME; sleep 1000"],
                                   "env": [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath":
                                                                                         "metadata.name"}}}]}]))
    done = await wait_for(lambda: pods.get("ep", namespace="default"),
                          lambda p: p["status"].get("phase") == "Succeeded", what="Succeeded")
    assert cs(done)["state"]["terminated"]["reason"] == "Completed"
    p = await wait_for(lambda: pods.get("web", namespace="default"), running, what="Running")
    assert p["status"]["podIP"].startswith("100.64.250.")
    logs = await wait_for(lambda: pod_log(node, "ep"), lambda text: "entrypoint" in text, what="logs")
    assert logs == "entrypoint from-cmd\n"
    logs = await wait_for(lambda: pod_log(node, "web"), lambda text: "web" in text, what="logs")
    assert logs.splitlines()[:2] == ["started", "web"]
    node_obj = await (await node.client.resource("v1", "nodes")).get(NODE)
    assert node_obj["status"]["nodeInfo"]["containerRuntimeVersion"].startswith("containerd://")


async def test_exec_probe_and_oom_restarts(node: Node) -> None:
    pods = await node.pods()
    probe = {"exec": {"command": ["cat", "/tmp/ready"]}, "periodSeconds": 1, "failureThreshold": 1}
    await pods.create(pod("probed", [{"name": "c", "image": SHELL, "readinessProbe": probe,
                                      "command": ["sh", "-c", "sleep 1; touch /tmp/ready; sleep 1000"]}]))
    await pods.create(pod("hog", [{
        "name": "c", "image": SHELL, "resources": {"limits": {"memory": "32Mi"}},
        "command": ["sh", "-c", "x=$(head -c 104857600 /dev/zero | tr '\\0' a); echo $x"]}]))
    ready = await wait_for(lambda: pods.get("probed", namespace="default"), lambda p: cs(p).get("ready") is True,
                           what="ready through the exec probe")
    assert running(ready)
    oom = await wait_for(lambda: pods.get("hog", namespace="default"),
                         lambda p: cs(p).get("restartCount", 0) >= 1
                         and cs(p).get("lastState", {}).get("terminated", {}).get("reason") == "OOMKilled",
                         timeout=60, what="OOMKilled and restarted")
    assert cs(oom)["lastState"]["terminated"]["exitCode"] == 137


async def test_graceful_delete_and_nothing_left(node: Node) -> None:
    pods = await node.pods()
    script = "trap 'echo got-term >> /data/seen; exit 0' TERM; while true; do sleep 0.1; done"
    vol = node.tmp / "seen"
    vol.mkdir()
    await pods.create(pod("graceful", [{"name": "c", "image": SHELL, "command": ["sh", "-c", script],
                                        "volumeMounts": [{"name": "v", "mountPath": "/data"}]}],
                          volumes=[{"name": "v", "hostPath": {"path": str(vol)}}], terminationGracePeriodSeconds=10))
    p = await wait_for(lambda: pods.get("graceful", namespace="default"), running, what="Running")
    uid = p["metadata"]["uid"]
    runtime = node.kubelet.runtime
    [sandbox_id] = [sb.id for sb in await runtime.list_pod_sandboxes() if sb.config.uid == uid]
    container_id = cs(p)["containerID"].split("://", 1)[1]
    await asyncio.sleep(0.3)  # the shell has set its trap
    await pods.delete("graceful", namespace="default")
    await wait_for(lambda: pods.list(namespace="default"),
                   lambda lst: not any(i["metadata"]["name"] == "graceful" for i in lst["items"]), what="deleted")
    assert (vol / "seen").read_text().strip() == "got-term"
    assert [sb for sb in await runtime.list_pod_sandboxes() if sb.config.uid == uid] == []
    listed = node.containerd.ctr("containers", "ls", "-q").split()
    assert sandbox_id not in listed
    assert container_id not in listed
    assert not cgroup_exists(uid)
    assert not list((node.tmp / NODE / "logs").glob(f"*_{uid}"))


async def test_restarted_kubelet_readopts_containers(node: Node) -> None:
    pods = await node.pods()
    names = [f"keep-{i}" for i in range(3)]
    for name in names:
        await pods.create(pod(name, [{"name": "c", "image": SHELL, "command": ["sleep", "1000"]}]))
    before = {}
    for name in names:
        p = await wait_for(lambda n=name: pods.get(n, namespace="default"), running, what="Running")
        before[name] = (cs(p)["containerID"], cs(p)["restartCount"], p["status"]["podIP"])
    await node.stop()  # containers keep running
    await node.start()
    await asyncio.sleep(1.0)  # several sync periods of the new kubelet
    for name in names:
        p = await pods.get(name, namespace="default")
        assert running(p)
        assert (cs(p)["containerID"], cs(p)["restartCount"], p["status"]["podIP"]) == before[name]
    assert len(await node.kubelet.runtime.list_pod_sandboxes()) == len(names)


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not installed")
async def test_kubectl_logs_previous_and_tail(node: Node) -> None:
    pods = await node.pods()
    await pods.create(pod("crash", [{"name": "c", "image": SHELL,
                                     "command": ["sh", "-c", "echo run-$(date +%s%N); echo two; echo three; exit 1"]}]))
    await wait_for(lambda: pods.get("crash", namespace="default"), lambda p: cs(p).get("restartCount", 0) >= 1,
                   timeout=30, what="a restart")

    async def kubectl(*args: str) -> str:
        proc = await asyncio.create_subprocess_exec(
            "kubectl", "--kubeconfig", str(node.server.kubeconfig), *args,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(), 30)
        assert proc.returncode == 0, err.decode()
        return out.decode()

    assert (await kubectl("logs", "crash", "--tail", "1")).strip() == "three"
    previous = await kubectl("logs", "crash", "--previous")
    assert previous.splitlines()[1:] == ["two", "three"]
    assert previous.startswith("run-")


async def test_kill_9_of_the_kubelet_with_20_pods(inproc_apiserver: InProcessAPIServer, containerd: Containerd,
                                                   tmp_path: Path) -> None:
    """A ``sampan kubelet`` process killed with SIGKILL while 20 pods run: the next one re-adopts the same
    20 containers (same ids, restartCount unchanged) and starts nothing new."""
    name = "cri-kill9"
    argv = [sys.executable, "-m", "sampan.cli.main", "kubelet", "--kubeconfig", str(inproc_apiserver.kubeconfig),
            "--node-name", name, "--runtime", "containerd", "--container-runtime-endpoint", containerd.endpoint,
            "--root-dir", str(tmp_path / name), "--port", "0", "--pod-cidr", POD_CIDR,
            "--node-status-update-frequency", "1s"]
    log = (tmp_path / "kubelet.log").open("ab")
    client = Client(load_config(str(inproc_apiserver.kubeconfig)))
    proc = await asyncio.create_subprocess_exec(*argv, stdout=log, stderr=log)
    try:
        pods = await client.resource("v1", "pods")
        names = [f"k{i:02d}" for i in range(20)]
        for n in names:
            body = pod(n, [{"name": "c", "image": SHELL, "command": ["sleep", "1000"]}])
            body["spec"]["nodeName"] = name
            await pods.create(body)

        async def states() -> dict[str, tuple[str, int]]:
            items = (await pods.list(namespace="default"))["items"]
            return {p["metadata"]["name"]: (cs(p).get("containerID", ""), cs(p).get("restartCount", 0))
                    for p in items if p["spec"].get("nodeName") == name and running(p)}

        before = await wait_for(states, lambda st: len(st) == 20, timeout=90, what="20 pods Running")
        proc.kill()
        await proc.wait()
        proc = await asyncio.create_subprocess_exec(*argv, stdout=log, stderr=log)
        lease = await client.resource("coordination.k8s.io/v1", "leases")
        first = (await lease.get(name, namespace="kube-node-lease"))["spec"]["renewTime"]
        await wait_for(lambda: lease.get(name, namespace="kube-node-lease"),
                       lambda obj: obj["spec"]["renewTime"] != first, what="the new kubelet's lease")
        await asyncio.sleep(2.0)  # many sync periods of the new kubelet
        assert await states() == before
        listed = [ln for ln in containerd.ctr("containers", "ls", "-q").split() if ln]
        assert all(cid.split("://", 1)[1] in listed for cid, _ in before.values())
        for n in names:
            await pods.delete(n, namespace="default", grace_period_seconds=0)
        await wait_for(lambda: pods.list(namespace="default"),
                       lambda lst: not [p for p in lst["items"] if p["spec"].get("nodeName") == name],
                       timeout=60, what="pods gone")
    finally:
        if proc.returncode is None:
            proc.terminate()
            await proc.wait()
        log.close()
        await client.close()
