"""The kubelet as a component: everything it knows comes from the API server and everything it reports
goes back there.

Start-up order (``Kubelet.run``)::

    log server (port known) -> static pods from ``pod_manifest_path`` started (no API server needed)
    -> API server answers -> register Node (or adopt the existing one) -> heartbeat (Lease + node status,
    own thread, loop and client: docs/liveness.md) -> informers (own pods by spec.nodeName; configmaps,
    secrets) -> synced -> cleanup_orphans -> mirror pods of the static pods kept in the API -> serve

Pod handlers run on the pod informer's listener task (one task, as :class:`PodWorkers` requires): a new
pod is admitted (``PodWorkers.admit``; a rejected pod is written ``Failed`` with ``OutOf<resource>`` and
never run), then every add/update goes to ``update_pod``; a delete from the API stops the pod. Terminal
pods that no worker knows (a restart after they finished) are left alone, except a deleted one, which is
removed at once. Mirror pods (the API's view of static pods, :mod:`sampan.kubelet.static_pods`) are never
run: their events go to the static pod manager, which recreates a deleted one. Cancellation stops the
kubelet; containers keep running and are re-adopted on restart.

A loop-stall monitor measures the kubelet loop's longest turn; ``GET /metrics`` on the kubelet server
exports it (``sampan_event_loop_stall_seconds_max{component="kubelet"}``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Middleware
from prometheus_client import CollectorRegistry

from sampan._lib.clock import Clock, RealClock
from sampan._lib.loopstall import LoopStallMonitor
from sampan.api import errors
from sampan.api.quantity import parse_or_none
from sampan.client import metrics as client_metrics
from sampan.client.cache.handlers import EventHandlerFuncs
from sampan.client.cache.store import DeletedFinalStateUnknown
from sampan.client.dynamic import Client, ResourceClient
from sampan.client.record import EventRecorder
from sampan.kubelet.admission import rejected_status
from sampan.kubelet.api_status import APIStatusSink
from sampan.kubelet.containers import group_by_name
from sampan.kubelet.heartbeat import NodeHeartbeat
from sampan.kubelet.images.gc import ImageGC, ImageGCOptions
from sampan.kubelet.images.manager import ImageManager, ImageManagerOptions
from sampan.kubelet.log_server import LogServer
from sampan.kubelet.metrics import KubeletMetrics
from sampan.kubelet.network.ipam import IPAMError, parse_pod_cidr
from sampan.kubelet.network.node_cidr import wait_for_pod_cidr
from sampan.kubelet.network.pod_files import PodNetworkFiles
from sampan.kubelet.network.pod_network import MODES as POD_NETWORK_MODES
from sampan.kubelet.network.pod_network import PodNetwork, make_pod_network, wants_pod_network
from sampan.kubelet.node_lease import LeaseOptions, NodeLease
from sampan.kubelet.node_status import (
    CRI_SOCKET_ANNOTATION,
    NodeIdentity,
    condition_events,
    default_capacity,
    default_hostname,
    node_labels,
    node_status,
    registration,
    same_apart_from_heartbeats,
)
from sampan.kubelet.pod_workers import PodWorkerOptions, PodWorkers
from sampan.kubelet.runtime.cri.runtime import CRIRuntime, CRIRuntimeOptions
from sampan.kubelet.runtime.images import ImageService
from sampan.kubelet.runtime.interface import ContainerState, ContainerStatus, Runtime, RuntimeFailure, SandboxState
from sampan.kubelet.runtime.process import ProcessRuntime, ProcessRuntimeOptions
from sampan.kubelet.runtime.simulated import SimulatedRuntime, SimulatedRuntimeOptions
from sampan.kubelet.server_auth import KubeletAuth, KubeletAuthOptions
from sampan.kubelet.shared import SharedParts
from sampan.kubelet.sources import KubeletSources
from sampan.kubelet.static_pods.manager import (
    DEFAULT_FILE_CHECK_FREQUENCY,
    MirrorAPI,
    RoutingSink,
    StaticPodOptions,
    StaticPods,
)
from sampan.kubelet.static_pods.manifests import is_mirror
from sampan.kubelet.static_pods.runtime import StaticPodRuntime
from sampan.kubelet.stats.collector import StatsCollector
from sampan.kubelet.stats.endpoints import StatsEndpoints
from sampan.kubelet.status_manager import pod_key
from sampan.kubelet.streaming.runtimes import streaming_for
from sampan.kubelet.streaming.server import DEFAULT_IDLE_TIMEOUT, StreamingOptions, StreamingServer
from sampan.kubelet.volumes.localpath import LOCAL_PATH_DIR_ANNOTATION, LocalPathReclaimer
from sampan.kubelet.volumes.manager import VolumeManager
from sampan.kubelet.volumes.tokens import ServiceAccountTokens

log = logging.getLogger(__name__)

RUNTIMES = ("process", "simulated", "containerd")
RETRY_PERIOD = 0.1
"""Seconds between attempts to reach the API server at start-up (a refused loopback connect costs nothing;
with static pods the API server is starting beside the kubelet, so the kubelet connects as soon as it can)."""


@dataclass(frozen=True, slots=True)
class KubeletOptions:
    """Every knob of the kubelet, with upstream's defaults."""

    node_name: str
    root_dir: Path
    runtime: str = "process"
    node_status_update_frequency: float = 10.0
    node_status_report_frequency: float = 0.0
    """Post an unchanged node status only this often (upstream's ``nodeStatusReportFrequency``, 5m there);
    0 = post on every update tick. The Lease is the heartbeat either way."""
    node_status_recheck_period: float = 40.0
    """With a report frequency: how often the kubelet reads its Node from the API server's cache to see
    whether another writer changed its status (the node lifecycle controller marking it ``Unknown``), which
    it then corrects at once. Upstream compares with its node informer on every tick; one GET per node per
    node-monitor grace period (40 s) keeps hollow nodes' cost low while a wrongly NotReady node recovers
    within about a minute, not after the report frequency (5 minutes)."""
    node_lease_duration: float = 40.0
    lease_renew_interval: float = 10.0
    """Upstream renews every quarter of the duration (10 s for 40 s)."""
    address: str = "127.0.0.1"
    """The node's InternalIP, where the log server listens (loopback only)."""
    port: int = 10250
    """The kubelet server's port (0: pick a free one; the node advertises the one bound)."""
    cpu: str | None = None
    memory: str | None = None
    max_pods: int = 110
    sync_period: float = 1.0
    backoff_event_period: float = 10.0
    """How often a container in CrashLoopBackOff has its ``BackOff`` event recorded again (upstream: 10 s)."""
    labels: Mapping[str, str] = field(default_factory=dict)
    log_follow_poll: float = 0.1
    pod_network: str = "host"
    """``auto``: own netns + address per pod when root with iproute2, else host; ``bridge``: required;
    ``host``: every pod shares the node's network (the process runtime only; the CLI defaults to auto)."""
    local_path_reclaim_period: float = 5.0
    """How often released ``sampan.io/local-path`` volumes of this node are looked for (and deleted)."""
    pod_cidr: str = ""
    """Where pod addresses come from (inside 100.64.0.0/10), overriding the Node's ``spec.podCIDR``;
    "" = wait for the Node's (set by the node IPAM controller)."""
    cluster_dns: tuple[str, ...] = ()
    """``--cluster-dns``: the nameservers of ClusterFirst pods (none: they get the node's resolv.conf)."""
    cluster_domain: str = "cluster.local"
    resolv_conf: str = "/etc/resolv.conf"
    """The node's resolv.conf: the ``Default`` DNS policy and the host search paths (``--resolv-conf``)."""
    pod_manifest_path: Path | None = None
    """Directory of static pod manifests (upstream's ``--pod-manifest-path`` / ``staticPodPath``)."""
    file_check_frequency: float = DEFAULT_FILE_CHECK_FREQUENCY
    """Seconds between reads of ``pod_manifest_path``."""
    static_pod_runtime: str = ""
    """Runtime for static pods when it differs from ``runtime`` ("" = the same): a simulated node can still
    run a real control plane as static pods on the process runtime."""
    streaming_connection_idle_timeout: float = DEFAULT_IDLE_TIMEOUT
    """exec/attach/port-forward connections without traffic this long are closed (upstream: 4h)."""
    tls_cert_file: Path | None = None
    """``--tls-cert-file``: serve the kubelet API (logs, exec, port-forward, metrics) over HTTPS with this
    certificate (``--tls-private-key-file`` its key); None: plain HTTP."""
    tls_private_key_file: Path | None = None
    client_ca_file: Path | None = None
    server_auth: KubeletAuthOptions = field(default_factory=KubeletAuthOptions)
    """Authentication and authorization of the kubelet API's callers (``--anonymous-auth``,
    ``--authentication-token-webhook``, ``--authorization-mode``; :mod:`sampan.kubelet.server_auth`)."""
    """``--client-ca-file``: with TLS, only clients presenting a certificate signed by these CAs (the API
    server's kubelet-client certificate) are served."""
    container_runtime_endpoint: str = ""
    """``--container-runtime-endpoint`` of the ``containerd`` runtime (any CRI runtime: ``unix:///…``)."""
    image_service_endpoint: str = ""
    """``--image-service-endpoint`` ("" = the runtime endpoint)."""
    pod_infra_container_image: str = ""
    """``--pod-infra-container-image``: the sandbox image, pulled if absent at start (the runtime's own
    config names the one it runs)."""
    image_manager: ImageManagerOptions = field(default_factory=ImageManagerOptions)
    """``--serialize-image-pulls`` and the pull back-off (runtimes with an ImageService only)."""
    image_gc: ImageGCOptions = field(default_factory=ImageGCOptions)
    """``--image-gc-high-threshold``/``--image-gc-low-threshold`` and periods (runtimes with images only)."""

    def __post_init__(self) -> None:
        for runtime in (self.runtime, self.static_pod_runtime or self.runtime):
            if runtime not in RUNTIMES:
                raise ValueError(f"unknown runtime {runtime!r} (want one of {', '.join(RUNTIMES)})")
        if "containerd" in (self.runtime, self.static_pod_runtime) and not self.container_runtime_endpoint:
            raise ValueError("the containerd runtime needs --container-runtime-endpoint")
        if self.pod_network not in POD_NETWORK_MODES:
            raise ValueError(f"unknown pod network {self.pod_network!r} (want one of {', '.join(POD_NETWORK_MODES)})")
        if self.pod_cidr:
            try:
                parse_pod_cidr(self.pod_cidr)
            except IPAMError as err:
                raise ValueError(str(err)) from None
        for name in ("node_status_update_frequency", "node_lease_duration", "lease_renew_interval", "sync_period",
                     "file_check_frequency", "backoff_event_period"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name.replace('_', '-')} must be positive")
        if self.max_pods < 1:
            raise ValueError("max-pods must be at least 1")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be in [0, 65535], got {self.port}")


