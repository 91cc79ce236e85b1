"""UDP and TCP listeners around one :class:`QueryHandler`.

The hot path: an authoritative answer depends only on the query's bytes after its ID (question, flags,
EDNS payload size) and on the zone's generation, so its wire form is cached keyed by those bytes and a
repeat query is answered by splicing the client's ID in front, without parsing. The cache is bounded
(cleared when full) and dropped whenever the zone changes. Misses are parsed with dnspython, answered
from the zone (:mod:`sampan.dns.answer`) synchronously, or forwarded (:mod:`sampan.dns.forward`) in a
task owned by the handler; at most ``max_inflight`` forwards run at once, more are REFUSED (CoreDNS
forward's ``max_concurrent``).

Over UDP a response larger than the client's limit (512 bytes, or its EDNS payload size) is sent
truncated: the TC bit set and the record sections emptied, so the client retries over TCP. TCP
connections carry length-prefixed messages and are closed after ``tcp_idle_timeout`` seconds idle.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype

from sampan.dns.answer import Answerer
from sampan.dns.forward import Forwarder
from sampan.dns.metrics import DNSMetrics

log = logging.getLogger(__name__)


@dataclass
class _Pending:
    """A query that needs the forwarder: the whole query, or the chase of an ExternalName's target."""

    query: dns.message.Message
    response: dns.message.Message | None
    chase: dns.name.Name | None
    started: float
    wire: bytes


@dataclass(frozen=True)
class _CacheEntry:
    generation: int
    tail: bytes  # the response after its 2-byte ID
    qtype: str
    rcode: str


class QueryHandler:
    def __init__(self, answerer: Answerer, forwarder: Forwarder, *, metrics: DNSMetrics | None = None,
                 cache_size: int = 10_000, max_inflight: int = 1000) -> None:
        self.answerer = answerer
        self.forwarder = forwarder
        self.metrics = metrics
        self.cache_size = cache_size
        self.max_inflight = max_inflight
        self._cache: dict[bytes, _CacheEntry] = {}
        self._cache_generation = -1
        self._tasks: set[asyncio.Task[None]] = set()
        self._zone = answerer.zone.zone

    # -- synchronous part ------------------------------------------------------------------------------
    def answer_now(self, wire: bytes, *, tcp: bool) -> bytes | _Pending | None:
        """The response bytes, a :class:`_Pending` to finish with :meth:`finish`, or None (drop)."""
        started = time.perf_counter()
        generation = self.answerer.zone.generation
        if generation != self._cache_generation:
            self._cache.clear()
            self._cache_generation = generation
        key = (b"T" if tcp else b"U") + wire[2:]
        entry = self._cache.get(key)
        if entry is not None:
            if self.metrics is not None:
                self.metrics.cache_hits.labels(self.metrics.server, "success", "").inc()
                self._count(tcp, entry.qtype, entry.rcode, "kubernetes", started)
            return wire[:2] + entry.tail
        try:
            query = dns.message.from_wire(wire)
        except dns.exception.DNSException:
            return _formerr(wire)
        if not query.question:
            return _formerr(wire)
        outcome = self.answerer.answer(query)
        if outcome.response is None or outcome.chase is not None:
            return _Pending(query, outcome.response, outcome.chase, started, wire)
        out = self._wire(outcome.response, query, tcp=tcp)
        qtype = dns.rdatatype.to_text(query.question[0].rdtype)
        rcode = dns.rcode.to_text(outcome.response.rcode())
        if outcome.cacheable and self.cache_size > 0:
            if len(self._cache) >= self.cache_size:
                self._cache.clear()
            self._cache[key] = _CacheEntry(generation, out[2:], qtype, rcode)
            if self.metrics is not None:
                self.metrics.cache_misses.labels(self.metrics.server, "").inc()
        self._count(tcp, qtype, rcode, "kubernetes", started)
        return out

    def answer_safely(self, wire: bytes, *, tcp: bool) -> bytes | _Pending | None:
        """:meth:`answer_now`, with a bug answered by SERVFAIL (logged) rather than by silence."""
        try:
            return self.answer_now(wire, tcp=tcp)
        except Exception:
            log.exception("dns answer failed")
            if len(wire) < 12:
                return None
            return wire[:2] + struct.pack("!HHHHH", int(dns.flags.QR) | int(dns.rcode.SERVFAIL), 0, 0, 0, 0)

    # -- asynchronous part -----------------------------------------------------------------------------
    async def finish(self, pending: _Pending, *, tcp: bool) -> bytes:
        query = pending.query
        qtype = dns.rdatatype.to_text(query.question[0].rdtype)
        if pending.response is None:
            if tcp:
                out = self._wire(await self.forwarder.forward(query, tcp=True), query, tcp=True)
            else:
                out = await self.forwarder.relay(pending.wire, query)
            rcode = dns.rcode.to_text(dns.rcode.Rcode.make(out[3] & 0x0F)) if len(out) >= 4 else "SERVFAIL"
            if self.metrics is not None:
                for upstream in self.forwarder.upstreams[:1]:
                    self.metrics.forward_requests.labels(str(upstream)).inc()
                    self.metrics.forward_responses.labels(str(upstream), rcode).inc()
            self._count(tcp, qtype, rcode, "forward", pending.started)
            return out
        else:
            response = pending.response
            if pending.chase is not None:
                response.answer.extend(await self.forwarder.chase(pending.chase, query.question[0].rdtype))
        out = self._wire(response, query, tcp=tcp)
        self._count(tcp, qtype, dns.rcode.to_text(response.rcode()), "kubernetes", pending.started)
        return out

    def spawn(self, pending: _Pending, *, tcp: bool, reply: Callable[[bytes], None]) -> None:
        """Finish ``pending`` in an owned task and ``reply(bytes)``; REFUSED at once past ``max_inflight``."""
        if len(self._tasks) >= self.max_inflight:
            response = dns.message.make_response(pending.query)
            response.set_rcode(dns.rcode.REFUSED)
            reply(response.to_wire())
            return

        async def run() -> None:
            try:
                reply(await self.finish(pending, tcp=tcp))
            except Exception:
                log.exception("dns query failed name=%s", pending.query.question[0].name)

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self.forwarder.close()

    # -- helpers -------------------------------------------------------------------------------------------
    def _wire(self, response: dns.message.Message, query: dns.message.Message, *, tcp: bool) -> bytes:
        if tcp:
            return response.to_wire(max_size=65535)
        limit = max(512, min(query.payload, 65535)) if query.edns >= 0 else 512
        try:
            return response.to_wire(max_size=limit)
        except dns.exception.TooBig:
            response.flags |= dns.flags.TC
            response.answer, response.authority, response.additional = [], [], []
            return response.to_wire(max_size=limit)

    def _count(self, tcp: bool, qtype: str, rcode: str, plugin: str, started: float) -> None:
        if self.metrics is not None:
            self.metrics.request(zone=self._zone, proto="tcp" if tcp else "udp", qtype=qtype, rcode=rcode,
                                 plugin=plugin, seconds=time.perf_counter() - started)


