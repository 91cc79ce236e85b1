"""Ruleset generation is pure: a snapshot of Services and endpoints in, ``nft -f`` text out."""

from __future__ import annotations

import os
import shutil
import subprocess
from typing import Any

import pytest

from sampan.proxy.model import Endpoint, ServiceKey, service_ports, slice_endpoints
from sampan.proxy.nftables import names
from sampan.proxy.nftables.fragments import Fragment, Scope, service_fragment
from sampan.proxy.nftables.ruleset import TableConfig, diff, full_transaction, transaction_text
from tests.proxy.builders import endpoint, endpoint_slice, service

HOST = Scope(node_name="n1", local_interface="sampan0", host_traffic=True)
NODE2 = Scope(node_name="n2", local_interface="sampan1", host_traffic=False)
NODE2_CIDR = Scope(node_name="n2", local_cidr="100.64.1.0/24", host_traffic=False)
"""``--detect-local-mode NodeCIDR``: the node's pods are told apart by source address."""
CFG = TableConfig(table="sampan-proxy-n1", scope=HOST, reject_cidrs=("100.96.0.0/16", "100.127.0.0/24"))


def fragment(svc: dict[str, Any], eps: list[dict[str, Any]], scope: Scope = HOST) -> Fragment:
    ports = service_ports(svc)
    return service_fragment(ports, slice_endpoints(endpoint_slice(svc["metadata"]["name"], eps)), scope)


def text(svc: dict[str, Any], eps: list[dict[str, Any]], cfg: TableConfig = CFG) -> str:
    return full_transaction(cfg, [fragment(svc, eps, cfg.scope)])


def test_cluster_ip_random_balancing_over_ready_endpoints() -> None:
    out = text(service("web", "100.96.0.20"), [endpoint("100.64.0.5"), endpoint("100.64.0.6"),
                                               endpoint("100.64.0.7"), endpoint("100.64.0.8", ready=False)])
    assert "numgen random mod 3 vmap {" in out
    for ip in ("100.64.0.5", "100.64.0.6", "100.64.0.7"):
        assert f"meta l4proto tcp dnat to {ip}:8080" in out
        assert f"ip saddr {ip} jump mark-for-masquerade" in out  # hairpin
    assert "100.64.0.8" not in out
    assert "add element ip sampan-proxy-n1 service-ips { 100.96.0.20 . tcp . 80 : goto service-" in out
    assert "add element ip sampan-proxy-n1 cluster-ips { 100.96.0.20 }" in out
    # off-node (not from this node's bridge) traffic to the cluster IP is masqueraded
    assert 'ip daddr 100.96.0.20 tcp dport 80 iifname != "sampan0" jump mark-for-masquerade' in out
    assert "ip daddr { 100.96.0.0/16, 100.127.0.0/24 } reject" in out


def test_no_endpoints_rejects() -> None:
    out = text(service("web", "100.96.0.20"), [endpoint("100.64.0.5", ready=False)])
    assert "add element ip sampan-proxy-n1 no-endpoint-services { 100.96.0.20 . tcp . 80 : goto reject-chain }" in out
    assert "service-ips {" not in out.split("flush map ip sampan-proxy-n1 service-ips")[1]
    assert "dnat to" not in out


def test_terminating_endpoints_only_when_none_ready() -> None:
    term = endpoint("100.64.0.6", ready=False, serving=True, terminating=True)
    out = text(service("web", "100.96.0.20"), [term])
    assert "dnat to 100.64.0.6:8080" in out
    out2 = text(service("web", "100.96.0.20"), [term, endpoint("100.64.0.5")])
    assert "dnat to 100.64.0.6:8080" not in out2
    assert "dnat to 100.64.0.5:8080" in out2


def test_session_affinity_sets_with_timeout() -> None:
    out = text(service("web", "100.96.0.20", affinity=60), [endpoint("100.64.0.5"), endpoint("100.64.0.6")])
    assert out.count("flags dynamic,timeout ; timeout 60s ;") == 2
    assert "update @affinity-" in out
    assert out.index("ip saddr @affinity-") < out.index("numgen random mod 2")


