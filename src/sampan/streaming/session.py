"""An asyncio SPDY/3.1 session, server side, as Kubernetes streaming uses it: the client opens every
stream (SYN_STREAM with ``streamtype``/``port``/``requestid`` headers), the server replies at once
and then both sides send DATA, half-closing with FIN; RST_STREAM ends a stream both ways.

Flow control is not enforced (as the Go ``spdystream`` peers do: they neither honour nor need
WINDOW_UPDATE), SETTINGS are ignored, PINGs are answered, GOAWAY stops accepting.

Ownership: :meth:`SpdySession.run` is the only reader of the transport; writes from any task go
through one lock, so frames (and the header compressor's state) stay in order. Each stream's inbound
queue is bounded: a stream nobody reads stops the reader loop (back-pressure on the connection), as in
``spdystream``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sampan.streaming import spdy
from sampan.streaming.idle import IdleWatch
from sampan.streaming.transport import ByteStream

log = logging.getLogger(__name__)

INBOUND_QUEUE = 64
ACCEPT_QUEUE = 256
MAX_DATA_FRAME = 32 * 1024


class SpdyStream:
    """One stream. States: open -> (local FIN sent | remote FIN seen) -> closed; reset closes both."""

    def __init__(self, session: SpdySession, stream_id: int, headers: spdy.Headers) -> None:
        self.session = session
        self.id = stream_id
        self.headers = headers
        self._inbound: asyncio.Queue[bytes | None] = asyncio.Queue(INBOUND_QUEUE)
        self.remote_closed = False
        self.local_closed = False
        self.reset = False

    def header(self, name: str) -> str:
        values = self.headers.get(name.lower()) or [""]
        return values[0]

    async def read(self) -> bytes:
        """The next chunk from the client; b"" after its FIN, a reset, or the end of the connection."""
        if self.remote_closed and self._inbound.empty():
            return b""
        chunk = await self._inbound.get()
        if chunk is None:
            self.remote_closed = True
            return b""
        return chunk

    async def write(self, data: bytes) -> None:
        if self.local_closed or self.reset:
            raise ConnectionResetError(f"stream {self.id} is closed")
        for i in range(0, len(data), MAX_DATA_FRAME):
            await self.session.send(spdy.DataFrame(self.id, data[i : i + MAX_DATA_FRAME]))

    async def close(self) -> None:
        """Half-close: FIN (once)."""
        if self.local_closed or self.reset:
            return
        self.local_closed = True
        with contextlib.suppress(ConnectionError):
            await self.session.send(spdy.DataFrame(self.id, b"", spdy.FLAG_FIN))

    async def send_reset(self, status: int = spdy.CANCEL) -> None:
        if self.reset:
            return
        self._remote_end()
        self.reset = True
        with contextlib.suppress(ConnectionError):
            await self.session.send(spdy.RstStream(self.id, status))

    def _remote_end(self) -> None:
        if not self.remote_closed:
            with contextlib.suppress(asyncio.QueueFull):
                self._inbound.put_nowait(None)
            self.remote_closed = True


class SpdySession:
    """The server side of one SPDY connection; :meth:`run` until the peer goes away or :meth:`close`."""

    def __init__(self, transport: ByteStream, *, idle: IdleWatch | None = None) -> None:
        self._transport = transport
        self._encoder = spdy.FrameEncoder()
        self._decoder = spdy.FrameDecoder()
        self._write_lock = asyncio.Lock()
        self.streams: dict[int, SpdyStream] = {}
        self._accepted: asyncio.Queue[SpdyStream | None] = asyncio.Queue(ACCEPT_QUEUE)
        self._last_stream = 0
        self.closed = False
        self.idle = idle or IdleWatch(0)

    async def send(self, frame: spdy.Frame) -> None:
        async with self._write_lock:
            if self.closed:
                raise ConnectionResetError("SPDY session closed")
            self.idle.touch()
            await self._transport.write(self._encoder.encode(frame))

    async def accept(self) -> SpdyStream | None:
        """The next stream the client opened (already replied to); None once the session ended."""
        return await self._accepted.get()

    async def run(self) -> None:
        """Read frames until the peer closes; then every stream and :meth:`accept` see the end."""
        try:
            while True:
                chunk = await self._transport.read()
                if not chunk:
                    break
                self.idle.touch()
                for frame in self._decoder.feed(chunk):
                    await self._dispatch(frame)
        except spdy.ProtocolError as err:
            log.info("SPDY protocol error, closing err=%s", err)
            with contextlib.suppress(ConnectionError):
                await self.send(spdy.GoAway(self._last_stream, 1))
        except ConnectionError:
            pass
        finally:
            self._end()

    def _end(self) -> None:
        for stream in self.streams.values():
            stream._remote_end()
        with contextlib.suppress(asyncio.QueueFull):
            self._accepted.put_nowait(None)

    async def _dispatch(self, frame: spdy.Frame) -> None:
        match frame:
            case spdy.DataFrame(stream_id=sid, data=data):
                stream = self.streams.get(sid)
                if stream is None or stream.remote_closed:
                    return
                if data:
                    await stream._inbound.put(data)
                if frame.fin:
                    stream._remote_end()
            case spdy.SynStream(stream_id=sid, headers=headers, flags=flags):
                if sid in self.streams or sid % 2 == 0:
                    await self.send(spdy.RstStream(sid, spdy.PROTOCOL_ERROR))
                    return
                stream = SpdyStream(self, sid, headers)
                self.streams[sid] = stream
                self._last_stream = max(self._last_stream, sid)
                if flags & spdy.FLAG_FIN:
                    stream._remote_end()
                await self.send(spdy.SynReply(sid, {}))
                await self._accepted.put(stream)
            case spdy.RstStream(stream_id=sid):
                stream = self.streams.get(sid)
                if stream is not None:
                    stream.reset = True
                    stream._remote_end()
            case spdy.Ping(id=pid):
                await self.send(spdy.Ping(pid))
            case spdy.GoAway():
                with contextlib.suppress(asyncio.QueueFull):
                    self._accepted.put_nowait(None)
            case _:
                pass

    def forget(self, stream: SpdyStream) -> None:
        """Drop a finished stream from the table (its id is never reused by the client)."""
        self.streams.pop(stream.id, None)

    async def close(self) -> None:
        """GOAWAY and close the transport (idempotent)."""
        if self.closed:
            return
        with contextlib.suppress(ConnectionError):
            await self.send(spdy.GoAway(self._last_stream, 0))
        self.closed = True
        self._end()
        await self._transport.close()
