"""How ``sampan up`` runs cluster DNS, and what ``sampan down`` removes after it.

With root, ``ip`` and the process runtime (pods in their own network namespaces), ``sampan dns`` listens
on :data:`DNS_ADDRESS`:53 — an address it puts on its own port-less bridge ``sampan-dns``
(:mod:`sampan.dns.interface`) in the host netns, so every pod reaches it through its node bridge's
gateway without forwarding — and publishes the ``kube-system/kube-dns`` Service (cluster IP
:data:`CLUSTER_DNS_IP`, the kubelets' ``--cluster-dns``) with an EndpointSlice naming that address;
kube-proxy DNATs the VIP to it. ``/health`` (8080) and ``/metrics`` (9153, the Service's ``metrics``
port) are served on the same address. Otherwise (no root, simulated nodes) it listens on
127.0.0.1:10053 (or a free port) for the host alone, with ``/health`` and ``/metrics`` on free loopback
ports, and publishes the Service without endpoints.
"""

from __future__ import annotations

import errno
import os
import shutil

from sampan.cli.up import UpOptions, free_port, port_is_free

#: The DNS server's own address: inside 100.64.0.0/10, outside the pod (100.64.0.0/16), service
#: (100.96.0.0/16) and load-balancer (100.127.0.0/24) ranges.
DNS_ADDRESS = "100.126.0.10"
DNS_DEVICE = "sampan-dns"
CLUSTER_DNS_IP = "100.96.0.10"
LOOPBACK_PORT = 10053


def dns_reachable_from_pods(options: UpOptions) -> bool:
    """Root, ``ip`` and real pod networks, and no other cluster's DNS already serving on DNS_ADDRESS."""
    return options.runtime == "process" and os.geteuid() == 0 and (
        shutil.which("ip") is not None or os.path.exists("/usr/sbin/ip")) and not _address_taken()


def _address_taken() -> bool:
    """Whether another ``sampan dns`` serves DNS_ADDRESS:53 (a second cluster on this machine then keeps
    to loopback rather than crash-looping or removing the first one's device)."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.bind((DNS_ADDRESS, 53))
        except OSError as err:
            return err.errno == errno.EADDRINUSE
    return False


def dns_argv(options: UpOptions, kubeconfig: str) -> tuple[str, ...]:
    common = ("dns", "--kubeconfig", kubeconfig, "--publish-service", "kube-system/kube-dns",
              "--cluster-ip", CLUSTER_DNS_IP)
    if dns_reachable_from_pods(options):
        return (*common, "--listen", f"{DNS_ADDRESS}:53", "--setup-interface", DNS_DEVICE,
                "--health", f"{DNS_ADDRESS}:8080", "--metrics", f"{DNS_ADDRESS}:9153")
    port = LOOPBACK_PORT if port_is_free(LOOPBACK_PORT) else 0
    # /health and /metrics on free loopback ports, so the live view sees it alive or not
    return (*common, "--listen", f"127.0.0.1:{port}", "--health", f"127.0.0.1:{free_port()}",
            "--metrics", f"127.0.0.1:{free_port()}")


def remove_dns_device() -> bool:
    """Remove ``sampan-dns`` if a killed ``sampan dns`` left it behind; whether it was there."""
    import asyncio

    from sampan.dns.interface import device_exists, remove_interface

    if os.geteuid() != 0 or not device_exists(DNS_DEVICE):
        return False
    return asyncio.run(remove_interface(DNS_DEVICE))
