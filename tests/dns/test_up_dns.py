"""Cluster DNS under a real ``sampan up --detach --nodes 2 --runtime process`` (root): the kube-dns Service
and its EndpointSlice are published, a pod on each node resolves Service names from inside its own
network namespace through ``sampan-dns``, and ``sampan down`` leaves no device behind. Run under
``flock /tmp/sampan-net.lock``."""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from sampan.cli.up_dns import CLUSTER_DNS_IP, DNS_ADDRESS, DNS_DEVICE
from sampan.dns.interface import device_exists
from tests.e2e.cluster import E2ECluster, phase, wait_for

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0 or shutil.which("ip") is None or shutil.which("kubectl") is None,
                       reason="needs root, iproute2 and kubectl"),
]

PROBE = f"""
import dns.message, dns.query, dns.rcode
for name, rdtype in (("web.default.svc.cluster.local", "A"), ("kube-dns.kube-system.svc.cluster.local", "A"),
                     ("60.0.96.100.in-addr.arpa", "PTR"), ("nope.default.svc.cluster.local", "A")):
    r = dns.query.udp(dns.message.make_query(name, rdtype), "{DNS_ADDRESS}", timeout=5)
    print(name, dns.rcode.to_text(r.rcode()), *[rd.to_text() for rr in r.answer for rd in rr])
"""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[E2ECluster]:
    c = E2ECluster(tmp_path_factory.mktemp("dns-up") / "cluster")
    c.start()
    try:
        yield c
    finally:
        c.stop()
    assert not device_exists(DNS_DEVICE)


def probe_pod(name: str, node: str) -> str:
    container = {"name": "probe", "image": "x", "command": [sys.executable, "-c", PROBE]}
    return json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
                       "spec": {"nodeName": node, "restartPolicy": "Never", "containers": [container]}})


def test_pods_on_every_node_resolve_through_kube_dns(cluster: E2ECluster) -> None:
    def published() -> dict[str, object] | None:
        slices = cluster.get("endpointslices", "-n", "kube-system", "-l", "kubernetes.io/service-name=kube-dns")
        ready = [s for s in slices["items"] if s["endpoints"][0]["conditions"].get("ready")]
        return ready[0] if ready else None

    sl = wait_for(published, what="the kube-dns EndpointSlice", timeout=30)
    assert sl["endpoints"][0]["addresses"] == [DNS_ADDRESS]  # type: ignore[index]
    assert cluster.get("service", "kube-dns", "-n", "kube-system")["spec"]["clusterIP"] == CLUSTER_DNS_IP
    cluster.apply(json.dumps({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
                              "spec": {"clusterIP": "100.96.0.60", "ports": [{"port": 80}]}}))
    for i, node in enumerate(cluster.nodes):
        cluster.apply(probe_pod(f"probe-{i}", node))
    def finished(name: str) -> dict[str, Any] | None:
        pod = cluster.pod(name)
        return pod if phase(pod) in ("Succeeded", "Failed") else None

    for i, _ in enumerate(cluster.nodes):
        pod = wait_for(lambda i=i: finished(f"probe-{i}"), what=f"probe-{i} finished", timeout=60)
        logs = cluster.kubectl("logs", f"probe-{i}")
        assert phase(pod) == "Succeeded", logs
        assert pod["status"]["podIP"].startswith("100.64.")  # its own netns, not the host's
        assert logs.splitlines() == [
            "web.default.svc.cluster.local NOERROR 100.96.0.60",
            f"kube-dns.kube-system.svc.cluster.local NOERROR {CLUSTER_DNS_IP}",
            "60.0.96.100.in-addr.arpa NOERROR web.default.svc.cluster.local.",
            "nope.default.svc.cluster.local NXDOMAIN",
        ]
