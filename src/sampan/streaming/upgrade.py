"""Taking over an upgraded HTTP connection on an aiohttp server (``101 Switching Protocols``) to
speak raw bytes on it (SPDY, or the API server's byte splice to the kubelet).

aiohttp hands the bytes that follow an upgrade request to a "payload parser" set on the request's
protocol (as its own WebSocket support does); :func:`hijack` installs one that feeds an
``asyncio.StreamReader`` and returns it with a writer that waits while the transport's buffer is
full. The response is marked to close the connection once the handler returns.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from aiohttp import web

HIGH_WATER = 256 * 1024
READ_LIMIT = 1 << 20


class _FeedParser:
    """The payload parser aiohttp feeds the upgraded connection's bytes to."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self._reader = reader

    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        self._reader.feed_data(data)
        return False, b""

    def feed_eof(self) -> None:
        self._reader.feed_eof()


class TransportWriter:
    """Writes to the upgraded transport, yielding while more than HIGH_WATER bytes are queued."""

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport

    async def write(self, data: bytes) -> None:
        if self._transport.is_closing():
            raise ConnectionResetError("connection closed")
        self._transport.write(data)
        while self._transport.get_write_buffer_size() > HIGH_WATER:
            if self._transport.is_closing():
                raise ConnectionResetError("connection closed")
            await asyncio.sleep(0.005)

    def close(self) -> None:
        self._transport.close()


def is_upgrade(request: web.Request, protocol: str) -> bool:
    """Whether ``request`` asks to upgrade to ``protocol`` (case-insensitive, e.g. ``spdy/3.1``)."""
    offered = [p.strip().lower() for p in request.headers.get("Upgrade", "").split(",")]
    connection = [p.strip().lower() for p in request.headers.get("Connection", "").split(",")]
    return protocol.lower() in offered and "upgrade" in connection


async def hijack(request: web.Request, headers: Mapping[str, str]) -> tuple[
        web.StreamResponse, asyncio.StreamReader, TransportWriter]:
    """Answer ``101`` with ``headers`` and take the connection over: (response to return from the
    handler, bytes the client sends next, writer to the client)."""
    resp = web.StreamResponse(status=101, headers=headers)
    resp.force_close()
    await resp.prepare(request)
    transport = request.transport
    protocol = request.protocol
    if transport is None or protocol is None:
        raise ConnectionResetError("client went away during the upgrade")
    reader = asyncio.StreamReader(limit=READ_LIMIT)
    reader.set_transport(transport)  # pauses reading the client while READ_LIMIT*2 bytes wait
    protocol.set_parser(_FeedParser(reader))  # type: ignore[arg-type]
    return resp, reader, TransportWriter(transport)
