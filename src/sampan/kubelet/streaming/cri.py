"""A CRI runtime's side of the streaming seam: exec, attach and port-forward through CRI
``Exec``/``Attach``/``PortForward`` and the runtime's streaming server.

Each CRI call returns a one-time URL of the runtime's streaming server (containerd: ``stream_server_address``
and ``stream_server_port`` of its CRI plugin). The kubelet's own handlers keep serving the client in
whatever protocol it chose (WebSocket v1-v5, SPDY, SPDY in WebSocket) and this module is a SPDY/3.1
client of the runtime's server, which speaks the same remotecommand (``v4.channel.k8s.io``) and
``portforward.k8s.io`` protocols — the bridge upstream's API server builds when it translates WebSocket
to SPDY for the kubelet. So every client protocol works whatever the runtime speaks, stdin's end is
a FIN on the runtime's stdin stream, and the exit code comes back on its error stream as a ``Status``.

Lifetimes: every session (and its reader task) is closed before the call returns or is cancelled; a
cancelled exec (its client went away) closes the connection and kills the exec's process tree, which the
runtime alone would leave running (CRI has no call for it; see :mod:`.cri_exec`). Port-forward opens one
runtime session per forwarded connection (a fresh one-time URL each), closed with the connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from sampan.kubelet.runtime.cri.client import CRIClient, CRIError
from sampan.kubelet.streaming.cri_exec import ExecWatch, ExecWatcher
from sampan.kubelet.streaming.interface import CommandIO, Sink, StreamingError
from sampan.streaming import channels
from sampan.streaming.dial import UpgradeRefused, upgrade
from sampan.streaming.session import SpdySession, SpdyStream

log = logging.getLogger(__name__)

ERROR_LIMIT = 64 * 1024
ERROR_WAIT = 5.0
"""How long to wait for a port-forward's error stream once the data ended."""


def exit_code_of(status_bytes: bytes, protocol: str) -> int:
    """The command's exit code from the error stream's content; StreamingError for any other failure.
    v4 carries a ``Status`` (``NonZeroExitCode`` with an ``ExitCode`` cause); v1-v3 carry plain text."""
    text = status_bytes.decode(errors="replace").strip()
    if not text:
        return 0
    if not channels.has_status_errors(protocol):
        raise StreamingError(text)
    try:
        status = json.loads(text)
    except ValueError:
        raise StreamingError(text) from None
    if not isinstance(status, dict) or status.get("status") == "Success":
        return 0
    if status.get("reason") == "NonZeroExitCode":
        for cause in (status.get("details") or {}).get("causes") or []:
            if cause.get("reason") == "ExitCode":
                with contextlib.suppress(TypeError, ValueError):
                    return int(cause.get("message"))
    raise StreamingError(str(status.get("message") or text))


async def _read_all(stream: SpdyStream, limit: int = ERROR_LIMIT) -> bytes:
    out = bytearray()
    while chunk := await stream.read():
        if len(out) < limit:
            out += chunk[: limit - len(out)]
    return bytes(out)


async def _copy_out(stream: SpdyStream, sink: Sink) -> None:
    while chunk := await stream.read():
        await sink(chunk)


async def _copy_in(source: AsyncIterator[bytes], stream: SpdyStream) -> None:
    with contextlib.suppress(ConnectionError):
        async for chunk in source:
            await stream.write(chunk)
        await stream.close()


async def _copy_sizes(sizes: AsyncIterator[channels.TerminalSize], stream: SpdyStream) -> None:
    with contextlib.suppress(ConnectionError):
        async for size in sizes:
            await stream.write(json.dumps({"Width": size.width, "Height": size.height}).encode())


class _Connected:
    """A client SPDY session to a runtime's streaming URL, its reader task owned and ended with it."""

    def __init__(self, session: SpdySession, protocol: str) -> None:
        self.session = session
        self.protocol = protocol
        self.reading = asyncio.ensure_future(session.run())

    @classmethod
    async def to(cls, url: str, protocols: tuple[str, ...]) -> _Connected:
        try:
            up = await upgrade(url, protocols=protocols)
        except UpgradeRefused as err:
            raise StreamingError(f"error connecting to the runtime's streaming server: {err.message}") from None
        return cls(SpdySession(up.transport, role="client"), up.protocol or protocols[0])

    async def close(self) -> None:
        await self.session.close()
        self.reading.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self.reading


