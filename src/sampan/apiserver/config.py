"""Options of the API server: one frozen dataclass, every default documented (upstream's where one exists)."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sampan.apiserver.audit.options import AuditOptions
from sampan.apiserver.authn.options import AuthenticationOptions
from sampan.apiserver.services.ranges import IPRange, PortRange
from sampan.storage.factory import StorageOptions

#: Upstream's request body limit (``--max-request-body-bytes`` defaults to 3 MiB).
DEFAULT_MAX_BODY_BYTES = 3 * 1024 * 1024

COMPONENT_STATUS_SERVERS = {"scheduler": "http://127.0.0.1:10259/healthz",
                            "controller-manager": "http://127.0.0.1:10257/healthz"}
"""Where upstream's kube-apiserver looks for the scheduler and controller-manager (``componentstatuses``)."""

SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


@dataclass(frozen=True)
class SecureServing:
    """HTTPS serving (``--tls-cert-file``, ``--tls-private-key-file``)."""

    cert_file: Path
    """The serving certificate (PEM, followed by any intermediates)."""
    key_file: Path
    client_ca_file: Path | None = None
    """``--client-ca-file``: the TLS layer asks for client certificates signed by these CAs."""


@dataclass(frozen=True)
class KubeletClientOptions:
    """How the API server reaches kubelets (logs, exec, port-forward, proxy)."""

    cert_file: Path | None = None
    """``--kubelet-client-certificate``: the API server's client certificate towards kubelets."""
    key_file: Path | None = None
    """``--kubelet-client-key``."""
    ca_file: Path | None = None
    """``--kubelet-certificate-authority``: verify kubelets' serving certificates against it (unset:
    not verified, as upstream)."""


