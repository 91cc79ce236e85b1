"""Pods on the process runtime, end to end through the pod workers (real processes, real clock with
short periods): volumes and env visible to the process, OOM kills, graceful deletion, re-adoption."""

from __future__ import annotations

import base64
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from sampan.kubelet.pod_workers import PodWorkerOptions, PodWorkers
from sampan.kubelet.runtime.cgroups import cgroups_v1_usable
from sampan.kubelet.runtime.process import ProcessRuntime, ProcessRuntimeOptions
from sampan.kubelet.status_manager import MemoryStatusSink
from sampan.kubelet.volumes.manager import VolumeManager
from sampan.kubelet.volumes.objects import StaticObjects
from tests.kubelet.conftest import make_pod, remove_empty_cgroup_parents, until, with_deletion

PY = sys.executable


def read(path: str) -> str:
    return Path(path).read_text()


class Node:
    def __init__(self, tmp: Path) -> None:
        self.runtime = ProcessRuntime(ProcessRuntimeOptions(root_dir=tmp / "rt", cgroup_parent="sampan-test"))
        self.sink = MemoryStatusSink()
        self.objects = StaticObjects(
            configmaps=[{"metadata": {"namespace": "ns", "name": "cfg"}, "data": {"greeting": "hello"}}],
            secrets=[{"metadata": {"namespace": "ns", "name": "sec"},
                      "data": {"pw": base64.b64encode(b"s3cret").decode()}}],
        )
        self.volumes = VolumeManager(tmp / "pods", objects=self.objects, node_allocatable={})
        self.workers = self.new_workers()

    def new_workers(self) -> PodWorkers:
        return PodWorkers(self.runtime, sink=self.sink, volumes=self.volumes,
                          options=PodWorkerOptions(sync_period=0.05))

    def cs(self, pod: dict[str, Any]) -> dict[str, Any]:
        st = self.sink.statuses.get(f"ns/{pod['metadata']['name']}", {})
        return (st.get("containerStatuses") or [{}])[0]


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[Node]:
    n = Node(tmp_path)
    yield n
    await n.workers.aclose()
    for sb in await n.runtime.list_pod_sandboxes():
        await n.runtime.remove_pod_sandbox(sb.id)
    await n.runtime.aclose()
    remove_empty_cgroup_parents("sampan-test")


async def test_volumes_env_and_graceful_deletion(node: Node, tmp_path: Path) -> None:
    mount = tmp_path / "etc-config"
    script = (
        "import os, signal, sys, time\n"
        "signal.signal(signal.SIGTERM, lambda *a: (print('bye', flush=True), sys.exit(0)))\n"
        f"base = os.environ.get('SAMPAN_MOUNT_' + {str(mount)!r}.replace('/', '_').replace('-', '_').upper(),"
        f" {str(mount)!r})\n"
        "print(open(base + '/greeting').read(), os.environ['PW'], os.environ['POD'], flush=True)\n"
        "time.sleep(60)\n"
    )
    pod = make_pod(containers=[{
        "name": "c", "image": "python", "command": [PY, "-c", script],
        "env": [{"name": "PW", "valueFrom": {"secretKeyRef": {"name": "sec", "key": "pw"}}},
                {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
        "volumeMounts": [{"name": "cfg", "mountPath": str(mount)}],
    }], volumes=[{"name": "cfg", "configMap": {"name": "cfg"}}], terminationGracePeriodSeconds=10)
    node.workers.update_pod(pod)
    await until(lambda: node.cs(pod).get("state", {}).get("running") is not None, timeout=15, what="running")
    [c] = await node.runtime.list_containers()
    await until(lambda: "hello s3cret web" in read(c.log_path), timeout=15, what="output")
    node.workers.update_pod(with_deletion(pod, 10))
    await node.workers.wait_terminated(pod["metadata"]["uid"])
    term = node.cs(pod)["state"]["terminated"]
    assert (term["exitCode"], term["reason"]) == (0, "Completed")  # its SIGTERM handler ran
    assert node.sink.terminated_pods == ["ns/web"]
    assert await node.runtime.list_pod_sandboxes() == []


async def test_no_command_is_create_container_config_error(node: Node) -> None:
    pod = make_pod(containers=[{"name": "c", "image": "nginx"}])
    node.workers.update_pod(pod)
    await until(lambda: "waiting" in node.cs(pod).get("state", {}), timeout=15, what="waiting")
    waiting = node.cs(pod)["state"]["waiting"]
    assert waiting["reason"] == "CreateContainerConfigError"
    assert "has no command" in waiting["message"]


@pytest.mark.skipif(not cgroups_v1_usable(), reason="needs cgroup v1 as root")
async def test_memory_limit_gives_oom_killed(node: Node) -> None:
    pod = make_pod(restartPolicy="Never", containers=[{
        "name": "c", "image": "python", "command": [PY, "-c", "b = []\nwhile True: b.append(bytearray(8 << 20))"],
        "resources": {"limits": {"memory": "48Mi"}},
    }])
    node.workers.update_pod(pod)
    await until(lambda: "terminated" in node.cs(pod).get("state", {}), timeout=30, what="terminated")
    assert node.cs(pod)["state"]["terminated"]["reason"] == "OOMKilled"
    status = node.sink.statuses["ns/web"]
    assert status["phase"] == "Failed"


async def test_restarted_kubelet_readopts_processes(node: Node) -> None:
    pod = make_pod(containers=[{"name": "c", "image": "sh", "command": ["sleep", "60"]}])
    node.workers.update_pod(pod)
    await until(lambda: "running" in node.cs(pod).get("state", {}), timeout=15, what="running")
    [before] = await node.runtime.list_containers()
    await node.workers.aclose()
    await node.runtime.aclose()
    node.runtime = ProcessRuntime(node.runtime.options)  # a new kubelet process on the same root dir
    node.workers = node.new_workers()
    node.workers.update_pod({**pod, "status": node.sink.statuses["ns/web"]})
    worker = node.workers.workers[pod["metadata"]["uid"]]
    await until(lambda: worker.syncs >= 5, timeout=15, what="five syncs")
    [after] = await node.runtime.list_containers()
    assert (after.id, after.pid, after.state) == (before.id, before.pid, before.state)
    assert Path(f"/proc/{after.pid}").is_dir()  # noqa: ASYNC240 - one stat
