"""``DNSServer`` against a real API server, queried with dnspython over UDP and TCP on loopback. Names
outside the cluster go to a fake upstream resolver on another loopback port (never the real network)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import dns.flags
import dns.rcode
import dns.rdatatype
import pytest

from sampan.api import errors
from sampan.client import Client
from sampan.dns.app import DNSServer
from tests.controllers.clients import unthrottled_client
from tests.dns.objects import endpoint, endpoint_slice, service
from tests.dns.support import SILENT, FakeUpstream, answers, fake_upstream, query, running_dns, wait_for
from tests.support.apiserver import InProcessAPIServer


@dataclass
class Cluster:
    client: Client
    dns: DNSServer
    upstream: FakeUpstream

    @property
    def port(self) -> int:
        return self.dns.ports[0]

    async def create(self, api_version: str, resource: str, obj: dict[str, Any]) -> dict[str, Any]:
        rc = await self.client.resource(api_version, resource)
        return await rc.create(obj, namespace=obj["metadata"]["namespace"])


async def seed(client: Client) -> None:
    services = await client.resource("v1", "services")
    slices = await client.resource("discovery.k8s.io/v1", "endpointslices")
    for svc in (service("web"), service("db", cluster_ip="None", ports=[{"name": "pg", "port": 5432}]),
                service("ext", external_name="www.example.org")):
        await services.create(svc, namespace="default")
    await slices.create(endpoint_slice("web", [endpoint("100.64.0.5")]), namespace="default")
    await slices.create(endpoint_slice("db", [endpoint("100.64.0.7", hostname="db-0"),
                                              endpoint("100.64.0.8", hostname="db-1"),
                                              endpoint("100.64.0.9", ready=False)],
                                       ports=[{"name": "pg", "port": 5432, "protocol": "TCP"}]), namespace="default")


@contextlib.asynccontextmanager
async def cluster(server: InProcessAPIServer, **overrides: Any) -> AsyncIterator[Cluster]:
    async with unthrottled_client(server) as client, fake_upstream() as (upstream, upstream_port):
        await seed(client)
        async with running_dns(server.kubeconfig, upstream_port=upstream_port, **overrides) as dns_server:
            yield Cluster(client, dns_server, upstream)


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
async def test_cluster_records_over_udp_and_tcp(inproc_apiserver: InProcessAPIServer, tcp: bool) -> None:
    async with cluster(inproc_apiserver) as c:
        r = await query(c.port, "web.default.svc.cluster.local", tcp=tcp)
        assert answers(r) == ["web.default.svc.cluster.local. A 100.96.0.20"]
        assert r.answer[0].ttl == 5
        r = await query(c.port, "db.default.svc.cluster.local", tcp=tcp)
        assert answers(r) == ["db.default.svc.cluster.local. A 100.64.0.7",
                              "db.default.svc.cluster.local. A 100.64.0.8"]  # not the unready .9
        r = await query(c.port, "db-1.db.default.svc.cluster.local", tcp=tcp)
        assert answers(r) == ["db-1.db.default.svc.cluster.local. A 100.64.0.8"]
        r = await query(c.port, "_pg._tcp.db.default.svc.cluster.local", "SRV", tcp=tcp)
        assert answers(r) == [
            "_pg._tcp.db.default.svc.cluster.local. SRV 0 50 5432 db-0.db.default.svc.cluster.local.",
            "_pg._tcp.db.default.svc.cluster.local. SRV 0 50 5432 db-1.db.default.svc.cluster.local."]
        r = await query(c.port, "_http._tcp.web.default.svc.cluster.local", "SRV", tcp=tcp)
        assert answers(r) == ["_http._tcp.web.default.svc.cluster.local. SRV 0 100 80 web.default.svc.cluster.local."]
        r = await query(c.port, "nothing.default.svc.cluster.local", tcp=tcp)
        assert r.rcode() == dns.rcode.NXDOMAIN
        assert r.authority[0].rdtype == dns.rdatatype.SOA
        r = await query(c.port, "web.default.svc.cluster.local", "AAAA", tcp=tcp)
        assert r.rcode() == dns.rcode.NOERROR
        assert not r.answer
        assert r.authority[0].rdtype == dns.rdatatype.SOA
        r = await query(c.port, "20.0.96.100.in-addr.arpa", "PTR", tcp=tcp)
        assert answers(r) == ["20.0.96.100.in-addr.arpa. PTR web.default.svc.cluster.local."]
        r = await query(c.port, "100-64-3-4.default.pod.cluster.local", tcp=tcp)
        assert answers(r) == ["100-64-3-4.default.pod.cluster.local. A 100.64.3.4"]


async def test_external_name_and_forwarding(inproc_apiserver: InProcessAPIServer) -> None:
    async with cluster(inproc_apiserver) as c:
        r = await query(c.port, "ext.default.svc.cluster.local")
        assert answers(r) == ["ext.default.svc.cluster.local. CNAME www.example.org.",
                              "www.example.org. A 100.64.250.2"]
        r = await query(c.port, "example.org")
        assert answers(r) == ["example.org. A 100.64.250.1"]
        assert r.flags & dns.flags.RA
        assert "example.org." in c.upstream.queries
        r = await query(c.port, "example.org", tcp=True)
        assert answers(r) == ["example.org. A 100.64.250.1"]
        r = await query(c.port, "nope.example.org", tcp=False)
        assert r.rcode() == dns.rcode.NXDOMAIN
        r = await query(c.port, SILENT)  # the upstream never answers: SERVFAIL after the 1 s timeout
        assert r.rcode() == dns.rcode.SERVFAIL
        before = len(c.upstream.queries)
        await query(c.port, "web.default.svc.cluster.local")
        assert len(c.upstream.queries) == before  # cluster names never leave the server


async def test_changes_are_followed(inproc_apiserver: InProcessAPIServer) -> None:
    async with cluster(inproc_apiserver) as c:
        services = await c.client.resource("v1", "services")
        slices = await c.client.resource("discovery.k8s.io/v1", "endpointslices")
        # a new Service appears
        await c.create("v1", "services", service("late", cluster_ip="100.96.0.30"))

        async def resolves(name: str, want: list[str]) -> bool:
            return answers(await query(c.port, name)) == want

        await wait_for(lambda: resolves("late.default.svc.cluster.local",
                                        ["late.default.svc.cluster.local. A 100.96.0.30"]), message="new service")
        # an endpoint turns ready, another goes away
        sl = await slices.get("db-abc", namespace="default")
        sl["endpoints"] = [endpoint("100.64.0.7", hostname="db-0"), endpoint("100.64.0.9", ready=True)]
        await slices.update(sl, namespace="default")
        await wait_for(lambda: resolves("db.default.svc.cluster.local", [
            "db.default.svc.cluster.local. A 100.64.0.7", "db.default.svc.cluster.local. A 100.64.0.9"]),
            message="endpoint change")
        r = await query(c.port, "db-1.db.default.svc.cluster.local")
        assert r.rcode() == dns.rcode.NXDOMAIN
        # the Service is deleted: its names and PTRs go
        await services.delete("web", namespace="default")

        async def gone() -> bool:
            return (await query(c.port, "web.default.svc.cluster.local")).rcode() == dns.rcode.NXDOMAIN

        await wait_for(gone, message="deleted service")
        assert c.dns.zone.ptr_targets("20.0.96.100.in-addr.arpa.") == []


async def test_publishes_kube_dns_service_and_endpointslice(inproc_apiserver: InProcessAPIServer) -> None:
    from sampan.dns.publish import PublishOptions

    publish = PublishOptions(address="100.64.255.10", identity="test", dns_port=53, metrics_port=9153, interval=0.2)
    async with cluster(inproc_apiserver, publish=publish) as c:
        slices = await c.client.resource("discovery.k8s.io/v1", "endpointslices")
        services = await c.client.resource("v1", "services")

        async def published() -> dict[str, Any] | None:
            try:
                sl = await slices.get("kube-dns-test", namespace="kube-system")
            except errors.NotFound:
                return None
            return sl if sl["endpoints"][0]["conditions"]["ready"] else None

        sl = await wait_for(published, message="kube-dns endpointslice")
        assert sl["endpoints"][0]["addresses"] == ["100.64.255.10"]
        assert sl["metadata"]["labels"]["kubernetes.io/service-name"] == "kube-dns"
        assert sorted((p["name"], p["protocol"], p["port"]) for p in sl["ports"]) == [
            ("dns", "UDP", 53), ("dns-tcp", "TCP", 53), ("metrics", "TCP", 9153)]
        svc = await services.get("kube-dns", namespace="kube-system")
        assert svc["spec"]["clusterIP"] == "100.96.0.10"
        assert "selector" not in svc["spec"]
        assert sorted((p["name"], p["protocol"], p["port"]) for p in svc["spec"]["ports"]) == [
            ("dns", "UDP", 53), ("dns-tcp", "TCP", 53), ("metrics", "TCP", 9153)]
        # kept: deleted objects come back
        await slices.delete("kube-dns-test", namespace="kube-system")
        await wait_for(published, message="endpointslice re-created")
        r = await query(c.port, "kube-dns.kube-system.svc.cluster.local")
        assert answers(r) == ["kube-dns.kube-system.svc.cluster.local. A 100.96.0.10"]
        r = await query(c.port, "ns.dns.cluster.local")
        assert answers(r) == ["ns.dns.cluster.local. A 100.96.0.10"]
    # stopped: the slice is withdrawn
    async with unthrottled_client(inproc_apiserver) as client:
        slices = await client.resource("discovery.k8s.io/v1", "endpointslices")
        with pytest.raises(errors.NotFound):
            await slices.get("kube-dns-test", namespace="kube-system")


async def test_health_and_metrics(inproc_apiserver: InProcessAPIServer) -> None:
    async with cluster(inproc_apiserver) as c:
        await query(c.port, "web.default.svc.cluster.local")
        await query(c.port, "web.default.svc.cluster.local")
        await query(c.port, "example.org")
        (port,) = c.dns.http_ports()  # health and metrics on one address: one server
        health_port = metrics_port = port
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{health_port}/health") as resp:
                assert resp.status == 200
                assert await resp.text() == "OK"
            async with http.get(f"http://127.0.0.1:{metrics_port}/metrics") as resp:
                text = await resp.text()
        assert 'coredns_dns_requests_total{family="1",proto="udp"' in text
        assert 'rcode="NOERROR"' in text
        assert 'plugin="forward"' in text
        assert "coredns_cache_hits_total" in text
        assert "coredns_dns_request_duration_seconds_bucket" in text
        hits = [line for line in text.splitlines() if line.startswith("coredns_cache_hits_total")]
        assert hits
        assert float(hits[0].rsplit(" ", 1)[1]) >= 1.0


async def test_concurrent_udp_queries(inproc_apiserver: InProcessAPIServer) -> None:
    async with cluster(inproc_apiserver) as c:
        names = ["web.default.svc.cluster.local", "db.default.svc.cluster.local", "example.org"] * 20
        results = await asyncio.gather(*(query(c.port, n) for n in names))
        assert all(r.rcode() == dns.rcode.NOERROR and r.answer for r in results)


async def test_verified_pod_records_follow_pod_ips(inproc_apiserver: InProcessAPIServer) -> None:
    async with cluster(inproc_apiserver, pods="verified") as c:
        name = "100-64-9-9.default.pod.cluster.local"
        assert (await query(c.port, name)).rcode() == dns.rcode.NXDOMAIN  # no pod has that IP yet
        pods = await c.client.resource("v1", "pods")
        pod = await pods.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "default"},
                                 "spec": {"containers": [{"name": "c", "image": "x"}]}}, namespace="default")
        pod["status"] = {"phase": "Running", "podIP": "100.64.9.9", "podIPs": [{"ip": "100.64.9.9"}]}
        await pods.update_status(pod, namespace="default")

        async def resolves() -> bool:
            return answers(await query(c.port, name)) == [f"{name}. A 100.64.9.9"]

        await wait_for(resolves, message="verified pod record")
        other_ns = "100-64-9-9.kube-system.pod.cluster.local"
        assert (await query(c.port, other_ns)).rcode() == dns.rcode.NXDOMAIN
