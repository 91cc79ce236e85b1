"""The protobuf wire format: varints, tags and length-delimited fields over ``bytes``.

Readers take ``(buf, pos)`` and return ``(value, new_pos)``; they never read past ``end`` and raise
:class:`MalformedProtobuf` on truncated or overlong input. Writers append to a ``bytearray``.
"""

from __future__ import annotations

from .errors import MalformedProtobuf

VARINT, FIXED64, BYTES, START_GROUP, END_GROUP, FIXED32 = 0, 1, 2, 3, 4, 5
_MASK64 = (1 << 64) - 1


def read_varint(buf: bytes, pos: int, end: int) -> tuple[int, int]:
    """An unsigned varint of at most 10 bytes starting at ``pos`` (< ``end``)."""
    result = 0
    shift = 0
    while True:
        if pos >= end:
            raise MalformedProtobuf("unexpected end of protobuf data inside a varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result & _MASK64, pos
        shift += 7
        if shift >= 70:
            raise MalformedProtobuf("protobuf varint is longer than 10 bytes")


def read_length(buf: bytes, pos: int, end: int) -> tuple[int, int]:
    """The bounds ``(start, stop)`` of a length-delimited payload whose length varint is at ``pos``."""
    if pos < end and buf[pos] < 0x80:
        length = buf[pos]
        pos += 1
    else:
        length, pos = read_varint(buf, pos, end)
    stop = pos + length
    if stop > end:
        raise MalformedProtobuf("protobuf length-delimited field runs past the end of its message")
    return pos, stop


def skip_field(buf: bytes, pos: int, end: int, wire_type: int) -> int:
    """Skip one unknown field's payload (Go ignores unknown fields); groups are rejected."""
    if wire_type == VARINT:
        return read_varint(buf, pos, end)[1]
    if wire_type == BYTES:
        return read_length(buf, pos, end)[1]
    if wire_type == FIXED64:
        pos += 8
    elif wire_type == FIXED32:
        pos += 4
    else:
        raise MalformedProtobuf(f"unsupported protobuf wire type {wire_type}")
    if pos > end:
        raise MalformedProtobuf("unexpected end of protobuf data inside a fixed-size field")
    return pos


def to_int32(value: int) -> int:
    """Go's ``int32(uint64)``: keep the low 32 bits, two's complement."""
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value


def to_int64(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def varint_bytes(value: int) -> bytes:
    """The varint encoding of ``value``; negative numbers take 10 bytes, as in Go."""
    value &= _MASK64
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def tag_bytes(number: int, wire_type: int) -> bytes:
    return varint_bytes((number << 3) | wire_type)


def write_varint(out: bytearray, value: int) -> None:
    if 0 <= value < 0x80:
        out.append(value)
    else:
        out += varint_bytes(value)


def write_bytes(out: bytearray, tag: bytes, payload: bytes | bytearray) -> None:
    """A length-delimited field: tag, length, payload."""
    out += tag
    write_varint(out, len(payload))
    out += payload
