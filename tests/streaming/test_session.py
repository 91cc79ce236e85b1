"""The server-side SPDY session against a scripted client over an in-memory byte stream: streams are
replied to and accepted, data and FIN flow both ways, PING is answered, RST and the end of the
connection end every stream."""

from __future__ import annotations

import asyncio

from sampan.streaming import spdy
from sampan.streaming.flow import DEFAULT_WINDOW, RECEIVE_WINDOW, SESSION_RECEIVE_WINDOW
from sampan.streaming.session import SpdySession


class Pipe:
    """An in-memory ByteStream: the test writes client bytes into ``inbound`` and reads ``outbound``."""

    def __init__(self) -> None:
        self.inbound: asyncio.Queue[bytes] = asyncio.Queue()
        self.outbound = bytearray()
        self.closed = False

    async def read(self) -> bytes:
        return await self.inbound.get()

    async def write(self, data: bytes) -> None:
        self.outbound += data

    async def close(self) -> None:
        self.closed = True


async def test_session_streams_data_fin_ping_reset_and_end() -> None:
    pipe = Pipe()
    session = SpdySession(pipe)
    runner = asyncio.ensure_future(session.run())
    client, server_frames = spdy.FrameEncoder(), spdy.FrameDecoder()

    def frames() -> list[spdy.Frame]:
        out = server_frames.feed(bytes(pipe.outbound))
        pipe.outbound.clear()
        return out

    pipe.inbound.put_nowait(client.encode(spdy.SynStream(1, {"streamtype": ["stdin"]})) +
                            client.encode(spdy.SynStream(3, {"streamtype": ["stdout"]})))
    stdin = await session.accept()
    stdout = await session.accept()
    assert stdin is not None
    assert stdout is not None
    assert (stdin.header("streamtype"), stdout.header("StreamType")) == ("stdin", "stdout")
    assert frames() == [spdy.Settings(((0, spdy.SETTINGS_INITIAL_WINDOW_SIZE, RECEIVE_WINDOW),)),
                        spdy.WindowUpdate(0, SESSION_RECEIVE_WINDOW - DEFAULT_WINDOW),
                        spdy.SynReply(1, {}), spdy.SynReply(3, {})]

    pipe.inbound.put_nowait(client.encode(spdy.DataFrame(1, b"hello")) +
                            client.encode(spdy.DataFrame(1, b"", spdy.FLAG_FIN)) + client.encode(spdy.Ping(7)))
    assert await stdin.read() == b"hello"
    assert await stdin.read() == b""
    await stdout.write(b"x" * 70000)
    await stdout.close()
    got = frames()
    assert spdy.Ping(7) in got
    data = [f for f in got if isinstance(f, spdy.DataFrame)]
    assert b"".join(f.data for f in data) == b"x" * 70000
    assert data[-1].fin
    assert all(f.stream_id == 3 for f in data)

    pipe.inbound.put_nowait(client.encode(spdy.SynStream(5, {})) + client.encode(spdy.RstStream(5, spdy.CANCEL)))
    reset = await session.accept()
    assert reset is not None
    assert await reset.read() == b""
    assert reset.reset

    pipe.inbound.put_nowait(client.encode(spdy.SynStream(4, {})))  # even ids belong to the server
    pipe.inbound.put_nowait(b"")  # the client goes away
    await runner
    assert spdy.RstStream(4, spdy.PROTOCOL_ERROR) in frames()
    assert await session.accept() is None
    await session.close()
    assert pipe.closed


async def test_protocol_error_ends_the_session_with_goaway() -> None:
    pipe = Pipe()
    session = SpdySession(pipe)
    pipe.inbound.put_nowait(b"\x80\x02\x00\x06\x00\x00\x00\x04\x00\x00\x00\x01")  # SPDY/2 PING
    await session.run()
    assert isinstance(spdy.FrameDecoder().feed(bytes(pipe.outbound))[-1], spdy.GoAway)
    assert await session.accept() is None
