"""exec and attach over WebSocket (channel protocols v1-v5, base64) and SPDY/3.1 (v1-v4).

One request = one command. Its lifetime is the first of: the command ends (its exit status goes on
the error channel, then the connection closes), the client goes away, or the idle timeout passes
(both: the command is cancelled, which kills it). Every task started here is cancelled and awaited
before the handler returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from aiohttp import WSMsgType, web

from sampan.kubelet.streaming.interface import CommandIO, StreamingError
from sampan.streaming import channels
from sampan.streaming.idle import IdleWatch
from sampan.streaming.session import SpdySession, SpdyStream
from sampan.streaming.transport import StreamBytes
from sampan.streaming.upgrade import hijack

log = logging.getLogger(__name__)

QUEUE = 16

Run = Callable[[CommandIO], Awaitable[int | None]]
"""Runs the command (or attach) against ``io``; its exit code (None: attach, no code)."""


@dataclass(frozen=True, slots=True)
class CommandOptions:
    """The query of an exec/attach request (upstream's ``PodExecOptions``)."""

    command: tuple[str, ...]
    stdin: bool
    stdout: bool
    stderr: bool
    tty: bool

    @classmethod
    def from_query(cls, request: web.Request) -> CommandOptions:
        def flag(name: str, default: bool = False) -> bool:
            raw = request.query.get(name)
            return default if raw is None else raw.lower() in ("1", "true", "yes", "")

        return cls(command=tuple(request.query.getall("command", [])), stdin=flag("stdin"),
                   stdout=flag("stdout", True), stderr=flag("stderr", True), tty=flag("tty"))


def _status_of(code: int | None, error: BaseException | None, command: list[str]) -> dict[str, object]:
    if error is not None:
        message = error.message if isinstance(error, StreamingError) else f"{error}"
        return channels.failure_status(message)
    return channels.exit_status(code or 0, command)


async def _queue_iter(queue: asyncio.Queue[bytes | None]) -> AsyncIterator[bytes]:
    while (item := await queue.get()) is not None:
        yield item


async def _size_iter(queue: asyncio.Queue[channels.TerminalSize | None]) -> AsyncIterator[channels.TerminalSize]:
    while (item := await queue.get()) is not None:
        yield item


async def _race(run: Awaitable[int | None], *stops: Awaitable[object]) -> tuple[bool, int | None, BaseException | None]:
    """Run ``run`` until it finishes or any of ``stops`` does (then it is cancelled).
    (finished, exit code, error)."""
    main = asyncio.ensure_future(run)
    others = [asyncio.ensure_future(s) for s in stops]
    try:
        await asyncio.wait([main, *others], return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in [main, *others]:
            if not t.done():
                t.cancel()
        for t in [main, *others]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
    if main.cancelled():
        return False, None, None
    err = main.exception()
    if err is not None and not isinstance(err, StreamingError):
        log.warning("streaming command failed err=%r", err)
    return True, (None if err is not None else main.result()), err


async def serve_websocket(request: web.Request, opts: CommandOptions, run: Run, *,
                          idle_timeout: float) -> web.StreamResponse:
    ws = web.WebSocketResponse(protocols=channels.REMOTE_COMMAND_WEBSOCKET, max_msg_size=0, autoping=True)
    await ws.prepare(request)
    protocol = ws.ws_protocol or channels.V1
    b64 = channels.is_base64(protocol)
    idle = IdleWatch(idle_timeout)
    lock = asyncio.Lock()
    stdin: asyncio.Queue[bytes | None] = asyncio.Queue(QUEUE)
    sizes: asyncio.Queue[channels.TerminalSize | None] = asyncio.Queue(QUEUE)

    async def send(channel: int, data: bytes) -> None:
        idle.touch()
        message = channels.encode_message(channel, data, base64_text=b64)
        async with lock:
            if isinstance(message, str):
                await ws.send_str(message)
            else:
                await ws.send_bytes(message)

    async def receive() -> None:
        """Until the client closes: stdin, resize and close-signal messages."""
        stdin_open, pending_resize = True, b""
        try:
            async for msg in ws:
                if msg.type not in (WSMsgType.BINARY, WSMsgType.TEXT):
                    continue
                idle.touch()
                try:
                    channel, data = channels.decode_message(msg.data, base64_text=b64)
                except channels.ChannelError:
                    continue
                if channel == channels.STDIN and opts.stdin and stdin_open and data:
                    await stdin.put(data)
                elif channel == channels.RESIZE and opts.tty:
                    found, pending_resize = channels.parse_resize(pending_resize + data)
                    for size in found:
                        await sizes.put(size)
                elif channel == channels.CLOSE and data[:1] == bytes((channels.STDIN,)) and stdin_open:
                    stdin_open = False
                    await stdin.put(None)
        finally:
            if stdin_open:
                with contextlib.suppress(asyncio.QueueFull):
                    stdin.put_nowait(None)

    async def out(channel: int) -> Callable[[bytes], Awaitable[None]]:
        async def sink(data: bytes) -> None:
            await send(channel, data)
        return sink

    io = CommandIO(stdin=_queue_iter(stdin) if opts.stdin else None,
                   stdout=await out(channels.STDOUT) if opts.stdout else None,
                   stderr=await out(channels.STDERR) if opts.stderr and not opts.tty else None,
                   tty=opts.tty, resize=_size_iter(sizes) if opts.tty and channels.has_resize(protocol) else None)
    receiver = asyncio.ensure_future(receive())
    try:
        finished, code, err = await _race(run(io), receiver, idle.expired())
        if finished:
            with contextlib.suppress(ConnectionError, RuntimeError):
                payload = channels.error_payload(_status_of(code, err, list(opts.command)), protocol)
                if payload or channels.has_status_errors(protocol):
                    await send(channels.ERROR, payload)
    finally:
        receiver.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await receiver
        with contextlib.suppress(ConnectionError, RuntimeError):
            await ws.close()
    return ws


async def _collect_streams(session: SpdySession, expected: set[str], timeout: float) -> dict[str, SpdyStream]:
    found: dict[str, SpdyStream] = {}

    async def collect() -> None:
        while not expected <= found.keys():
            stream = await session.accept()
            if stream is None:
                raise ConnectionResetError("client closed before opening its streams")
            found[stream.header("streamtype")] = stream

    await asyncio.wait_for(collect(), timeout)
    return found


async def _stream_chunks(stream: SpdyStream) -> AsyncIterator[bytes]:
    while chunk := await stream.read():
        yield chunk


async def _stream_sizes(stream: SpdyStream) -> AsyncIterator[channels.TerminalSize]:
    pending = b""
    while chunk := await stream.read():
        found, pending = channels.parse_resize(pending + chunk)
        for size in found:
            yield size


async def serve_spdy(request: web.Request, opts: CommandOptions, run: Run, *, protocol: str, idle_timeout: float,
                     stream_creation_timeout: float = 30.0) -> web.StreamResponse:
    resp, reader, writer = await hijack(request, {"Connection": "Upgrade", "Upgrade": "SPDY/3.1",
                                                  "X-Stream-Protocol-Version": protocol})
    idle = IdleWatch(idle_timeout)
    session = SpdySession(StreamBytes(reader, writer), idle=idle)
    reading = asyncio.ensure_future(session.run())
    expected = {"error"} | {name for name, on in (("stdin", opts.stdin), ("stdout", opts.stdout),
                                                   ("stderr", opts.stderr and not opts.tty)) if on}
    if opts.tty and channels.has_resize(protocol):
        expected.add("resize")
    try:
        try:
            streams = await _collect_streams(session, expected, stream_creation_timeout)
        except (TimeoutError, ConnectionError) as err:
            log.info("exec streams not opened err=%r", err)
            return resp

        def sink(name: str) -> Callable[[bytes], Awaitable[None]] | None:
            stream = streams.get(name)
            return stream.write if stream is not None else None

        io = CommandIO(stdin=_stream_chunks(streams["stdin"]) if "stdin" in streams else None,
                       stdout=sink("stdout"), stderr=sink("stderr"), tty=opts.tty,
                       resize=_stream_sizes(streams["resize"]) if "resize" in streams else None)
        finished, code, failure = await _race(run(io), asyncio.shield(reading), idle.expired())
        if finished:
            with contextlib.suppress(ConnectionError):
                for name in ("stdout", "stderr"):
                    if name in streams:
                        await streams[name].close()
                payload = channels.error_payload(_status_of(code, failure, list(opts.command)), protocol)
                if payload:
                    await streams["error"].write(payload)
                await streams["error"].close()
    finally:
        await session.close()
        reading.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await reading
    return resp


def failure_body(message: str, code: int) -> bytes:
    """A Status for a request refused before any upgrade."""
    reason = {400: "BadRequest", 404: "NotFound"}.get(code, "InternalError")
    return json.dumps({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                       "message": message, "reason": reason, "code": code}).encode()
