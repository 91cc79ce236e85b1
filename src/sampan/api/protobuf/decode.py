"""Protobuf message bytes -> the JSON dict Go's ``encoding/json`` would produce for the same object.

Go semantics reproduced (see :mod:`.schema` for the flags):

* a field absent from the wire is Go's zero value: a non-pointer struct is still emitted (``{}``,
  ``null`` for a zero Time), a scalar is emitted as ``""``/``0``/``false`` unless ``omitempty``, a
  pointer, slice or map is omitted with ``omitempty`` and ``null`` without;
* a present pointer field is emitted even when its value is zero (``replicas: 0``), except that a
  set ``omitempty`` pointer whose JSON is ``null`` (a zero ``*Time``) is omitted, so that decoding is
  stable under re-encoding (Go would write ``null``, which decodes back to an unset pointer);
* ``bytes`` become base64 text; invalid UTF-8 in strings becomes U+FFFD (as Go's JSON writer does);
* unknown field numbers are skipped (forward compatibility), wrong wire types are errors.

Every failure is :class:`MalformedProtobuf`; nesting is bounded by the (non-recursive) schema and by
``MAX_DEPTH`` for embedded raw objects.
"""

from __future__ import annotations

import base64
import struct
from typing import Any

import orjson

from . import wire
from .errors import MalformedProtobuf
from .schema import Field, Message
from .wellknown import DECODERS

MAX_DEPTH = 64
_MISSING: Any = object()
_ZERO: dict[str, Any] = {"string": "", "bool": False, "int32": 0, "int64": 0, "uint32": 0, "uint64": 0,
                         "double": 0.0, "float": 0.0}


def decode_message(buf: bytes, start: int, end: int, msg: Message, depth: int = 0) -> Any:
    """The JSON value of the message ``buf[start:end]`` of type ``msg``."""
    special = DECODERS.get(msg.name)
    if special is not None:
        return special(buf, start, end)
    if msg.name == "runtime.RawExtension":
        return _raw_extension(buf, start, end, depth)
    if depth > MAX_DEPTH:
        raise MalformedProtobuf("protobuf message nested too deeply")
    values: dict[int, Any] = {}
    by_number = msg.by_number
    pos = start
    while pos < end:
        b = buf[pos]
        if b < 0x80:
            key = b
            pos += 1
        else:
            key, pos = wire.read_varint(buf, pos, end)
        number, wire_type = key >> 3, key & 7
        if number == 0:
            raise MalformedProtobuf("protobuf field number 0 is invalid")
        f = by_number.get(number)
        if f is None:
            pos = wire.skip_field(buf, pos, end, wire_type)
            continue
        label = f.label
        if wire_type == wire.BYTES and f.wire_type == wire.BYTES and label != "map":
            # fast path for strings, bytes and messages (most of every object)
            if pos < end and buf[pos] < 0x80:
                s, pos = pos + 1, pos + 1 + buf[pos]
                if pos > end:
                    raise MalformedProtobuf("protobuf length-delimited field runs past the end of its message")
            else:
                s, pos = wire.read_length(buf, pos, end)
            if f.message is not None:
                value = decode_message(buf, s, pos, f.message, depth + 1)
            elif f.type == "string":
                value = buf[s:pos].decode("utf-8", "replace")
            else:
                value = base64.b64encode(buf[s:pos]).decode("ascii")
            if label == "opt":
                values[number] = value
            else:
                values.setdefault(number, []).append(value)
        elif label == "opt":
            _check_wire(f, wire_type, msg)
            values[number], pos = _read(buf, pos, end, f.type, f.message, depth)
        elif label == "rep":
            items = values.setdefault(number, [])
            if wire_type == wire.BYTES and f.wire_type != wire.BYTES:
                pos = _read_packed(buf, pos, end, f, items)
                continue
            _check_wire(f, wire_type, msg)
            item, pos = _read(buf, pos, end, f.type, f.message, depth)
            items.append(item)
        else:
            _check_wire(f, wire_type, msg)
            k, v, pos = _read_map_entry(buf, pos, end, f, depth)
            values.setdefault(number, {})[k] = v
    return _to_json(msg, values, depth)


def _check_wire(f: Field, wire_type: int, msg: Message) -> None:
    if wire_type != f.wire_type:
        raise MalformedProtobuf(f"protobuf wire type {wire_type} is wrong for field {f.json or f.number} of {msg.name}")


