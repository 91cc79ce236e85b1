"""Fixtures for pod-network tests: a process runtime with a PodNetwork on a test-only CIDR, and checks
that nothing (namespace, veth, bridge) is left behind."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sampan.kubelet.network.pod_network import PodNetwork, host_veth, netns_name, unavailable_reason
from sampan.kubelet.runtime.interface import ContainerConfig, ContainerState, PodSandboxConfig
from sampan.kubelet.runtime.process import ProcessRuntime, ProcessRuntimeOptions
from tests.kubelet.conftest import remove_empty_cgroup_parents

PY = sys.executable
TEST_CIDR = "100.127.250.0/24"
"""Far from the 100.64.<i>.0/24 blocks ``sampan up`` hands out, so tests never meet a real cluster."""

needs_netns = pytest.mark.skipif(bool(unavailable_reason()), reason=f"pod network: {unavailable_reason()}")


def sh(*args: str, check: bool = True) -> None:
    """Run ``ip args…`` (test set-up outside the code under test)."""
    subprocess.run(["ip", *args], check=check, capture_output=True)


def links() -> str:
    return subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout


def leftovers(network: PodNetwork, sandbox_ids: list[str]) -> list[str]:
    """Every namespace, veth or bridge of these sandboxes still on the host."""
    out = [netns_name(s) for s in sandbox_ids if os.path.exists(f"/run/netns/{netns_name(s)}")]
    text = links()
    out += [host_veth(s) for s in sandbox_ids if f" {host_veth(s)}@" in text or f" {host_veth(s)}:" in text]
    if f" {network.bridge}:" in text:
        out.append(network.bridge)
    return out


class NetNode:
    """A process runtime with pod networking on ``TEST_CIDR``; records every sandbox it made."""

    def __init__(self, tmp: Path, cidr: str = TEST_CIDR) -> None:
        self.tmp = tmp
        self.cidr = cidr
        self.network = PodNetwork(cidr, state_dir=tmp / "net")
        self.runtimes: list[ProcessRuntime] = []
        """Every runtime made, the restarted ones too: each may hold a spawn helper until closed."""
        self.runtime = self.new_runtime()
        self.sandboxes: list[str] = []

    def new_runtime(self) -> ProcessRuntime:
        """A fresh runtime and network object on the same directories (a restarted kubelet)."""
        self.network = PodNetwork(self.cidr, state_dir=self.tmp / "net")
        runtime = ProcessRuntime(ProcessRuntimeOptions(root_dir=self.tmp / "rt", cgroup_parent="sampan-test",
                                                       network=self.network))
        self.runtimes.append(runtime)
        return runtime

    async def sandbox(self, name: str, *, host_network: bool = False) -> str:
        sid = await self.runtime.run_pod_sandbox(PodSandboxConfig(name=name, namespace="ns", uid=f"uid-{name}",
                                                                  host_network=host_network))
        self.sandboxes.append(sid)
        return sid

    async def run(self, sid: str, *argv: str, cwd: str = "") -> str:
        cid = await self.runtime.create_container(sid, ContainerConfig(name="c", image="img", command=argv,
                                                                       working_dir=cwd))
        await self.runtime.start_container(cid)
        st = await self.runtime.container_status(cid)
        assert st.state is ContainerState.RUNNING, st
        return cid

    async def ip(self, sid: str) -> str:
        return next(sb.ip for sb in await self.runtime.list_pod_sandboxes() if sb.id == sid)


@pytest.fixture
async def netnode(tmp_path: Path) -> AsyncIterator[NetNode]:
    node = NetNode(tmp_path)
    yield node
    for sb in await node.runtime.list_pod_sandboxes():
        await node.runtime.remove_pod_sandbox(sb.id)
    for runtime in node.runtimes:
        await runtime.aclose()
    await node.network.close()
    remove_empty_cgroup_parents("sampan-test")
    assert leftovers(node.network, node.sandboxes) == []


async def http_get(ip: str, port: int, path: str, *, timeout: float = 10.0) -> str:
    """GET ``path`` from ``ip:port`` (retrying until something listens); the body."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(ip, port), 2.0)
            break
        except (OSError, TimeoutError):
            if loop.time() > deadline:
                raise
            await asyncio.sleep(0.05)
    writer.write(f"GET {path} HTTP/1.0\r\nHost: {ip}\r\n\r\n".encode())
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), timeout)
    writer.close()
    head, _, body = data.decode().partition("\r\n\r\n")
    assert head.startswith("HTTP/1.0 200"), head
    return body
