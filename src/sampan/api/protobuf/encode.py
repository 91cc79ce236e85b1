"""JSON dict -> protobuf message bytes, written as Go's generated marshallers write them.

Go's order and presence rules: fields in number order; non-pointer scalars and structs are always
written (zero values too, an absent struct as an empty message); pointers, slices, maps and ``[]byte``
only when set; map entries sorted by key; repeated scalars unpacked. JSON ``null`` is Go's zero value.
Keys the schema does not know are ignored (protobuf cannot carry them; Go's JSON decoder ignores them
too). A value of the wrong JSON type raises :class:`UnencodableObject` naming the field.
"""

from __future__ import annotations

import struct
from typing import Any

import orjson

from sampan.api import gobase64

from . import wire
from .errors import UnencodableObject
from .schema import Field, Message
from .wellknown import ENCODERS

_INT_RANGE = {"int32": (-(2**31), 2**31), "int64": (-(2**63), 2**63), "uint32": (0, 2**32), "uint64": (0, 2**64)}


def encode_message(obj: Any, msg: Message, path: str, *, nested_protobuf: bool = False) -> bytes:
    """The payload of message ``msg`` holding the JSON value ``obj`` (``path`` names it in errors).
    ``nested_protobuf``: RawExtension fields carry protobuf envelopes (watch events), not JSON."""
    special = ENCODERS.get(msg.name)
    if special is not None:
        return special(obj, path)
    if msg.name == "runtime.RawExtension":
        return _raw_extension(obj, path, nested_protobuf)
    out = bytearray()
    if msg.wrapper:
        if obj is not None:
            _write_repeated(out, msg.fields[0], obj, path)
        return bytes(out)
    if obj is None:
        obj = {}
    elif not isinstance(obj, dict):
        raise UnencodableObject(path, f"expected an object, got {type(obj).__name__}")
    nested = nested_protobuf or msg.name == "meta/v1.WatchEvent"
    for f in msg.fields:
        if f.inline:
            assert f.message is not None
            wire.write_bytes(out, f.tag, encode_message(obj, f.message, path, nested_protobuf=nested))
            continue
        value = obj.get(f.json)
        if f.is_string and value.__class__ is str and f.label == "opt":  # fast path: plain strings
            data = value.encode("utf-8", "surrogatepass")
            out += f.tag
            wire.write_varint(out, len(data))
            out += data
        elif f.label == "opt":
            if value is None and (f.pointer or f.nilable):
                continue
            if value == "" and f.type == "bytes" and f.nilable and f.omitempty:
                # an empty omitempty []byte (``caBundle: ""``): Go would write an empty field that decodes
                # back to an omitted one; writing none keeps encode(decode(b)) == b
                continue
            _write_one(out, f, value, f"{path}.{f.json}", nested)
        elif value is None:
            continue
        elif f.label == "rep":
            _write_repeated(out, f, value, f"{path}.{f.json}", nested)
        else:
            _write_map(out, f, value, f"{path}.{f.json}", nested)
    return bytes(out)


def _write_one(out: bytearray, f: Field, value: Any, path: str, nested: bool = False) -> None:
    if f.message is not None:
        wire.write_bytes(out, f.tag, encode_message(value, f.message, path, nested_protobuf=nested))
    else:
        out += f.tag
        _write_scalar(out, f.type, value, path)


def _write_repeated(out: bytearray, f: Field, value: Any, path: str, nested: bool = False) -> None:
    if not isinstance(value, list):
        raise UnencodableObject(path, f"expected an array, got {type(value).__name__}")
    for i, item in enumerate(value):
        _write_one(out, f, item, f"{path}[{i}]", nested)


def _write_map(out: bytearray, f: Field, value: Any, path: str, nested: bool) -> None:
    if not isinstance(value, dict):
        raise UnencodableObject(path, f"expected an object, got {type(value).__name__}")
    value_tag = b"\x12" if f.message is not None or f.type in ("string", "bytes") else b"\x10"
    for key in sorted(value):
        if not isinstance(key, str):
            raise UnencodableObject(path, f"map key {key!r} is not a string")
        entry = bytearray(b"\x0a")
        _write_scalar(entry, "string", key, path)
        item, item_path = value[key], f"{path}[{key}]"
        if f.message is not None:
            wire.write_bytes(entry, value_tag, encode_message(item, f.message, item_path, nested_protobuf=nested))
        else:
            entry += value_tag
            _write_scalar(entry, f.type, item, item_path)
        wire.write_bytes(out, f.tag, entry)


def _write_scalar(out: bytearray, type_name: str, value: Any, path: str) -> None:
    if type_name == "string":
        if value is None:
            value = ""
        if not isinstance(value, str):
            raise UnencodableObject(path, f"expected a string, got {type(value).__name__}")
        data = value.encode("utf-8", "surrogatepass")
        wire.write_varint(out, len(data))
        out += data
    elif type_name == "bool":
        if value is not None and not isinstance(value, bool):
            raise UnencodableObject(path, f"expected a boolean, got {type(value).__name__}")
        out.append(1 if value else 0)
    elif type_name == "bytes":
        try:
            data = gobase64.decode(value or "")
        except (gobase64.CorruptInput, TypeError, ValueError, AttributeError) as err:
            raise UnencodableObject(path, "expected base64 text") from err
        wire.write_varint(out, len(data))
        out += data
    elif type_name in ("double", "float"):
        if isinstance(value, bool) or not isinstance(value, int | float | None):
            raise UnencodableObject(path, f"expected a number, got {type(value).__name__}")
        out += struct.pack("<d" if type_name == "double" else "<f", value or 0.0)
    else:
        out += wire.varint_bytes(_integer(type_name, value, path))


def _integer(type_name: str, value: Any, path: str) -> int:
    if value is None:
        return 0
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise UnencodableObject(path, f"expected an integer, got {type(value).__name__}")
    low, high = _INT_RANGE[type_name]
    if not low <= value < high:
        raise UnencodableObject(path, f"{value} is out of range for {type_name}")
    return value


def _raw_extension(value: Any, path: str, nested_protobuf: bool) -> bytes:
    if value is None:
        return b""
    if nested_protobuf and isinstance(value, dict):
        from .envelope import encode_envelope, supports  # an embedded object is a whole envelope

        if supports(str(value.get("apiVersion", "")), str(value.get("kind", ""))):
            raw = encode_envelope(value)
            return b"\x0a" + wire.varint_bytes(len(raw)) + raw
    try:
        raw = orjson.dumps(value)
    except TypeError as err:
        raise UnencodableObject(path, f"not JSON: {err}") from err
    return b"\x0a" + wire.varint_bytes(len(raw)) + raw