def _read(buf: bytes, pos: int, end: int, type_name: str, message: Message | None, depth: int) -> tuple[Any, int]:
    if message is not None:
        s, e = wire.read_length(buf, pos, end)
        return decode_message(buf, s, e, message, depth + 1), e
    if type_name == "string":
        s, e = wire.read_length(buf, pos, end)
        return buf[s:e].decode("utf-8", "replace"), e
    if type_name == "bytes":
        s, e = wire.read_length(buf, pos, end)
        return base64.b64encode(buf[s:e]).decode("ascii"), e
    if type_name == "double":
        if pos + 8 > end:
            raise MalformedProtobuf("unexpected end of protobuf data inside a double")
        return struct.unpack_from("<d", buf, pos)[0], pos + 8
    if type_name == "float":
        if pos + 4 > end:
            raise MalformedProtobuf("unexpected end of protobuf data inside a float")
        return struct.unpack_from("<f", buf, pos)[0], pos + 4
    if pos < end and buf[pos] < 0x80:
        value, pos = buf[pos], pos + 1
    else:
        value, pos = wire.read_varint(buf, pos, end)
    if type_name == "bool":
        return value != 0, pos
    if type_name == "int32":
        return wire.to_int32(value), pos
    if type_name == "int64":
        return wire.to_int64(value), pos
    if type_name == "uint32":
        return value & 0xFFFFFFFF, pos
    return value, pos


def _read_packed(buf: bytes, pos: int, end: int, f: Field, items: list[Any]) -> int:
    s, e = wire.read_length(buf, pos, end)
    while s < e:
        item, s = _read(buf, s, e, f.type, None, 0)
        items.append(item)
    return e


def _read_map_entry(buf: bytes, pos: int, end: int, f: Field, depth: int) -> tuple[str, Any, int]:
    s, e = wire.read_length(buf, pos, end)
    key: str = ""
    value: Any = _MISSING
    value_wire = wire.BYTES if f.message is not None or f.type in ("string", "bytes") else wire.VARINT
    while s < e:
        tag, s = wire.read_varint(buf, s, e)
        number, wire_type = tag >> 3, tag & 7
        if number == 1 and wire_type == wire.BYTES:
            key, s = _read(buf, s, e, "string", None, depth)
        elif number == 2 and wire_type == value_wire:
            value, s = _read(buf, s, e, f.type, f.message, depth)
        elif number in (1, 2):
            raise MalformedProtobuf(f"protobuf wire type {wire_type} is wrong in map entry of {f.json}")
        else:
            s = wire.skip_field(buf, s, e, wire_type)
    if value is _MISSING:
        value = _empty(f.message, depth) if f.message is not None else _ZERO.get(f.type, "")
    return key, value, e


def _empty(msg: Message, depth: int) -> Any:
    """The JSON of a message absent from the wire (Go's zero struct)."""
    return decode_message(b"", 0, 0, msg, depth + 1)


def _to_json(msg: Message, values: dict[int, Any], depth: int) -> Any:
    """Present fields (in wire order), then the Go zero values of absent fields that JSON shows."""
    if msg.wrapper:
        return values.get(1) or None
    out: dict[str, Any] = {}
    by_number = msg.by_number
    for number, v in values.items():
        f = by_number[number]
        if f.label != "opt":
            if v:
                out[f.json] = v
            elif not f.omitempty:
                out[f.json] = None  # an empty packed list: a nil slice in Go
        elif f.inline:
            out.update(v)
        elif v is None and f.omitempty and f.pointer:
            continue  # a set pointer to a zero Time/RawExtension: Go writes null, we omit it
        elif f.pointer or not f.omitempty or f.message is not None or _nonzero(v):
            out[f.json] = v
    for f in msg.shown_when_absent:
        if f.number in values:
            continue
        if f.inline:
            assert f.message is not None
            out.update(_empty(f.message, depth))
        elif f.label == "opt" and f.message is not None and not f.pointer:
            out[f.json] = _empty(f.message, depth)
        elif f.nilable:
            out[f.json] = None
        else:
            out[f.json] = _ZERO.get(f.type, "")
    return out


def _nonzero(value: Any) -> bool:
    """False for the zero values Go's ``omitempty`` drops."""
    return bool(value)


def _raw_extension(buf: bytes, start: int, end: int, depth: int) -> Any:
    raw = b""
    pos = start
    while pos < end:
        key, pos = wire.read_varint(buf, pos, end)
        if key == 0x0A:
            s, pos = wire.read_length(buf, pos, end)
            raw = bytes(buf[s:pos])
        else:
            pos = wire.skip_field(buf, pos, end, key & 7)
    if not raw:
        return None
    if raw.startswith(b"k8s\x00"):
        from .envelope import decode_envelope  # an embedded object is a whole envelope

        if depth >= MAX_DEPTH:
            raise MalformedProtobuf("protobuf message nested too deeply")
        return decode_envelope(raw, depth=depth + 1)
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as err:
        raise MalformedProtobuf(f"embedded object is neither protobuf nor JSON: {err}") from err
