"""``sampan down`` (without ``--keep-workloads``) stops and removes what the process runtime left under a
cluster's data dir: a container a kubelet left running is killed and its sandbox record removed."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from sampan.cli.down_workloads import remove_workloads
from sampan.kubelet.runtime.interface import ContainerConfig, ContainerState, PodSandboxConfig
from sampan.kubelet.runtime.process import ProcessRuntime, ProcessRuntimeOptions
from tests.kubelet.conftest import remove_empty_cgroup_parents, until


def running(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2] != "Z"


async def test_remove_workloads_stops_and_removes_every_pod(tmp_path: Path) -> None:
    root = tmp_path / "kubelet" / "node-a" / "runtime"
    rt = ProcessRuntime(ProcessRuntimeOptions(root_dir=root))
    sid = await rt.run_pod_sandbox(PodSandboxConfig(name="p", namespace="ns", uid="u1"))
    sleeper = (sys.executable, "-c", "import time; time.sleep(600)")
    cid = await rt.create_container(sid, ContainerConfig(name="c", image="img", command=sleeper))
    await rt.start_container(cid)
    status = next(c for c in await rt.list_containers(sid) if c.id == cid)
    assert status.state is ContainerState.RUNNING
    pid = status.pid
    assert running(pid)
    await rt.aclose()  # the kubelet is gone; its container keeps running
    del rt

    removed = await remove_workloads(tmp_path)
    assert removed == ["1 pod(s) of node node-a (0 with their own network)"]
    await until(lambda: not running(pid), timeout=10, what="the container's process to exit")
    fresh = ProcessRuntime(ProcessRuntimeOptions(root_dir=root))
    try:
        assert await fresh.list_pod_sandboxes() == []
    finally:
        await fresh.aclose()
    assert await remove_workloads(tmp_path) == []  # idempotent
    if os.geteuid() == 0:
        remove_empty_cgroup_parents("sampan")
