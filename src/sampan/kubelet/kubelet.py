"""The kubelet as a component: everything it knows comes from the API server and everything it reports
goes back there.

Start-up order (``Kubelet.run``)::

    log server (port known) -> static pods from ``pod_manifest_path`` started (no API server needed)
    -> API server answers -> register Node (or adopt the existing one) -> node informer (its own Node)
    -> heartbeat (Lease + node status, own thread, loop and client: docs/liveness.md)
    -> informers (own pods by spec.nodeName; configmaps, secrets) -> synced -> cleanup_orphans
    -> mirror pods of the static pods kept in the API -> serve

Pod handlers run on the pod informer's listener task (one task, as :class:`PodWorkers` requires): a new
pod is admitted (``PodWorkers.admit``; a rejected pod is written ``Failed`` with ``OutOf<resource>`` and
never run), then every add/update goes to ``update_pod``; a delete from the API stops the pod. Terminal
pods that no worker knows (a restart after they finished) are left alone, except a deleted one, which is
removed at once. Mirror pods (the API's view of static pods, :mod:`sampan.kubelet.static_pods`) are never
run: their events go to the static pod manager, which recreates a deleted one. Cancellation stops the
kubelet; containers keep running and are re-adopted on restart.

Its parts, one job each: :mod:`~sampan.kubelet.options` (the flags), :mod:`~sampan.kubelet.runtime_wiring`
(which runtime), :mod:`~sampan.kubelet.node_reporting` (the Node object), :mod:`~sampan.kubelet.pod_events`
(the pod informer's handlers) and :mod:`~sampan.kubelet.serving` (the kubelet server's TLS, auth and
routes); this module wires them and runs the start-up order above.

A loop-stall monitor measures the kubelet loop's longest turn; ``GET /metrics`` on the kubelet server
exports it (``sampan_event_loop_stall_seconds_max{component="kubelet"}``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from prometheus_client import CollectorRegistry

from sampan._lib.clock import Clock, RealClock
from sampan._lib.loopstall import LoopStallMonitor
from sampan.api import errors
from sampan.api.quantity import parse_or_none
from sampan.client import metrics as client_metrics
from sampan.client.cache.handlers import EventHandlerFuncs
from sampan.client.dynamic import Client, ResourceClient
from sampan.client.record import EventRecorder
from sampan.kubelet.api_status import APIStatusSink
from sampan.kubelet.heartbeat import NodeHeartbeat
from sampan.kubelet.images.gc import ImageGC
from sampan.kubelet.images.manager import ImageManager
from sampan.kubelet.log_server import LogServer
from sampan.kubelet.metrics import KubeletMetrics
from sampan.kubelet.network.node_cidr import wait_for_pod_cidr
from sampan.kubelet.network.pod_files import PodNetworkFiles
from sampan.kubelet.network.pod_network import PodNetwork, wants_pod_network
from sampan.kubelet.node_lease import LeaseOptions, NodeLease
from sampan.kubelet.node_reporting import NodeReporting
from sampan.kubelet.node_status import (
    default_capacity,
    node_labels,
)
from sampan.kubelet.options import RETRY_PERIOD, RUNTIMES, KubeletOptions
from sampan.kubelet.pod_events import PodEvents
from sampan.kubelet.pod_workers import PodWorkerOptions, PodWorkers
from sampan.kubelet.runtime.cri.runtime import CRIRuntime
from sampan.kubelet.runtime.images import ImageService
from sampan.kubelet.runtime.interface import Runtime, RuntimeFailure
from sampan.kubelet.runtime.process import ProcessRuntime
from sampan.kubelet.runtime_wiring import cri_endpoint_of, cri_runtime, image_service_of, make_runtime
from sampan.kubelet.serving import KubeletServing
from sampan.kubelet.shared import SharedParts
from sampan.kubelet.sources import KubeletSources
from sampan.kubelet.static_pods.manager import (
    MirrorAPI,
    RoutingSink,
    StaticPodOptions,
    StaticPods,
)
from sampan.kubelet.stats.collector import StatsCollector
from sampan.kubelet.stats.endpoints import StatsEndpoints
from sampan.kubelet.volumes.localpath import LocalPathReclaimer
from sampan.kubelet.volumes.manager import VolumeManager
from sampan.kubelet.volumes.tokens import ServiceAccountTokens

__all__ = ["RETRY_PERIOD", "RUNTIMES", "Kubelet", "KubeletOptions", "cri_endpoint_of", "cri_runtime",
           "image_service_of", "make_runtime"]

log = logging.getLogger(__name__)

class Kubelet(NodeReporting, PodEvents, KubeletServing):
    """One node agent. ``node`` is the last Node object the server returned; ``ready`` is set once the
    node is registered and the informers synced."""

    def __init__(self, client: Client, options: KubeletOptions, *, clock: Clock | None = None,
                 runtime: Runtime | None = None, shared: SharedParts | None = None,
                 image_service: ImageService | None = None, serve: bool | None = None) -> None:
        """``shared``: many kubelets in one process (hollow nodes) share a pod watch, informers, the heartbeat
        thread and the stall monitor, and run no kubelet server (:mod:`sampan.kubelet.shared`) unless ``serve``
        (then each serves logs, exec and its stats on a port of its own, so metrics-server can scrape it)."""
        self.client = client
        self.local_path_dir = options.root_dir.resolve() / "local-path"
        """Where this node's ``sampan.io/local-path`` volumes live (published as a Node annotation)."""
        self.options = options
        self.clock = clock or RealClock()
        self.runtime = runtime or make_runtime(options, self.clock)
        wants_network = options.runtime == "containerd" or (
            options.runtime == "process" and wants_pod_network(options.pod_network))
        self._cidr_pending = runtime is None and not options.pod_cidr and wants_network
        """True until the Node's podCIDR is known and handed to the process runtime's network."""
        self.cri = cri_runtime(self.runtime)
        self.node: dict[str, Any] = {}
        self.ready = asyncio.Event()
        self.rejected: set[str] = set()
        self.sources = (KubeletSources(client, node_name=options.node_name) if shared is None else
                        KubeletSources(client, node_name=options.node_name, pods=shared.pods.view(options.node_name),
                                       object_factory=shared.objects, nodes=shared.nodes))
        self.node_cache = self.sources.node_cache
        if self.sources.watches is not None:
            self.sources.watches.on_change = self._objects_changed
        self._heartbeat_host = shared.heartbeats if shared is not None else None
        self._shared_events = shared.events if shared is not None else None
        self.events_client: Client | None = None
        """Where events go (set by :meth:`run`): connections of their own, so never ahead of status writes."""
        self._serve = shared is None
        self._serve_http = shared is None if serve is None else serve
        self._last_status_post = float("-inf")
        options.root_dir.mkdir(parents=True, exist_ok=True)
        capacity = default_capacity(cpu=options.cpu, memory=options.memory, max_pods=options.max_pods,
                                    root_dir=str(options.root_dir))
        self.allocatable = capacity
        self.volumes = VolumeManager(options.root_dir / "pods", objects=self.sources.objects,
                                     node_allocatable=capacity,
                                     tokens=ServiceAccountTokens(self._request_token, wall=self.clock.wall))
        self.images, self.image_gc = self._image_side(image_service or image_service_of(self.runtime))
        self.registry = CollectorRegistry()
        self._own_stall_monitor = shared is None
        self.stall_monitor = shared.stall_monitor if shared is not None else LoopStallMonitor("kubelet")
        self.stall_monitor.register(self.registry)
        client_metrics.expose(self.registry)  # rest_client_* (client-go's names)
        counts_calls = hasattr(self.runtime, "operations")  # a CRI runtime counts its calls
        self.metrics = KubeletMetrics(self.registry, node_name=options.node_name,
                                      statuses=lambda: self.sink.reported() if self.sink is not None else {},
                                      operations=(lambda: getattr(self.runtime, "operations", {}))
                                      if counts_calls else None, heartbeat_failures=self._heartbeat_failures)
        self.streaming = self._streaming_server()
        memory_capacity = parse_or_none(capacity.get("memory"))
        self.stats = StatsEndpoints(StatsCollector(
            self.runtime, memory_capacity_bytes=memory_capacity.value() if memory_capacity is not None else None),
            node_name=options.node_name)
        self.log_server = LogServer(self._find_containers, status=self.runtime.container_status, clock=self.clock,
                                    host=options.address, port=options.port, follow_poll=options.log_follow_poll,
                                    ssl_context=self._serving_tls(), middlewares=self._server_auth(),
                                    registry=self.registry, extra_routes=self._extra_routes)
        self.sink: APIStatusSink | None = None
        self.routing = RoutingSink(None)
        self.workers: PodWorkers | None = None
        self.static_pods: StaticPods | None = None
        self.heartbeat: NodeHeartbeat | None = None
        self.status_posts = 0
        self.recorder: EventRecorder | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _image_side(self, service: ImageService | None) -> tuple[ImageManager | None, ImageGC | None]:
        """The image manager and garbage collector when the runtime has images."""
        if service is None:
            return None, None
        manager = ImageManager(service, get_secret=self.sources.objects.get_secret, clock=self.clock,
                               options=self.options.image_manager)
        gc = ImageGC(service, list_containers=self.runtime.list_containers, clock=self.clock,
                     options=self.options.image_gc, node_ref=self._node_ref())
        return manager, gc

    def _heartbeat_failures(self) -> dict[str, int]:
        """Failed Lease renewals and node status posts so far (kubelet_heartbeat_failures_total)."""
        beat = self.heartbeat
        if beat is None:
            return {"lease": 0, "node_status": 0}
        return {"lease": beat.lease.failures.total if beat.lease is not None else 0,
                "node_status": beat.status_failures.total}

    @property
    def lease(self) -> NodeLease | None:
        """The running Lease renewer (on the heartbeat thread), once started."""
        return self.heartbeat.lease if self.heartbeat is not None else None

    # -- lifecycle -------------------------------------------------------------------------------------

    async def _resources(self) -> tuple[ResourceClient, ResourceClient, ResourceClient, ResourceClient]:
        """nodes, pods, events, leases — retried until the API server answers discovery."""
        attempts = 0
        while True:
            try:
                assert self.events_client is not None
                return (await self.client.resource("v1", "nodes"), await self.client.resource("v1", "pods"),
                        await self.events_client.resource("v1", "events"),
                        await self.client.resource("coordination.k8s.io/v1", "leases"))
            except errors.APIError as err:
                attempts += 1
                if attempts % 50 == 1:  # once, then every ~5 s
                    log.warning("API server not reachable yet, retrying err=%s", err)
                await self.clock.sleep(RETRY_PERIOD)

    async def run(self) -> None:
        """Run until cancelled. Static pods start at once; the rest waits for the API server."""
        self.workers = PodWorkers(self.runtime, sink=self.routing, volumes=self.volumes, clock=self.clock,
                                  images=self.images,
                                  options=PodWorkerOptions(sync_period=self.options.sync_period,
                                                           host_ip=self.options.address,
                                                           node_allocatable=self.allocatable,
                                                           pod_files=self._pod_files(),
                                                           backoff_event_period=self.options.backoff_event_period))
        if self.options.pod_manifest_path is not None:
            self.static_pods = self.routing.static = StaticPods(
                StaticPodOptions(manifest_path=self.options.pod_manifest_path, node_name=self.options.node_name,
                                 file_check_frequency=self.options.file_check_frequency),
                self.workers, clock=self.clock)
        self._loop = asyncio.get_running_loop()
        if self.cri is not None:
            await self._start_cri(self.cri)
        if self._serve_http:
            await self.log_server.start()
        # Events over connections of their own, as upstream's kubelet sends them through a client of its own:
        # a request waits for a free connection in one FIFO per pool, so a backlog of events (one per node's
        # recorder in flight, hundreds queued on a saturated server) would otherwise sit ahead of every status
        # write and delay each pod's Running by the backlog (seen: ~11 s per pod at 1,000 hollow nodes).
        self.events_client = (self._shared_events.sharing(self.client.config) if self._shared_events is not None
                               else self.client.with_own_connections())
        try:
            async with asyncio.TaskGroup() as tg:
                if self._own_stall_monitor:
                    tg.create_task(self.stall_monitor.run(), name="kubelet-loop-stall")
                if self.static_pods is not None:
                    self.static_pods.sync_files()  # before anything can ask which pods are known
                    tg.create_task(self.static_pods.run(), name="kubelet-static-pods")
                nodes, pods, events, _leases = await self._resources()
                recorder = self.recorder = EventRecorder(events, component="kubelet", host=self.options.node_name,
                                                         clock=self.clock)
                recorder.event(self._node_ref(), "Normal", "Starting", "Starting kubelet.")
                self.workers.set_events(recorder)
                if self.images is not None and self.image_gc is not None:
                    self.images.events = self.image_gc.events = recorder
                    tg.create_task(self.image_gc.run(), name="kubelet-image-gc")
                self.sink = self.routing.api = APIStatusSink(pods, events=recorder,
                                                             on_written=self.metrics.status_written)
                await self._start(nodes, tg, recorder)
                if self.static_pods is not None:
                    self.static_pods.connect(MirrorAPI(
                        pods=pods, status=APIStatusSink(pods, events=recorder), cache=self.sources.pods.indexer,
                        node_uid=lambda: str((self.node.get("metadata") or {}).get("uid", ""))))
                await asyncio.Event().wait()
        finally:
            await self._stop()

    async def _start(self, nodes: ResourceClient, tg: asyncio.TaskGroup, recorder: EventRecorder) -> None:
        assert self.workers is not None
        while True:
            try:
                await self.register(nodes)
                await self.post_status(nodes)
                break
            except errors.APIError as err:
                log.warning("node registration failed, retrying node=%s err=%s", self.options.node_name, err)
                await self.clock.sleep(RETRY_PERIOD)
        self.sources.start_node()  # status ticks compare with the server's Node from now on
        self.heartbeat = NodeHeartbeat(
            self.client.config, node_name=self.options.node_name,
            node_uid=str((self.node.get("metadata") or {}).get("uid", "")),
            lease_options=LeaseOptions(duration=self.options.node_lease_duration,
                                       renew_interval=self.options.lease_renew_interval),
            status_frequency=self.options.node_status_update_frequency, post_status=self.post_status,
            own_thread=isinstance(self.clock, RealClock), clock=self.clock, host=self._heartbeat_host)
        tg.create_task(recorder.run(), name="kubelet-events")
        tg.create_task(self.heartbeat.run(), name="kubelet-heartbeat")
        if self._cidr_pending:  # heartbeats go on meanwhile; no pod starts without its network
            await self._take_node_cidr(nodes)
        if self._serve:
            await self._reclaim_local_paths(tg)
        self.sources.pods.add_event_handler(EventHandlerFuncs(
            on_add_func=self._on_pod, on_update_func=lambda _old, new: self._on_pod(new),
            on_delete_func=self._on_pod_delete))
        self.sources.start()
        await self.sources.wait_synced()
        removed = await self.workers.cleanup_orphans(self._known_uids())
        if removed:
            log.info("removed orphaned pod sandboxes count=%d", removed)
        self.ready.set()
        log.info("kubelet ready node=%s port=%d", self.options.node_name, self.log_server.port)

    async def _start_cri(self, runtime: CRIRuntime) -> None:
        """The CRI runtime answers (else the kubelet fails, as upstream's does); a given pod CIDR is handed
        over at once; the sandbox image is pulled when absent."""
        attempts = 0
        while True:
            try:
                await runtime.start()
                break
            except RuntimeFailure as err:
                attempts += 1
                if attempts % 50 == 1:  # once, then every ~5 s
                    log.warning("container runtime not answering yet, retrying err=%s", err.message)
                await self.clock.sleep(RETRY_PERIOD)
        if self.options.pod_cidr:
            await runtime.set_pod_cidr(self.options.pod_cidr)
        infra = self.options.pod_infra_container_image
        if infra and await runtime.image_service.image_status(infra) is None:
            await runtime.image_service.pull_image(infra)

    async def _reclaim_local_paths(self, tg: asyncio.TaskGroup) -> None:
        reclaimer = LocalPathReclaimer(await self.client.resource("v1", "persistentvolumes"),
                                       base_dir=self.local_path_dir, clock=self.clock,
                                       hostname=node_labels(self.options.node_name, self.options.labels).get(
                                           "kubernetes.io/hostname", self.options.node_name),
                                       period=self.options.local_path_reclaim_period)
        tg.create_task(reclaimer.run(), name="kubelet-local-path-reclaimer")

    def _pod_files(self) -> PodNetworkFiles | None:
        """/etc/hosts, /etc/resolv.conf and service variables: for the process and containerd runtimes
        (hollow simulated nodes run nothing that could read them)."""
        if self.options.runtime not in ("process", "containerd"):
            return None
        services = self.sources.services
        return PodNetworkFiles(self.options.root_dir / "pods", cluster_dns=self.options.cluster_dns,
                               cluster_domain=self.options.cluster_domain, resolv_conf=self.options.resolv_conf,
                               services=lambda namespace: services.namespaced(namespace).list())

    async def _take_node_cidr(self, nodes: ResourceClient) -> None:
        cidr = await wait_for_pod_cidr(nodes, self.options.node_name, clock=self.clock, period=RETRY_PERIOD)
        if isinstance(self.runtime, ProcessRuntime):
            self.runtime.set_network(PodNetwork(cidr))
        elif self.cri is not None:
            await self.cri.set_pod_cidr(cidr)
        self._cidr_pending = False
        log.info("pod network from the node's pod CIDR node=%s cidr=%s", self.options.node_name, cidr)
        try:
            await nodes.patch(self.options.node_name,
                              {"metadata": {"annotations": {"sampan.io/pod-network": f"bridge {cidr}"}}})
        except errors.APIError as err:
            log.warning("could not annotate the node's pod network err=%s", err)

    async def _stop(self) -> None:
        with contextlib.suppress(Exception):
            await self.sources.shutdown()
        if self.events_client is not None:
            await self.events_client.close()  # a view of the shared events pool closes nothing
        if self.workers is not None:
            await self.workers.aclose()
        if self._serve_http:
            await self.log_server.stop()
        if self.cri is not None:
            await self.cri.close()
        if isinstance(self.runtime, ProcessRuntime):
            await self.runtime.aclose()  # its spawn helper
