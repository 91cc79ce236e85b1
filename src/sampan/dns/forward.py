"""Names outside the cluster domain go to the host's resolvers (CoreDNS ``forward . /etc/resolv.conf``).

Upstreams come from ``nameserver`` lines of a resolv.conf file (port 53) or are given explicitly as
``host:port``. A UDP client's query is relayed as it came under a fresh random ID over one long-lived UDP
socket per upstream (:class:`_UpstreamSocket`: a reply is taken only if its ID is pending and its
question is ours), and the reply goes back byte for byte under the client's ID — a truncated reply
reaches the client truncated, and its TCP retry is forwarded over TCP. ExternalName targets are asked
over UDP with TCP on truncation. The upstreams are tried in order until one answers or ``timeout``
seconds have passed in total.
No answer -> SERVFAIL. An upstream that is this server itself is dropped, so a resolv.conf naming us
cannot make a forwarding loop.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Upstream:
    host: str
    port: int = 53

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


def parse_hostport(text: str, *, default_port: int = 53) -> Upstream:
    """``1.2.3.4``, ``1.2.3.4:5353`` or ``[::1]:53``; ValueError (one line) otherwise."""
    text = text.strip()
    host, port = text, default_port
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        if rest:
            port = int(rest.lstrip(":"))
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
        try:
            port = int(port_text)
        except ValueError:
            raise ValueError(f"invalid port in {text!r}") from None
    if not host or not 0 < port < 65536:
        raise ValueError(f"invalid address {text!r} (want host or host:port)")
    return Upstream(host, port)


def read_resolv_conf(path: Path) -> list[Upstream]:
    """The ``nameserver`` entries of a resolv.conf (missing file: none)."""
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except FileNotFoundError:
        return []
    out = []
    for line in lines:
        words = line.split("#", 1)[0].split(";", 1)[0].split()
        if len(words) >= 2 and words[0] == "nameserver":
            out.append(Upstream(words[1].split("%", 1)[0]))
    return out


class _UpstreamSocket(asyncio.DatagramProtocol):
    """One connected UDP socket to an upstream, shared by every forwarded query. Invariant: ``pending``
    maps each ID awaiting a reply to (its question bytes, the future its reply completes)."""

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.pending: dict[int, tuple[bytes, asyncio.Future[bytes]]] = {}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if len(data) < 12:
            return
        entry = self.pending.get(int.from_bytes(data[:2], "big"))
        if entry is None:
            return
        question, future = entry
        if data[12:12 + len(question)].lower() == question and not future.done():
            future.set_result(data)

    def error_received(self, exc: Exception) -> None:  # e.g. ICMP port unreachable: fail what waits
        for _, future in self.pending.values():
            if not future.done():
                future.set_exception(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self.error_received(exc or ConnectionResetError("upstream socket closed"))
        self.transport = None

    async def exchange(self, wire: bytes, *, question_len: int, timeout: float) -> bytes:
        """Send the query ``wire`` under a fresh ID no other pending query holds; the reply's bytes (with
        that ID). ``question_len``: the length of the question (name, type, class) after the header."""
        assert self.transport is not None
        qid = random.getrandbits(16)
        while qid in self.pending:
            qid = random.getrandbits(16)
        question = wire[12:12 + question_len].lower()
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self.pending[qid] = (question, future)
        try:
            self.transport.sendto(qid.to_bytes(2, "big") + wire[2:])
            return await asyncio.wait_for(future, timeout)
        finally:
            self.pending.pop(qid, None)


class Forwarder:
    def __init__(self, upstreams: Iterable[Upstream], *, timeout: float = 5.0,
                 exclude: Iterable[Upstream] = ()) -> None:
        skip = set(exclude)
        self.upstreams = [u for u in upstreams if u not in skip]
        self.timeout = timeout
        self._sockets: dict[Upstream, _UpstreamSocket] = {}

    async def _socket(self, upstream: Upstream) -> _UpstreamSocket:
        sock = self._sockets.get(upstream)
        if sock is None or sock.transport is None:
            _, sock = await asyncio.get_running_loop().create_datagram_endpoint(
                _UpstreamSocket, remote_addr=(upstream.host, upstream.port))
            self._sockets[upstream] = sock
        return sock

    async def _udp(self, query: dns.message.Message, upstream: Upstream, timeout: float) -> dns.message.Message:
        sock = await self._socket(upstream)
        reply = dns.message.from_wire(await sock.exchange(query.to_wire(), question_len=_question_len(query),
                                                          timeout=timeout))
        query.id = reply.id
        if reply.flags & dns.flags.TC:
            return await dns.asyncquery.tcp(query, upstream.host, timeout=timeout, port=upstream.port)
        return reply

    def close(self) -> None:
        for sock in self._sockets.values():
            if sock.transport is not None:
                sock.transport.close()
        self._sockets.clear()

    async def exchange(self, qname: dns.name.Name, rdtype: int, *, rd: bool = True, cd: bool = False,
                       tcp: bool = False, rdclass: int = 1) -> dns.message.Message | None:
        """The first upstream reply to (qname, rdtype), or None when none came within the timeout."""
        query = dns.message.make_query(qname, dns.rdatatype.RdataType.make(rdtype),
                                       dns.rdataclass.RdataClass.make(rdclass), use_edns=0, payload=1232)
        if not rd:
            query.flags &= ~dns.flags.RD
        if cd:
            query.flags |= dns.flags.CD
        deadline = time.monotonic() + self.timeout
        for upstream in self.upstreams:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                if tcp:
                    return await dns.asyncquery.tcp(query, upstream.host, timeout=left, port=upstream.port)
                return await self._udp(query, upstream, left)
            except (dns.exception.DNSException, OSError, EOFError, TimeoutError) as err:
                log.debug("upstream failed upstream=%s name=%s error=%r", upstream, qname, err)
        return None

    async def relay(self, wire: bytes, query: dns.message.Message) -> bytes:
        """A UDP client's query passed through as it came (only the ID is swapped, both ways), so a
        truncated upstream reply reaches the client truncated and it retries over TCP; SERVFAIL when no
        upstream answered in time. ``query`` is ``wire`` parsed."""
        deadline = time.monotonic() + self.timeout
        for upstream in self.upstreams:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                sock = await self._socket(upstream)
                reply = await sock.exchange(wire, question_len=_question_len(query), timeout=left)
                return wire[:2] + reply[2:]
            except (OSError, TimeoutError) as err:
                log.debug("upstream failed upstream=%s name=%s error=%r", upstream, query.question[0].name, err)
        response = dns.message.make_response(query)
        response.set_rcode(dns.rcode.SERVFAIL)
        return response.to_wire()

    async def forward(self, query: dns.message.Message, *, tcp: bool) -> dns.message.Message:
        """The client's response: the upstream's answer under the client's ID and question, or SERVFAIL."""
        response = dns.message.make_response(query, recursion_available=True, our_payload=1232)
        question = query.question[0]
        reply = await self.exchange(question.name, question.rdtype, rd=bool(query.flags & dns.flags.RD),
                                    cd=bool(query.flags & dns.flags.CD), tcp=tcp, rdclass=question.rdclass)
        if reply is None:
            response.set_rcode(dns.rcode.SERVFAIL)
            return response
        response.set_rcode(reply.rcode())
        response.answer = list(reply.answer)
        response.authority = list(reply.authority)
        response.additional = [r for r in reply.additional if r.rdtype != dns.rdatatype.OPT]
        return response

    async def chase(self, target: dns.name.Name, rdtype: int) -> list[dns.rrset.RRset]:
        """What the upstreams answer for an ExternalName's target (nothing when they fail)."""
        reply = await self.exchange(target, rdtype)
        return list(reply.answer) if reply is not None and reply.rcode() == dns.rcode.NOERROR else []


def _question_len(query: dns.message.Message) -> int:
    """Bytes of the (single, uncompressed: it comes first) question after the header."""
    return len(query.question[0].name.to_wire() or b"") + 4
