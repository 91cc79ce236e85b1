"""What the kubelets of one process share when a process runs many of them (hollow nodes, see
:mod:`sampan.kubelet.hollow`).

A kubelet given :class:`SharedParts` uses the process's pod watch (its node's view of
:class:`~sampan.kubelet.hollow_pods.PodsByNode`), the process's configmap/secret/service/volume
informers, the process's one node informer (each kubelet looks up its own name in its indexer; an informer
of ``objects``, so started, synced and stopped with them), one heartbeat thread and client for every node
(:class:`~sampan.kubelet.heartbeat.HeartbeatHost`), one connection pool for every node's events and one
loop-stall monitor; it runs no kubelet server
(no port per node: logs of simulated containers are empty anyway) and no local-path reclaimer (simulated
pods write no volumes; one would LIST every PersistentVolume every 5 s per node).
The owner of the shared parts starts them, waits for their informers
to sync before starting kubelets, and stops them after the kubelets.
"""

from __future__ import annotations

from dataclasses import dataclass

from sampan._lib.loopstall import LoopStallMonitor
from sampan.client.cache.shared_informer import SharedIndexInformer
from sampan.client.dynamic import Client
from sampan.client.informers import SharedInformerFactory
from sampan.kubelet.heartbeat import HeartbeatHost
from sampan.kubelet.hollow_pods import PodsByNode


@dataclass(frozen=True, slots=True)
class SharedParts:
    pods: PodsByNode
    objects: SharedInformerFactory
    nodes: SharedIndexInformer
    heartbeats: HeartbeatHost
    stall_monitor: LoopStallMonitor
    events: Client | None = None
    """The connections every node's events go over (each node's own credentials, :meth:`Client.sharing`),
    apart from its status writes' (:meth:`Client.with_own_connections`); None: each kubelet opens its own."""
