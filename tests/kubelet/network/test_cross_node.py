"""Two nodes' pod networks on one machine (two bridges, two CIDRs, as ``sampan up --nodes 2`` makes):
a pod of one node reaches a pod of the other at its own address (flat, no NAT: the server sees the
client's pod address), forwarding is on only for the bridges, a pod's traffic to an address off this
machine is rejected by the guard, and the guard goes with the last bridge."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from sampan.kubelet.network import forwarding
from tests.kubelet.conftest import remove_empty_cgroup_parents
from tests.kubelet.network.conftest import PY, NetNode, leftovers, needs_netns

pytestmark = needs_netns

CIDR_A = "100.127.248.0/24"
CIDR_B = "100.127.249.0/24"


async def in_netns(netns: str, script: str, *args: str) -> str:
    """Run a Python ``script`` inside a pod's namespace; its stdout, stripped."""
    proc = await asyncio.create_subprocess_exec("ip", "netns", "exec", netns, PY, "-c", script, *args,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err.decode()
    return out.decode().strip()


def nft_has_guard() -> bool:
    done = subprocess.run(["nft", "list", "table", "ip", forwarding.TABLE], capture_output=True, text=True)
    return done.returncode == 0


@pytest.fixture
async def nodes(tmp_path: Path) -> AsyncIterator[tuple[NetNode, NetNode]]:
    a, b = NetNode(tmp_path / "a", CIDR_A), NetNode(tmp_path / "b", CIDR_B)
    yield a, b
    for node in (a, b):
        for sb in await node.runtime.list_pod_sandboxes():
            await node.runtime.remove_pod_sandbox(sb.id)
        await node.network.close()
    remove_empty_cgroup_parents("sampan-test")
    for node in (a, b):
        assert leftovers(node.network, node.sandboxes) == []


def _in_netns(runtime_node: NetNode, sid: str) -> str:
    return f"sampan-{sid[:12]}"


async def test_pods_of_two_nodes_reach_each_other_flat(nodes: tuple[NetNode, NetNode], tmp_path: Path) -> None:
    a, b = nodes
    server_sid = await b.sandbox("server")
    client_sid = await a.sandbox("client")
    server_ip, client_ip = await b.ip(server_sid), await a.ip(client_sid)
    assert server_ip.startswith("100.127.249.")
    assert client_ip.startswith("100.127.248.")
    # a one-shot TCP server in node b's pod that answers with the peer address it saw
    script = ("import socket\ns=socket.socket();s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n"
              "s.bind(('0.0.0.0',9090));s.listen()\n"
              "while True:\n c,p=s.accept();c.sendall(p[0].encode());c.close()\n")
    await b.run(server_sid, PY, "-c", script)
    client = ("import socket,sys,time\n"
              "for _ in range(100):\n"
              " try:\n  c=socket.create_connection((sys.argv[1],9090),timeout=2);print(c.recv(100).decode());break\n"
              " except OSError: time.sleep(0.05)\n")
    done = await in_netns(_in_netns(a, client_sid), client, server_ip)
    assert done == client_ip  # no NAT: the server saw the pod's own address
    flag = await asyncio.to_thread(Path(f"/proc/sys/net/ipv4/conf/{a.network.bridge}/forwarding").read_text)
    assert flag.strip() == "1"
    assert nft_has_guard()


@pytest.fixture
def elsewhere() -> Iterator[None]:
    """A veth (``xsampan0``, its peer in the namespace ``xsampan-ns``) routing 100.127.247.0/24: "another
    interface" a pod could be forwarded to. Whatever reaches it stays in that namespace, so nothing leaves
    this machine even without the guard."""
    subprocess.run(["ip", "netns", "add", "xsampan-ns"], check=True)
    try:
        subprocess.run(["ip", "link", "add", "xsampan0", "type", "veth", "peer", "name", "xsampan1", "netns",
                        "xsampan-ns"], check=True)
        subprocess.run(["ip", "link", "set", "xsampan0", "up"], check=True)
        subprocess.run(["ip", "route", "add", "100.127.247.0/24", "dev", "xsampan0"], check=True)
        yield None
    finally:
        subprocess.run(["ip", "link", "del", "xsampan0"], check=False, capture_output=True)
        subprocess.run(["ip", "netns", "del", "xsampan-ns"], check=False)


async def test_pod_traffic_to_other_interfaces_is_rejected(nodes: tuple[NetNode, NetNode], elsewhere: object) -> None:
    a, _ = nodes
    sid = await a.sandbox("leaky")
    probe = ("import socket,sys\n"
             "try:\n socket.create_connection(('100.127.247.5',80),timeout=5);print('connected')\n"
             "except ConnectionRefusedError: print('refused')\n"
             "except OSError as e: print(type(e).__name__)\n")
    done = await in_netns(f"sampan-{sid[:12]}", probe)
    assert done == "refused"  # at once, by the guard (not a timeout)


async def test_guard_removed_with_the_last_bridge(nodes: tuple[NetNode, NetNode]) -> None:
    a, _b = nodes
    sid = await a.sandbox("only")
    assert nft_has_guard() or not forwarding.sampan_bridges()
    await a.runtime.remove_pod_sandbox(sid)
    await a.network.close()
    if not forwarding.sampan_bridges():  # another test's or cluster's bridge may legitimately keep it
        assert not nft_has_guard()
