"""The streaming seam between the kubelet's protocol handlers and a runtime.

A protocol handler (WebSocket or SPDY) turns the client's channels into a :class:`CommandIO` and asks a
:class:`StreamingRuntime` to run a command, attach, or open a connection to a port. The runtime never
sees a protocol; the handlers never see a process. The process runtime implements it in
:mod:`.process`; the containerd runtime will implement it over CRI ``Exec``/``Attach``/``PortForward``.
"""

from __future__ import annotations

import asyncio
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


class StreamingRuntime(Protocol):
    async def exec(self, container_id: str, cmd: list[str], io: CommandIO) -> int:
        """Run ``cmd`` in the container until it exits; its exit code. Cancellation kills it.
        StreamingError when it cannot start (e.g. 126/127-like failures are exit codes, not errors)."""
        ...

    async def attach(self, container_id: str, io: CommandIO) -> None:
        """Connect ``io`` to the container's main process until either side ends."""
        ...

    async def port_forward(self, sandbox_id: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A TCP connection to ``port`` on the pod's loopback/network namespace; StreamingError if refused."""
        ...
