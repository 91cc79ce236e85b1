"""The streaming seam between the kubelet's protocol handlers and a runtime.

A protocol handler (WebSocket or SPDY) turns the client's channels into a :class:`CommandIO` and asks a
:class:`StreamingRuntime` to run a command, attach, or open a connection to a port. The runtime never
sees a protocol; the handlers never see a process. The process runtime implements it in
:mod:`.process`, a CRI runtime (containerd) in :mod:`.cri` over CRI ``Exec``/``Attach``/``PortForward``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from sampan.streaming.channels import TerminalSize

Sink = Callable[[bytes], Awaitable[None]]


class StreamingError(Exception):
    """A request the runtime cannot serve; ``code`` is the HTTP status for the message."""

    def __init__(self, message: str, *, code: int = 500) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


@dataclass(frozen=True, slots=True)
class CommandIO:
    """The client's side of a command. ``stdin`` yields chunks until the client closes it (None: no
    stdin); ``stdout``/``stderr`` deliver output (None: the client did not ask for it); ``resize``
    yields terminal sizes (TTY only). With ``tty``, stderr is merged into stdout, as upstream."""

    stdin: AsyncIterator[bytes] | None
    stdout: Sink | None
    stderr: Sink | None
    tty: bool = False
    resize: AsyncIterator[TerminalSize] | None = None


class PortConnection(Protocol):
    """One forwarded connection to a port inside a pod, as a byte stream with half-close."""

    async def read(self) -> bytes:
        """The next chunk from the pod; b"" once it closed its side."""
        ...

    async def write(self, data: bytes) -> None: ...

    async def write_eof(self) -> None:
        """The client finished sending (half-close towards the pod)."""
        ...

    async def close(self) -> None: ...

    async def error(self) -> str:
        """After the connection ended: the runtime's message if forwarding failed after dialling
        (a CRI runtime reports refusals this way), else ""."""
        ...


class TCPConnection:
    """A :class:`PortConnection` over an asyncio TCP connection (runtimes that dial the pod themselves)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, chunk: int = 64 * 1024) -> None:
        self._reader, self._writer, self._chunk = reader, writer, chunk

    async def read(self) -> bytes:
        try:
            return await self._reader.read(self._chunk)
        except ConnectionError:
            return b""

    async def write(self, data: bytes) -> None:
        self._writer.write(data)
        await self._writer.drain()

    async def write_eof(self) -> None:
        if self._writer.can_write_eof():
            self._writer.write_eof()

    async def close(self) -> None:
        self._writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await self._writer.wait_closed()

    async def error(self) -> str:
        return ""


class StreamingRuntime(Protocol):
    async def exec(self, container_id: str, cmd: list[str], io: CommandIO) -> int:
        """Run ``cmd`` in the container until it exits; its exit code. Cancellation kills it.
        StreamingError when it cannot start (e.g. 126/127-like failures are exit codes, not errors)."""
        ...

    async def attach(self, container_id: str, io: CommandIO) -> None:
        """Connect ``io`` to the container's main process until either side ends."""
        ...

    async def port_forward(self, sandbox_id: str, port: int) -> PortConnection:
        """A connection to ``port`` on the pod's loopback/network namespace; StreamingError if refused
        (or, for runtimes that learn it later, :meth:`PortConnection.error` once it ended)."""
        ...
