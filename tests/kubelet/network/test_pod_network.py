"""Per-pod network namespaces on the process runtime, as root with real namespaces, veths and a bridge:
two pods on the same port answer the host at their own addresses; hostNetwork; exec in the namespace;
re-adoption by a new runtime; teardown releases the address and removes the bridge with the last pod."""

from __future__ import annotations

import asyncio
import ipaddress
import re
import secrets
import shutil
from pathlib import Path

import pytest

from sampan.kubelet.network.cleanup import remove_pod_networks
from sampan.kubelet.network.links import LinkError, netns_exists, run_ip_batch
from sampan.kubelet.network.pod_network import PodNetwork, PodNetworkError, host_veth, netns_name
from sampan.kubelet.runtime.interface import CreateContainerError, PodSandboxConfig, SandboxState
from sampan.kubelet.runtime.process import ProcessRuntime, ProcessRuntimeOptions
from tests.kubelet.network.conftest import PY, TEST_CIDR, NetNode, http_get, leftovers, links, needs_netns, sh

pytestmark = needs_netns


def serve_dir(tmp: Path, name: str) -> str:
    d = tmp / name
    d.mkdir()
    (d / "who").write_text(name)
    return str(d)


async def test_two_pods_listen_on_the_same_port_and_answer_at_their_ips(netnode: NetNode, tmp_path: Path) -> None:
    ips = {}
    for name in ("a", "b"):
        sid = await netnode.sandbox(name)
        ips[name] = await netnode.ip(sid)
        await netnode.run(sid, PY, "-m", "http.server", "8080", "--bind", "0.0.0.0", cwd=serve_dir(tmp_path, name))
    net = ipaddress.IPv4Network(TEST_CIDR)
    assert ips["a"] != ips["b"]
    for ip in ips.values():
        assert ipaddress.IPv4Address(ip) in net
        assert ip != "100.127.250.1"
    for name, ip in ips.items():
        assert await http_get(ip, 8080, "/who") == name
    assert f" {netnode.network.bridge}:" in links()
    assert netnode.runtime.info().pod_cidr == TEST_CIDR


async def test_exec_runs_in_the_pod_namespace(netnode: NetNode) -> None:
    sid = await netnode.sandbox("e")
    cid = await netnode.run(sid, "sleep", "60")
    code, out = await netnode.runtime.exec_sync(cid, ["ip", "-4", "-o", "addr", "show", "dev", "eth0"], 10)
    assert code == 0
    assert f" {await netnode.ip(sid)}/24 " in out.decode()
    code, out = await netnode.runtime.exec_sync(cid, ["ip", "route"], 10)
    assert "default via 100.127.250.1 dev eth0" in out.decode()


async def test_host_network_pod_keeps_the_host_network(netnode: NetNode) -> None:
    sid = await netnode.sandbox("h", host_network=True)
    assert await netnode.ip(sid) == "127.0.0.1"
    assert not netns_exists(netns_name(sid))
    assert netnode.network.ipam.allocations() == {}


async def test_teardown_releases_the_address_and_the_last_pod_takes_the_bridge(netnode: NetNode) -> None:
    first, second = await netnode.sandbox("x"), await netnode.sandbox("y")
    ip_first = await netnode.ip(first)
    await netnode.run(first, "sleep", "60")
    await netnode.runtime.stop_pod_sandbox(first)
    assert not netns_exists(netns_name(first))
    assert netnode.network.ipam.lookup(first) is None
    await netnode.runtime.stop_pod_sandbox(first)  # idempotent
    await netnode.runtime.remove_pod_sandbox(first)
    assert [str(ip) for ip in netnode.network.ipam.allocations()] == [await netnode.ip(second)]
    assert f" {netnode.network.bridge}:" in links()
    await netnode.runtime.remove_pod_sandbox(second)
    assert leftovers(netnode.network, [first, second]) == []
    assert netnode.network.ipam.allocations() == {}
    third = await netnode.sandbox("z")  # the bridge comes back on demand
    assert await netnode.ip(third) not in (ip_first, "")


