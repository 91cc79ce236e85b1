"""SPDY/3.1 flow control in :class:`SpdySession`: a peer that announces flow control is never sent more
than its windows allow and is credited back as the application reads; a peer that never takes part
(Go's spdystream: no WINDOW_UPDATE ever) still gets multi-MB transfers through, without stalling; a
client session and a server session move megabytes both ways on concurrent streams intact."""

from __future__ import annotations

import asyncio
import hashlib
import os

import pytest

from sampan.streaming import spdy
from sampan.streaming.flow import DEFAULT_WINDOW, RECEIVE_WINDOW
from sampan.streaming.session import SpdySession, SpdyStream
from tests.streaming.test_session import Pipe

MiB = 1024 * 1024


class Peer:
    """A scripted peer on the far side of a :class:`Pipe`."""

    def __init__(self, pipe: Pipe) -> None:
        self.pipe = pipe
        self.encoder, self.decoder = spdy.FrameEncoder(), spdy.FrameDecoder()

    def send(self, *frames: spdy.Frame) -> None:
        self.pipe.inbound.put_nowait(b"".join(self.encoder.encode(f) for f in frames))

    async def frames(self) -> list[spdy.Frame]:
        await asyncio.sleep(0.01)  # let the session run up to its next wait
        out = self.decoder.feed(bytes(self.pipe.outbound))
        self.pipe.outbound.clear()
        return out


async def test_sender_honours_the_windows_of_a_peer_that_announced_flow_control() -> None:
    pipe = Pipe()
    session = SpdySession(pipe)
    runner = asyncio.ensure_future(session.run())
    peer = Peer(pipe)
    window = 16 * 1024
    peer.send(spdy.Settings(((0, spdy.SETTINGS_INITIAL_WINDOW_SIZE, window),)), spdy.SynStream(1, {}))
    stream = await session.accept()
    assert stream is not None
    payload = os.urandom(MiB)
    writer = asyncio.ensure_future(stream.write(payload))
    received = bytearray()
    session_credit = DEFAULT_WINDOW
    while len(received) < len(payload):
        got = b"".join(f.data for f in await peer.frames() if isinstance(f, spdy.DataFrame))
        assert len(got) <= window  # never more than the stream window in flight
        assert len(got) <= session_credit
        if not got:
            continue
        received += got
        session_credit -= len(got)
        # the peer's application read it: credit the stream, and the session when it runs low
        updates: list[spdy.Frame] = [spdy.WindowUpdate(1, len(got))]
        if session_credit < window:
            updates.append(spdy.WindowUpdate(0, DEFAULT_WINDOW))
            session_credit += DEFAULT_WINDOW
        peer.send(*updates)
    await asyncio.wait_for(writer, 10)
    assert bytes(received) == payload
    pipe.inbound.put_nowait(b"")
    await runner


async def test_a_peer_without_flow_control_is_not_held_to_the_default_window() -> None:
    pipe = Pipe()
    session = SpdySession(pipe)
    runner = asyncio.ensure_future(session.run())
    peer = Peer(pipe)
    peer.send(spdy.SynStream(1, {}))  # spdystream: no SETTINGS, never a WINDOW_UPDATE
    stream = await session.accept()
    assert stream is not None
    payload = os.urandom(4 * MiB)
    await asyncio.wait_for(stream.write(payload), 10)
    got = b"".join(f.data for f in await peer.frames() if isinstance(f, spdy.DataFrame))
    assert got == payload
    pipe.inbound.put_nowait(b"")
    await runner


