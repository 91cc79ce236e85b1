"""The ``ip`` binary (iproute2), as the proxy and DNS components drive it to add devices and routes.
Only loopback-free shared address space is ever passed in by callers; this module just runs commands."""

from __future__ import annotations

import asyncio
import shutil
import socket


class IPCommandError(Exception):
    """An ``ip`` command failed; the message names the command and its stderr."""


async def run_ip(*args: str, ok_if: tuple[str, ...] = (), error: type[IPCommandError] = IPCommandError) -> None:
    """Run ``ip ARGS``; a non-zero exit raises ``error`` unless stderr contains one of ``ok_if``."""
    binary = shutil.which("ip") or "/usr/sbin/ip"
    proc = await asyncio.create_subprocess_exec(binary, *args, stdin=asyncio.subprocess.DEVNULL,
                                                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    _, err = await proc.communicate()
    text = err.decode(errors="replace").strip()
    if proc.returncode != 0 and not any(m in text for m in ok_if):
        raise error(f"ip {' '.join(args)}: {text or f'exit status {proc.returncode}'}")


def device_exists(name: str) -> bool:
    try:
        socket.if_nametoindex(name)
    except OSError:
        return False
    return True