async def test_restarted_runtime_readopts_the_pod_network(netnode: NetNode, tmp_path: Path) -> None:
    sid = await netnode.sandbox("r")
    ip = await netnode.ip(sid)
    await netnode.run(sid, PY, "-m", "http.server", "8080", "--bind", "0.0.0.0", cwd=serve_dir(tmp_path, "r"))
    netnode.runtime = netnode.new_runtime()  # the kubelet restarts: same root dir, new objects
    sandboxes = await netnode.runtime.list_pod_sandboxes()
    assert [(sb.id, sb.ip) for sb in sandboxes] == [(sid, ip)]
    assert await http_get(ip, 8080, "/who") == "r"
    other = await netnode.sandbox("s")
    assert await netnode.ip(other) != ip


async def test_exhausted_cidr_fails_the_sandbox_and_leaves_nothing(tmp_path: Path) -> None:
    network = PodNetwork("100.127.251.0/30", state_dir=tmp_path / "net")
    rt = ProcessRuntime(ProcessRuntimeOptions(root_dir=tmp_path / "rt", network=network))
    sid = await rt.run_pod_sandbox(PodSandboxConfig(name="one", namespace="ns", uid="u1"))
    try:
        with pytest.raises(CreateContainerError, match=re.escape("no free address left in pod CIDR 100.127.251.0/30")):
            await rt.run_pod_sandbox(PodSandboxConfig(name="two", namespace="ns", uid="u2"))
        assert [sb.id for sb in await rt.list_pod_sandboxes()] == [sid]
    finally:
        await rt.remove_pod_sandbox(sid)
        await rt.aclose()
    assert leftovers(network, [sid]) == []


async def test_failed_setup_is_rolled_back(netnode: NetNode) -> None:
    """An ``eth0`` already inside the pod's namespace makes the veth step fail: the namespace and the
    address are given back."""
    sid = secrets.token_hex(16)
    ns = netns_name(sid)
    sh("netns", "add", ns)
    sh("-n", ns, "link", "add", "eth0", "type", "bridge")
    try:
        with pytest.raises(PodNetworkError, match=r"setting up the pod network: ip link add .* File exists"):
            await netnode.network.setup(sid)
        assert netnode.network.ipam.allocations() == {}
        assert not netns_exists(ns)
    finally:
        sh("netns", "del", ns, check=False)


async def test_two_networks_on_one_cidr_share_state(netnode: NetNode, tmp_path: Path) -> None:
    """Two kubelets (or a kubelet and a test) on one CIDR: distinct addresses, and the bridge stays while
    either still has a pod; an address whose namespace vanished is reclaimed."""
    other = PodNetwork(TEST_CIDR, state_dir=tmp_path / "net")
    mine = await netnode.sandbox("m")
    theirs = secrets.token_hex(16)
    attachment = await other.setup(theirs)
    try:
        assert attachment.ip != await netnode.ip(mine)
        await netnode.runtime.remove_pod_sandbox(mine)
        assert f" {netnode.network.bridge}:" in links()  # still used by the other's pod
        sh("netns", "del", netns_name(theirs))  # the other's pod vanishes without a teardown
        assert netnode.network.ipam.live_allocations() == {}
        await netnode.network.close()
        assert f" {netnode.network.bridge}:" not in links()
    finally:
        await other.teardown(theirs)
    assert leftovers(netnode.network, [mine, theirs]) == []


async def test_sandbox_whose_namespace_vanished_is_not_ready(netnode: NetNode) -> None:
    sid = await netnode.sandbox("v")
    sh("netns", "del", netns_name(sid))  # e.g. a reboot emptied /run/netns under a kept root dir
    [sb] = await netnode.runtime.list_pod_sandboxes()
    assert sb.state is SandboxState.NOTREADY
    assert netnode.network.ipam.live_allocations() == {}


