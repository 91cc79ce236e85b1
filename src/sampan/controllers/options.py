"""The controller-manager's options (kube-controller-manager's flags, same names and defaults).

``--controllers`` is parsed as upstream: a comma-separated list where ``*`` enables every controller that is
on by default, ``name`` enables one, ``-name`` disables one; unknown names are an error. Every timing is a
field here so tests can shrink it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

KNOWN_CONTROLLERS: tuple[str, ...] = (
    "replicaset", "replicationcontroller", "deployment", "job", "ttl-after-finished", "nodelifecycle", "endpoint",
    "endpointslice", "garbagecollector", "namespace", "serviceaccount", "root-ca-cert-publisher", "resourcequota",
    "disruption", "service-lb-controller", "nodeipam", "cronjob", "daemonset", "statefulset",
    "persistentvolume-binder", "pv-protection", "pvc-protection", "horizontalpodautoscaling",
    "clusterrole-aggregation", "validatingadmissionpolicy-status-controller", "csrsigning", "csrapproving",
    "csrcleaner",
)
"""Every controller name ``--controllers`` accepts (upstream's names)."""

DISABLED_BY_DEFAULT: frozenset[str] = frozenset()
"""Names ``*`` does not enable (upstream: bootstrapsigner, tokencleaner; we have none of those)."""

DEFAULT_CONCURRENCY: Mapping[str, int] = {
    "replicaset": 5, "replicationcontroller": 5, "deployment": 5, "job": 5, "ttl-after-finished": 5,
    "nodelifecycle": 1, "endpoint": 5, "endpointslice": 5, "garbagecollector": 20, "namespace": 10, "serviceaccount": 1,
    "root-ca-cert-publisher": 1, "resourcequota": 5, "disruption": 1,
    "service-lb-controller": 1, "nodeipam": 1, "cronjob": 5, "daemonset": 2, "statefulset": 5,
    "persistentvolume-binder": 1, "pv-protection": 1, "pvc-protection": 1, "horizontalpodautoscaling": 5,
    "clusterrole-aggregation": 1, "validatingadmissionpolicy-status-controller": 5,
}
"""Workers per controller (upstream's ``--concurrent-*-syncs`` defaults)."""

CONCURRENCY_FLAGS: Mapping[str, str] = {
    "replicaset": "concurrent-replicaset-syncs", "replicationcontroller": "concurrent-rc-syncs",
    "deployment": "concurrent-deployment-syncs",
    "job": "concurrent-job-syncs", "ttl-after-finished": "concurrent-ttl-after-finished-syncs",
    "endpoint": "concurrent-endpoint-syncs", "endpointslice": "concurrent-service-endpoint-syncs",
    "garbagecollector": "concurrent-gc-syncs", "namespace": "concurrent-namespace-syncs",
    "serviceaccount": "concurrent-serviceaccount-syncs", "resourcequota": "concurrent-resource-quota-syncs",
    "service-lb-controller": "concurrent-service-syncs", "cronjob": "concurrent-cron-job-syncs",
    "daemonset": "concurrent-daemonset-syncs", "statefulset": "concurrent-statefulset-syncs",
}
"""The flag that sets each controller's concurrency (upstream's spelling)."""


def parse_controllers(text: str | Iterable[str]) -> tuple[str, ...]:
    """The ``--controllers`` items, validated; ValueError naming the bad item otherwise."""
    items = [s.strip() for s in (text.split(",") if isinstance(text, str) else text)]
    items = [s for s in items if s]
    if not items:
        raise ValueError("--controllers must name at least one controller or '*'")
    for item in items:
        name = item[1:] if item.startswith("-") else item
        if name != "*" and name not in KNOWN_CONTROLLERS:
            raise ValueError(f"--controllers: unknown controller {name!r}; known: {', '.join(KNOWN_CONTROLLERS)}")
        if item == "-*":
            raise ValueError("--controllers: '-*' is not allowed")
    return tuple(items)


def enabled_controllers(items: Iterable[str]) -> tuple[str, ...]:
    """Which controllers the (validated) ``--controllers`` items turn on, in :data:`KNOWN_CONTROLLERS` order."""
    items = tuple(items)
    star = "*" in items
    chosen = []
    for name in KNOWN_CONTROLLERS:
        if f"-{name}" in items:
            continue
        if name in items or (star and name not in DISABLED_BY_DEFAULT):
            chosen.append(name)
    return tuple(chosen)


@dataclass(frozen=True, slots=True)
class ControllerManagerOptions:
    controllers: tuple[str, ...] = ("*",)
    concurrency: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_CONCURRENCY))
    """Workers per controller; names missing here get 1."""

    # leader election (``--leader-elect*``)
    leader_elect: bool = True
    leader_elect_lease_duration: float = 15.0
    leader_elect_renew_deadline: float = 10.0
    leader_elect_retry_period: float = 2.0
    leader_elect_resource_namespace: str = "kube-system"
    leader_elect_resource_name: str = "kube-controller-manager"
    identity: str | None = None
    """Leader-election identity; default ``<hostname>_<uuid>`` as upstream."""

    # client
    kube_api_qps: float = 20.0
    kube_api_burst: int = 30
    min_resync_period: float = 0.0
    """Informer resync period (0: none; upstream resyncs every 12-24 h)."""

    # shared by several controllers
    expectations_ttl: float = 300.0

    # node lifecycle (CM2)
    node_monitor_period: float = 5.0
    node_monitor_grace_period: float = 40.0
    node_startup_grace_period: float = 60.0
    node_eviction_rate: float = 0.1
    secondary_node_eviction_rate: float = 0.01
    large_cluster_size_threshold: int = 50
    unhealthy_zone_threshold: float = 0.55

    # node IPAM (``nodeipam``: does nothing unless allocate_node_cidrs)
    allocate_node_cidrs: bool = False
    cluster_cidr: str = "100.64.0.0/16"
    node_cidr_mask_size: int = 24

    # namespace (CM2)
    namespace_sync_period: float = 300.0

    # garbage collector: how often it re-discovers resources (new CRDs); upstream hard-codes 30 s
    garbage_collector_discovery_period: float = 30.0

    # job
    job_backoff_base: float = 10.0
    """First delay before re-creating a failed Job pod (doubles per failure, upstream's DefaultJobPodFailureBackOff)."""
    job_backoff_max: float = 360.0

    # service-lb-controller: LoadBalancer addresses ("" = none: LoadBalancer Services stay pending)
    load_balancer_ip_range: str = ""

    # deployment / replicaset / replicationcontroller
    replicaset_burst_replicas: int = 500
    """Most pods a ReplicaSet (or ReplicationController) creates or deletes in one reconcile (upstream's
    BurstReplicas)."""

    # resourcequota
    resource_quota_sync_period: float = 300.0
    """``--resource-quota-sync-period``: every quota's usage is recalculated this often (upstream 5m)."""

    # horizontalpodautoscaling
    horizontal_pod_autoscaler_sync_period: float = 15.0
    """``--horizontal-pod-autoscaler-sync-period``: how often each HPA is reconciled (upstream 15s)."""
    horizontal_pod_autoscaler_downscale_stabilization: float = 300.0
    """``--horizontal-pod-autoscaler-downscale-stabilization``: default scale-down window (upstream 5m)."""
    horizontal_pod_autoscaler_tolerance: float = 0.1
    """``--horizontal-pod-autoscaler-tolerance``: no change while the ratio is within this of 1.0."""

    # root-ca-cert-publisher
    root_ca_file: str | None = None
    """``--root-ca-file``: the PEM bundle published as ``kube-root-ca.crt``; None: the kubeconfig's CA data,
    else an empty ``ca.crt``."""

    # csrsigning (does nothing unless both files are set, as upstream without a signing CA)
    cluster_signing_cert_file: str = ""
    """``--cluster-signing-cert-file``: the CA certificate the built-in ``kubernetes.io/*`` signers issue with."""
    cluster_signing_key_file: str = ""
    """``--cluster-signing-key-file``: that CA's private key."""
    cluster_signing_duration: float = 365 * 24 * 3600.0
    """``--cluster-signing-duration``: the longest lifetime of an issued certificate (upstream 8760h)."""

    # persistentvolume-binder
    create_default_storage_class: bool = True
    """Create the default ``local-path`` StorageClass (provisioner ``sampan.io/local-path``) at start."""

    def __post_init__(self) -> None:
        parse_controllers(self.controllers)
        for name, n in self.concurrency.items():
            if n < 1:
                raise ValueError(f"concurrency of {name} must be >= 1, got {n}")
        for fname in ("node_monitor_period", "node_monitor_grace_period", "leader_elect_lease_duration",
                      "leader_elect_renew_deadline", "leader_elect_retry_period", "kube_api_qps"):
            if getattr(self, fname) <= 0:
                raise ValueError(f"{fname.replace('_', '-')} must be positive")

        if self.allocate_node_cidrs:
            from sampan.controllers.nodeipam.cidrs import CIDRSet

            CIDRSet.parse(self.cluster_cidr, self.node_cidr_mask_size)

    def enabled(self) -> tuple[str, ...]:
        chosen = enabled_controllers(self.controllers)
        if not self.allocate_node_cidrs:
            chosen = tuple(c for c in chosen if c != "nodeipam")
        if not (self.cluster_signing_cert_file and self.cluster_signing_key_file):
            chosen = tuple(c for c in chosen if c != "csrsigning")
        return chosen

    def workers(self, name: str) -> int:
        return int(self.concurrency.get(name, 1))
