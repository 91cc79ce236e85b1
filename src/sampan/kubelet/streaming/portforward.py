"""port-forward over SPDY (raw upgrade, or tunnelled in WebSocket as ``SPDY/3.1+portforward.k8s.io``)
and over the WebSocket channel protocol (``portforward.k8s.io``, the Python client's).

SPDY: the client opens, per forwarded connection, an ``error`` stream and a ``data`` stream with the
same ``requestid`` and a ``port`` header; the server connects to the port and copies bytes both ways
(FIN on the data stream half-closes the TCP connection and vice versa); a failure to connect is
written on the error stream. WebSocket: the ``ports`` query names the ports; port i uses channels 2i
(data) and 2i+1 (error), each opened by a 2-byte little-endian port number from the server; the
connection ends when every port's connection ended.

Each forwarded connection is a task owned by its session's task set, cancelled when the session ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import WSMsgType, web

from sampan.kubelet.streaming.interface import PortConnection, StreamingError
from sampan.streaming import channels
from sampan.streaming.idle import IdleWatch
from sampan.streaming.session import SpdySession, SpdyStream
from sampan.streaming.transport import ByteStream

log = logging.getLogger(__name__)

QUEUE = 64
"""Client messages buffered per forwarded port (the WebSocket reader waits beyond that)."""

Dial = Callable[[int], Awaitable[PortConnection]]
"""port -> a connection to it inside the pod (StreamingError if refused)."""


def parse_port(raw: str) -> int:
    try:
        port = int(raw)
    except ValueError:
        raise StreamingError(f"invalid port {raw!r}", code=400) from None
    if not 0 < port < 65536:
        raise StreamingError(f"invalid port {port}: out of range", code=400)
    return port


async def _pump_to_pod(stream: SpdyStream, conn: PortConnection) -> None:
    while chunk := await stream.read():
        await conn.write(chunk)
    await conn.write_eof()


async def _pump_from_pod(conn: PortConnection, stream: SpdyStream) -> None:
    while chunk := await conn.read():
        await stream.write(chunk)
    await stream.close()


async def _forward_pair(session: SpdySession, error: SpdyStream, data: SpdyStream, dial: Dial) -> None:
    try:
        port = parse_port(data.header("port"))
        conn = await dial(port)
    except StreamingError as err:
        with contextlib.suppress(ConnectionError):
            await error.write(err.message.encode())
            await error.close()
            await data.close()
        session.forget(error)
        session.forget(data)
        return
    try:
        await asyncio.gather(_pump_to_pod(data, conn), _pump_from_pod(conn, data))
        if message := await conn.error():
            with contextlib.suppress(ConnectionError):
                await error.write(message.encode())
    except (ConnectionError, OSError) as err:
        log.debug("port-forward connection ended err=%r", err)
    finally:
        await conn.close()
        with contextlib.suppress(ConnectionError):
            await error.close()
            await data.close()
        session.forget(error)
        session.forget(data)


async def serve_spdy(transport: ByteStream, dial: Dial, *, idle_timeout: float) -> None:
    """Serve one port-forward SPDY session until the client goes away (or it idles out)."""
    idle = IdleWatch(idle_timeout)
    session = SpdySession(transport, idle=idle)
    pending: dict[str, dict[str, SpdyStream]] = {}
    tasks: set[asyncio.Task[None]] = set()

    async def accept_loop() -> None:
        while (stream := await session.accept()) is not None:
            kind, rid = stream.header("streamtype"), stream.header("requestid")
            pair = pending.setdefault(rid, {})
            pair[kind] = stream
            if "error" in pair and "data" in pair:
                del pending[rid]
                task = asyncio.create_task(_forward_pair(session, pair["error"], pair["data"], dial))
                tasks.add(task)
                task.add_done_callback(tasks.discard)

    reading = asyncio.ensure_future(session.run())
    accepting = asyncio.ensure_future(accept_loop())
    expiry = asyncio.ensure_future(idle.expired())
    try:
        await asyncio.wait([reading, expiry], return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in [accepting, expiry, *tasks]:
            t.cancel()
        await session.close()
        reading.cancel()
        for t in [accepting, expiry, reading, *list(tasks)]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t


async def serve_websocket(request: web.Request, dial: Dial, *, idle_timeout: float) -> web.StreamResponse:
    """The WebSocket channel protocol: one connection per port named in ``ports``."""
    raw_ports = [p for value in request.query.getall("ports", []) for p in value.split(",") if p]
    ws = web.WebSocketResponse(protocols=(channels.PORT_FORWARD, channels.PORT_FORWARD_BASE64), max_msg_size=0)
    await ws.prepare(request)
    b64 = channels.is_base64(ws.ws_protocol)
    idle = IdleWatch(idle_timeout)
    lock = asyncio.Lock()

    async def send(channel: int, data: bytes) -> None:
        idle.touch()
        message = channels.encode_message(channel, data, base64_text=b64)
        async with lock:
            if isinstance(message, str):
                await ws.send_str(message)
            else:
                await ws.send_bytes(message)

    # the client may send as soon as it has the port prefixes, before the dial completes (a CRI runtime
    # takes a round trip): its bytes wait in the port's queue, which a pump empties into the connection
    inbound: dict[int, asyncio.Queue[bytes]] = {i: asyncio.Queue(QUEUE) for i in range(len(raw_ports))}

    async def to_pod(queue: asyncio.Queue[bytes], conn: PortConnection) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while True:
                await conn.write(await queue.get())

    async def forward(index: int, raw: str) -> None:
        try:
            port = parse_port(raw)
            await send(2 * index, channels.port_prefix(port))
            await send(2 * index + 1, channels.port_prefix(port))
            conn = await dial(port)
        except StreamingError as err:
            inbound.pop(index, None)
            with contextlib.suppress(ConnectionError, RuntimeError):
                await send(2 * index + 1, err.message.encode())
            return
        pump = asyncio.ensure_future(to_pod(inbound[index], conn))
        try:
            while chunk := await conn.read():
                await send(2 * index, chunk)
            if message := await conn.error():
                await send(2 * index + 1, message.encode())
        finally:
            inbound.pop(index, None)
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pump
            await conn.close()

    async def receive() -> None:
        async for msg in ws:
            if msg.type not in (WSMsgType.BINARY, WSMsgType.TEXT):
                continue
            idle.touch()
            try:
                channel, data = channels.decode_message(msg.data, base64_text=b64)
            except channels.ChannelError:
                continue
            queue = inbound.get(channel // 2) if channel % 2 == 0 else None
            if queue is not None and data:
                await queue.put(data)

    forwards = [asyncio.ensure_future(forward(i, raw)) for i, raw in enumerate(raw_ports)]
    receiver = asyncio.ensure_future(receive())
    expiry = asyncio.ensure_future(idle.expired())
    all_done: asyncio.Future[list[BaseException | None]] = asyncio.ensure_future(
        asyncio.gather(*forwards, return_exceptions=True))
    owned: list[asyncio.Future[Any]] = [*forwards, receiver, expiry, all_done]
    try:
        await asyncio.wait(owned[-3:], return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in owned:
            t.cancel()
        for t in owned:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        with contextlib.suppress(ConnectionError, RuntimeError):
            await ws.close()
    return ws
