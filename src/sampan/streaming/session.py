"""An asyncio SPDY/3.1 session, either side, as Kubernetes streaming uses it: the client opens every
stream (SYN_STREAM with ``streamtype``/``port``/``requestid`` headers), the server replies at once and
then both sides send DATA, half-closing with FIN; RST_STREAM ends a stream both ways.

Roles: a ``server`` session (the kubelet facing kubectl) accepts the peer's odd-numbered streams; a
``client`` session (the kubelet facing a CRI runtime's streaming server, or a test) opens its own with
:meth:`SpdySession.open` and refuses the peer's. PINGs the peer started are answered, GOAWAY stops
accepting.

Flow control (SPDY/3.1 §2.6.8), see :mod:`.flow`: every DATA frame is counted against a per-stream and
a session window in each direction. Receiving, the session announces its windows at the start (SETTINGS
``INITIAL_WINDOW_SIZE`` and a session WINDOW_UPDATE) and gives credit back with WINDOW_UPDATE as the
application reads, so a sender that honours windows never stalls and never has more than a window in
flight. Sending, the windows are honoured once the peer shows it takes part in flow control (it sent
SETTINGS ``INITIAL_WINDOW_SIZE`` or a WINDOW_UPDATE): Go's ``spdystream`` (kubectl, containerd) does
neither — it never sends WINDOW_UPDATE — so enforcing the 64 KiB default towards it would stall every
transfer; such a peer is paced by TCP back-pressure instead (its reader blocks when its buffers are full).

Ownership: :meth:`SpdySession.run` is the only reader of the transport; writes from any task go through
one lock, so frames (and the header compressor's state) stay in order. A stream buffers at most its
receive window; a peer that ignores the window (spdystream) makes the reader wait for the application
(back-pressure on the connection, as in ``spdystream``) rather than buffer without bound; a peer that
announced flow control and still overruns a window gets RST_STREAM ``FLOW_CONTROL_ERROR``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from typing import Literal

from sampan.streaming import spdy
from sampan.streaming.flow import DEFAULT_WINDOW, RECEIVE_WINDOW, SESSION_RECEIVE_WINDOW, ReceiveWindow, SendWindows
from sampan.streaming.idle import IdleWatch
from sampan.streaming.transport import ByteStream

log = logging.getLogger(__name__)

ACCEPT_QUEUE = 256
MAX_DATA_FRAME = 32 * 1024
REPLY_TIMEOUT = 30.0

Role = Literal["server", "client"]


class SpdyStream:
    """One stream. States: open -> (local FIN sent | remote FIN seen) -> closed; reset closes both."""

    def __init__(self, session: SpdySession, stream_id: int, headers: spdy.Headers) -> None:
        self.session = session
        self.id = stream_id
        self.headers = headers
        self._chunks: deque[bytes] = deque()
        self._buffered = 0
        self._readable = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()
        self.receive = ReceiveWindow(RECEIVE_WINDOW)
        self.send_window = session.send_windows.initial
        self.replied = asyncio.Event()
        """Set by the peer's SYN_REPLY (``reply_seen``), or by a reset or the end of the session."""
        self.reply_seen = False
        self.remote_closed = False
        self.local_closed = False
        self.reset = False

    def header(self, name: str) -> str:
        values = self.headers.get(name.lower()) or [""]
        return values[0]

    async def read(self) -> bytes:
        """The next chunk from the peer; b"" after its FIN, a reset, or the end of the connection."""
        while not self._chunks:
            if self.remote_closed:
                return b""
            self._readable.clear()
            await self._readable.wait()
        chunk = self._chunks.popleft()
        self._buffered -= len(chunk)
        if self._buffered < self.receive.size:
            self._room.set()
        await self.session._consumed(self, len(chunk))
        return chunk

    async def write(self, data: bytes) -> None:
        """Send ``data`` as DATA frames, each within the stream's and the session's send windows."""
        if self.local_closed or self.reset:
            raise ConnectionResetError(f"stream {self.id} is closed")
        view = memoryview(data)
        while view:
            n = await self.session.send_windows.reserve(self, min(len(view), MAX_DATA_FRAME))
            await self.session.send(spdy.DataFrame(self.id, bytes(view[:n])))
            view = view[n:]

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
        self.session.send_windows.wake()
        with contextlib.suppress(ConnectionError):
            await self.session.send(spdy.RstStream(self.id, status))

    async def _deliver(self, data: bytes) -> None:
        """Buffer a DATA payload for :meth:`read`; waits while a window's worth is already buffered."""
        while self._buffered >= self.receive.size and not self.remote_closed:
            self._room.clear()
            await self._room.wait()
        if self.remote_closed:
            return
        self._chunks.append(data)
        self._buffered += len(data)
        self._readable.set()

    def _remote_end(self) -> None:
        self.remote_closed = True
        self._readable.set()
        self._room.set()


