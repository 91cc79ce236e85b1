"""Remove the pod networks a process-runtime root dir left behind (test teardown, ``sampan down`` of a
cluster that is not coming back): for every sandbox recorded under ``<runtime root>/sandboxes`` with a
network namespace, its veth and namespace go; then each bridge whose CIDR has no live pod left, and the
forwarding guard once no ``sampan*`` bridge is left.

Run it after the sandboxes' processes are gone (a namespace with processes in it outlives ``ip netns
del`` until they exit). Addresses are reclaimed by the IPAM once their namespace is gone.
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

from sampan.kubelet.network import forwarding, links
from sampan.kubelet.network.pod_network import DEFAULT_STATE_DIR, PodNetwork, host_veth, netns_name

log = logging.getLogger(__name__)


async def remove_pod_networks(runtime_root: Path, *, state_dir: Path = DEFAULT_STATE_DIR) -> int:
    """Tear down every pod network recorded under ``runtime_root``; how many sandboxes had one."""
    cidrs: set[str] = set()
    pods: list[tuple[str, str]] = []
    sandboxes = Path(runtime_root) / "sandboxes"
    for d in sorted(sandboxes.iterdir()) if sandboxes.is_dir() else []:
        try:
            data = json.loads((d / "sandbox.json").read_text())
        except (OSError, ValueError):
            continue
        if not isinstance(data, dict) or not data.get("netns"):
            continue
        pods.append((netns_name(d.name), host_veth(d.name)))
        if data.get("pod_cidr"):
            cidrs.add(str(data["pod_cidr"]))
    await links.remove_pod_links(pods)
    count = len(pods)
    for cidr in sorted(cidrs):
        network = PodNetwork(cidr, state_dir=state_dir)
        network.ipam.reclaim()
        await network.close()
    await forwarding.remove_guard_if_unused()
    if count:
        log.info("removed pod networks root=%s count=%d", runtime_root, count)
    return count


def remove_pod_networks_sync(runtime_root: Path, *, state_dir: Path = DEFAULT_STATE_DIR) -> int:
    """:func:`remove_pod_networks` for synchronous callers (test fixtures)."""
    return asyncio.run(remove_pod_networks(runtime_root, state_dir=state_dir))
