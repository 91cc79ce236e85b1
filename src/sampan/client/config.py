"""How to reach an API server: address, credentials, TLS and client-side rate limits.

:class:`RESTConfig` is what :mod:`sampan.client.kubeconfig` produces and :class:`sampan.client.rest.RESTClient`
consumes. Defaults follow client-go's ``rest.Config`` (QPS 5, burst 10); components raise them.
"""

from __future__ import annotations

import dataclasses
import os
import ssl
import tempfile
import weakref
from dataclasses import dataclass, field


class ConfigError(ValueError):
    """A configuration that cannot work (missing server, unreadable credentials); the message says why."""


@dataclass(frozen=True, slots=True)
class RESTConfig:
    host: str
    """Base URL, e.g. ``https://127.0.0.1:6443`` (a path prefix is allowed)."""
    bearer_token: str | None = None
    bearer_token_file: str | None = None
    """Read on every request that needs it, so rotated service-account tokens are picked up."""
    username: str | None = None
    password: str | None = None
    ca_data: bytes | None = None
    """PEM bundle of CAs to trust; ``ca_file`` names a file holding one."""
    ca_file: str | None = None
    cert_data: bytes | None = None
    """Client certificate (PEM); with ``key_data``, or files ``cert_file``/``key_file``."""
    key_data: bytes | None = field(default=None, repr=False)
    cert_file: str | None = None
    key_file: str | None = None
    insecure: bool = False
    """Skip verification of the server's certificate (``insecure-skip-tls-verify``)."""
    tls_server_name: str | None = None
    qps: float = 5.0
    """Client-side request rate (``DEFAULT_QPS``); components use :data:`flowcontrol.COMPONENT_QPS`;
    0 or less disables the limit."""
    burst: int = 10
    timeout: float | None = None
    """Per-request timeout in seconds for non-watch requests; None means none."""
    max_connections: int = 64
    """Connections a client keeps at most for non-watch requests (0: no limit); a request beyond them waits,
    inside its ``timeout``, for one to be free. Upstream's client multiplexes every request over one HTTP/2
    connection; over HTTP/1.1 each request in flight needs a connection of its own, and without a bound a
    burst against a slow server opened hundreds, each a TLS handshake on the server's event loop (issue 21:
    handshakes took a quarter of the API server's loop at 1,000 hollow nodes). Watches use a pool of
    their own, without a limit (each holds its connection for its lifetime)."""
    user_agent: str = "sampan-client/0.1"
    namespace: str = "default"
    """The namespace of the kubeconfig context (or the pod's, in cluster)."""

    def __post_init__(self) -> None:
        if not self.host:
            raise ConfigError("no server address: set the cluster's server in the kubeconfig")
        if not self.host.startswith(("http://", "https://")):
            object.__setattr__(self, "host", "https://" + self.host)

    @property
    def is_tls(self) -> bool:
        return self.host.startswith("https://")

    def token(self) -> str | None:
        """The bearer token, re-read from ``bearer_token_file`` when one is set."""
        if self.bearer_token_file:
            try:
                with open(self.bearer_token_file, encoding="utf-8") as f:
                    return f.read().strip()
            except OSError as e:
                raise ConfigError(f"cannot read token file {self.bearer_token_file}: {e.strerror}") from e
        return self.bearer_token

    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context for ``https`` hosts (None for plain http)."""
        if not self.is_tls:
            return None
        # With a CA given, trust only it (as client-go does); otherwise the system's trust store.
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT) if self.ca_file or self.ca_data else ssl.create_default_context()
        try:
            if self.ca_file:
                ctx.load_verify_locations(cafile=self.ca_file)
            if self.ca_data:
                ctx.load_verify_locations(cadata=self.ca_data.decode("ascii"))
            if self.cert_file or self.cert_data:
                _load_client_cert(ctx, self)
        except (ssl.SSLError, OSError, UnicodeDecodeError) as e:
            raise ConfigError(f"cannot load TLS material: {e}") from e
        if self.insecure:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        return ctx


def heartbeat_config(config: RESTConfig, *, purpose: str, timeout: float | None) -> RESTConfig:
    """The configuration of a component's heartbeat client (leader election, the node Lease, node status):
    the same server and credentials, ``purpose`` appended to the user agent, a per-request ``timeout``, and
    no client-side rate limit (upstream's kubelet heartbeat client sets QPS -1). A
    :class:`~sampan.client.rest.RESTClient` built from it has its own token bucket and its own connection
    pool, so no heartbeat ever queues behind the component's work requests (docs/liveness.md)."""
    return dataclasses.replace(config, qps=0.0, user_agent=f"{config.user_agent} {purpose}", timeout=timeout)


_FILE_CONTEXTS: dict[tuple[str, str | None], weakref.WeakSet[ssl.SSLContext]] = {}
"""(cert file, key file) -> the live TLS contexts loaded from them (for :func:`reload_client_certificates`)."""


def reload_client_certificates(cert_file: str) -> int:
    """Load ``cert_file`` (and its key file) again into every live TLS context of this process that was
    built from it, so new connections present the renewed certificate (client-go's rotating client
    certificates; a kubelet rotating its own). Returns how many contexts were reloaded."""
    count = 0
    for (cert, key), contexts in list(_FILE_CONTEXTS.items()):
        if cert != cert_file:
            continue
        for ctx in list(contexts):
            ctx.load_cert_chain(cert, key)
            count += 1
    return count


def _load_client_cert(ctx: ssl.SSLContext, cfg: RESTConfig) -> None:
    if cfg.cert_file and not cfg.cert_data:
        ctx.load_cert_chain(cfg.cert_file, cfg.key_file)
        _FILE_CONTEXTS.setdefault((cfg.cert_file, cfg.key_file), weakref.WeakSet()).add(ctx)
        return
    # ssl wants files: write the PEM data to private temporary files just long enough to load them.
    with tempfile.TemporaryDirectory(prefix="sampan-tls-") as tmp:
        cert_path = os.path.join(tmp, "client.crt")
        key_path = os.path.join(tmp, "client.key")
        with open(os.open(cert_path, os.O_WRONLY | os.O_CREAT, 0o600), "wb") as f:
            f.write(cfg.cert_data or b"")
        key = cfg.key_data
        if key is None and cfg.key_file:
            with open(cfg.key_file, "rb") as kf:
                key = kf.read()
        if key is None:
            raise ConfigError("client certificate given without a client key")
        with open(os.open(key_path, os.O_WRONLY | os.O_CREAT, 0o600), "wb") as f:
            f.write(key)
        ctx.load_cert_chain(cert_path, key_path)