def make_runtime(options: KubeletOptions, clock: Clock) -> Runtime:
    """The configured runtime; when static pods use another one, a :class:`StaticPodRuntime` over both.
    Without ``pod_cidr`` a process runtime starts with no pod network (host-network pods, such as the static
    control plane, still run); the kubelet gives it one once its Node has a pod CIDR."""
    def one(name: str, *, manager_pulls: bool = True) -> Runtime:
        if name == "simulated":
            return SimulatedRuntime(SimulatedRuntimeOptions(pod_ip=options.address), clock=clock)
        if name == "containerd":
            return CRIRuntime(CRIRuntimeOptions(
                endpoint=options.container_runtime_endpoint, image_endpoint=options.image_service_endpoint,
                node_name=options.node_name, log_root=options.root_dir / "logs", host_ip=options.address,
                serialize_image_pulls=False,  # the image manager serializes pulls (--serialize-image-pulls)
                # the image manager has made sure of the image before every CreateContainer (one ImageStatus
                # per container start, not two); static pods of a split runtime bypass it, so pull there
                pull_if_absent=not manager_pulls,
                relist_period=min(options.sync_period, 1.0)))
        network = make_pod_network(options.pod_network, options.pod_cidr) if options.pod_cidr else None
        return ProcessRuntime(ProcessRuntimeOptions(root_dir=options.root_dir / "runtime", pod_ip=options.address,
                                                    network=network))

    static = options.static_pod_runtime
    if options.pod_manifest_path is not None and static and static != options.runtime:
        return StaticPodRuntime(one(options.runtime), one(static, manager_pulls=False))
    return one(options.runtime)