@dataclass(frozen=True)
class APIServerConfig:
    bind_address: str = "127.0.0.1"
    """Address to listen on; plain HTTP (no ``tls``) only on loopback."""
    port: int = 6443
    """TCP port (HTTPS with ``tls``, else plain HTTP); 0 picks a free one (the bound port is then on
    :attr:`APIServer.port`)."""
    tls: SecureServing | None = None
    """Serve HTTPS on ``port``, requests authenticated by ``authentication``'s chain. None: plain HTTP on a
    loopback ``port``, every request the insecure admin (embedded servers, tests, ``sampan up --insecure``)."""
    reuse_port: bool = False
    """Bind with ``SO_REUSEPORT``, so several processes (``sampan apiserver --workers N``) serve one port
    and the kernel spreads connections over them."""
    insecure_port: int | None = None
    """With ``tls``: also serve plain HTTP on 127.0.0.1 at this port (``--insecure-port``; 0 picks a free
    one, see :attr:`APIServer.insecure_port`), every request there the insecure admin."""
    authentication: AuthenticationOptions | None = None
    """The authentication chain's options (with ``tls``; None: the defaults)."""
    service_account_signing_key_file: Path | None = None
    """``--service-account-signing-key-file``: the private key TokenRequest signs with (EC or RSA). None:
    a key kept under the data dir (sqlite) or in memory."""
    service_account_issuer: str = ""
    """``--service-account-issuer`` (the first one): ``iss`` of issued tokens; empty: upstream's
    conventional ``https://kubernetes.default.svc.cluster.local``."""
    kubelet_client: KubeletClientOptions = field(default_factory=KubeletClientOptions)
    proxy_client_cert_file: Path | None = None
    """``--proxy-client-cert-file`` (with ``--proxy-client-key-file``): the front-proxy client certificate
    the aggregation layer presents to extension API servers (their request-header authentication)."""
    proxy_client_key_file: Path | None = None
    storage: StorageOptions = field(default_factory=StorageOptions)
    component_status_servers: Mapping[str, str] = field(default_factory=lambda: dict(COMPONENT_STATUS_SERVERS))
    """``componentstatuses``: component name -> its health URL (etcd members are added from ``storage``)."""
    """Which store to open (``sampan apiserver --storage``)."""
    default_watch_cache_size: int = 1000
    """Recent events kept per resource type for watch resumption. Upstream's flag defaults to 100 but its
    cache sizes itself dynamically up to far more; 1000 gives similar behaviour for informers that
    reconnect after a short break. A watch from an older version gets 410 Expired."""
    watcher_queue_size: int = 1000
    """Events buffered per watcher; a watcher that falls this far behind is closed (it re-watches)."""
    bookmark_interval: float = 60.0
    """Seconds between BOOKMARK events to watchers that asked for them (upstream: about a minute)."""
    min_request_timeout: float = 1800.0
    """A watch without ``timeoutSeconds`` ends after a random time in [this, 2 x this] (upstream's
    ``--min-request-timeout``)."""
    compaction_interval: float = 300.0
    """Seconds between store compactions (``--etcd-compaction-interval``, 5m); 0 disables."""
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    """Larger request bodies get 413 RequestEntityTooLarge."""
    consistent_read_timeout: float = 3.0
    """How long a consistent read or a watch from a future version waits for the cache to catch up
    (upstream: 3s) before it fails with a 504 Timeout / reads the store directly."""
    list_page_size: int = 1000
    """Keys read per store round trip when the cache (re)loads and for filtered paged lists."""
    system_namespaces: tuple[str, ...] = SYSTEM_NAMESPACES
    """Namespaces created at start when missing."""
    default_not_ready_toleration_seconds: int = 300
    """DefaultTolerationSeconds admission: ``tolerationSeconds`` of the ``node.kubernetes.io/not-ready``
    NoExecute toleration added to every pod without one (``--default-not-ready-toleration-seconds``)."""
    default_unreachable_toleration_seconds: int = 300
    """Same for ``node.kubernetes.io/unreachable`` (``--default-unreachable-toleration-seconds``)."""
    service_cluster_ip_range: str = "100.96.0.0/16"
    """Where Service cluster IPs come from (``--service-cluster-ip-range``); its 1st address is the
    ``kubernetes`` Service's, its 10th is kept for cluster DNS (allocated only when asked for)."""
    service_node_port_range: str = "30000-32767"
    """Node ports of NodePort/LoadBalancer Services (``--service-node-port-range``)."""
    service_repair_interval: float = 180.0
    """Seconds between runs of the cluster-IP/node-port repair loop (upstream: 3 minutes)."""
    service_leak_repairs: int = 3
    """A value allocated but used by no Service is freed once this many repair runs in a row saw it so
    (upstream's ``numRepairsBeforeLeakCleanup``: a create in flight is never robbed)."""
    advertise_address: str = ""
    """The address other members of the cluster reach this server at (``--advertise-address``; empty:
    the bind address). The ``kubernetes`` Service's endpoints list it."""
    endpoint_reconciler_interval: float = 10.0
    """Seconds between renewals of this server's master lease and reconciles of the ``kubernetes``
    Endpoints/EndpointSlice (upstream: 10 s)."""
    master_lease_ttl: float = 15.0
    """A server whose master lease is older than this is dropped from the endpoints (upstream: 15 s)."""
    kubernetes_service: bool = True
    """Create the ``default/kubernetes`` Service and keep its endpoints (off only in unit tests)."""
    authorization_modes: tuple[str, ...] = ()
    """``--authorization-mode`` (upstream's names: ``Node``, ``RBAC``, ``AlwaysAllow``, ``AlwaysDeny``);
    empty: ``Node,RBAC`` when an authentication chain is configured, ``AlwaysAllow`` otherwise (the
    insecure / embedded server, whose every request is the insecure admin anyway)."""
    custom_resources: bool = True
    """Serve the custom resources CRDs define (registered at runtime; ``sampan.apiserver.customresources``)."""
    disable_admission_plugins: tuple[str, ...] = ("ServiceAccount",)
    """Admission plugins not run (``--disable-admission-plugins``). Embedded servers (tests,
    ``sampan.testing``) leave ServiceAccount off, as controller-runtime's envtest does: without a
    serviceaccount controller no ``default`` account exists and every pod create would be refused.
    ``sampan apiserver`` (and so ``sampan up``) runs every plugin unless told otherwise, as upstream."""
    encryption_provider_config: str = ""
    """``--encryption-provider-config``: an EncryptionConfiguration file; values of the resources it names
    are encrypted at rest (``sampan.apiserver.encryption``). Empty: stored as they are."""
    audit: AuditOptions = field(default_factory=AuditOptions)
    """``--audit-policy-file``, ``--audit-log-*``, ``--audit-webhook-*`` (:mod:`sampan.apiserver.audit`);
    the default audits nothing."""
    enable_priority_and_fairness: bool = True
    """API Priority and Fairness (``--enable-priority-and-fairness``); off: the plain max-in-flight limiter."""
    max_requests_inflight: int = 400
    """``--max-requests-inflight``: with APF, part of the server's seats; without, the read-only limit."""
    max_mutating_requests_inflight: int = 200
    """``--max-mutating-requests-inflight``: with APF, the rest of the seats; without, the mutating limit."""
    apf_queue_wait_limit: float = 15.0
    """Seconds a request may wait in an APF queue before 429 (upstream: a quarter of the 1m request timeout)."""
    apf_borrowing_period: float = 10.0
    """Seconds between re-divisions of seats among priority levels by demand (upstream: 10 s)."""

    def __post_init__(self) -> None:
        if self.tls is None and not is_loopback(self.bind_address):
            raise ValueError(
                f"refusing to serve plain HTTP on non-loopback address {self.bind_address}; "
                "serve TLS (--tls-cert-file) or use 127.0.0.1"
            )
        if self.insecure_port is not None and not 0 <= self.insecure_port <= 65535:
            raise ValueError(f"--insecure-port {self.insecure_port} out of range 0-65535")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port {self.port} out of range 0-65535")
        if self.default_watch_cache_size < 1:
            raise ValueError("--default-watch-cache-size must be at least 1")
        if self.watcher_queue_size < 1:
            raise ValueError("watcher queue size must be at least 1")
        if self.bookmark_interval <= 0:
            raise ValueError("bookmark interval must be positive")
        if self.compaction_interval < 0:
            raise ValueError("--etcd-compaction-interval may not be negative")
        IPRange.parse(self.service_cluster_ip_range)
        PortRange.parse(self.service_node_port_range)
        if self.advertise_address:
            try:
                ipaddress.ip_address(self.advertise_address)
            except ValueError:
                raise ValueError(f"--advertise-address {self.advertise_address!r} is not an IP address") from None
        if self.max_requests_inflight < 0 or self.max_mutating_requests_inflight < 0:
            raise ValueError("--max-requests-inflight and --max-mutating-requests-inflight may not be negative")
        if self.enable_priority_and_fairness and self.max_requests_inflight + self.max_mutating_requests_inflight < 1:
            raise ValueError("API Priority and Fairness needs --max-requests-inflight + "
                             "--max-mutating-requests-inflight >= 1")
        if self.apf_queue_wait_limit <= 0 or self.apf_borrowing_period <= 0:
            raise ValueError("APF queue wait limit and borrowing period must be positive")
        if self.service_repair_interval <= 0 or self.endpoint_reconciler_interval <= 0 or self.master_lease_ttl <= 0:
            raise ValueError("repair and endpoint reconciler periods must be positive")


def is_loopback(address: str) -> bool:
    """True for ``localhost`` and loopback IPv4/IPv6 literals."""
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False

__all__ = [
    "DEFAULT_MAX_BODY_BYTES", "SYSTEM_NAMESPACES", "APIServerConfig", "AuthenticationOptions", "KubeletClientOptions",
    "SecureServing", "StorageOptions", "is_loopback",
]
