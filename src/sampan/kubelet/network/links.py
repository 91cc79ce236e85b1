"""Netns, veth and bridge operations through the ``ip`` binary (iproute2), run as subprocesses.

Every function touches only objects it is named: a namespace ``/run/netns/<name>``, a veth pair, a
bridge and the addresses/routes on them. Removal functions are idempotent (a missing object is fine).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import shutil

log = logging.getLogger(__name__)

NETNS_DIR = "/run/netns"
_MISSING = ("Cannot find device", "No such file or directory", "does not exist", "Cannot open network namespace")


class LinkError(Exception):
    """An ``ip`` command failed; the message is its stderr."""


def ip_binary() -> str | None:
    return shutil.which("ip") or next((p for p in ("/usr/sbin/ip", "/sbin/ip") if os.path.exists(p)), None)


def netns_path(name: str) -> str:
    return f"{NETNS_DIR}/{name}"


async def run_ip(*args: str, missing_ok: bool = False) -> str:
    """Run ``ip args…``; its stdout. A missing object is not an error when ``missing_ok``."""
    binary = ip_binary()
    if binary is None:
        raise LinkError("the ip binary (iproute2) is not installed")
    proc = await asyncio.create_subprocess_exec(binary, *args, stdin=asyncio.subprocess.DEVNULL,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    if proc.returncode != 0:
        text = err.decode(errors="replace").strip()
        if missing_ok and any(m in text for m in _MISSING):
            return ""
        raise LinkError(f"ip {' '.join(args)}: {text or f'exit status {proc.returncode}'}")
    return out.decode(errors="replace")


async def link_exists(name: str) -> bool:
    return bool(await run_ip("-o", "link", "show", "dev", name, missing_ok=True))


async def ensure_bridge(name: str, address: ipaddress.IPv4Interface) -> None:
    """Create the bridge when missing, give it ``address`` (adds the subnet route) and bring it up."""
    if not await link_exists(name):
        try:
            await run_ip("link", "add", name, "type", "bridge")
            log.info("bridge created name=%s", name)
        except LinkError:
            if not await link_exists(name):  # a concurrent creator won: fine
                raise
    addrs = await run_ip("-o", "-4", "addr", "show", "dev", name)
    if f" {address.with_prefixlen} " not in addrs:
        await run_ip("addr", "replace", address.with_prefixlen, "dev", name)
    await run_ip("link", "set", name, "up")


async def delete_link(name: str) -> None:
    await run_ip("link", "del", name, missing_ok=True)


def netns_exists(name: str) -> bool:
    return os.path.exists(netns_path(name))


async def add_netns(name: str) -> None:
    if not netns_exists(name):
        await run_ip("netns", "add", name)


async def delete_netns(name: str) -> None:
    if netns_exists(name):
        await run_ip("netns", "del", name, missing_ok=True)


async def add_veth(*, host_name: str, netns: str, bridge: str, address: ipaddress.IPv4Interface,
                   gateway: ipaddress.IPv4Address) -> None:
    """A veth pair: ``eth0`` inside ``netns`` with ``address`` and a default route via ``gateway``, and
    ``host_name`` attached to ``bridge``. ``lo`` inside the namespace is brought up too."""
    await run_ip("link", "add", host_name, "type", "veth", "peer", "name", "eth0", "netns", netns)
    await run_ip("link", "set", host_name, "master", bridge, "up")
    await run_ip("-n", netns, "link", "set", "lo", "up")
    await run_ip("-n", netns, "addr", "add", address.with_prefixlen, "dev", "eth0")
    await run_ip("-n", netns, "link", "set", "eth0", "up")
    await run_ip("-n", netns, "route", "add", "default", "via", str(gateway), "dev", "eth0")
