"""Cluster IPs and node ports, allocated by the API server as upstream: requested values honoured or
refused with upstream's 422, random ones from the range (never the reserved DNS address), released on
delete and on type changes, safe under concurrent creates and across API servers sharing one store."""

from __future__ import annotations

import asyncio
import ipaddress
import shutil
from typing import Any

import pytest

from sampan.apiserver.services import hooks
from sampan.apiserver.services.ranges import StoredRange
from tests.apiserver.conftest import API

SVCS = "/api/v1/namespaces/default/services"


def service(name: str, *, stype: str = "ClusterIP", ip: str | None = None, ports: list[dict[str, Any]] | None = None,
            **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
                            "spec": {"type": stype, "selector": {"app": name},
                                     "ports": ports if ports is not None else [{"port": 80}], **spec}}
    if ip is not None:
        body["spec"]["clusterIP"] = ip
    return body


async def test_cluster_ip_allocated_from_the_range_with_upstream_defaults(api: API) -> None:
    r = await api.post(SVCS, service("web"))
    assert r.status == 201, r.body
    spec = r.body["spec"]
    ip = ipaddress.ip_address(spec["clusterIP"])
    assert ip in ipaddress.ip_network("100.96.0.0/16")
    assert str(ip) not in ("100.96.0.1", "100.96.0.10")
    assert spec["clusterIPs"] == [spec["clusterIP"]]
    assert spec["ipFamilies"] == ["IPv4"]
    assert spec["ipFamilyPolicy"] == "SingleStack"
    assert "nodePort" not in spec["ports"][0]


async def test_twenty_concurrent_creates_get_twenty_distinct_ips(api: API) -> None:
    replies = await asyncio.gather(*(api.post(SVCS, service(f"c{i}")) for i in range(20)))
    assert all(r.status == 201 for r in replies), [r.body for r in replies if r.status != 201]
    ips = {r.body["spec"]["clusterIP"] for r in replies}
    assert len(ips) == 20


async def test_explicit_ip_honoured_and_in_use_is_422(api: API) -> None:
    r = await api.post(SVCS, service("a", ip="100.96.5.5"))
    assert r.status == 201
    assert r.body["spec"]["clusterIP"] == "100.96.5.5"
    r = await api.post(SVCS, service("b", ip="100.96.5.5"))
    assert r.status == 422, r.body
    assert r.body["reason"] == "Invalid"
    assert r.body["message"] == ('Service "b" is invalid: spec.clusterIPs: Invalid value: []string{"100.96.5.5"}: '
                                 "failed to allocate IP 100.96.5.5: provided IP is already allocated")
    assert r.body["details"]["causes"][0]["field"] == "spec.clusterIPs"
    r = await api.post(SVCS, service("c", ip="100.97.0.1"))
    assert r.status == 422
    assert r.body["message"].endswith("failed to allocate IP 100.97.0.1: provided IP is not in the valid range. "
                                      "The range of valid IPs is 100.96.0.0/16")
    assert (await api.get(f"{SVCS}/b")).status == 404


async def test_dns_address_only_when_asked_for(api: API) -> None:
    r = await api.post(SVCS, service("dns", ip="100.96.0.10"))
    assert r.status == 201, r.body
    assert r.body["spec"]["clusterIP"] == "100.96.0.10"


async def test_delete_frees_ip_and_node_port_for_the_next(api: API) -> None:
    r = await api.post(SVCS, service("np", stype="NodePort", ip="100.96.7.7",
                                     ports=[{"port": 80, "nodePort": 30080}]))
    assert r.status == 201, r.body
    assert r.body["spec"]["ports"][0]["nodePort"] == 30080
    r = await api.post(SVCS, service("np2", stype="NodePort", ports=[{"port": 80, "nodePort": 30080}]))
    assert r.status == 422
    assert r.body["message"] == ('Service "np2" is invalid: spec.ports[0].nodePort: Invalid value: 30080: '
                                 "provided port is already allocated")
    assert (await api.delete(f"{SVCS}/np")).status == 200
    r = await api.post(SVCS, service("np3", stype="NodePort", ip="100.96.7.7",
                                     ports=[{"port": 80, "nodePort": 30080}]))
    assert r.status == 201, r.body