def test_node_port_and_load_balancer() -> None:
    out = text(service("web", "100.96.0.20", type_="LoadBalancer", node_port=30080, lb_ips=("100.127.0.5",)),
               [endpoint("100.64.0.5")])
    assert "service-nodeports { tcp . 30080 : goto external-" in out
    assert "service-ips { 100.127.0.5 . tcp . 80 : goto external-" in out
    assert "cluster-ips { 100.127.0.5 }" in out
    ext = [ln for ln in out.splitlines() if "add rule" in ln and " external-" in ln]
    assert ext[0].endswith("jump mark-for-masquerade")
    assert ext[1].split()[-2:][0] == "goto"


def test_external_traffic_policy_local() -> None:
    svc = service("web", "100.96.0.20", type_="NodePort", node_port=30080, etp="Local")
    out = text(svc, [endpoint("100.64.0.5", "n1"), endpoint("100.64.1.5", "n2")])
    ext = [ln.split(" external-", 1)[1].split(" ", 1)[1] for ln in out.splitlines()
           if ln.startswith("add rule") and " external-" in ln.split("{")[0]]
    assert ext[0].startswith('iifname "sampan0" goto service-')  # pods: short-circuit
    assert ext[1] == "fib saddr type local jump mark-for-masquerade"
    assert ext[2].startswith("fib saddr type local goto service-")
    assert ext[3].startswith("goto local-")
    local_rules = [ln for ln in out.splitlines() if ln.startswith("add rule ip sampan-proxy-n1 local-")]
    assert "mod 1" in local_rules[-1]
    # no local endpoint: external traffic dropped, cluster traffic still served
    out2 = text(svc, [endpoint("100.64.1.5", "n2")])
    assert "no-endpoint-nodeports { tcp . 30080 : drop }" in out2
    assert "service-ips { 100.96.0.20 . tcp . 80 : goto service-" in out2


def test_internal_traffic_policy_local_without_local_endpoints_drops() -> None:
    out = text(service("web", "100.96.0.20", itp="Local"), [endpoint("100.64.1.5", "n2")])
    assert "no-endpoint-services { 100.96.0.20 . tcp . 80 : drop }" in out
    out2 = text(service("web", "100.96.0.20", itp="Local"), [endpoint("100.64.0.5", "n1"),
                                                              endpoint("100.64.1.5", "n2")])
    assert "service-ips { 100.96.0.20 . tcp . 80 : goto local-" in out2
    assert "dnat to 100.64.1.5" not in out2


def test_scopes() -> None:
    host = text(service("web", "100.96.0.20"), [endpoint("100.64.0.5")])
    assert "meta mark and 0x1000 != 0 return" in host
    assert "nat-output { type nat hook output priority -100" in host
    node = text(service("web", "100.96.0.20"), [endpoint("100.64.0.5")],
                TableConfig(table="sampan-proxy-n2", scope=NODE2))
    assert 'add rule ip sampan-proxy-n2 nat-prerouting iifname != "sampan1" return' in node
    assert "add rule ip sampan-proxy-n2 nat-prerouting meta mark set meta mark or 0x1000" in node
    assert "nat-prerouting { type nat hook prerouting priority -105" in node
    assert "hook output" not in node


def test_node_cidr_scope_matches_pods_by_source_address() -> None:
    node = text(service("web", "100.96.0.20", type_="LoadBalancer", node_port=30080, lb_ips=("100.127.0.5",),
                        etp="Local"), [endpoint("100.64.1.5", "n2")],
                TableConfig(table="sampan-proxy-n2", scope=NODE2_CIDR))
    assert "add rule ip sampan-proxy-n2 nat-prerouting ip saddr != 100.64.1.0/24 return" in node
    assert "ip daddr 100.96.0.20 tcp dport 80 ip saddr != 100.64.1.0/24 jump mark-for-masquerade" in node
    assert "ip saddr 100.64.1.0/24 goto service-" in node  # short-circuit of this node's pod traffic
    assert "iifname" not in node


