"""The CRI runtime (client + Runtime Protocol) against a real private containerd."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sampan.kubelet.runtime.cri.client import CRIClient, CRINotFound
from sampan.kubelet.runtime.cri.runtime import CRIRuntime, CRIRuntimeOptions
from sampan.kubelet.runtime.images import ImagePullError
from sampan.kubelet.runtime.interface import (
    ContainerConfig,
    ContainerState,
    ContainerStatus,
    LinuxResources,
    Mount,
    PodSandboxConfig,
    SandboxState,
)
from tests.kubelet.cri.conftest import BUSYBOX, POD_CIDR, SHELL, Containerd, pytestmark  # noqa: F401

NODE = "cri-node"


@pytest.fixture
async def runtime(containerd: Containerd, tmp_path: Path) -> AsyncIterator[CRIRuntime]:
    rt = CRIRuntime(CRIRuntimeOptions(endpoint=containerd.endpoint, node_name=NODE, log_root=tmp_path / "logs"))
    await rt.start()
    await rt.set_pod_cidr(POD_CIDR)
    try:
        yield rt
    finally:
        for sb in await rt.list_pod_sandboxes():
            await rt.stop_pod_sandbox(sb.id)
            await rt.remove_pod_sandbox(sb.id)
        await rt.close()


def sandbox(name: str = "p") -> PodSandboxConfig:
    uid = str(uuid.uuid4())
    return PodSandboxConfig(name=name, namespace="ns", uid=uid, hostname=name,
                            labels={"io.kubernetes.pod.uid": uid, "io.kubernetes.pod.name": name,
                                    "io.kubernetes.pod.namespace": "ns"})


async def wait_state(rt: CRIRuntime, cid: str, state: ContainerState, timeout: float = 20.0) -> ContainerStatus:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        st = await rt.container_status(cid)
        if st.state is state:
            return st
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"container never reached {state}: {st}")
        await asyncio.sleep(0.05)


async def run(rt: CRIRuntime, sid: str, config: ContainerConfig) -> str:
    cid = await rt.create_container(sid, config)
    await rt.start_container(cid)
    return cid


async def until_logged(st: ContainerStatus, text: str, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    for _ in range(int(timeout / 0.05) + 1):
        if text in log_text(st) or asyncio.get_running_loop().time() > deadline:
            return
        await asyncio.sleep(0.05)


def cgroup_exists(uid: str) -> bool:
    return any(os.path.exists(f"/sys/fs/cgroup/{c}/sampan-pods/pod{uid}") for c in ("memory", "cpu", "pids"))


def log_text(st: ContainerStatus) -> str:
    """The container's output from its CRI log (``<time> <stream> <tag> <text>`` lines; tag ``P`` = a
    partial line, continued by the next)."""
    out = []
    for line in Path(st.log_path).read_text().splitlines():
        _, _, tag, text = line.split(" ", 3)
        out.append(text if tag == "P" else text + "\n")
    return "".join(out).rstrip("\n")


async def test_client_version_status_and_images(containerd: Containerd) -> None:
    client = CRIClient(containerd.endpoint)
    try:
        version = await client.version()
        assert version.runtime_name == "containerd"
        assert version.runtime_api_version == "v1"
        conditions = {c.type: c.status for c in (await client.status()).status.conditions}
        assert conditions["RuntimeReady"] is True
        tags = {t for img in await client.list_images() for t in img.repo_tags}
        assert {"registry.k8s.io/pause:sampan", BUSYBOX, SHELL} <= tags
        assert await client.image_status("sampan.test/absent:1") is None
        with pytest.raises(CRINotFound):
            await client.container_status("0" * 64)
    finally:
        await client.close()


async def test_image_service(runtime: CRIRuntime) -> None:
    images = runtime.image_service
    info = await images.image_status(BUSYBOX)
    assert info is not None
    assert info.id.startswith("sha256:")
    assert BUSYBOX in info.repo_tags
    assert info.size > 0
    fs = await images.image_fs_info()
    assert fs.used_bytes > 0
    assert fs.capacity_bytes >= fs.available_bytes > 0
    with pytest.raises(ImagePullError):  # no registry answers there
        await images.pull_image("127.0.0.1:1/nothing:1")


async def test_entrypoint_and_cmd_from_image_and_overrides(runtime: CRIRuntime) -> None:
    sid = await runtime.run_pod_sandbox(sandbox())
    [sb] = [s for s in await runtime.list_pod_sandboxes() if s.id == sid]
    assert sb.state is SandboxState.READY
    assert sb.ip.startswith("100.64.250.")
    cases = {
        "image": ((), (), "entrypoint from-cmd"),       # ENTRYPOINT + CMD
        "args": ((), ("x", "y"), "entrypoint x y"),       # args replace CMD
        "command": (("/bin/echo", "own"), (), "own"),     # command replaces both
        "both": (("/bin/echo",), ("a", "b"), "a b"),
    }
    ids = {}
    for name, (command, args, _) in cases.items():
        ids[name] = await run(runtime, sid, ContainerConfig(name=name, image=BUSYBOX, command=command, args=args))
    for name, (_, _, expected) in cases.items():
        st = await wait_state(runtime, ids[name], ContainerState.EXITED)
        assert st.exit_code == 0
        assert st.reason == "Completed"
        assert log_text(st) == expected, name
        assert st.sandbox_id == sid
        assert st.image_ref.startswith("sha256:")


async def test_env_mounts_workdir_hosts_and_exec(runtime: CRIRuntime, tmp_path: Path) -> None:
    vol = tmp_path / "vol"
    vol.mkdir()
    (vol / "data.txt").write_text("from-volume\n")
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost\n100.64.250.9 custom-host\n")
    sid = await runtime.run_pod_sandbox(sandbox())
    cid = await run(runtime, sid, ContainerConfig(
        name="c", image=SHELL, command=("sh", "-c", "echo $GREETING; cat /data/data.txt; pwd; sleep 1000"),
        env={"GREETING": "hello"}, working_dir="/tmp",
        mounts=(Mount("/data", str(vol), read_only=True), Mount("/etc/hosts", str(hosts)))))
    await wait_state(runtime, cid, ContainerState.RUNNING)
    code, out = await runtime.exec_sync(cid, ["sh", "-c", "cat /etc/hosts; touch /data/x"], 10)
    assert b"custom-host" in out
    assert code != 0
    assert b"Read-only" in out
    code, out = await runtime.exec_sync(cid, ["sh", "-c", "exit 3"], 10)
    assert code == 3
    st = await runtime.container_status(cid)
    await until_logged(st, "/tmp")
    assert log_text(st).splitlines() == ["hello", "from-volume", "/tmp"]


async def test_oom_killed_with_32mib_limit(runtime: CRIRuntime) -> None:
    sid = await runtime.run_pod_sandbox(sandbox())
    # busybox's sh grows a 100 MiB string: the 32 MiB limit kills it
    cid = await run(runtime, sid, ContainerConfig(
        name="hog", image=SHELL, command=("sh", "-c", "x=$(head -c 104857600 /dev/zero | tr '\\0' a); echo $x"),
        resources=LinuxResources(memory_limit_bytes=32 << 20)))
    st = await wait_state(runtime, cid, ContainerState.EXITED, timeout=60)
    assert st.reason == "OOMKilled"
    assert st.exit_code == 137


async def test_container_stats_from_cri(runtime: CRIRuntime) -> None:
    """CRI ContainerStats: cumulative CPU grows while the container burns it; memory is measured; a stopped
    container has no stats (the kubelet's /metrics/resource and kubectl top read these)."""
    sid = await runtime.run_pod_sandbox(sandbox())
    burn = ContainerConfig(name="burn", image=SHELL, command=("sh", "-c", "while :; do :; done"))
    cid = await run(runtime, sid, burn)
    await wait_state(runtime, cid, ContainerState.RUNNING)
    first = None
    for _ in range(200):  # containerd has figures once its first cgroup read is done
        first = await runtime.container_stats(cid)
        if first is not None and first.cpu_usage_core_ns > 0:
            break
        await asyncio.sleep(0.05)
    assert first is not None
    assert first.container_id == cid
    assert first.memory_working_set_bytes > 0
    later = first
    for _ in range(200):
        later = await runtime.container_stats(cid) or first
        if later.cpu_usage_core_ns > first.cpu_usage_core_ns and later.timestamp > first.timestamp:
            break
        await asyncio.sleep(0.05)
    assert later.cpu_usage_core_ns > first.cpu_usage_core_ns
    await runtime.stop_container(cid, 0)
    await wait_state(runtime, cid, ContainerState.EXITED)
    assert await runtime.container_stats(cid) is None


async def test_graceful_stop_sigterm_then_sigkill(runtime: CRIRuntime) -> None:
    sid = await runtime.run_pod_sandbox(sandbox())
    polite = await run(runtime, sid, ContainerConfig(name="polite", image=SHELL, command=(
        "sh", "-c", "trap 'echo got-term; exit 0' TERM; echo ready; while true; do sleep 0.1; done")))
    stubborn = await run(runtime, sid, ContainerConfig(name="stubborn", image=SHELL, command=(
        "sh", "-c", "trap 'echo ignoring-term' TERM; echo ready; while true; do sleep 0.1; done")))
    for cid in (polite, stubborn):
        await until_logged(await wait_state(runtime, cid, ContainerState.RUNNING), "ready")
    await asyncio.gather(runtime.stop_container(polite, 10), runtime.stop_container(stubborn, 1))
    p, s = await runtime.container_status(polite), await runtime.container_status(stubborn)
    assert p.state is ContainerState.EXITED
    assert p.exit_code == 0
    assert "got-term" in log_text(p)
    assert s.state is ContainerState.EXITED
    assert s.exit_code == 137
    assert "ignoring-term" in log_text(s)


async def test_termination_message(runtime: CRIRuntime) -> None:
    sid = await runtime.run_pod_sandbox(sandbox())
    file_msg = await run(runtime, sid, ContainerConfig(
        name="file", image=SHELL, command=("sh", "-c", "echo -n bye > /dev/termination-log; exit 1"),
        termination_message_path="/dev/termination-log"))
    from_logs = await run(runtime, sid, ContainerConfig(
        name="logs", image=SHELL, command=("sh", "-c", "echo last words; exit 2"),
        termination_message_path="/dev/termination-log", termination_message_policy="FallbackToLogsOnError"))
    assert (await wait_state(runtime, file_msg, ContainerState.EXITED)).message == "bye"
    assert (await wait_state(runtime, from_logs, ContainerState.EXITED)).message == "last words"


async def test_readoption_and_nothing_left_behind(runtime: CRIRuntime, containerd: Containerd,
                                                  tmp_path: Path) -> None:
    cfg = sandbox("keep")
    sid = await runtime.run_pod_sandbox(cfg)
    cid = await run(runtime, sid, ContainerConfig(name="c", image=SHELL, command=("sleep", "1000"),
                                                  labels={"io.kubernetes.container.name": "c"}))
    await wait_state(runtime, cid, ContainerState.RUNNING)
    [sb] = [s for s in await runtime.list_pod_sandboxes() if s.id == sid]
    # a second runtime (a restarted kubelet) on the same node sees the same ids; another node sees none
    again = CRIRuntime(CRIRuntimeOptions(endpoint=containerd.endpoint, node_name=NODE, log_root=tmp_path / "logs"))
    other = CRIRuntime(CRIRuntimeOptions(endpoint=containerd.endpoint, node_name="other", log_root=tmp_path / "o"))
    try:
        assert [s.id for s in await again.list_pod_sandboxes() if s.config.uid == cfg.uid] == [sid]
        assert [(c.id, c.state) for c in await again.list_containers(sid)] == [(cid, ContainerState.RUNNING)]
        [readopted] = [s for s in await again.list_pod_sandboxes() if s.id == sid]
        assert readopted.ip == sb.ip
        assert readopted.config.name == "keep"
        assert await other.list_pod_sandboxes() == []
        assert await other.list_containers() == []
    finally:
        await again.close()
        await other.close()
    log_dir = tmp_path / "logs" / f"ns_keep_{cfg.uid}"
    assert (log_dir / "c" / "0.log").exists()
    await runtime.stop_pod_sandbox(sid)
    await runtime.remove_pod_sandbox(sid)
    await runtime.remove_pod_sandbox(sid)  # idempotent
    assert sid not in containerd.ctr("containers", "ls", "-q")
    assert cid not in containerd.ctr("containers", "ls", "-q")
    assert not log_dir.exists()
    netns_dir = containerd.layout.directory / "state"
    assert not [p for p in netns_dir.rglob("cni-*") if p.parent.name == "netns"]
    leases = [p.name for p in containerd.layout.ipam_dir.rglob("*") if p.name == sb.ip]
    assert leases == []
    assert not cgroup_exists(cfg.uid)


async def test_host_network_sandbox(runtime: CRIRuntime) -> None:
    cfg = sandbox("hostnet")
    sid = await runtime.run_pod_sandbox(PodSandboxConfig(name=cfg.name, namespace=cfg.namespace, uid=cfg.uid,
                                                         labels=cfg.labels, host_network=True))
    [sb] = [s for s in await runtime.list_pod_sandboxes() if s.id == sid]
    assert sb.ip == "127.0.0.1"
    assert sb.config.host_network
    cid = await run(runtime, sid, ContainerConfig(name="c", image=SHELL, command=("cat", "/proc/net/dev")))
    st = await wait_state(runtime, cid, ContainerState.EXITED)
    assert "sampanct0" in log_text(st)  # the host's interfaces, not a pod namespace's
