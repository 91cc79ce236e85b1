"""SPDY/3.1 framing: the frames Kubernetes streaming uses, and the zlib-compressed header blocks.

Wire layout (all integers big-endian)::

    control frame:  1 | version(15) | type(16) | flags(8) | length(24) | payload
    data frame:     0 | stream id(31)          | flags(8) | length(24) | payload

Control payloads: SYN_STREAM = stream id, associated id, priority(3)+unused(5), slot(8), header
block; SYN_REPLY / HEADERS = stream id, header block; RST_STREAM = stream id, status; SETTINGS =
count, (flags(8) | id(24), value(32))*; PING = id; GOAWAY = last good stream id, status;
WINDOW_UPDATE = stream id, delta. A header block is ``count, (len, name, len, value)*`` (several values
of one name joined by NUL), compressed with one zlib stream per direction for the whole connection,
seeded with SPDY/3's dictionary and flushed with Z_SYNC_FLUSH after each block.

:class:`FrameDecoder` is incremental (feed bytes, take whole frames); :class:`FrameEncoder` turns
frames into bytes. Each owns its direction's zlib state, so one of each per connection.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

VERSION = 3
SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY, HEADERS, WINDOW_UPDATE = 1, 2, 3, 4, 6, 7, 8, 9
FLAG_FIN = 0x01
FLAG_UNIDIRECTIONAL = 0x02
MAX_FRAME_PAYLOAD = (1 << 24) - 1
STREAM_ID_MASK = 0x7FFFFFFF

# RST_STREAM status codes
PROTOCOL_ERROR, INVALID_STREAM, REFUSED_STREAM, UNSUPPORTED_VERSION, CANCEL, INTERNAL_ERROR = 1, 2, 3, 4, 5, 6
FLOW_CONTROL_ERROR = 7
SETTINGS_INITIAL_WINDOW_SIZE = 7
"""The SETTINGS id of the receiver's initial per-stream window (SPDY/3.1 §2.6.4)."""

_DICTIONARY_WORDS = (
    "options head post put delete trace accept accept-charset accept-encoding accept-language "
    "accept-ranges age allow authorization cache-control connection content-base content-encoding "
    "content-language content-length content-location content-md5 content-range content-type date etag "
    "expect expires from host if-match if-modified-since if-none-match if-range if-unmodified-since "
    "last-modified location max-forwards pragma proxy-authenticate proxy-authorization range referer "
    "retry-after server te trailer transfer-encoding upgrade user-agent vary via warning www-authenticate "
    "method get status |200 OK| version HTTP/1.1 url public set-cookie keep-alive origin"
)
_DICTIONARY_TAIL = (
    "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
    "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 Unauthorized"
    "403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented503 Service Unavailable"
    "Jan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMT"
    "chunked,text/html,image/png,image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,"
    "text/javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0."
)


def _dictionary() -> bytes:
    words = _DICTIONARY_WORDS.replace("|200 OK|", "200\x00OK").split()
    prefixed = b"".join(struct.pack(">I", len(w)) + w.replace("\x00", " ").encode() for w in words)
    return prefixed + _DICTIONARY_TAIL.encode()


DICTIONARY = _dictionary()
"""SPDY/3's zlib dictionary (section 2.6.10.1 of the draft): length-prefixed header words, then text."""


class ProtocolError(Exception):
    """The peer sent bytes that are not SPDY/3.1 (the connection must be torn down)."""


Headers = dict[str, list[str]]


@dataclass(frozen=True, slots=True)
class DataFrame:
    stream_id: int
    data: bytes = b""
    flags: int = 0

    @property
    def fin(self) -> bool:
        return bool(self.flags & FLAG_FIN)


@dataclass(frozen=True, slots=True)
class SynStream:
    stream_id: int
    headers: Headers = field(default_factory=dict)
    associated_id: int = 0
    priority: int = 0
    flags: int = 0


@dataclass(frozen=True, slots=True)
class SynReply:
    stream_id: int
    headers: Headers = field(default_factory=dict)
    flags: int = 0


@dataclass(frozen=True, slots=True)
class HeadersFrame:
    stream_id: int
    headers: Headers = field(default_factory=dict)
    flags: int = 0