class SpdyPortConnection:
    """A :class:`~.interface.PortConnection` over a runtime's ``portforward.k8s.io`` session: one
    ``error`` and one ``data`` stream for the port."""

    def __init__(self, conn: _Connected, error: SpdyStream, data: SpdyStream) -> None:
        self._conn, self._error, self._data = conn, error, data

    async def read(self) -> bytes:
        return await self._data.read()

    async def write(self, data: bytes) -> None:
        await self._data.write(data)

    async def write_eof(self) -> None:
        await self._data.close()

    async def error(self) -> str:
        try:
            return (await asyncio.wait_for(_read_all(self._error), ERROR_WAIT)).decode(errors="replace").strip()
        except TimeoutError:
            return ""

    async def close(self) -> None:
        await self._conn.close()


class CRIStreaming:
    """Implements :class:`~.interface.StreamingRuntime` for a CRI runtime reached through ``client``
    (a callable, because the runtime makes its gRPC client lazily inside the running loop)."""

    def __init__(self, client: Callable[[], CRIClient]) -> None:
        self._client = client
        self._watcher = ExecWatcher(client)

    async def _url(self, call: Awaitable[str]) -> str:
        try:
            return await call
        except CRIError as err:
            raise StreamingError(err.message) from None

    async def exec(self, container_id: str, cmd: list[str], io: CommandIO) -> int:
        watch = await self._watcher.begin(container_id, cmd)
        try:
            url = await self._url(self._client().exec(container_id, cmd, stdin=io.stdin is not None,
                                                      stdout=io.stdout is not None,
                                                      stderr=io.stderr is not None and not io.tty, tty=io.tty))
            return await self._remote_command(url, io, watch=watch)
        finally:
            if watch is not None:  # a command that has not ended: its client went away (or the runtime's
                watch.kill()       # connection broke); kill() does nothing once the runtime reported its end

    async def attach(self, container_id: str, io: CommandIO) -> None:
        url = await self._url(self._client().attach(container_id, stdin=io.stdin is not None,
                                                    stdout=io.stdout is not None,
                                                    stderr=io.stderr is not None and not io.tty, tty=io.tty))
        await self._remote_command(url, io)

    async def _remote_command(self, url: str, io: CommandIO, *, watch: ExecWatch | None = None) -> int:
        conn = await _Connected.to(url, channels.REMOTE_COMMAND_SPDY)
        tasks: list[asyncio.Future[Any]] = []
        try:
            # every stream first, then data: the runtime's spdystream blocks its whole connection on DATA for
            # a stream nobody reads yet, so stdin sent early would stall the remaining SYN_STREAMs
            opened = {}
            for name, wanted in (("error", True), ("stdin", io.stdin is not None), ("stdout", io.stdout is not None),
                                 ("stderr", io.stderr is not None and not io.tty),
                                 ("resize", io.tty and channels.has_resize(conn.protocol))):
                if wanted:
                    opened[name] = await conn.session.open({"streamtype": name})
            error = opened["error"]
            if watch is not None:  # the runtime starts the process once every stream is open
                tasks.append(asyncio.ensure_future(watch.find()))
            outputs = [asyncio.ensure_future(_copy_out(opened[name], sink)) for name, sink in
                       (("stdout", io.stdout), ("stderr", io.stderr)) if name in opened and sink is not None]
            tasks += outputs
            if io.stdin is not None:
                tasks.append(asyncio.ensure_future(_copy_in(io.stdin, opened["stdin"])))
            if io.resize is not None and "resize" in opened:
                tasks.append(asyncio.ensure_future(_copy_sizes(io.resize, opened["resize"])))
            status = await _read_all(error)
            if watch is not None:
                watch.finished = True
            await asyncio.gather(*outputs)
            return exit_code_of(status, conn.protocol)
        except (ConnectionError, TimeoutError) as err:
            log.info("runtime streaming failed url=%s streams=%s err=%r", url,
                     {s.header("streamtype"): s.replied.is_set() for s in conn.session.streams.values()}, err)
            raise StreamingError(f"the runtime's streaming connection failed: {err!r}") from None
        finally:
            for t in tasks:
                t.cancel()
            for t in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await t
            await conn.close()

    async def port_forward(self, sandbox_id: str, port: int) -> SpdyPortConnection:
        url = await self._url(self._client().port_forward(sandbox_id, [port]))
        conn = await _Connected.to(url, (channels.PORT_FORWARD,))
        try:
            headers = {"port": str(port), "requestid": "0"}
            error = await conn.session.open({"streamtype": "error", **headers})
            data = await conn.session.open({"streamtype": "data", **headers})
        except BaseException as err:
            await conn.close()
            if isinstance(err, (ConnectionError, TimeoutError)):
                raise StreamingError(f"the runtime refused port-forward streams: {err!r}") from None
            raise
        return SpdyPortConnection(conn, error, data)
