"""Netns, veth and bridge operations through the ``ip`` binary (iproute2), run as subprocesses.

Every function touches only objects it is named: a namespace ``/run/netns/<name>``, a veth pair, a
bridge and the addresses/routes on them. Removal functions are idempotent (a missing object is fine).

A pod's links take three ``ip -batch`` runs (one process each, however many commands): the namespace
and the veth pair (:func:`create_pod_links`), then, once the address is known, the pod end
(:func:`configure_pod_end`, one namespace switch) and the host end (:func:`attach_host_end`), which may
run concurrently. Existence checks (``if_nametoindex``, ``/run/netns``) are system calls, never a
listing: the cost of a setup does not grow with the number of links or namespaces on the host.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import shutil
import socket
from collections.abc import Sequence

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


def _is_missing(text: str) -> bool:
    return any(m in text for m in _MISSING)


async def run_ip_batch(commands: Sequence[Sequence[str]], *, netns: str = "", missing_ok: bool = False) -> None:
    """Run ``commands`` (each an ``ip`` command line without the ``ip``) in one ``ip -batch`` process,
    inside namespace ``netns`` when given. Without ``missing_ok`` the batch stops at the first failure
    and LinkError names that command; with it every command runs and failures about a missing object
    are ignored."""
    if not commands:
        return
    binary = ip_binary()
    if binary is None:
        raise LinkError("the ip binary (iproute2) is not installed")
    args = [*(["-n", netns] if netns else []), *(["-force"] if missing_ok else []), "-batch", "-"]
    script = "".join(" ".join(c) + "\n" for c in commands).encode()
    proc = await asyncio.create_subprocess_exec(binary, *args, stdin=asyncio.subprocess.PIPE,
                                                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    _, err = await proc.communicate(script)
    if proc.returncode == 0:
        return
    lines = err.decode(errors="replace").strip().splitlines()
    messages = [ln for ln in lines if not ln.startswith("Command failed")]
    if missing_ok and all(_is_missing(m) for m in messages):
        return
    failed = next((ln for ln in lines if ln.startswith("Command failed")), "")
    where = failed.rpartition(":")[2]
    cmd = commands[int(where) - 1] if where.isdigit() and 0 < int(where) <= len(commands) else commands[0]
    prefix = f"ip -n {netns} " if netns else "ip "
    raise LinkError(f"{prefix}{' '.join(cmd)}: {'; '.join(messages) or f'exit status {proc.returncode}'}")


def link_exists_now(name: str) -> bool:
    """Whether this network namespace has a link ``name`` (one system call, no listing)."""
    try:
        socket.if_nametoindex(name)
    except OSError:
        return False
    return True


def _bridge_address(name: str, address: ipaddress.IPv4Interface) -> tuple[str, ...]:
    return ("addr", "replace", address.with_prefixlen, "dev", name)


async def _create_bridge(name: str) -> None:
    if not link_exists_now(name):
        try:
            await run_ip("link", "add", name, "type", "bridge")
            log.info("bridge created name=%s", name)
        except LinkError:
            if not link_exists_now(name):  # a concurrent creator won: fine
                raise


async def delete_link(name: str) -> None:
    await run_ip("link", "del", name, missing_ok=True)


def netns_exists(name: str) -> bool:
    return os.path.exists(netns_path(name))


async def create_pod_links(*, netns: str, host_name: str) -> None:
    """The namespace ``netns`` (unless it exists) and a veth pair: ``host_name`` on the host, down and
    unattached, and ``eth0`` created directly inside ``netns``."""
    commands: list[tuple[str, ...]] = [] if netns_exists(netns) else [("netns", "add", netns)]
    commands.append(("link", "add", host_name, "type", "veth", "peer", "name", "eth0", "netns", netns))
    await run_ip_batch(commands)


async def configure_pod_end(*, netns: str, address: ipaddress.IPv4Interface, gateway: ipaddress.IPv4Address) -> None:
    """Inside ``netns``: ``lo`` up, ``address`` on ``eth0``, ``eth0`` up, default route via ``gateway``."""
    await run_ip_batch([("link", "set", "lo", "up"), ("addr", "add", address.with_prefixlen, "dev", "eth0"),
                        ("link", "set", "eth0", "up"),
                        ("route", "add", "default", "via", str(gateway), "dev", "eth0")], netns=netns)


async def attach_host_end(*, host_name: str, bridge: str, address: ipaddress.IPv4Interface) -> None:
    """The bridge (created when missing, with ``address``, up) and ``host_name`` attached to it and up."""
    await _create_bridge(bridge)
    await run_ip_batch([_bridge_address(bridge, address), ("link", "set", bridge, "up"),
                        ("link", "set", host_name, "master", bridge, "up")])


async def remove_pod_links(pods: Sequence[tuple[str, str]]) -> None:
    """Remove each ``(netns, host veth)`` of ``pods`` in one ``ip`` run; missing ones are fine."""
    commands: list[tuple[str, ...]] = []
    for netns, host_name in pods:
        if link_exists_now(host_name):
            commands.append(("link", "del", host_name))
        if netns_exists(netns):
            commands.append(("netns", "del", netns))
    await run_ip_batch(commands, missing_ok=True)