async def test_receiver_credits_back_what_the_application_reads_and_resets_an_overrun() -> None:
    pipe = Pipe()
    session = SpdySession(pipe)
    runner = asyncio.ensure_future(session.run())
    peer = Peer(pipe)
    announced = await peer.frames()
    stream_window = next(v for f in announced if isinstance(f, spdy.Settings) for _, k, v in f.entries
                         if k == spdy.SETTINGS_INITIAL_WINDOW_SIZE)
    assert stream_window == RECEIVE_WINDOW
    session_window = DEFAULT_WINDOW + sum(f.delta for f in announced
                                          if isinstance(f, spdy.WindowUpdate) and f.stream_id == 0)
    peer.send(spdy.WindowUpdate(0, 1), spdy.SynStream(1, {}))  # a flow-control peer
    stream = await session.accept()
    assert stream is not None
    payload = os.urandom(3 * MiB)
    sent, credit = 0, min(stream_window, session_window)
    reader_digest = hashlib.sha256()

    async def application() -> int:
        total = 0
        while chunk := await stream.read():
            reader_digest.update(chunk)
            total += len(chunk)
            await asyncio.sleep(0)
        return total

    app = asyncio.ensure_future(application())
    while sent < len(payload):  # a well-behaved sender: only as much as it has credit for
        n = min(credit, 16 * 1024, len(payload) - sent)
        if n:
            peer.send(spdy.DataFrame(1, payload[sent:sent + n]))
            sent, credit = sent + n, credit - n
        updates = [f for f in await peer.frames() if isinstance(f, spdy.WindowUpdate) and f.stream_id == 1]
        credit += sum(f.delta for f in updates)
        assert n or updates, "the receiver stopped crediting: the sender would stall"
    peer.send(spdy.DataFrame(1, b"", spdy.FLAG_FIN))
    assert await asyncio.wait_for(app, 10) == len(payload)
    assert reader_digest.digest() == hashlib.sha256(payload).digest()

    peer.send(spdy.SynStream(3, {}))
    overrun = await session.accept()
    assert overrun is not None
    peer.send(*(spdy.DataFrame(3, b"x" * 32768) for _ in range(RECEIVE_WINDOW // 32768 + 1)))
    frames = await peer.frames()
    assert spdy.RstStream(3, spdy.FLOW_CONTROL_ERROR) in frames
    pipe.inbound.put_nowait(b"")
    await runner


class Crossed:
    """Two in-memory transports wired to each other (a client session on one end, a server on the other)."""

    def __init__(self) -> None:
        self.a_to_b: asyncio.Queue[bytes] = asyncio.Queue(64)
        self.b_to_a: asyncio.Queue[bytes] = asyncio.Queue(64)

    def end(self, *, a: bool) -> End:
        return End(self.b_to_a if a else self.a_to_b, self.a_to_b if a else self.b_to_a)


class End:
    def __init__(self, inbound: asyncio.Queue[bytes], outbound: asyncio.Queue[bytes]) -> None:
        self.inbound, self.outbound = inbound, outbound

    async def read(self) -> bytes:
        return await self.inbound.get()

    async def write(self, data: bytes) -> None:
        await self.outbound.put(data)

    async def close(self) -> None:
        await self.outbound.put(b"")


async def test_client_and_server_sessions_move_megabytes_both_ways_on_concurrent_streams() -> None:
    wire = Crossed()
    client = SpdySession(wire.end(a=True), role="client")
    server = SpdySession(wire.end(a=False))
    runners = [asyncio.ensure_future(client.run()), asyncio.ensure_future(server.run())]
    payloads = {i: os.urandom(2 * MiB + i) for i in range(3)}

    async def echo_server() -> None:
        async def echo(stream: SpdyStream) -> None:
            while chunk := await stream.read():
                await stream.write(chunk)
            await stream.close()

        tasks = []
        for _ in payloads:
            stream = await server.accept()
            assert stream is not None
            tasks.append(asyncio.ensure_future(echo(stream)))
        await asyncio.gather(*tasks)

    async def roundtrip(i: int) -> bytes:
        stream = await client.open({"streamtype": "data", "requestid": str(i)})

        async def send() -> None:
            await stream.write(payloads[i])
            await stream.close()

        sending = asyncio.ensure_future(send())
        back = bytearray()
        while chunk := await stream.read():
            back += chunk
        await sending
        return bytes(back)

    serving = asyncio.ensure_future(echo_server())
    results = await asyncio.wait_for(asyncio.gather(*(roundtrip(i) for i in payloads)), 30)
    await asyncio.wait_for(serving, 10)
    assert all(results[i] == payloads[i] for i in payloads)
    assert client.send_windows.peer_takes_part
    assert server.send_windows.peer_takes_part
    await client.close()
    await server.close()
    for r in runners:
        await asyncio.wait_for(r, 5)


async def test_open_fails_at_once_when_the_peer_goes_away_or_refuses() -> None:
    pipe = Pipe()
    session = SpdySession(pipe, role="client")
    runner = asyncio.ensure_future(session.run())
    peer = Peer(pipe)
    opening = asyncio.ensure_future(session.open({"streamtype": "error"}))
    await peer.frames()
    peer.send(spdy.RstStream(1, spdy.REFUSED_STREAM))
    with pytest.raises(ConnectionResetError, match="refused"):
        await asyncio.wait_for(opening, 5)
    opening = asyncio.ensure_future(session.open({"streamtype": "stdout"}))
    await peer.frames()
    pipe.inbound.put_nowait(b"")  # the server closes before replying
    await runner
    with pytest.raises(ConnectionResetError, match="went away"):
        await asyncio.wait_for(opening, 5)
