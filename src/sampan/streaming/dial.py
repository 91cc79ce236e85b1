"""The client side of an HTTP upgrade: dial a streaming URL (a CRI runtime's ``/exec/<token>``,
``/attach/<token>``, ``/portforward/<token>``, or a kubelet's), ask for ``SPDY/3.1`` with the
``X-Stream-Protocol-Version`` values we speak, and take the connection over on ``101``.

Plain ``http`` and ``https`` URLs are accepted (``https`` with the given SSL context; a runtime's
streaming server on loopback is plain HTTP). A refusal (any other status) is :class:`UpgradeRefused`
carrying the server's message (a JSON ``Status``'s ``message``, else the body's text).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass

from sampan.streaming.transport import StreamBytes

HEAD_LIMIT = 64 * 1024
BODY_LIMIT = 64 * 1024
CONNECT_TIMEOUT = 10.0


class UpgradeRefused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"upgrade refused ({status}): {message}")
        self.status, self.message = status, message


class _Writer:
    """The RawWriter StreamBytes wants, over an asyncio StreamWriter."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self._writer = writer

    async def write(self, data: bytes) -> None:
        self._writer.write(data)
        await self._writer.drain()

    def close(self) -> None:
        self._writer.close()


@dataclass(frozen=True, slots=True)
class Upgraded:
    transport: StreamBytes
    protocol: str
    """The ``X-Stream-Protocol-Version`` the server chose ("" if it named none)."""


def _message(body: bytes) -> str:
    with contextlib.suppress(ValueError, AttributeError):
        status = json.loads(body)
        if isinstance(status, dict) and status.get("message"):
            return str(status["message"])
    return body.decode(errors="replace").strip()


async def upgrade(url: str, *, protocols: Sequence[str], method: str = "POST", upgrade_to: str = "SPDY/3.1",
                  ssl_context: ssl.SSLContext | None = None, timeout: float = CONNECT_TIMEOUT) -> Upgraded:
    """Connect to ``url`` and upgrade; the taken-over connection and the negotiated protocol."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UpgradeRefused(0, f"unsupported streaming URL {url!r}")
    tls = (ssl_context or ssl.create_default_context()) if parts.scheme == "https" else None
    port = parts.port or (443 if tls else 80)
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(parts.hostname, port, ssl=tls, limit=HEAD_LIMIT), timeout)
    except (OSError, TimeoutError) as err:
        raise UpgradeRefused(0, f"error dialing {parts.hostname}:{port}: {err}") from None
    try:
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        lines = [f"{method} {target} HTTP/1.1", f"Host: {parts.netloc}", "Connection: Upgrade",
                 f"Upgrade: {upgrade_to}", "User-Agent: sampan-kubelet", "Content-Length: 0"]
        lines += [f"X-Stream-Protocol-Version: {p}" for p in protocols]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        try:
            status = int(status_line.split(" ", 2)[1])
        except (IndexError, ValueError):
            raise UpgradeRefused(0, f"malformed response {status_line!r}") from None
        headers = {}
        for line in header_lines:
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        if status != 101:
            length = headers.get("content-length", "")
            body = await asyncio.wait_for(
                reader.readexactly(min(int(length), BODY_LIMIT)) if length.isdigit() else reader.read(BODY_LIMIT),
                timeout)
            raise UpgradeRefused(status, _message(body) or status_line)
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, TimeoutError) as err:
        writer.close()
        raise UpgradeRefused(0, f"the streaming server did not answer the upgrade: {err!r}") from None
    except BaseException:
        writer.close()
        raise
    return Upgraded(StreamBytes(reader, _Writer(writer)), headers.get("x-stream-protocol-version", ""))