class SpdySession:
    """One SPDY connection; :meth:`run` until the peer goes away or :meth:`close`."""

    def __init__(self, transport: ByteStream, *, idle: IdleWatch | None = None, role: Role = "server") -> None:
        self._transport = transport
        self.role = role
        self._encoder = spdy.FrameEncoder()
        self._decoder = spdy.FrameDecoder()
        self._write_lock = asyncio.Lock()
        self.streams: dict[int, SpdyStream] = {}
        self._accepted: asyncio.Queue[SpdyStream | None] = asyncio.Queue(ACCEPT_QUEUE)
        self._last_stream = 0
        self._next_id = 1 if role == "client" else 2
        self.closed = False
        self.idle = idle or IdleWatch(0)
        self.send_windows = SendWindows(self)
        self._session_receive = ReceiveWindow(DEFAULT_WINDOW)
        self._announced = False
        self._ended = False

    async def send(self, frame: spdy.Frame) -> None:
        async with self._write_lock:
            if self.closed:
                raise ConnectionResetError("SPDY session closed")
            self.idle.touch()
            await self._transport.write(self._encoder.encode(frame))

    async def accept(self) -> SpdyStream | None:
        """The next stream the peer opened (already replied to); None once the session ended."""
        return await self._accepted.get()

    async def open(self, headers: dict[str, str], *, timeout: float = REPLY_TIMEOUT) -> SpdyStream:
        """Open a stream (client role) and wait for the peer's SYN_REPLY."""
        if self._ended:
            raise ConnectionResetError("SPDY session ended")
        await self.announce()
        sid = self._next_id
        self._next_id += 2
        stream = SpdyStream(self, sid, {k.lower(): [v] for k, v in headers.items()})
        self.streams[sid] = stream
        await self.send(spdy.SynStream(sid, stream.headers))
        replied = asyncio.ensure_future(stream.replied.wait())
        try:
            await asyncio.wait_for(asyncio.shield(replied), timeout)
        finally:
            replied.cancel()
        if stream.reset or not stream.reply_seen:
            raise ConnectionResetError(f"the peer refused stream {sid} ({headers}) or went away")
        return stream

    async def announce(self) -> None:
        """Tell the peer our receive windows (once): SETTINGS INITIAL_WINDOW_SIZE and a session update.
        Peers without flow control (spdystream) skip both frames."""
        if self._announced:
            return
        self._announced = True
        await self.send(spdy.Settings(((0, spdy.SETTINGS_INITIAL_WINDOW_SIZE, RECEIVE_WINDOW),)))
        await self.send(spdy.WindowUpdate(0, SESSION_RECEIVE_WINDOW - DEFAULT_WINDOW))
        self._session_receive.grow(SESSION_RECEIVE_WINDOW - DEFAULT_WINDOW)

    async def run(self) -> None:
        """Read frames until the peer closes; then every stream and :meth:`accept` see the end."""
        try:
            await self.announce()
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
        self._ended = True
        for stream in self.streams.values():
            stream._remote_end()
            stream.replied.set()
        self.send_windows.wake(ended=True)
        with contextlib.suppress(asyncio.QueueFull):
            self._accepted.put_nowait(None)

    def _peers_id(self, sid: int) -> bool:
        return sid % 2 == (1 if self.role == "server" else 0)

    async def _dispatch(self, frame: spdy.Frame) -> None:
        match frame:
            case spdy.DataFrame(stream_id=sid, data=data):
                await self._data(frame, sid, data)
            case spdy.SynStream(stream_id=sid, headers=headers, flags=flags):
                if sid in self.streams or not self._peers_id(sid):
                    await self.send(spdy.RstStream(sid, spdy.PROTOCOL_ERROR))
                    return
                if self.role == "client":
                    await self.send(spdy.RstStream(sid, spdy.REFUSED_STREAM))
                    return
                accepted = SpdyStream(self, sid, headers)
                self.streams[sid] = accepted
                self._last_stream = max(self._last_stream, sid)
                if flags & spdy.FLAG_FIN:
                    accepted._remote_end()
                await self.send(spdy.SynReply(sid, {}))
                await self._accepted.put(accepted)
            case spdy.SynReply(stream_id=sid, flags=flags):
                stream = self.streams.get(sid)
                if stream is not None:
                    stream.reply_seen = True
                    stream.replied.set()
                    if flags & spdy.FLAG_FIN:
                        stream._remote_end()
            case spdy.RstStream(stream_id=sid):
                stream = self.streams.get(sid)
                if stream is not None:
                    stream.reset = True
                    stream._remote_end()
                    stream.replied.set()
                    self.send_windows.wake()
            case spdy.Settings(entries=entries):
                joined = not self.send_windows.peer_takes_part
                for _flags, key, value in entries:
                    if key == spdy.SETTINGS_INITIAL_WINDOW_SIZE:
                        self.send_windows.set_initial(value)
                if joined and self.send_windows.peer_takes_part:
                    self._restart_receive_windows()
            case spdy.WindowUpdate(stream_id=sid, delta=delta):
                joined = not self.send_windows.peer_takes_part
                await self.send_windows.update(sid, delta)
                if joined:
                    self._restart_receive_windows()
            case spdy.Ping(id=pid):
                if self._peers_id(pid):
                    await self.send(spdy.Ping(pid))
            case spdy.GoAway():
                with contextlib.suppress(asyncio.QueueFull):
                    self._accepted.put_nowait(None)
            case _:
                pass

    async def _data(self, frame: spdy.DataFrame, sid: int, data: bytes) -> None:
        self._session_receive.take(len(data))
        stream = self.streams.get(sid)
        if stream is None or stream.remote_closed:
            await self._consumed(None, len(data))  # nobody will read it: give the session credit back now
            return
        if not stream.receive.take(len(data)) and self.send_windows.peer_takes_part:
            log.info("SPDY peer overran stream %d's window, resetting it", sid)
            await stream.send_reset(spdy.FLOW_CONTROL_ERROR)
            await self._consumed(None, len(data))
            return
        if data:
            await stream._deliver(data)
        if frame.fin:
            stream._remote_end()

    def _restart_receive_windows(self) -> None:
        """The peer just showed it takes part in flow control: count its windows from here on (what it sent
        before, ignoring them, is not held against it)."""
        for stream in self.streams.values():
            stream.receive = ReceiveWindow(stream.receive.size)
            stream.receive.available -= stream._buffered
        self._session_receive = ReceiveWindow(self._session_receive.size)

    async def _consumed(self, stream: SpdyStream | None, n: int) -> None:
        """The application took ``n`` bytes: return window credit to the peer (WINDOW_UPDATE) once half a
        window has been consumed, per stream (unless it is finished) and for the session.

        Only to a peer that takes part in flow control: spdystream ignores WINDOW_UPDATE, and a frame it has
        not read when it closes its socket makes its kernel answer with a TCP reset, which discards the
        end of its output still in our receive buffer (seen as truncated ``kubectl exec`` output)."""
        if n <= 0 or self.closed or not self.send_windows.peer_takes_part:
            return
        with contextlib.suppress(ConnectionError):
            if stream is not None and not stream.remote_closed and (credit := stream.receive.consume(n)):
                await self.send(spdy.WindowUpdate(stream.id, credit))
            if credit := self._session_receive.consume(n):
                await self.send(spdy.WindowUpdate(0, credit))

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