@dataclass(frozen=True, slots=True)
class RstStream:
    stream_id: int
    status: int


@dataclass(frozen=True, slots=True)
class Settings:
    entries: tuple[tuple[int, int, int], ...] = ()
    """(flags, id, value) triples."""
    flags: int = 0


@dataclass(frozen=True, slots=True)
class Ping:
    id: int


@dataclass(frozen=True, slots=True)
class GoAway:
    last_good_stream_id: int
    status: int = 0


@dataclass(frozen=True, slots=True)
class WindowUpdate:
    stream_id: int
    delta: int


Frame = DataFrame | SynStream | SynReply | HeadersFrame | RstStream | Settings | Ping | GoAway | WindowUpdate


def encode_header_block(headers: Headers) -> bytes:
    """The uncompressed name/value block (names lower-cased, several values joined by NUL)."""
    out = [struct.pack(">I", len(headers))]
    for name, values in headers.items():
        n, v = name.lower().encode(), "\x00".join(values).encode()
        out += [struct.pack(">I", len(n)), n, struct.pack(">I", len(v)), v]
    return b"".join(out)


def decode_header_block(block: bytes) -> Headers:
    """Inverse of :func:`encode_header_block`; ProtocolError for a truncated or duplicated block."""
    try:
        (count,) = struct.unpack_from(">I", block, 0)
        pos, headers = 4, {}
        for _ in range(count):
            (n,) = struct.unpack_from(">I", block, pos)
            name = block[pos + 4 : pos + 4 + n]
            pos += 4 + n
            (m,) = struct.unpack_from(">I", block, pos)
            value = block[pos + 4 : pos + 4 + m]
            pos += 4 + m
            if len(name) != n or len(value) != m:
                raise ProtocolError("truncated header block")
            key = name.decode("utf-8", "replace")
            if key in headers:
                raise ProtocolError(f"duplicate header {key!r}")
            headers[key] = value.decode("utf-8", "replace").split("\x00")
    except struct.error:
        raise ProtocolError("truncated header block") from None
    return headers


class FrameEncoder:
    """Frames -> bytes for one direction of one connection (owns the header compressor)."""

    def __init__(self) -> None:
        self._zlib = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, 15, 9, zlib.Z_DEFAULT_STRATEGY,
                                      DICTIONARY)

    def _headers(self, headers: Headers) -> bytes:
        return self._zlib.compress(encode_header_block(headers)) + self._zlib.flush(zlib.Z_SYNC_FLUSH)

    @staticmethod
    def _control(kind: int, flags: int, payload: bytes) -> bytes:
        if len(payload) > MAX_FRAME_PAYLOAD:
            raise ValueError("control frame too large")
        return struct.pack(">HHI", 0x8000 | VERSION, kind, (flags << 24) | len(payload)) + payload

    def encode(self, frame: Frame) -> bytes:
        match frame:
            case DataFrame(stream_id=sid, data=data, flags=flags):
                if len(data) > MAX_FRAME_PAYLOAD:
                    raise ValueError("data frame too large: split it")
                return struct.pack(">II", sid & STREAM_ID_MASK, (flags << 24) | len(data)) + data
            case SynStream(stream_id=sid, headers=h, associated_id=assoc, priority=prio, flags=flags):
                payload = struct.pack(">IIBB", sid & STREAM_ID_MASK, assoc & STREAM_ID_MASK, (prio & 7) << 5, 0)
                return self._control(SYN_STREAM, flags, payload + self._headers(h))
            case SynReply(stream_id=sid, headers=h, flags=flags):
                return self._control(SYN_REPLY, flags, struct.pack(">I", sid & STREAM_ID_MASK) + self._headers(h))
            case HeadersFrame(stream_id=sid, headers=h, flags=flags):
                return self._control(HEADERS, flags, struct.pack(">I", sid & STREAM_ID_MASK) + self._headers(h))
            case RstStream(stream_id=sid, status=status):
                return self._control(RST_STREAM, 0, struct.pack(">II", sid & STREAM_ID_MASK, status))
            case Settings(entries=entries, flags=flags):
                body = b"".join(struct.pack(">II", (f << 24) | (i & 0xFFFFFF), v) for f, i, v in entries)
                return self._control(SETTINGS, flags, struct.pack(">I", len(entries)) + body)
            case Ping(id=pid):
                return self._control(PING, 0, struct.pack(">I", pid))
            case GoAway(last_good_stream_id=last, status=status):
                return self._control(GOAWAY, 0, struct.pack(">II", last & STREAM_ID_MASK, status))
            case WindowUpdate(stream_id=sid, delta=delta):
                return self._control(WINDOW_UPDATE, 0, struct.pack(">II", sid & STREAM_ID_MASK, delta & STREAM_ID_MASK))
        raise TypeError(f"not a SPDY frame: {frame!r}")