def cri_runtime(runtime: Runtime) -> CRIRuntime | None:
    """The CRI runtime behind ``runtime`` (itself, or the default of a static-pod split), if any."""
    if isinstance(runtime, StaticPodRuntime):
        runtime = runtime.default
    return runtime if isinstance(runtime, CRIRuntime) else None


def _runtimes(runtime: Runtime) -> list[Any]:
    """``runtime``, then the default runtime behind a static-pod split."""
    return [runtime, *([runtime.default] if isinstance(runtime, StaticPodRuntime) else [])]


def image_service_of(runtime: Runtime) -> ImageService | None:
    """The runtime's CRI ImageService (its ``image_service`` attribute), or None for runtimes without
    images (process, simulated)."""
    for candidate in _runtimes(runtime):
        service: ImageService | None = getattr(candidate, "image_service", None)
        if service is not None:
            return service
    return None


def cri_endpoint_of(runtime: Runtime) -> str:
    """The runtime's CRI endpoint (``unix:///…``: its ``endpoint`` or ``options.endpoint``), "" if none."""
    for candidate in _runtimes(runtime):
        endpoint = getattr(candidate, "endpoint", "") or getattr(getattr(candidate, "options", None), "endpoint", "")
        if isinstance(endpoint, str) and endpoint:
            return endpoint
    return ""


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _is_terminal(pod: Mapping[str, Any]) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


