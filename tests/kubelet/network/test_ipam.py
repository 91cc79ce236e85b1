"""Host-local IPAM and pod-CIDR parsing (no root needed)."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path

import pytest

from sampan.kubelet.network.ipam import HostLocalIPAM, IPAMError, gateway, parse_pod_cidr
from sampan.kubelet.network.pod_network import bridge_name, host_veth, netns_name


def test_allocation_skips_network_gateway_and_broadcast_and_is_persistent(tmp_path: Path) -> None:
    net = parse_pod_cidr("100.64.7.0/29")
    ipam = HostLocalIPAM(net, tmp_path)
    got = [ipam.allocate(f"sb{i}") for i in range(5)]
    assert [str(ip) for ip in got] == [f"100.64.7.{i}" for i in range(2, 7)]
    assert gateway(net) == ipaddress.IPv4Address("100.64.7.1")
    with pytest.raises(IPAMError, match=re.escape("no free address left in pod CIDR 100.64.7.0/29")):
        ipam.allocate("sb5")
    # same owner, same address; a new instance on the directory sees every allocation
    assert ipam.allocate("sb3") == got[3]
    again = HostLocalIPAM(net, tmp_path)
    assert again.allocations() == {ip: f"sb{i}" for i, ip in enumerate(got)}
    assert again.release("sb1")
    assert not again.release("sb1")
    assert again.lookup("sb1") is None
    assert again.allocate("new") == got[1]


def test_released_address_is_not_reused_at_once(tmp_path: Path) -> None:
    ipam = HostLocalIPAM(parse_pod_cidr("100.64.0.0/24"), tmp_path)
    first = ipam.allocate("a")
    ipam.release("a")
    second = ipam.allocate("b")
    assert second != first
    assert second == first + 1


@pytest.mark.parametrize(("text", "message"), [
    ("10.0.0.0/24", "must lie inside 100.64.0.0/10"),
    ("100.128.0.0/24", "must lie inside 100.64.0.0/10"),
    ("100.64.0.0/31", "too small"),
    ("100.64.0.1/24", "not a network address"),
    ("banana", "not a network address"),
    ("fd00::/64", "must lie inside"),
])
def test_bad_pod_cidrs_are_refused(text: str, message: str) -> None:
    with pytest.raises(IPAMError, match=message):
        parse_pod_cidr(text)


def test_names_fit_ifnamsiz_and_follow_the_cidr() -> None:
    assert bridge_name(parse_pod_cidr("100.64.0.0/24")) == "sampan0"
    assert bridge_name(parse_pod_cidr("100.64.3.0/24")) == "sampan3"
    assert bridge_name(parse_pod_cidr("100.127.255.0/24")) == "sampan16383"
    assert bridge_name(parse_pod_cidr("100.65.0.0/16")) == "sampan10000p16"
    sid = "0123456789abcdef" * 2
    assert netns_name(sid) == "sampan-0123456789ab"
    assert host_veth(sid) == "vsp0123456789a"
    for name in (bridge_name(parse_pod_cidr("100.127.255.252/30")), host_veth(sid)):
        assert len(name) <= 15


def test_stale_owners_are_reclaimed(tmp_path: Path) -> None:
    live = {"a", "b", "c"}
    ipam = HostLocalIPAM(parse_pod_cidr("100.64.7.0/29"), tmp_path, is_live=lambda owner, _note: owner in live)
    a, b, c = ipam.allocate("a"), ipam.allocate("b"), ipam.allocate("c")
    live.discard("b")  # b's namespace vanished without a teardown
    assert ipam.live_allocations() == {a: "a", c: "c"}
    assert set(ipam.allocations().values()) == {"a", "b", "c"}
    d = ipam.allocate("d")  # allocation reclaims first
    live.add("d")
    assert ipam.allocations() == {a: "a", c: "c", d: "d"}
    assert b not in ipam.allocations()
    assert ipam.reclaim() == 0
