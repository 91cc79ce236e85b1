"""A pod network namespace reaches the DNS server on its own device (``--setup-interface``), as pods do
under ``sampan up``: a netns behind a veth, default route via the host side, queries to the DNS address
over UDP and TCP. Needs root and iproute2 (run under ``flock /tmp/sampan-net.lock``)."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys

import pytest

from sampan.dns.interface import device_exists
from tests.dns.support import fake_upstream, running_dns
from tests.support.apiserver import InProcessAPIServer

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or shutil.which("ip") is None, reason="needs root and iproute2")

DNS_ADDRESS = "100.126.0.99"
DEVICE = "sampan-dnstest"
HOST_IP, POD_IP = "100.64.252.1", "100.64.252.2"

PROBE = """
import sys, dns.message, dns.query
q = dns.message.make_query("kubernetes-probe.default.svc.cluster.local", "A")
udp = dns.query.udp(q, sys.argv[1], timeout=5)
tcp = dns.query.tcp(q, sys.argv[1], timeout=5)
print(udp.rcode(), tcp.rcode(), [rd.to_text() for rr in udp.answer for rd in rr])
"""


def ip(*args: str, check: bool = True) -> None:
    subprocess.run(["ip", *args], check=check, capture_output=True)


async def test_pod_netns_reaches_dns_on_its_device(inproc_apiserver: InProcessAPIServer) -> None:
    from tests.controllers.clients import unthrottled_client
    from tests.dns.objects import service

    tag = f"{os.getpid() % 100000}"
    netns, host_veth, pod_veth = f"sampan-dnst-{tag}", f"sdnsh{tag}", f"sdnsp{tag}"
    ip("netns", "add", netns)
    try:
        ip("link", "add", host_veth, "type", "veth", "peer", "name", pod_veth)
        ip("link", "set", pod_veth, "netns", netns)
        ip("addr", "add", f"{HOST_IP}/30", "dev", host_veth)
        ip("link", "set", host_veth, "up")
        ip("-n", netns, "addr", "add", f"{POD_IP}/30", "dev", pod_veth)
        ip("-n", netns, "link", "set", pod_veth, "up")
        ip("-n", netns, "link", "set", "lo", "up")
        ip("-n", netns, "route", "add", "default", "via", HOST_IP)
        async with unthrottled_client(inproc_apiserver) as client:
            services = await client.resource("v1", "services")
            await services.create(service("kubernetes-probe", cluster_ip="100.96.0.77"), namespace="default")
        async with fake_upstream() as (_, upstream_port), running_dns(
                inproc_apiserver.kubeconfig, upstream_port=upstream_port, setup_interface=DEVICE,
                listen=((DNS_ADDRESS, 53),)):
            assert device_exists(DEVICE)
            proc = await asyncio.create_subprocess_exec(
                "ip", "netns", "exec", netns, sys.executable, "-c", PROBE, DNS_ADDRESS,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
            out, err = await asyncio.wait_for(proc.communicate(), 30)
            assert proc.returncode == 0, err.decode()
            assert out.decode().strip() == "0 0 ['100.96.0.77']"
        assert not device_exists(DEVICE)  # removed when the server stopped
    finally:
        ip("link", "del", host_veth, check=False)
        ip("netns", "del", netns, check=False)
        ip("link", "del", DEVICE, check=False)