def test_partial_sync_rewrites_only_what_changed() -> None:
    svc = service("web", "100.96.0.20")
    old = fragment(svc, [endpoint("100.64.0.5"), endpoint("100.64.0.6")])
    new = fragment(svc, [endpoint("100.64.0.5"), endpoint("100.64.0.7")])
    d = diff(old, new)
    pn = next(iter(service_ports(svc)))
    kept = names.endpoint_chain(pn, Endpoint("100.64.0.5", 8080, node_name="n1"))
    assert kept not in d.write_chains
    assert d.delete_chains == [names.endpoint_chain(pn, Endpoint("100.64.0.6", 8080, node_name="n1"))]
    assert set(d.write_chains) == {names.cluster_chain(pn),
                                   names.endpoint_chain(pn, Endpoint("100.64.0.7", 8080, node_name="n1"))}
    assert not d.add_elements
    assert not d.delete_elements
    out = transaction_text(CFG, d)
    assert out.index("flush chain ip sampan-proxy-n1 endpoint-") < out.index("delete chain")
    assert "flush map" not in out
    assert "add table" not in out


def test_partial_sync_to_no_endpoints_swaps_elements() -> None:
    svc = service("web", "100.96.0.20")
    d = diff(fragment(svc, [endpoint("100.64.0.5")]), fragment(svc, []))
    out = transaction_text(CFG, d)
    assert out.startswith("delete element ip sampan-proxy-n1 service-ips { 100.96.0.20 . tcp . 80 }")
    assert "add element ip sampan-proxy-n1 no-endpoint-services { 100.96.0.20 . tcp . 80 : goto reject-chain }" in out
    assert out.index("delete element") < out.index("delete chain")


def test_full_sync_deletes_stale_objects_but_keeps_live_affinity_sets() -> None:
    svc = service("web", "100.96.0.20", affinity=30)
    frag = fragment(svc, [endpoint("100.64.0.5")])
    live_set = next(iter(frag.affinity_sets))
    out = full_transaction(CFG, [frag], existing_chains={"service-X-default/old/tcp/http"},
                           existing_sets={live_set, "affinity-Y-default/old/tcp/http__1.2.3.4/80__30s"})
    assert "delete chain ip sampan-proxy-n1 service-X-default/old/tcp/http" in out
    assert "delete set ip sampan-proxy-n1 affinity-Y-default/old/tcp/http__1.2.3.4/80__30s" in out
    assert f"delete set ip sampan-proxy-n1 {live_set}" not in out
    assert f"flush set ip sampan-proxy-n1 {live_set}" not in out


def test_generation_is_deterministic() -> None:
    svc = service("web", "100.96.0.20", affinity=30, type_="NodePort", node_port=30080)
    eps = [endpoint("100.64.0.6"), endpoint("100.64.0.5")]
    assert text(svc, eps) == text(svc, list(reversed(eps)))


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("nft") is None, reason="nft -c needs root and nft")
@pytest.mark.parametrize("scope", [HOST, NODE2, NODE2_CIDR, Scope(node_name="n1")])
def test_nft_accepts_the_text(scope: Scope) -> None:
    """``nft -c`` parses and checks the transaction against the kernel without applying it."""
    cfg = TableConfig(table="sampan-proxy-syntax-check", scope=scope, reject_cidrs=("100.96.0.0/16",))
    frags = [
        fragment(service("a", "100.96.0.20", affinity=30, type_="LoadBalancer", node_port=30080,
                         lb_ips=("100.127.0.5",), etp="Local"), [endpoint("100.64.0.5"), endpoint("100.64.1.5", "n2")],
                 scope),
        fragment(service("b", "100.96.0.21", itp="Local", protocol="UDP"), [endpoint("100.64.1.6", "n2")], scope),
        fragment(service("c", "100.96.0.22"), [], scope),
    ]
    out = full_transaction(cfg, frags)
    res = subprocess.run(["nft", "-c", "-f", "-"], input=out, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert ServiceKey("default", "a")  # keys are plain values
