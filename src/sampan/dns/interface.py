"""Put the DNS listen address on a device sampan owns, so pods can reach it (node-local-dns does the same
with its ``-setupinterface``).

Pods live in their own network namespaces behind per-node bridges whose gateway is in the host netns; a
packet from a pod to an address configured on any host device is delivered locally (no forwarding
needed), and kube-proxy's DNAT of the kube-dns VIP lands on it too. The node bridges come and go with
their pods, so the address lives on a device of its own: ``sampan-dns``, a bridge with no ports (the
``dummy`` link type is not available on every machine), holding ``<address>/32``. Creating it is
idempotent; :func:`remove_interface` deletes it (``sampan down`` does too, after a ``kill -9``).
"""

from __future__ import annotations

import ipaddress
import logging

from sampan._lib.iproute import IPCommandError, device_exists, run_ip

log = logging.getLogger(__name__)

DNS_DEVICE = "sampan-dns"


class InterfaceError(IPCommandError):
    """An ``ip`` command failed."""


async def _ip(*args: str, ok_if: tuple[str, ...] = ()) -> None:
    await run_ip(*args, ok_if=ok_if, error=InterfaceError)




def check_address(address: str) -> str:
    """The address normalised; ValueError unless it is IPv4 inside 100.64.0.0/10 (sampan touches nothing
    else on the host)."""
    try:
        ip = ipaddress.IPv4Address(address)
    except ValueError:
        raise ValueError(f"invalid IPv4 address {address!r}") from None
    if ip not in ipaddress.IPv4Network("100.64.0.0/10"):
        raise ValueError(f"{address} is outside 100.64.0.0/10: sampan only configures shared address space")
    return str(ip)


async def ensure_interface(address: str, *, device: str = DNS_DEVICE) -> None:
    """``device`` exists, is up and holds ``address``/32."""
    ip = check_address(address)
    if not device_exists(device):
        await _ip("link", "add", device, "type", "bridge", ok_if=("File exists",))
    await _ip("addr", "replace", f"{ip}/32", "dev", device)
    await _ip("link", "set", device, "up")
    log.info("dns address configured device=%s address=%s", device, ip)


async def remove_interface(device: str = DNS_DEVICE) -> bool:
    """Delete ``device`` (and its address); whether it existed."""
    if not device_exists(device):
        return False
    await _ip("link", "del", device, ok_if=("Cannot find device",))
    log.info("dns device removed device=%s", device)
    return True
