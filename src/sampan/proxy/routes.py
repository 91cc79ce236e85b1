"""Local routes for the virtual-IP ranges, and the sysctls Services need.

The service range and the load-balancer pool are routed to ``sampan-vip``, a bridge with no ports (it
discards what it is given; a ``dummy`` device would do the same, but the dummy module is not available
on every machine sampan runs on), so a packet to a virtual IP never leaves the machine by the default route,
whether or not a proxy has programmed it yet. Host processes need such a route anyway: a socket's route
is looked up before the ``output`` hook's DNAT, so without one ``connect`` fails before kube-proxy's rules
see the packet. Once a proxy runs, its ``cluster-ips-check`` chain rejects what it did not DNAT, so an
unknown VIP is refused at once.

Sysctls (upstream's kube-proxy and kubelet set or require the same): ``net.ipv4.ip_forward=1`` (pod
traffic to a VIP is forwarded after DNAT), ``net.ipv4.conf.all.route_localnet=1`` (NodePorts answer on
127.0.0.1, the nodes' address here, as in upstream's iptables mode; the table drops martian packets to
127/8 that were not DNAT-ed) and ``net.bridge.bridge-nf-call-iptables=1`` when the bridge module is
loaded (bridged pod-to-pod replies are un-NATed). Removing the device removes its routes; sysctls are left
as they are, as upstream does.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import shutil
from collections.abc import Iterable
from pathlib import Path

from sampan._lib.iproute import IPCommandError, device_exists, run_ip

log = logging.getLogger(__name__)

VIP_DEVICE = "sampan-vip"
SYSCTLS = {
    "net/ipv4/ip_forward": "1",
    "net/ipv4/conf/all/route_localnet": "1",
    "net/bridge/bridge-nf-call-iptables": "1",
}


class RouteError(IPCommandError):
    """An ``ip`` command failed."""


async def _ip(*args: str, ok_if: tuple[str, ...] = ()) -> None:
    await run_ip(*args, ok_if=ok_if, error=RouteError)




def check_cidrs(cidrs: Iterable[str]) -> list[str]:
    """Normalised CIDRs; ValueError (one line) for a malformed one or one outside 100.64.0.0/10 (sampan
    never routes anything but shared address space)."""
    shared = ipaddress.IPv4Network("100.64.0.0/10")
    out = []
    for text in cidrs:
        try:
            net = ipaddress.IPv4Network(text.strip(), strict=True)
        except ValueError as err:
            raise ValueError(f"invalid CIDR {text!r}: {err}") from None
        if not net.subnet_of(shared):
            raise ValueError(f"{text} is outside 100.64.0.0/10: sampan only routes shared address space")
        out.append(str(net))
    return out


async def ensure_routes(cidrs: Iterable[str], *, device: str = VIP_DEVICE) -> None:
    """The port-less bridge ``device`` (up) and a route to it for every CIDR; idempotent."""
    nets = check_cidrs(cidrs)
    if not device_exists(device):
        await _ip("link", "add", device, "type", "bridge", ok_if=("File exists",))
    await _ip("link", "set", device, "up")
    for net in nets:
        await _ip("route", "replace", net, "dev", device)
    log.info("virtual-IP ranges routed locally device=%s cidrs=%s", device, ",".join(nets))


def ensure_sysctls(root: Path = Path("/proc/sys")) -> None:
    for key, value in SYSCTLS.items():
        path = root / key
        try:
            if path.read_text().strip() != value:
                path.write_text(value)
                log.info("sysctl set key=%s value=%s", key.replace("/", "."), value)
        except FileNotFoundError:
            continue  # e.g. br_netfilter not loaded: no bridged traffic goes through netfilter
        except OSError as err:
            log.warning("cannot set sysctl key=%s error=%s", key.replace("/", "."), err)


async def remove_routes(device: str = VIP_DEVICE) -> bool:
    """Remove the ``device`` and with it every route through it; whether it existed."""
    if not device_exists(device):
        return False
    await _ip("link", "del", device, ok_if=("Cannot find device",))
    log.info("virtual-IP routes removed device=%s", device)
    return True


def can_program_kernel() -> str:
    """Why this process cannot program routes and rules ("" when it can)."""
    if os.geteuid() != 0:
        return "not running as root"
    if shutil.which("ip") is None and not os.path.exists("/usr/sbin/ip"):
        return "the ip binary (iproute2) is missing"
    return ""