async def test_leftover_networks_of_a_root_dir_are_removed(netnode: NetNode, tmp_path: Path) -> None:
    """A kubelet that went away for good (its containers killed, no teardown): everything goes."""
    sids = [await netnode.sandbox("l1"), await netnode.sandbox("l2")]
    cid = await netnode.run(sids[0], "sleep", "60")
    await netnode.runtime.stop_container(cid, 0)  # the processes are gone, the networks are not
    assert await remove_pod_networks(tmp_path / "rt", state_dir=tmp_path / "net") == 2
    assert leftovers(netnode.network, sids) == []
    assert netnode.network.ipam.allocations() == {}


async def test_networks_of_a_deleted_root_dir_are_collected(netnode: NetNode, tmp_path: Path) -> None:
    """A temporary kubelet's root dir deleted without a teardown: the next setup on the CIDR collects its
    namespace, veth and address, so leftovers never exhaust the CIDR."""
    gone = ProcessRuntime(ProcessRuntimeOptions(root_dir=tmp_path / "gone", network=netnode.network))
    netnode.runtimes.append(gone)  # closed by the fixture
    old = await gone.run_pod_sandbox(PodSandboxConfig(name="old", namespace="ns", uid="u-old"))
    old_ip = next(sb.ip for sb in await gone.list_pod_sandboxes())
    shutil.rmtree(tmp_path / "gone")
    new = await netnode.sandbox("new")
    assert leftovers(netnode.network, [old]) == [netnode.network.bridge]  # only the bridge, still in use
    assert [str(ip) for ip in netnode.network.ipam.allocations()] == [await netnode.ip(new)]
    assert old_ip not in [str(ip) for ip in netnode.network.ipam.allocations()]


async def test_concurrent_setups_and_teardowns_share_the_bridge_safely(tmp_path: Path) -> None:
    """The lock covers only the address allocation: setups and teardowns run concurrently, yet every pod
    gets its own address, is attached to the bridge with its route, and nothing is left behind."""
    network = PodNetwork(TEST_CIDR, state_dir=tmp_path / "net")
    sids = [secrets.token_hex(16) for _ in range(6)]
    try:
        first = await asyncio.gather(*(network.setup(s) for s in sids[:3]))
        assert len({a.ip for a in first}) == 3
        text = links()
        for sid in sids[:3]:
            assert f" {host_veth(sid)}@" in text
        assert text.count(f"master {network.bridge} ") == 3
        proc = await asyncio.create_subprocess_exec("ip", "-n", netns_name(sids[0]), "route",
                                                    stdout=asyncio.subprocess.PIPE)
        routes = (await proc.communicate())[0].decode()
        assert f"default via {ipaddress.IPv4Network(TEST_CIDR).network_address + 1} dev eth0" in routes
        # the first half goes while the second half is set up: the bridge stays for the newcomers
        results = await asyncio.gather(*(network.teardown(s) for s in sids[:3]),
                                       *(network.setup(s) for s in sids[3:]))
        second = [a.ip for a in results[3:] if a is not None]
        assert len(set(second)) == 3
        assert sorted(str(ip) for ip in network.ipam.allocations()) == sorted(second)
        assert links().count(f"master {network.bridge} ") == 3
    finally:
        await asyncio.gather(*(network.teardown(s) for s in sids))
    assert leftovers(network, sids) == []
    assert network.ipam.allocations() == {}


async def test_batch_errors_name_the_failing_command_and_missing_objects_are_fine() -> None:
    with pytest.raises(LinkError, match=r"^ip link del sampan-no-such: Cannot find device"):
        await run_ip_batch([("link", "set", "lo", "up"), ("link", "del", "sampan-no-such")])
    await run_ip_batch([("link", "del", "sampan-no-such"), ("netns", "del", "sampan-no-such")], missing_ok=True)
