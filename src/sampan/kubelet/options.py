"""The kubelet's flags as one frozen dataclass, with upstream's defaults and their validation."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sampan.kubelet.images.gc import ImageGCOptions
from sampan.kubelet.images.manager import ImageManagerOptions
from sampan.kubelet.network.ipam import IPAMError, parse_pod_cidr
from sampan.kubelet.network.pod_network import MODES as POD_NETWORK_MODES
from sampan.kubelet.server_auth import KubeletAuthOptions
from sampan.kubelet.static_pods.manager import DEFAULT_FILE_CHECK_FREQUENCY
from sampan.kubelet.streaming.server import DEFAULT_IDLE_TIMEOUT

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
    0 = post on every update tick. The Lease is the heartbeat either way. Either way each tick compares the
    fresh status with the node informer's copy (the server's), so a status another writer changed (the node
    lifecycle controller's ``Unknown``) is corrected on the next tick."""
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
