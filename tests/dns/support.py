"""Helpers for the DNS integration tests: a fake upstream resolver on loopback, a running ``DNSServer``,
queries over UDP and TCP, and polling."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import errno
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import dns.asyncquery
import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset

from sampan.client import load_config
from sampan.dns.app import DNSServer
from sampan.dns.forward import Upstream
from sampan.dns.options import DNSOptions

#: What the fake upstream knows: name -> A address (loopback/shared-space data only; nothing is sent there).
UPSTREAM_RECORDS = {"example.org.": "100.64.250.1", "www.example.org.": "100.64.250.2"}
#: Names the fake upstream never answers (to see the forwarder's timeout -> SERVFAIL).
SILENT = "silent.example.org."


class FakeUpstream(asyncio.DatagramProtocol):
    """A minimal resolver on a loopback UDP port: A records from :data:`UPSTREAM_RECORDS`, NXDOMAIN for
    other names, no reply at all for :data:`SILENT`. Counts the queries it saw."""

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.queries: list[str] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def reply(self, data: bytes) -> bytes | None:
        query = dns.message.from_wire(data)
        name = query.question[0].name.to_text().lower()
        self.queries.append(name)
        if name == SILENT:
            return None
        response = dns.message.make_response(query, recursion_available=True)
        ip = UPSTREAM_RECORDS.get(name)
        if ip is None:
            response.set_rcode(dns.rcode.NXDOMAIN)
        elif query.question[0].rdtype == dns.rdatatype.A:
            response.answer.append(dns.rrset.from_text(query.question[0].name, 60, "IN", "A", ip))
        return bytes(response.to_wire())

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        out = self.reply(data)
        if out is not None and self.transport is not None:
            self.transport.sendto(out, addr)

    async def serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            size = int.from_bytes(await reader.readexactly(2), "big")
            out = self.reply(await reader.readexactly(size))
            if out is not None:
                writer.write(len(out).to_bytes(2, "big") + out)
                await writer.drain()
        finally:
            writer.close()


@contextlib.asynccontextmanager
async def fake_upstream() -> AsyncIterator[tuple[FakeUpstream, int]]:
    """UDP and TCP on one port number: the kernel's free UDP port may be taken over TCP by another process
    (under xdist: the other worker's servers), so a pair that cannot be had is given back and another drawn."""
    loop = asyncio.get_running_loop()
    for attempt in range(20):
        transport, proto = await loop.create_datagram_endpoint(FakeUpstream, local_addr=("127.0.0.1", 0))
        port = int(transport.get_extra_info("sockname")[1])
        try:
            tcp = await asyncio.start_server(proto.serve_tcp, "127.0.0.1", port)  # the same number, over TCP
            break
        except OSError as err:
            transport.close()
            if err.errno != errno.EADDRINUSE or attempt == 19:
                raise
    try:
        yield proto, port
    finally:
        transport.close()
        tcp.close()


@contextlib.asynccontextmanager
async def running_dns(kubeconfig: Path, *, upstream_port: int, **overrides: Any) -> AsyncIterator[DNSServer]:
    rest = dataclasses.replace(load_config(str(kubeconfig)), qps=0.0)
    fields: dict[str, Any] = {
        "listen": (("127.0.0.1", 0),), "upstreams": (Upstream("127.0.0.1", upstream_port),), "forward_timeout": 1.0,
        "health_address": ("127.0.0.1", 0), "metrics_address": ("127.0.0.1", 0), **overrides}
    options = DNSOptions(rest=rest, **fields)
    server = DNSServer(options)
    task = asyncio.create_task(server.run(), name="dns-under-test")
    try:
        await wait_for(lambda: server.ready.is_set() or task.done(), message="dns ready")
        if task.done():
            task.result()
        yield server
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def query(port: int, name: str, rdtype: str = "A", *, tcp: bool = False) -> dns.message.Message:
    q = dns.message.make_query(name, rdtype)
    if tcp:
        return await dns.asyncquery.tcp(q, "127.0.0.1", port=port, timeout=5)
    return await dns.asyncquery.udp(q, "127.0.0.1", port=port, timeout=5)


def answers(response: dns.message.Message) -> list[str]:
    return sorted(f"{rr.name} {dns.rdatatype.to_text(rr.rdtype)} {rd}" for rr in response.answer for rd in rr)


async def wait_for(predicate: Callable[[], Any], *, timeout: float = 20.0, message: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        await asyncio.sleep(0.05)

