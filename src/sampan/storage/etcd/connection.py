"""One gRPC channel to an etcd cluster, and the mapping from gRPC failures to storage errors.

Several members are reached through a single channel whose target lists every member address
(``ipv4:10.0.0.1:2379,10.0.0.2:2379``) with the ``round_robin`` policy: calls go to members whose
connection is ready, so a dead member only fails the calls that were in flight on it. Those calls
raise :class:`~sampan.storage.errors.Unavailable` ("may or may not have happened"); the caller
decides whether to retry.

With :class:`EtcdTLS` (``https://`` member URLs) the channel is TLS with a client certificate, as
kube-apiserver's ``--etcd-cafile``/``--etcd-certfile``/``--etcd-keyfile``: the members' certificate is
verified against the CA for the host name of the first URL (every member's certificate must name it).
"""

from __future__ import annotations

import asyncio
import socket
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aetcd import rpc

from sampan.storage.errors import Compacted, StorageError, Unavailable

#: gRPC codes that mean "the cluster did not answer (in time)".
_UNAVAILABLE_CODES = frozenset(
    {
        rpc.StatusCode.UNAVAILABLE,
        rpc.StatusCode.DEADLINE_EXCEEDED,
        rpc.StatusCode.CANCELLED,
        rpc.StatusCode.RESOURCE_EXHAUSTED,
    }
)
_MAX_MESSAGE = 2**31 - 1
_DEFAULT_PORT = 2379


@dataclass(frozen=True)
class EtcdTLS:
    """Client TLS towards etcd: the CA that signed the members' serving certificates, and our client
    certificate and key (PEM files)."""

    ca_file: str
    cert_file: str
    key_file: str

    def credentials(self) -> Any:
        import grpc

        return grpc.ssl_channel_credentials(root_certificates=Path(self.ca_file).read_bytes(),
                                            private_key=Path(self.key_file).read_bytes(),
                                            certificate_chain=Path(self.cert_file).read_bytes())


def _split_url(url: str, *, tls: bool = False) -> tuple[str, int]:
    """``http://host:port`` (``https://`` with ``tls``; or ``host:port``) -> (host, port). Raises ValueError
    for anything else."""
    text = url.strip()
    scheme = "https" if tls else "http"
    parsed = urllib.parse.urlsplit(text if "://" in text else f"{scheme}://{text}")
    if parsed.scheme == "https" and not tls:
        raise ValueError(f"etcd server {url!r}: https needs --etcd-cafile, --etcd-certfile and --etcd-keyfile")
    if parsed.scheme != scheme or not parsed.hostname or parsed.path not in ("", "/"):
        raise ValueError(f"etcd server {url!r} is not of the form {scheme}://host:port")
    try:
        port = parsed.port or _DEFAULT_PORT
    except ValueError as e:
        raise ValueError(f"etcd server {url!r}: bad port") from e
    return parsed.hostname, port


def server_name(urls: list[str]) -> str:
    """The host name the members' certificates are checked against: the first URL's."""
    return urllib.parse.urlsplit(urls[0].strip()).hostname or "localhost"


async def resolve_target(urls: list[str], *, tls: bool = False) -> str:
    """A gRPC target naming every member by IPv4 address (host names are resolved once, here)."""
    if not urls:
        raise ValueError("no etcd servers given")
    loop = asyncio.get_running_loop()
    addresses: list[str] = []
    for url in urls:
        host, port = _split_url(url, tls=tls)
        try:
            infos = await loop.getaddrinfo(host, port, family=socket.AF_INET, type=socket.SOCK_STREAM)
        except OSError as e:
            raise ValueError(f"etcd server {url!r}: cannot resolve {host!r} to an IPv4 address: {e}") from e
        address = f"{infos[0][4][0]}:{port}"
        if address not in addresses:
            addresses.append(address)
    return "ipv4:" + ",".join(addresses)


def open_channel(target: str, *, tls: EtcdTLS | None = None, name: str = "localhost") -> Any:
    """A gRPC channel to ``target`` (TLS with ``tls``, checking the members' certificates for ``name``)
    with large message limits and keep-alive pings.

    Keep-alive is every 10 s (etcd refuses pings more often than every 5 s by default) so a member
    that vanished without closing its connection is noticed.
    """
    options = [
        ("grpc.lb_policy_name", "round_robin"),
        ("grpc.max_receive_message_length", _MAX_MESSAGE),
        ("grpc.max_send_message_length", _MAX_MESSAGE),
        ("grpc.keepalive_time_ms", 10_000),
        ("grpc.keepalive_timeout_ms", 5_000),
        ("grpc.initial_reconnect_backoff_ms", 100),
        ("grpc.max_reconnect_backoff_ms", 2_000),
    ]
    if tls is not None:
        return rpc.secure_channel(target, tls.credentials(),
                                  options=[*options, ("grpc.ssl_target_name_override", name)])
    return rpc.insecure_channel(target, options=options)


def is_rpc_error(error: BaseException) -> bool:
    return isinstance(error, rpc.AioRpcError)


def translate(error: Any, *, requested: int = 0, compacted: int = 0) -> StorageError:
    """The storage error for a failed gRPC call (``error`` is a ``grpc.aio.AioRpcError``).

    ``requested``/``compacted`` fill :class:`Compacted` when etcd says the revision is compacted.
    """
    code = error.code()
    details = error.details() or ""
    if code == rpc.StatusCode.OUT_OF_RANGE and "compacted" in details:
        return Compacted(requested, compacted)
    if code == rpc.StatusCode.OUT_OF_RANGE and "future revision" in details:
        return StorageError(f"revision {requested} is newer than the store's current revision")
    if code in _UNAVAILABLE_CODES:
        return Unavailable(f"etcd unavailable: {code.name}: {details}")
    return StorageError(f"etcd error: {code.name}: {details}")


def is_too_large(error: Any) -> bool:
    """etcd refused the request because it exceeds ``--max-request-bytes``."""
    return bool(error.code() == rpc.StatusCode.INVALID_ARGUMENT and "too large" in (error.details() or ""))
