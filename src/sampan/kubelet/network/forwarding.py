"""Flat pod-to-pod traffic between the nodes of one machine: every node's bridge lives in the host
network namespace with its pod CIDR's connected route, so the host routes between them once IPv4
forwarding is on — enabled per bridge (``net.ipv4.conf.<bridge>.forwarding``), never host-wide, and
no NAT. A guard keeps pods' traffic on this machine: the nftables table ``ip sampan-podnet`` rejects
forwarding from a ``sampan*`` bridge to any other interface (nothing a pod sends leaves by the default
route). The table is made with the first bridge and removed once no ``sampan*`` bridge is left.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
from pathlib import Path

log = logging.getLogger(__name__)

TABLE = "sampan-podnet"
GUARD = f"""table ip {TABLE} {{}}
delete table ip {TABLE}
table ip {TABLE} {{
    chain forward {{
        type filter hook forward priority filter; policy accept;
        iifname "sampan*" oifname != "sampan*" counter reject comment "sampan: pod traffic stays on this machine"
    }}
}}
"""


class ForwardingError(Exception):
    pass


async def _nft(script: str | None, *args: str) -> tuple[int, str]:
    nft = shutil.which("nft")
    if nft is None:
        raise ForwardingError("the nft binary (nftables) is missing")
    proc = await asyncio.create_subprocess_exec(
        nft, *args, stdin=asyncio.subprocess.PIPE if script is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await proc.communicate(script.encode() if script is not None else None)
    return int(proc.returncode or 0), out.decode(errors="replace").strip()


async def install_guard() -> None:
    """Install (or refresh) the guard table (ForwardingError when nft fails). The containerd runtime's
    CNI bridges (``sampanc*``) rely on it too."""
    code, out = await _nft(GUARD, "-f", "-")
    if code != 0:
        raise ForwardingError(f"installing the nftables guard: {out}")


async def enable(bridge: str) -> None:
    """Install the guard, then turn forwarding on for ``bridge`` (ForwardingError when either fails:
    forwarding is never enabled without the guard)."""
    await install_guard()
    try:
        await asyncio.to_thread(Path(f"/proc/sys/net/ipv4/conf/{bridge}/forwarding").write_text, "1")
    except OSError as err:
        raise ForwardingError(f"enabling forwarding on {bridge}: {err}") from None


def sampan_bridges() -> list[str]:
    """Names of the ``sampan*`` bridges on the host."""
    try:
        names = os.listdir("/sys/class/net")
    except OSError:
        return []
    return [n for n in names if n.startswith("sampan") and os.path.isdir(f"/sys/class/net/{n}/bridge")]


async def remove_guard_if_unused() -> None:
    """Delete the guard table when no ``sampan*`` bridge is left (idempotent)."""
    if sampan_bridges() or shutil.which("nft") is None:
        return
    code, out = await _nft(None, "list", "table", "ip", TABLE)
    if code != 0:
        return
    code, out = await _nft(None, "delete", "table", "ip", TABLE)
    if code != 0 and "No such file" not in out:
        log.warning("could not remove the nftables table table=%s err=%s", TABLE, out)
