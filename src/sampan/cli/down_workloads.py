"""``sampan down`` without ``--keep-workloads``: stop what the process runtime left running and remove the
pod networks (network namespaces, veths, the nodes' bridges, the forwarding guard).

The kubelets keep their pods' processes when they stop (a later ``sampan up`` on the same data dir
re-adopts them); a cluster that is going away must leave nothing: every sandbox recorded under
``<data dir>/kubelet/<node>/runtime`` has its containers stopped and its sandbox removed, then the pod
networks those sandboxes used are torn down (:func:`sampan.kubelet.network.cleanup.remove_pod_networks`).
Run it only after the kubelets have stopped.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Any

from sampan.kubelet.network.cleanup import remove_pod_networks
from sampan.kubelet.runtime.process import ProcessRuntime, ProcessRuntimeOptions

log = logging.getLogger(__name__)

STOP_TIMEOUT = 1.0
"""Seconds a container gets between SIGTERM and SIGKILL at ``sampan down``."""


async def remove_workloads(data_dir: Path) -> list[str]:
    """Stop and remove every pod the process runtime recorded under ``data_dir``, then remove their pod
    networks; one line per node that had any, for a message."""
    removed: list[str] = []
    for runtime_root in sorted((Path(data_dir) / "kubelet").glob("*/runtime")):
        runtime = ProcessRuntime(ProcessRuntimeOptions(root_dir=runtime_root))
        try:
            sandboxes = await runtime.list_pod_sandboxes()
            for sb in sandboxes:
                for ctr in await runtime.list_containers(sb.id):
                    with contextlib.suppress(Exception):
                        await runtime.stop_container(ctr.id, STOP_TIMEOUT)
                with contextlib.suppress(Exception):
                    await runtime.stop_pod_sandbox(sb.id)
            networks = await remove_pod_networks(runtime_root)
            for sb in sandboxes:
                with contextlib.suppress(Exception):
                    await runtime.remove_pod_sandbox(sb.id)
        finally:
            await runtime.aclose()  # its spawn helper, if a stop started one
        if sandboxes or networks:
            removed.append(f"{len(sandboxes)} pod(s) of node {runtime_root.parent.name} "
                           f"({networks} with their own network)")
    return removed


async def remove_containerd_workloads(data_dir: Path) -> list[str]:
    """``--runtime containerd``: for each node's private containerd under ``<data dir>/containerd``, start it
    again (it stopped with the cluster), remove every pod sandbox through CRI (containers, netns, IPAM
    leases go with them), stop it, then delete the node's CNI bridge, the empty pod cgroup parents and,
    once no ``sampan*`` bridge is left, the forwarding guard. One line per node that had pods."""
    import asyncio
    import json
    import subprocess

    from sampan.cli import containerd_node as cn
    from sampan.kubelet.network import forwarding
    from sampan.kubelet.runtime.cri.client import CRIClient, CRIError

    removed: list[str] = []
    for directory in sorted((Path(data_dir) / "containerd").glob("*")):
        layout = cn.ContainerdLayout(directory.absolute())
        if not layout.config.exists():
            continue
        proc = await asyncio.to_thread(cn.start, layout)
        try:
            await asyncio.to_thread(cn.wait_ready, layout, proc)
            client = CRIClient(layout.endpoint)
            try:
                sandboxes = await _list_when_ready(client)
                for sb in sandboxes:
                    with contextlib.suppress(Exception):
                        await client.stop_pod_sandbox(sb.id)
                    with contextlib.suppress(Exception):
                        await client.remove_pod_sandbox(sb.id)
            finally:
                await client.close()
            if sandboxes:
                removed.append(f"{len(sandboxes)} pod(s) of node {directory.name} (containerd)")
        except (cn.ContainerdError, CRIError) as err:
            log.warning("could not clean up containerd pods node=%s err=%s", directory.name, err)
        finally:
            await asyncio.to_thread(cn.stop, proc)
        with contextlib.suppress(OSError, ValueError, KeyError, IndexError):
            bridge = json.loads(layout.cni_template.read_text())["plugins"][0]["bridge"]
            await asyncio.to_thread(subprocess.run, ["ip", "link", "del", bridge], capture_output=True)
    await asyncio.to_thread(_remove_pod_cgroup_parents)
    await forwarding.remove_guard_if_unused()
    return removed


async def _list_when_ready(client: Any, timeout: float = 30.0) -> list[Any]:
    """ListPodSandbox, retried while containerd's CRI plugin is still initialising after a start."""
    import asyncio

    from sampan.kubelet.runtime.cri.client import CRIError

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            return list(await client.list_pod_sandboxes())
        except CRIError:
            if loop.time() > deadline:
                raise
            await asyncio.sleep(0.1)


def _remove_pod_cgroup_parents() -> None:
    """rmdir ``sampan-pods`` (the CRI runtime's cgroup root) in every hierarchy, when empty."""
    for controller in Path("/sys/fs/cgroup").glob("*"):
        with contextlib.suppress(OSError):
            (controller / "sampan-pods").rmdir()
