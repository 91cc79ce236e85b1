"""Hollow nodes: N kubelets in one process on the simulated runtime (upstream's kubemark, on one machine).

``sampan kubelet --runtime simulated --nodes N --node-name-prefix hollow-`` runs :class:`HollowNodes`:
every node is a real :class:`~sampan.kubelet.kubelet.Kubelet` — registration, node status, a Lease renewed
every 10 s, pod admission, pod workers, status writes — on its own
:class:`~sampan.kubelet.runtime.simulated.SimulatedRuntime`. What a real process would share is shared
(:class:`~sampan.kubelet.shared.SharedParts`):

- one pod watch for the process, demultiplexed by ``spec.nodeName``
  (:class:`~sampan.kubelet.hollow_pods.PodsByNode`), and one informer each for configmaps, secrets,
  services, PVCs and PVs, instead of six watches per node;
- one node informer for the process (a lone kubelet watches its own Node, ``metadata.name=<node>``): each
  node's status tick looks its own name up in the shared indexer and compares the fresh status with the
  server's copy, so a node another writer marked ``Unknown`` is corrected on its next tick (10 s) with no
  GET. It watches **every** node, not only this process's: hollow nodes carry no label of their own, a
  field selector cannot say "name starts with the prefix", and in every shape sampan runs them (``sampan
  up --nodes N``: nodes 2..N; ``bench/density.py``, ``bench/heartbeats.py``: all N) one process holds all
  hollow nodes and the other nodes are a handful. What the others cost is one watch event per write of
  theirs, decoded once; a label to select by would be a new label on every hollow Node to save the events
  of that handful. Several hollow processes (each its own ``--node-index-start``) would each receive
  every node's events: a per-process label would then be worth adding. (Before, each node GET its Node
  every 40 s to notice another writer: 25 GETs/s per 1,000 nodes, and a node wrongly marked ``Unknown``
  stayed so up to 40 s);
- one HTTP connection pool (one work client) for every node's pod status writes, one for every node's
  events (a lone kubelet too sends its events over connections of their own: see
  :meth:`~sampan.client.dynamic.Client.with_own_connections`), and one heartbeat thread, loop and client
  for every node's Lease and node status (jittered so N nodes spread their renewals over the interval
  instead of renewing in step);
- one event loop and one loop-stall monitor.

What differs from N separate kubelets: one client-side rate limit for all nodes (``--kube-api-qps`` is
the process's, so raise it with N); no kubelet server per node unless ``serve`` (``--serve-hollow-nodes``;
without it no logs, exec or metrics per node and the Node advertises port 0); no local-path volume
reclaimer; an unchanged node status is posted only every ``--node-status-report-frequency`` (upstream's
default 5 m; the Lease is the heartbeat), and pods resync every ``--sync-frequency`` (upstream's 1 m) rather
than the lone kubelet's 1 s PLEG-like period; the node informer is the process's, of every node (N
separate kubelets hold N single-node watches: the server then sends each node's events to one watcher, here
every node's events come to one watcher, decoded once for all); with N > 1 the per-pod lifecycle lines
(sandbox started, terminating, terminated, deleted) are DEBUG, not INFO (:mod:`sampan.kubelet.pod_log`); one
process crash takes every node down at once. Nodes start at ``start_rate`` per second so N registrations do
not arrive as one burst.
"""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from sampan._lib.clock import RealClock
from sampan._lib.loopstall import LoopStallMonitor
from sampan.client.cache.transforms import component_transform
from sampan.client.dynamic import Client
from sampan.client.informers import SharedInformerFactory
from sampan.kubelet.heartbeat import HeartbeatHost
from sampan.kubelet.hollow_pods import PodsByNode
from sampan.kubelet.kubelet import Kubelet, KubeletOptions
from sampan.kubelet.pod_log import quiet_for_many_nodes
from sampan.kubelet.shared import SharedParts
from sampan.kubelet.sources import KubeletSources

log = logging.getLogger(__name__)

MAX_GRID_TICK = 0.1
"""Seconds: the longest automatic heartbeat grid tick (a renewal at most 50 ms early or 100 ms late)."""
RENEWALS_PER_TICK = 10
"""The automatic tick's bound on how many nodes' renewals one tick sends together."""


