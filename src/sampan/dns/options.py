"""The options of ``sampan dns`` (one frozen dataclass; the CLI turns flags into it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sampan.client import RESTConfig
from sampan.dns.answer import PodMode
from sampan.dns.forward import Upstream
from sampan.dns.publish import PublishOptions

Address = tuple[str, int]


@dataclass(frozen=True)
class DNSOptions:
    rest: RESTConfig
    listen: tuple[Address, ...] = (("127.0.0.1", 53),)
    """UDP and TCP listeners; port 0 picks a free port (see ``DNSServer.ports``)."""
    cluster_domain: str = "cluster.local"
    ttl: int = 5
    """TTL of every answer and of the SOA (CoreDNS's kubernetes plugin default)."""
    pods: PodMode = "insecure"
    """``a-b-c-d.<ns>.pod.<domain>``: ``insecure`` (kubeadm's default), ``verified`` or ``disabled``."""
    upstreams: tuple[Upstream, ...] = ()
    """Where other names go; empty: the ``nameserver`` lines of ``resolv_conf``."""
    resolv_conf: Path = Path("/etc/resolv.conf")
    forward_timeout: float = 5.0
    """Seconds a forwarded query may take over all upstreams before SERVFAIL."""
    health_address: Address | None = ("127.0.0.1", 8080)
    """``/health`` (and ``/metrics`` when ``metrics_address`` is the same); None: not served."""
    metrics_address: Address | None = ("127.0.0.1", 9153)
    cache_size: int = 10_000
    """Authoritative answers kept in wire form (0: no cache)."""
    max_inflight: int = 1000
    """Forwarded queries in flight at once; more are REFUSED."""
    tcp_idle_timeout: float = 10.0
    setup_interface: str | None = None
    """Create this device holding the first listen address (needs root); removed on stop."""
    publish: PublishOptions | None = None
    """Keep the kube-dns Service and this server's EndpointSlice (None: don't)."""
    sync_timeout: float = field(default=30.0)
    """Seconds to wait for the informers before serving anyway (CoreDNS waits 5 s)."""
