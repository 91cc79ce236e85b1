"""The byte-stream seam a SPDY session runs over: a raw upgraded TCP connection or a WebSocket whose
binary messages carry the bytes (``SPDY/3.1+portforward.k8s.io``)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Protocol

from aiohttp import WSMsgType, web


class ByteStream(Protocol):
    async def read(self) -> bytes:
        """The next chunk; b"" once the peer closed."""
        ...

    async def write(self, data: bytes) -> None: ...

    async def close(self) -> None: ...


class WebSocketBytes:
    """A :class:`ByteStream` over an aiohttp server WebSocket: binary messages are chunks."""

    def __init__(self, ws: web.WebSocketResponse) -> None:
        self._ws = ws

    async def read(self) -> bytes:
        while True:
            msg = await self._ws.receive()
            if msg.type == WSMsgType.BINARY:
                if msg.data:
                    return bytes(msg.data)
                continue
            if msg.type == WSMsgType.TEXT:
                continue
            return b""

    async def write(self, data: bytes) -> None:
        await self._ws.send_bytes(data)

    async def close(self) -> None:
        with contextlib.suppress(ConnectionError, RuntimeError):
            await self._ws.close()


class StreamBytes:
    """A :class:`ByteStream` over an asyncio reader and a write function with back-pressure."""

    def __init__(self, reader: asyncio.StreamReader, writer: RawWriter) -> None:
        self._reader = reader
        self._writer = writer

    async def read(self) -> bytes:
        try:
            return await self._reader.read(65536)
        except (ConnectionError, asyncio.IncompleteReadError):
            return b""

    async def write(self, data: bytes) -> None:
        await self._writer.write(data)

    async def close(self) -> None:
        self._writer.close()


class RawWriter(Protocol):
    async def write(self, data: bytes) -> None: ...

    def close(self) -> None: ...