async def test_node_port_range_and_auto_allocation(api: API) -> None:
    r = await api.post(SVCS, service("bad", stype="NodePort", ports=[{"port": 80, "nodePort": 8080}]))
    assert r.status == 422
    assert r.body["message"].endswith("spec.ports[0].nodePort: Invalid value: 8080: provided port is not in the "
                                      "valid range. The range of valid ports is 30000-32767")
    ports = [{"name": "tcp", "port": 53, "protocol": "TCP"}, {"name": "udp", "port": 53, "protocol": "UDP"},
             {"name": "web", "port": 80}]
    r = await api.post(SVCS, service("multi", stype="NodePort", ports=ports))
    assert r.status == 201, r.body
    got = [p["nodePort"] for p in r.body["spec"]["ports"]]
    assert all(30000 <= p <= 32767 for p in got)
    assert got[0] == got[1] != got[2]  # one node port per port number, as upstream
    assert r.body["spec"]["externalTrafficPolicy"] == "Cluster"


async def test_load_balancer_node_ports_and_health_check(api: API) -> None:
    r = await api.post(SVCS, service("lb", stype="LoadBalancer", externalTrafficPolicy="Local"))
    assert r.status == 201, r.body
    spec = r.body["spec"]
    assert spec["allocateLoadBalancerNodePorts"] is True
    assert 30000 <= spec["ports"][0]["nodePort"] <= 32767
    assert 30000 <= spec["healthCheckNodePort"] <= 32767
    r = await api.post(SVCS, service("lb2", stype="LoadBalancer", allocateLoadBalancerNodePorts=False))
    assert r.status == 201, r.body
    assert "nodePort" not in r.body["spec"]["ports"][0]
    assert "healthCheckNodePort" not in r.body["spec"]


async def test_type_changes_allocate_and_release(api: API) -> None:
    r = await api.post(SVCS, service("t", ip="100.96.9.9"))
    assert r.status == 201
    obj = r.body
    obj["spec"]["type"] = "NodePort"
    r = await api.put(f"{SVCS}/t", obj)
    assert r.status == 200, r.body
    node_port = r.body["spec"]["ports"][0]["nodePort"]
    assert 30000 <= node_port <= 32767
    # back to ClusterIP: the node port is dropped and released
    obj = r.body
    obj["spec"]["type"] = "ClusterIP"
    r = await api.put(f"{SVCS}/t", obj)
    assert r.status == 200, r.body
    assert "nodePort" not in r.body["spec"]["ports"][0]
    assert "externalTrafficPolicy" not in r.body["spec"]
    r = await api.post(SVCS, service("t2", stype="NodePort", ports=[{"port": 80, "nodePort": node_port}]))
    assert r.status == 201, r.body
    # to ExternalName: the cluster IP is released
    r = await api.request("PATCH", f"{SVCS}/t", {"spec": {"type": "ExternalName", "externalName": "example.com"}},
                          headers={"Content-Type": "application/merge-patch+json"})
    assert r.status == 200, r.body
    assert "clusterIP" not in r.body["spec"]
    assert "ipFamilies" not in r.body["spec"]
    assert (await api.post(SVCS, service("t3", ip="100.96.9.9"))).status == 201
    # and back: a new address
    r = await api.request("PATCH", f"{SVCS}/t", {"spec": {"type": "ClusterIP", "externalName": None}},
                          headers={"Content-Type": "application/merge-patch+json"})
    assert r.status == 200, r.body
    assert ipaddress.ip_address(r.body["spec"]["clusterIP"]) in ipaddress.ip_network("100.96.0.0/16")


async def test_headless_and_external_name(api: API) -> None:
    r = await api.post(SVCS, service("h", ip="None"))
    assert r.status == 201, r.body
    assert r.body["spec"]["clusterIP"] == "None"
    assert r.body["spec"]["clusterIPs"] == ["None"]
    assert r.body["spec"]["ipFamilyPolicy"] == "SingleStack"
    body = service("hs", ip="None")
    del body["spec"]["selector"]
    r = await api.post(SVCS, body)
    assert r.status == 201, r.body
    assert r.body["spec"]["ipFamilyPolicy"] == "RequireDualStack"
    assert r.body["spec"]["ipFamilies"] == ["IPv4", "IPv6"]
    r = await api.post(SVCS, {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "ext"},
                              "spec": {"type": "ExternalName", "externalName": "example.com"}})
    assert r.status == 201, r.body
    assert "clusterIP" not in r.body["spec"]
    assert "ipFamilies" not in r.body["spec"]


