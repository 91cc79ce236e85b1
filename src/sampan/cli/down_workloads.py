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
        if sandboxes or networks:
            removed.append(f"{len(sandboxes)} pod(s) of node {runtime_root.parent.name} "
                           f"({networks} with their own network)")
    return removed