def _formerr(wire: bytes) -> bytes | None:
    """A bare FORMERR header echoing the ID of an unparseable query (nothing for a runt packet)."""
    if len(wire) < 12:
        return None
    flags = int(dns.flags.QR) | int(dns.rcode.FORMERR)
    return wire[:2] + struct.pack("!HHHHH", flags, 0, 0, 0, 0)


class _UDP(asyncio.DatagramProtocol):
    def __init__(self, handler: QueryHandler) -> None:
        self.handler = handler
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        transport = self.transport
        if transport is None:
            return
        result = self.handler.answer_safely(data, tcp=False)
        if isinstance(result, bytes):
            transport.sendto(result, addr)
        elif isinstance(result, _Pending):
            self.handler.spawn(result, tcp=False, reply=lambda out: transport.sendto(out, addr))

    def error_received(self, exc: Exception) -> None:
        log.debug("udp error error=%r", exc)


class DNSListener:
    """UDP and TCP on one ``host:port`` (port 0: a free port, the same for both; see :attr:`port`)."""

    def __init__(self, handler: QueryHandler, *, host: str, port: int, tcp_idle_timeout: float = 10.0) -> None:
        self.handler = handler
        self.host = host
        self.port = port
        self.tcp_idle_timeout = tcp_idle_timeout
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        for _ in range(20):  # port 0: pick the UDP port, then take the same number for TCP
            transport, _proto = await loop.create_datagram_endpoint(lambda: _UDP(self.handler),
                                                                    local_addr=(self.host, self.port))
            port = int(transport.get_extra_info("sockname")[1])
            try:
                self._tcp = await asyncio.start_server(self._serve_tcp, self.host, port, reuse_address=True)
            except OSError:
                transport.close()
                if self.port:
                    raise
                continue
            self._udp, self.port = transport, port
            break
        else:
            raise OSError(f"no port free for both UDP and TCP on {self.host}")
        log.info("dns listening address=%s port=%d", self.host, self.port)

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
        try:
            while True:
                try:
                    size = struct.unpack("!H", await asyncio.wait_for(reader.readexactly(2),
                                                                      self.tcp_idle_timeout))[0]
                    wire = await asyncio.wait_for(reader.readexactly(size), self.tcp_idle_timeout)
                except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
                    return
                result = self.handler.answer_safely(wire, tcp=True)
                if isinstance(result, _Pending):
                    result = await self.handler.finish(result, tcp=True)
                if result is None:
                    return
                writer.write(struct.pack("!H", len(result)) + result)
                await writer.drain()
        except ConnectionError:
            return
        finally:
            if task is not None:
                self._connections.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def stop(self) -> None:
        if self._udp is not None:
            self._udp.close()
        if self._tcp is not None:
            self._tcp.close()
            for task in list(self._connections):
                task.cancel()
            await asyncio.gather(*self._connections, return_exceptions=True)
            with contextlib.suppress(Exception):
                await self._tcp.wait_closed()
