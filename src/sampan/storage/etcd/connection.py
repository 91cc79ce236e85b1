"""One gRPC channel to an etcd cluster, and the mapping from gRPC failures to storage errors.

Several members are reached through a single channel whose target lists every member address
(``ipv4:10.0.0.1:2379,10.0.0.2:2379``) with the ``round_robin`` policy: calls go to members whose
connection is ready, so a dead member only fails the calls that were in flight on it. Those calls
raise :class:`~sampan.storage.errors.Unavailable` ("may or may not have happened"); the caller
decides whether to retry.
"""

from __future__ import annotations

import asyncio
import socket
import urllib.parse
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


def _split_url(url: str) -> tuple[str, int]:
    """``http://host:port`` (or ``host:port``) -> (host, port). Raises ValueError for anything else."""
    text = url.strip()
    parsed = urllib.parse.urlsplit(text if "://" in text else f"http://{text}")
    if parsed.scheme == "https":
        raise ValueError(f"etcd server {url!r}: TLS (https) is not supported yet; use http://")
    if parsed.scheme != "http" or not parsed.hostname or parsed.path not in ("", "/"):
        raise ValueError(f"etcd server {url!r} is not of the form http://host:port")
    try:
        port = parsed.port or _DEFAULT_PORT
    except ValueError as e:
        raise ValueError(f"etcd server {url!r}: bad port") from e
    return parsed.hostname, port


async def resolve_target(urls: list[str]) -> str:
    """A gRPC target naming every member by IPv4 address (host names are resolved once, here)."""
    if not urls:
        raise ValueError("no etcd servers given")
    loop = asyncio.get_running_loop()
    addresses: list[str] = []
    for url in urls:
        host, port = _split_url(url)
        try:
            infos = await loop.getaddrinfo(host, port, family=socket.AF_INET, type=socket.SOCK_STREAM)
        except OSError as e:
            raise ValueError(f"etcd server {url!r}: cannot resolve {host!r} to an IPv4 address: {e}") from e
        address = f"{infos[0][4][0]}:{port}"
        if address not in addresses:
            addresses.append(address)
    return "ipv4:" + ",".join(addresses)


def open_channel(target: str) -> Any:
    """An insecure gRPC channel to ``target`` with large message limits and keep-alive pings.

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