@dataclass(frozen=True, slots=True)
class HollowOptions:
    """How many nodes and how they are named: ``<prefix><first_index>``, ``<prefix><first_index + 1>``, …;
    ``template`` holds every per-node knob (its ``node_name`` and ``root_dir`` are replaced per node)."""

    count: int
    prefix: str
    template: KubeletOptions
    first_index: int = 1
    start_rate: float = 50.0
    """Nodes started per second."""
    serve: bool = False
    """Each node runs its kubelet server (a port of its own, advertised on its Node): logs, exec and the stats
    endpoints, so metrics-server, ``kubectl top`` and the HPA see the simulated runtime's synthetic usage."""

    timer_slack: float | None = None
    """Seconds of the grid the nodes' heartbeat sleeps end on (:class:`~sampan._lib.clock.CoalescingClock`;
    0: each its own timer; None: :meth:`grid_tick` picks it). A renewal is then at most half of it early or
    late; the host's loop wakes once per tick, and the API server gets the tick's renewals together
    (group-committed) instead of one at a time."""
    tokens: Mapping[str, str] = field(default_factory=dict)
    """Node name -> bearer token of ``system:node:<name>``: that node's requests (registration, Lease, status,
    pod status, events) carry its own identity over the process's shared connections, so the Node authorizer,
    NodeRestriction and API Priority and Fairness see N kubelets. The shared watches keep the client's."""

    def __post_init__(self) -> None:
        if self.count < 1:
            raise ValueError("--nodes must be at least 1")
        if self.start_rate <= 0:
            raise ValueError("start rate must be positive")
        if self.timer_slack is not None and self.timer_slack < 0:
            raise ValueError("--hollow-timer-slack must not be negative")

    def grid_tick(self) -> float:
        """The heartbeat grid's tick: ``timer_slack`` when given, else the longest tick (at most
        :data:`MAX_GRID_TICK`) whose share of the nodes' renewals is at most :data:`RENEWALS_PER_TICK` — 100 ms
        up to 1,000 nodes renewing every 10 s, 20 ms at 5,000. A tick's renewals reach the API server as one
        burst ahead of pod traffic: 5,000 nodes on a 100 ms grid (50 a tick) ran pods at 69 and 81/s where
        with no grid they ran at 93 and 97/s, and on a 20 ms grid at 95/s (README, Scale, session 15)."""
        if self.timer_slack is not None:
            return self.timer_slack
        per_second = self.count / self.template.lease_renew_interval
        return min(MAX_GRID_TICK, RENEWALS_PER_TICK / per_second)

    def names(self) -> list[str]:
        return [f"{self.prefix}{i}" for i in range(self.first_index, self.first_index + self.count)]


class HollowNodes:
    """Runs the nodes until cancelled. ``kubelets`` maps node name to its kubelet (once created);
    ``ready_count`` says how many registered and synced."""

    def __init__(self, client: Client, options: HollowOptions) -> None:
        self.client = client
        self.options = options
        self.kubelets: dict[str, Kubelet] = {}
        quiet_for_many_nodes(options.count)  # per-pod lifecycle lines at DEBUG with N > 1 (sampan.kubelet.pod_log)
        self.stall_monitor = LoopStallMonitor("hollow-kubelets")
        template = options.template
        timeout = max(1.0, min(template.node_status_update_frequency, template.node_lease_duration / 4))
        # the process's caches hold pods and objects without managedFields, with shared strings (one interner)
        transform = component_transform()
        # every node's Lease and status share one heartbeat client: a connection per 4 nodes at most (each
        # node has at most two heartbeat requests in flight; the bound only stops a storm of new connections)
        objects = SharedInformerFactory(client, transform=transform)
        self.shared = SharedParts(pods=PodsByNode(client, transform=transform), objects=objects,
                                  nodes=objects.informer("v1", "nodes"),
                                  heartbeats=HeartbeatHost(replace(client.config, max_connections=max(
                                      client.config.max_connections, options.count // 4)), timeout=timeout,
                                      timer_slack=options.grid_tick()),
                                  stall_monitor=self.stall_monitor)

    @property
    def ready_count(self) -> int:
        return sum(1 for k in self.kubelets.values() if k.ready.is_set())

    def _options(self, name: str) -> KubeletOptions:
        template = self.options.template
        return replace(template, node_name=name, root_dir=Path(template.root_dir) / name, port=0)

    def _client(self, name: str) -> Client:
        token = self.options.tokens.get(name)
        if not token:
            return self.client
        config = dataclasses.replace(self.client.config, bearer_token=token, bearer_token_file=None,
                                     username=None, password=None)
        return self.client.sharing(config)

    async def run(self) -> None:
        # Ask for the shared object informers before they start (a Kubelet asks again: same objects).
        KubeletSources(self.client, node_name="", object_factory=self.shared.objects, nodes=self.shared.nodes)
        events = self.client.with_own_connections()
        self.shared = replace(self.shared, events=events)
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self.stall_monitor.run(), name="hollow-loop-stall")
                tg.create_task(self.shared.heartbeats.run(), name="hollow-heartbeats")
                tg.create_task(self.shared.pods.run(), name="hollow-pods")
                self.shared.objects.start()
                await self.shared.objects.wait_for_cache_sync()
                await self.shared.pods.wait_synced()
                log.info("hollow nodes: shared informers synced, starting nodes count=%d", self.options.count)
                clock = RealClock()
                interval = 1.0 / self.options.start_rate
                for name in self.options.names():
                    kubelet = Kubelet(self._client(name), self._options(name), clock=clock, shared=self.shared,
                                      serve=self.options.serve)
                    self.kubelets[name] = kubelet
                    tg.create_task(kubelet.run(), name=f"kubelet-{name}")
                    await asyncio.sleep(interval)
                log.info("hollow nodes: all started count=%d", self.options.count)
        finally:
            await self.shared.objects.shutdown()
            await events.close()


NODE_USER_PREFIX = "system:node:"


def node_tokens(path: str) -> dict[str, str]:
    """Node name -> token from a ``token,user,uid[,groups]`` CSV (rows of users ``system:node:<name>``;
    other rows are ignored). ValueError (one line) for an unreadable file."""
    try:
        with open(path, encoding="utf-8", newline="") as f:
            rows = list(csv.reader(f))
    except OSError as err:
        raise ValueError(f"cannot read hollow node tokens {path}: {err.strerror}") from None
    return {row[1].strip().removeprefix(NODE_USER_PREFIX): row[0].strip() for row in rows
            if len(row) >= 2 and row[1].strip().startswith(NODE_USER_PREFIX) and row[0].strip()}
