"""Runs ``iptables-restore --noflush`` with :func:`~sampan.proxy.iptables.ruleset.render`'s text, and keeps
the jumps from the built-in chains in place (each carries a ``sampan kube-proxy`` comment).

Every sync is full (the restore rewrites all of our chains atomically); partial syncs go through the same
path. Jumps: a node-only proxy inserts its PREROUTING/INPUT/FORWARD jumps first, matched on its pod
bridge; the host proxy appends its jumps, skipping packets a node proxy claimed (mark 0x1000), and owns
OUTPUT.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import shutil
from collections.abc import Mapping

from sampan.proxy.iptables.ruleset import CLAIM, IptablesConfig, render
from sampan.proxy.model import ServiceKey
from sampan.proxy.nftables.fragments import Scope
from sampan.proxy.snapshot import ServiceState

log = logging.getLogger(__name__)

COMMENT = "sampan kube-proxy"


class IptablesError(Exception):
    pass


async def _run(binary: str, *args: str, stdin: str | None = None, check: bool = True) -> tuple[int, str]:
    path = shutil.which(binary) or f"/usr/sbin/{binary}"
    proc = await asyncio.create_subprocess_exec(
        path, *args, stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate(stdin.encode() if stdin is not None else None)
    if check and proc.returncode != 0:
        raise IptablesError(f"{binary} {' '.join(args)}: {err.decode(errors='replace').strip()[:2000]}")
    return proc.returncode or 0, out.decode(errors="replace")


def _jumps(cfg: IptablesConfig) -> list[tuple[str, str, bool, list[str]]]:
    """(table, built-in chain, insert-first, rule args) for every jump this proxy needs."""
    s = cfg.scope
    comment = ["-m", "comment", "--comment", f"{COMMENT} {cfg.node_name}"]
    new = ["-m", "conntrack", "--ctstate", "NEW"]
    if s.host_traffic:
        mine = ["-m", "mark", "!", "--mark", f"{CLAIM}/{CLAIM}"]
        first = False
    else:
        mine = s.iptables_local()
        first = True
    out = [("nat", "PREROUTING", first, [*mine, *comment, "-j", cfg.chain("SERVICES")]),
           ("nat", "POSTROUTING", False, [*comment, "-j", cfg.chain("POSTROUTING")]),
           ("filter", "INPUT", first, [*mine, *new, *comment, "-j", cfg.chain("FILTER")]),
           ("filter", "FORWARD", first, [*mine, *new, *comment, "-j", cfg.chain("FILTER")])]
    if s.host_traffic:
        out += [("nat", "OUTPUT", False, [*comment, "-j", cfg.chain("SERVICES")]),
                ("filter", "OUTPUT", False, [*new, *comment, "-j", cfg.chain("FILTER")]),
                ("filter", "INPUT", True, ["-d", "127.0.0.0/8", "!", "-s", "127.0.0.0/8", "-m", "conntrack", "!",
                                          "--ctstate", "RELATED,ESTABLISHED,DNAT", *comment, "-j", "DROP"])]
    return out


async def _our_chains(table: str, prefix: str) -> set[str]:
    _, text = await _run("iptables-save", "-t", table, check=False)
    return {m.group(1) for m in re.finditer(r"^:(\S+)", text, re.M) if m.group(1).startswith(prefix)}


class IptablesBackend:
    name = "iptables"

    def __init__(self, node_name: str, *, scope: Scope, reject_cidrs: tuple[str, ...] = ()) -> None:
        self.config = IptablesConfig(node_name=node_name, scope=scope, reject_cidrs=reject_cidrs)
        self._jumps_ok = False

    async def _ensure_jumps(self) -> None:
        for table, chain, first, rule in _jumps(self.config):
            code, _ = await _run("iptables", "-w", "-t", table, "-C", chain, *rule, check=False)
            if code != 0:
                await _run("iptables", "-w", "-t", table, "-I" if first else "-A", chain, *(["1"] if first else []),
                           *rule)

    async def sync_full(self, services: Mapping[ServiceKey, ServiceState]) -> None:
        prefix = self.config.prefix
        text = render(self.config, services, stale_nat=await _our_chains("nat", prefix),
                      stale_filter=await _our_chains("filter", prefix))
        await _run("iptables-restore", "-w", "--noflush", stdin=text)
        await self._ensure_jumps()

    async def sync_partial(self, changed: Mapping[ServiceKey, ServiceState | None]) -> None:
        raise IptablesError("the iptables backend only does full syncs")

    async def cleanup(self) -> None:
        await remove_all_chains(self.config.prefix, node_name=self.config.node_name)


async def remove_all_chains(prefix: str = "SAMPAN-", *, node_name: str = "") -> list[str]:
    """Delete every chain starting with ``prefix`` and the rules commented ``sampan kube-proxy`` (only
    ``node_name``'s when given) in the built-in chains."""
    if shutil.which("iptables-save") is None and not await asyncio.to_thread(os.path.exists,
                                                                            "/usr/sbin/iptables-save"):
        return []
    removed = []
    for table in ("nat", "filter"):
        _, text = await _run("iptables-save", "-t", table, check=False)
        lines = []
        for line in text.splitlines():
            if (line.startswith("-A ") and COMMENT in line and not line.split()[1].startswith("SAMPAN-")
                    and (not node_name or f'"{COMMENT} {node_name}"' in line)):
                lines.append("-D " + line[3:])
        chains = sorted(m.group(1) for m in re.finditer(r"^:(\S+)", text, re.M) if m.group(1).startswith(prefix))
        if not lines and not chains:
            continue
        body = [f"*{table}", *[f":{c} - [0:0]" for c in chains], *lines, *[f"-X {c}" for c in chains], "COMMIT"]
        await _run("iptables-restore", "-w", "--noflush", stdin="\n".join(body) + "\n")
        removed.append(f"iptables {table}: {len(chains)} chains, {len(lines)} jumps")
    return removed