async def test_single_stack_cluster_refuses_dual_stack(api: API) -> None:
    r = await api.post(SVCS, service("ds", ipFamilyPolicy="RequireDualStack"))
    assert r.status == 422
    assert "this cluster is not configured for dual-stack services" in r.body["message"]
    r = await api.post(SVCS, service("v6", ipFamilies=["IPv6"]))
    assert r.status == 422
    assert 'spec.ipFamilies[0]: Invalid value: "IPv6": not configured on this cluster' in r.body["message"]


async def test_dry_run_allocates_nothing(api: API) -> None:
    before = await api.snapshot()
    r = await api.post(SVCS, service("dry", stype="NodePort"), dryRun="All")
    assert r.status == 201, r.body
    assert r.body["spec"]["clusterIP"]
    assert r.body["spec"]["ports"][0]["nodePort"]
    assert await api.snapshot() == before


async def test_a_failed_store_write_gives_the_values_back(api: API) -> None:
    assert (await api.post(SVCS, service("dup", ip="100.96.3.3"))).status == 201
    r = await api.post(SVCS, service("dup", ip="100.96.4.4", stype="NodePort", ports=[{"port": 1, "nodePort": 31000}]))
    assert r.status == 409
    allocators = hooks.allocators(api.server.context)
    assert allocators is not None
    assert "100.96.4.4" not in await allocators.ips.allocated()
    assert 31000 not in await allocators.ports.allocated()


async def test_two_allocators_on_one_store_never_share_an_address(api: API) -> None:
    """Two API servers over one store each have their own allocator (own in-process lock): only the store's
    compare-and-swap keeps them apart."""
    mine = hooks.allocators(api.server.context)
    assert mine is not None
    other = StoredRange(api.server.context.store, mine.ips.key, mine.ips.domain, reserved=mine.ips.reserved)
    got = await asyncio.gather(*(mine.ips.allocate_next() for _ in range(15)),
                               *(other.allocate_next() for _ in range(15)))
    assert len(set(got)) == 30
    assert set(got) <= await mine.ips.allocated()


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not installed")
async def test_kubectl_create_service_and_expose(api: API) -> None:
    """The real kubectl (protobuf bodies for ``create service``): an address in use is its 422 message."""
    kubeconfig = str(api.server.kubeconfig)

    async def kubectl(*args: str) -> tuple[int, str]:
        proc = await asyncio.create_subprocess_exec("kubectl", "--kubeconfig", kubeconfig, *args,
                                                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        out, _ = await asyncio.wait_for(proc.communicate(), 60)
        return proc.returncode or 0, out.decode()

    code, out = await kubectl("create", "service", "nodeport", "np", "--tcp=80:8080", "--node-port=30555")
    assert code == 0, out
    code, out = await kubectl("create", "service", "clusterip", "one", "--clusterip=100.96.8.8", "--tcp=80")
    assert code == 0, out
    code, out = await kubectl("create", "service", "clusterip", "two", "--clusterip=100.96.8.8", "--tcp=80")
    assert code != 0
    assert ('Service "two" is invalid: spec.clusterIPs: Invalid value: []string{"100.96.8.8"}: failed to '
            "allocate IP 100.96.8.8: provided IP is already allocated") in out
    code, out = await kubectl("get", "svc", "np", "-o", "jsonpath={.spec.clusterIP} {.spec.ports[0].nodePort}")
    assert code == 0, out
    ip, port = out.split()
    assert ipaddress.ip_address(ip) in ipaddress.ip_network("100.96.0.0/16")
    assert port == "30555"
    code, out = await kubectl("get", "svc", "np")
    assert code == 0
    assert "80:30555/TCP" in out
