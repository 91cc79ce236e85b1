"""kube-proxy's options (upstream's flag names and defaults where upstream has the knob)."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

MODES = ("nftables", "iptables")
LOCAL_MODES = ("NodeCIDR", "BridgeInterface")
"""``--detect-local-mode``: how a node's own pod traffic is told apart (upstream's names)."""
DEFAULT_SERVICE_CIDR = "100.96.0.0/16"
TABLE_PREFIX = "sampan-proxy"


def table_name(node_name: str) -> str:
    """Our nftables table for ``node_name``: ``sampan-proxy-<node>`` (characters nft identifiers do not
    allow are replaced, and a short hash then keeps distinct node names distinct)."""
    clean = re.sub(r"[^a-zA-Z0-9_-]", "_", node_name)[:60]
    if clean != node_name or not clean:
        clean += "-" + hashlib.sha256(node_name.encode()).hexdigest()[:6]
    return f"{TABLE_PREFIX}-{clean}"


def parse_bind_address(text: str, default_port: int) -> tuple[str, int]:
    """``host:port`` (or ``host`` alone, or ``:port``); port 0 picks a free port; "" disables (port -1)."""
    text = text.strip()
    if not text:
        return "", -1
    host, sep, port = text.rpartition(":")
    if not sep:
        return text, default_port
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"invalid bind address {text!r} (want host:port)")
    return host or "0.0.0.0", int(port)


@dataclass(frozen=True, slots=True)
class ProxyOptions:
    node_name: str
    mode: str = "nftables"
    sync_period: float = 30.0
    """Full resync period (``--sync-period``, upstream default 30s)."""
    min_sync_period: float = 1.0
    """Least time between two syncs (``--min-sync-period``, upstream default 1s for nftables)."""
    healthz_bind_address: str = "127.0.0.1:10256"
    metrics_bind_address: str = "127.0.0.1:10249"
    service_cluster_ip_range: str = DEFAULT_SERVICE_CIDR
    """Virtual-IP range: routed locally; unallocated addresses in it are rejected."""
    load_balancer_ip_range: str = ""
    """The load-balancer pool (routed and guarded like the service range); "" for none."""
    detect_local_mode: str = ""
    """``NodeCIDR``: this node's pod traffic is what comes from the Node's ``spec.podCIDR`` (read from the
    API at start, waiting for the node IPAM controller to set it); ``BridgeInterface``: what enters from
    ``pod_bridge_interface``; "": ``BridgeInterface`` when that is given, else no local detection."""
    pod_bridge_interface: str = ""
    """This node's pod bridge (upstream ``--detect-local-mode=BridgeInterface``): traffic entering from it
    is this node's pod traffic. "" for a node without a pod bridge."""
    local_cidr: str = ""
    """The resolved pod CIDR of ``NodeCIDR`` mode (set by the server once it has read the Node)."""
    handle_host_traffic: bool = True
    """Also program host-originated traffic (``output`` hook) and traffic from interfaces no node table
    claims. Exactly one proxy per machine should (``sampan up`` gives it to the first node)."""
    vip_interface: str = "sampan-vip"
    """The port-less bridge the virtual-IP ranges are routed to."""
    manage_routes: bool = True
    """Route the virtual-IP ranges to ``sampan-vip`` and set the sysctls Services need."""

    @property
    def table(self) -> str:
        return table_name(self.node_name)

    @property
    def reject_cidrs(self) -> tuple[str, ...]:
        return tuple(c for c in (self.service_cluster_ip_range, self.load_balancer_ip_range) if c)