class Kubelet:
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
                                       object_factory=shared.objects))
        if self.sources.watches is not None:
            self.sources.watches.on_change = self._objects_changed
        self._heartbeat_host = shared.heartbeats if shared is not None else None
        self._serve = shared is None
        self._serve_http = shared is None if serve is None else serve
        self._last_status_post = float("-inf")
        self._last_server_check = float("-inf")
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
                                      if counts_calls else None)
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

    @property
    def lease(self) -> NodeLease | None:
        """The running Lease renewer (on the heartbeat thread), once started."""
        return self.heartbeat.lease if self.heartbeat is not None else None

    async def _request_token(self, namespace: str, account: str, body: dict[str, Any]) -> dict[str, Any]:
        """TokenRequest for a pod's projected service-account token."""
        answer: dict[str, Any] = await self.client.rest.request(
            "POST", f"/api/v1/namespaces/{namespace}/serviceaccounts/{account}/token", body=body)
        return answer

    def _extra_routes(self, app: web.Application) -> None:
        """The kubelet server's routes beyond logs: stats always, streaming when the runtime has it."""
        self.stats.register(app)
        if self.streaming is not None:
            self.streaming.register(app)

    def _serving_tls(self) -> ssl.SSLContext | None:
        """The kubelet server's TLS context, or None. With a client CA, client certificates are required
        at the TLS layer unless bearer tokens may authenticate too (``--authentication-token-webhook``)."""
        options = self.options
        if options.tls_cert_file is None:
            return None
        from sampan._lib.pki import server_ssl_context

        return server_ssl_context(options.tls_cert_file, options.tls_private_key_file or options.tls_cert_file,
                                  client_ca_file=options.client_ca_file,
                                  require_client_certificate=options.client_ca_file is not None
                                  and not options.server_auth.token_webhook)

    def _server_auth(self) -> list[Middleware]:
        """The kubelet API's authentication/authorization filter (none when everything is allowed)."""
        if self.options.server_auth.default:
            return []

        async def review(path: str, body: dict[str, Any]) -> dict[str, Any]:
            answer: dict[str, Any] = await self.client.rest.request("POST", path, body=body)
            return answer

        self.server_auth = KubeletAuth(self.options.server_auth, node_name=self.options.node_name, review=review)
        return [self.server_auth.middleware()]

    def _streaming_server(self) -> StreamingServer | None:
        """exec/attach/port-forward for runtimes that implement the streaming seam (process, CRI)."""
        streaming = streaming_for(self.runtime)
        if streaming is None:
            return None
        return StreamingServer(streaming, find_container=self._running_container,
                               find_sandbox=self._ready_sandbox,
                               options=StreamingOptions(idle_timeout=self.options.streaming_connection_idle_timeout))

    async def _running_container(self, namespace: str, name: str, container: str) -> str | None:
        records = await self._find_containers(namespace, name, container)
        if records and records[0].state is ContainerState.RUNNING:
            return records[0].id
        return None

    async def _ready_sandbox(self, namespace: str, name: str) -> str | None:
        pod = self.sources.pods.indexer.get_by_key(f"{namespace}/{name}")
        if pod is None:
            return None
        uid = (pod.get("metadata") or {}).get("uid", "")
        for sb in await self.runtime.list_pod_sandboxes(uid):
            if sb.state is SandboxState.READY:
                return sb.id
        return None

    def identity(self) -> NodeIdentity:
        """The Hostname address follows the node's ``kubernetes.io/hostname`` label (upstream: the
        overridden hostname), so the second node of one machine does not report the first one's name."""
        labels = node_labels(self.options.node_name, self.options.labels)
        return NodeIdentity(name=self.options.node_name, address=self.options.address,
                            hostname=labels.get("kubernetes.io/hostname") or default_hostname(),
                            port=self.log_server.port, capacity=self.allocatable,
                            runtime=self.runtime.info(), labels=labels, cri_endpoint=cri_endpoint_of(self.runtime))

    # -- node ------------------------------------------------------------------------------------------

    async def register(self, nodes: ResourceClient) -> None:
        """Create the Node, or adopt an existing one (its status is refreshed by the status loop)."""
        try:
            body = registration(self.identity(), now=self.clock.wall())
            body["metadata"]["annotations"][LOCAL_PATH_DIR_ANNOTATION] = str(self.local_path_dir)
            self.node = await nodes.create(body)
            log.info("node registered node=%s", self.options.node_name)
            self._node_events(None, self.node)
        except errors.AlreadyExists:
            self.node = await nodes.get(self.options.node_name)
            log.info("node already registered, adopting it node=%s", self.options.node_name)
            await self._publish_cri_endpoint(nodes)

    async def _publish_cri_endpoint(self, nodes: ResourceClient) -> None:
        """An adopted Node gets this kubelet's CRI endpoint annotation (a new one is registered with it)."""
        endpoint = self.identity().cri_endpoint
        if endpoint and ((self.node.get("metadata") or {}).get("annotations") or {}).get(
                CRI_SOCKET_ANNOTATION) != endpoint:
            self.node = await nodes.patch(self.options.node_name,
                                          {"metadata": {"annotations": {CRI_SOCKET_ANNOTATION: endpoint}}})

    async def post_status(self, nodes: ResourceClient) -> None:
        """One node status update (PUT ``nodes/status`` with the resourceVersion last seen)."""
        for _attempt in range(3):
            node = dict(self.node)
            node["status"] = node_status(self.identity(), node.get("status"), now=self.clock.wall(),
                                         images=self.image_gc.node_images() if self.image_gc is not None else None)
            report = self.options.node_status_report_frequency
            if (report and self.clock.monotonic() - self._last_status_post < report
                    and same_apart_from_heartbeats(node["status"], self.node.get("status"))):
                now = self.clock.monotonic()
                if now - self._last_server_check < self.options.node_status_recheck_period:
                    return
                self._last_server_check = now
                if not await self._server_copy_changed(nodes):
                    return
                continue  # someone else wrote the status: compute it again from the server's copy
            try:
                before = self.node
                self.node = await nodes.update(node, subresource="status")
                self._last_status_post = self.clock.monotonic()
                self.status_posts += 1
                self._node_events(before, self.node)
                return
            except errors.Conflict:
                self.node = await nodes.get(self.options.node_name)
            except errors.NotFound:  # deleted under us: register again
                await self.register(nodes)

    async def _server_copy_changed(self, nodes: ResourceClient) -> bool:
        """Whether the server's Node differs from the one this kubelet last wrote or read (then it becomes
        ``self.node``). Upstream's ``tryUpdateNodeStatus`` compares the fresh status with the server's node
        (from its cache), not with what it posted last: after the node lifecycle controller marked the node
        ``Unknown`` (a Lease that came late under load), a kubelet comparing with its own last post saw
        nothing to report and left the node NotReady until the next report period (5 minutes; issue 21).
        Read with ``resourceVersion=0``: from the API server's watch cache."""
        current = await nodes.get(self.options.node_name, resource_version="0")
        seen = (self.node.get("metadata") or {}).get("resourceVersion")
        if (current.get("metadata") or {}).get("resourceVersion") == seen:
            return False
        before, self.node = self.node, current
        return not same_apart_from_heartbeats(current.get("status"), before.get("status"))

    def _node_events(self, before: Mapping[str, Any] | None, after: Mapping[str, Any]) -> None:
        """Record node condition events; from the heartbeat thread, hand them to the kubelet's loop."""
        if self.recorder is None:
            return
        loop = self._loop
        if loop is not None and _running_loop() is not loop:
            loop.call_soon_threadsafe(self._node_events, before, after)
            return
        name = self.options.node_name
        for reason in condition_events(((before or {}).get("status") or {}).get("conditions"),
                                       (after.get("status") or {}).get("conditions")):
            self.recorder.event(self._node_ref(), "Normal", reason, f"Node {name} status is now: {reason}")

    def _node_ref(self) -> dict[str, Any]:
        """Upstream's reference for node events: kind Node, uid = the node's name."""
        return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": self.options.node_name,
                                                                 "uid": self.options.node_name}}

    # -- pods ------------------------------------------------------------------------------------------

    async def _on_pod(self, pod: dict[str, Any]) -> None:
        assert self.workers is not None
        assert self.sink is not None
        if is_mirror(pod):
            if self.static_pods is not None:
                self.static_pods.mirror_changed(pod)
            return
        md = pod.get("metadata") or {}
        uid = str(md.get("uid", ""))
        if uid in self.rejected:
            return
        self.metrics.seen(uid)
        worker = self.workers.workers.get(uid)
        if worker is None:
            if _is_terminal(pod):
                if md.get("deletionTimestamp"):
                    await self.sink.terminated(pod)
                return
            admission = self.workers.admit(pod)
            if not admission.admitted:
                self.rejected.add(uid)
                log.info("pod rejected pod=%s reason=%s", pod_key(pod), admission.reason)
                if self.recorder is not None:
                    self.recorder.event(pod, "Warning", admission.reason, admission.message)
                await self.sink.update_status(pod, {**(pod.get("status") or {}), **rejected_status(admission)})
                return
        elif md.get("deletionTimestamp") and worker.terminating is None:
            self.sink.killing(pod)
        self.workers.update_pod(pod)

    def _objects_changed(self, pod_keys: set[str]) -> None:
        """A watched secret, configmap or claim arrived or changed: sync the pods using it now."""
        for key in pod_keys:
            pod = self.sources.pods.indexer.get_by_key(key)
            uid = str(((pod or {}).get("metadata") or {}).get("uid", ""))
            worker = self.workers.workers.get(uid) if self.workers is not None else None
            if pod is not None and worker is not None:
                worker.update(pod)

    async def _on_pod_delete(self, obj: Any) -> None:
        assert self.workers is not None
        pod = obj.obj if isinstance(obj, DeletedFinalStateUnknown) else obj
        if is_mirror(pod or {}):
            if self.static_pods is not None:
                self.static_pods.mirror_changed(pod)
            return
        uid = str(((pod or {}).get("metadata") or {}).get("uid", ""))
        self.rejected.discard(uid)
        self.metrics.forget(uid)
        if uid in self.workers.workers:
            self.workers.remove_pod(uid)
            return
        # a pod no worker ran (finished before a kubelet restart): drop its sandbox and volumes
        await self.workers.cleanup_orphans(self._known_uids())

    def _known_uids(self) -> set[str]:
        """Pods this kubelet must keep: the API's (mirror pods aside) and the static ones."""
        known = {str((p.get("metadata") or {}).get("uid", "")) for p in self.sources.pods.indexer.list()
                 if not is_mirror(p)}
        return known | set(self.static_pods.pods if self.static_pods is not None else ())

    async def _find_containers(self, namespace: str, name: str, container: str) -> list[ContainerStatus] | None:
        pod = self.static_pods.by_full_name(namespace, name) if self.static_pods is not None else None
        pod = pod or self.sources.pods.indexer.get_by_key(f"{namespace}/{name}")
        if pod is None:
            return None
        uid = (pod.get("metadata") or {}).get("uid", "")
        records: list[ContainerStatus] = []
        for sb in await self.runtime.list_pod_sandboxes(uid):
            records.extend(await self.runtime.list_containers(sb.id))
        return group_by_name(records).get(container, [])

    # -- lifecycle -------------------------------------------------------------------------------------

    async def _resources(self) -> tuple[ResourceClient, ResourceClient, ResourceClient, ResourceClient]:
        """nodes, pods, events, leases — retried until the API server answers discovery."""
        attempts = 0
        while True:
            try:
                return (await self.client.resource("v1", "nodes"), await self.client.resource("v1", "pods"),
                        await self.client.resource("v1", "events"),
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
        if self.workers is not None:
            await self.workers.aclose()
        if self._serve_http:
            await self.log_server.stop()
        if self.cri is not None:
            await self.cri.close()
        if isinstance(self.runtime, ProcessRuntime):
            await self.runtime.aclose()  # its spawn helper
