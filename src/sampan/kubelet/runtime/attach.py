"""Attach for the process runtime: the shim serves a container's stdio on a Unix socket
(``<container dir>/attach.sock``) when the container asked for ``stdin`` or ``tty``; the kubelet's
streaming server connects to it.

Wire format on the socket. Shim -> client: frames ``kind(1) length(4, big-endian) payload`` with kind 1
stdout, 2 stderr (a TTY's output is all stdout). Client -> shim: the same framing, kind 0 stdin data,
kind 5 stdin closed, kind 4 resize (payload: width, height as two big-endian uint16). Several clients
may attach at once; each gets all output from the moment it connects.

:class:`TerminalHub` is the shim's half (synchronous, driven by the shim's selector loop);
:func:`connect` is the kubelet's half (asyncio).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import socket
import struct
import termios
from collections.abc import AsyncIterator, Iterator

SOCKET_NAME = "attach.sock"
STDIN, STDOUT, STDERR, RESIZE, STDIN_CLOSE = 0, 1, 2, 4, 5
_HEAD = struct.Struct(">BI")
MAX_CLIENT_BUFFER = 1 << 20


@contextlib.contextmanager
def short_path(path: str) -> Iterator[str]:
    """``path`` through ``/proc/self/fd/<dir fd>/`` (AF_UNIX paths are limited to 107 bytes; state
    directories are deeper than that)."""
    fd = os.open(os.path.dirname(path) or ".", os.O_PATH)
    try:
        yield f"/proc/self/fd/{fd}/{os.path.basename(path)}"
    finally:
        os.close(fd)


def frame(kind: int, payload: bytes) -> bytes:
    return _HEAD.pack(kind, len(payload)) + payload


def split_frames(buffer: bytes) -> tuple[list[tuple[int, bytes]], bytes]:
    """The whole frames at the start of ``buffer`` and the rest."""
    out = []
    while len(buffer) >= _HEAD.size:
        kind, length = _HEAD.unpack_from(buffer)
        if len(buffer) < _HEAD.size + length:
            break
        out.append((kind, buffer[_HEAD.size : _HEAD.size + length]))
        buffer = buffer[_HEAD.size + length :]
    return out, buffer


class TerminalHub:
    """The shim's attach server. ``input_fd``: the pty master (TTY) or the write end of the process's
    stdin pipe (None: no stdin); ``pty_fd``: the pty master for resizes (None without a TTY)."""

    def __init__(self, path: str, *, input_fd: int | None, pty_fd: int | None) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        with short_path(path) as short:
            self.listener.bind(short)
        self.listener.listen(16)
        self.listener.setblocking(False)
        self.input_fd = input_fd
        self.pty_fd = pty_fd
        self.clients: dict[socket.socket, bytes] = {}

    def accept(self) -> socket.socket | None:
        try:
            conn, _ = self.listener.accept()
        except BlockingIOError:
            return None
        conn.setblocking(False)
        self.clients[conn] = b""
        return conn

    def readable(self, conn: socket.socket) -> bool:
        """Handle input from ``conn``; False once it is gone (the caller unregisters, then drops it)."""
        try:
            data = conn.recv(65536)
        except BlockingIOError:
            return True
        except OSError:
            data = b""
        if not data:
            return False
        frames, rest = split_frames(self.clients.get(conn, b"") + data)
        self.clients[conn] = rest
        for kind, payload in frames:
            if kind == STDIN and self.input_fd is not None:
                with contextlib.suppress(OSError):
                    os.write(self.input_fd, payload)
            elif kind == RESIZE and self.pty_fd is not None and len(payload) == 4:
                width, height = struct.unpack(">HH", payload)
                with contextlib.suppress(OSError):
                    fcntl.ioctl(self.pty_fd, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))
            elif kind == STDIN_CLOSE and self.input_fd is not None and self.pty_fd is None:
                with contextlib.suppress(OSError):
                    os.close(self.input_fd)
                self.input_fd = None
        return True

    def broadcast(self, kind: int, payload: bytes) -> list[socket.socket]:
        """Send output to every client; returns those that failed (slow or gone: unregister, then drop)."""
        dropped = []
        data = frame(kind, payload)
        for conn in list(self.clients):
            try:
                conn.settimeout(0.5)
                conn.sendall(data)
                conn.setblocking(False)
            except OSError:
                dropped.append(conn)
        return dropped

    def drop(self, conn: socket.socket) -> None:
        self.clients.pop(conn, None)
        with contextlib.suppress(OSError):
            conn.close()

    def close(self) -> None:
        for conn in list(self.clients):
            self.drop(conn)
        with contextlib.suppress(OSError):
            self.listener.close()


async def _send_input(writer: asyncio.StreamWriter, stdin: AsyncIterator[bytes] | None,
                      resize: AsyncIterator[object] | None) -> None:
    async def sizes() -> None:
        if resize is None:
            return
        async for size in resize:
            width, height = getattr(size, "width", 0), getattr(size, "height", 0)
            writer.write(frame(RESIZE, struct.pack(">HH", width & 0xFFFF, height & 0xFFFF)))
            await writer.drain()

    async def data() -> None:
        if stdin is None:
            return
        async for chunk in stdin:
            writer.write(frame(STDIN, chunk))
            await writer.drain()
        writer.write(frame(STDIN_CLOSE, b""))
        await writer.drain()

    await asyncio.gather(sizes(), data())


async def connect(path: str, io: object) -> None:
    """Attach ``io`` (a CommandIO) to the shim at ``path`` until the container's output ends or the
    caller cancels. FileNotFoundError when the container serves no attach socket."""
    with short_path(path) as short:
        reader, writer = await asyncio.open_unix_connection(short)
    sender = asyncio.ensure_future(_send_input(writer, getattr(io, "stdin", None), getattr(io, "resize", None)))
    stdout, stderr = getattr(io, "stdout", None), getattr(io, "stderr", None)
    try:
        buffer = b""
        while chunk := await reader.read(65536):
            frames, buffer = split_frames(buffer + chunk)
            for kind, payload in frames:
                sink = stdout if kind == STDOUT or stderr is None else stderr
                if sink is not None:
                    await sink(payload)
    finally:
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await sender
        writer.close()