class FrameDecoder:
    """Bytes -> frames for one direction of one connection (owns the header decompressor).

    Invariant: ``_buf`` holds at most one partial frame after :meth:`frames` returns."""

    def __init__(self, *, max_frame: int = MAX_FRAME_PAYLOAD) -> None:
        self._buf = bytearray()
        self._zlib = zlib.decompressobj(zdict=DICTIONARY)
        self._max_frame = max_frame

    def feed(self, data: bytes) -> list[Frame]:
        """Append ``data`` and return every frame it completes (unknown control types are skipped)."""
        self._buf += data
        out: list[Frame] = []
        while len(self._buf) >= 8:
            (length,) = struct.unpack_from(">I", self._buf, 4)
            flags, length = length >> 24, length & 0xFFFFFF
            if length > self._max_frame:
                raise ProtocolError(f"frame of {length} bytes exceeds the limit")
            if len(self._buf) < 8 + length:
                break
            head = bytes(self._buf[:4])
            payload = bytes(self._buf[8 : 8 + length])
            del self._buf[: 8 + length]
            frame = self._decode(head, flags, payload)
            if frame is not None:
                out.append(frame)
        return out

    def _headers(self, block: bytes) -> Headers:
        try:
            raw = self._zlib.decompress(block)
        except zlib.error as err:
            raise ProtocolError(f"header block does not decompress: {err}") from None
        return decode_header_block(raw)

    def _decode(self, head: bytes, flags: int, payload: bytes) -> Frame | None:
        (word,) = struct.unpack(">I", head)
        if not word & 0x80000000:
            return DataFrame(word & STREAM_ID_MASK, payload, flags)
        version, kind = (word >> 16) & 0x7FFF, word & 0xFFFF
        if version != VERSION:
            raise ProtocolError(f"unsupported SPDY version {version}")
        try:
            if kind == SYN_STREAM:
                sid, assoc, prio, _slot = struct.unpack_from(">IIBB", payload)
                return SynStream(sid & STREAM_ID_MASK, self._headers(payload[10:]), assoc & STREAM_ID_MASK,
                                 prio >> 5, flags)
            if kind in (SYN_REPLY, HEADERS):
                (sid,) = struct.unpack_from(">I", payload)
                cls = SynReply if kind == SYN_REPLY else HeadersFrame
                return cls(sid & STREAM_ID_MASK, self._headers(payload[4:]), flags)
            if kind == RST_STREAM:
                sid, status = struct.unpack_from(">II", payload)
                return RstStream(sid & STREAM_ID_MASK, status)
            if kind == SETTINGS:
                (count,) = struct.unpack_from(">I", payload)
                entries = tuple((fi >> 24, fi & 0xFFFFFF, v) for fi, v in
                                (struct.unpack_from(">II", payload, 4 + 8 * i) for i in range(count)))
                return Settings(entries, flags)
            if kind == PING:
                return Ping(struct.unpack_from(">I", payload)[0])
            if kind == GOAWAY:
                last, status = struct.unpack_from(">I", payload)[0], 0
                if len(payload) >= 8:
                    status = struct.unpack_from(">I", payload, 4)[0]
                return GoAway(last & STREAM_ID_MASK, status)
            if kind == WINDOW_UPDATE:
                sid, delta = struct.unpack_from(">II", payload)
                return WindowUpdate(sid & STREAM_ID_MASK, delta & STREAM_ID_MASK)
        except struct.error:
            raise ProtocolError(f"control frame type {kind} is truncated") from None
        return None
