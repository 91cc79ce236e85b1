"""Messages whose JSON form is not their fields: Time, MicroTime, Duration, Quantity, IntOrString,
FieldsV1. Each has a decoder (payload bytes -> JSON value) and an encoder (JSON value -> payload), with
the Go library's semantics:

* ``Time``: RFC 3339 in UTC, whole seconds (upstream drops nanoseconds both ways); zero time is JSON
  ``null`` and an empty message on the wire.
* ``MicroTime``: like Time with six fractional digits (``2006-01-02T15:04:05.000000Z``).
* ``Duration``: Go's ``time.Duration`` string (``1h0m0s``, ``1.5s``), nanoseconds on the wire.
* ``Quantity``: its string (empty message: ``"0"``, Go's zero Quantity).
* ``IntOrString``: an int or a string, by the wire's ``type`` field.
* ``FieldsV1``: the raw JSON object it carries.
"""

from __future__ import annotations

import calendar
import re
import time
from collections.abc import Callable
from fractions import Fraction
from typing import Any

import orjson

from . import wire
from .errors import MalformedProtobuf, UnencodableObject

_ZERO_TIME_SECONDS = -62135596800  # 0001-01-01T00:00:00Z, Go's zero time
_MAX_SECONDS = 253402300799  # 9999-12-31T23:59:59Z
_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):(\d{2}))"
)


def _fields(buf: bytes, start: int, end: int) -> dict[int, int | bytes]:
    """The scalar fields of a small message: varints as ints, length-delimited as bytes."""
    out: dict[int, int | bytes] = {}
    pos = start
    while pos < end:
        key, pos = wire.read_varint(buf, pos, end)
        number, wire_type = key >> 3, key & 7
        if wire_type == wire.VARINT:
            out[number], pos = wire.read_varint(buf, pos, end)
        elif wire_type == wire.BYTES:
            s, pos = wire.read_length(buf, pos, end)
            out[number] = bytes(buf[s:pos])
        else:
            pos = wire.skip_field(buf, pos, end, wire_type)
    return out


def _int(fields: dict[int, int | bytes], number: int) -> int:
    v = fields.get(number, 0)
    if not isinstance(v, int):
        raise MalformedProtobuf(f"protobuf field {number} has the wrong wire type")
    return v


def _str(fields: dict[int, int | bytes], number: int) -> str:
    v = fields.get(number, b"")
    if not isinstance(v, bytes):
        raise MalformedProtobuf(f"protobuf field {number} has the wrong wire type")
    return v.decode("utf-8", "replace")


def format_time(seconds: int, micros: int | None = None) -> str:
    if not _ZERO_TIME_SECONDS <= seconds <= _MAX_SECONDS:
        raise MalformedProtobuf(f"protobuf timestamp {seconds} is outside years 1-9999")
    t = time.gmtime(seconds)
    text = f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}T{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}"
    return f"{text}.{micros:06d}Z" if micros is not None else text + "Z"


def parse_time(value: Any, path: str) -> tuple[int, int]:
    """RFC 3339 text -> (Unix seconds, nanoseconds)."""
    m = _RFC3339.fullmatch(value) if isinstance(value, str) else None
    if not m:
        raise UnencodableObject(path, f"not an RFC 3339 time: {value!r}")
    year, month, day, hour, minute, sec = (int(g) for g in m.groups()[:6])
    if not (year >= 1 and 1 <= month <= 12 and 1 <= day <= calendar.monthrange(year, month)[1] and hour < 24
            and minute < 60 and sec < 60):
        raise UnencodableObject(path, f"not a valid time: {value!r}")
    seconds = calendar.timegm((year, month, day, hour, minute, sec, 0, 0, 0))
    if m.group(9):
        offset = int(m.group(10)) * 3600 + int(m.group(11)) * 60
        seconds -= offset if m.group(9) == "+" else -offset
    nanos = int((m.group(7) or "0").ljust(9, "0"))
    return seconds, nanos


def _decode_time(buf: bytes, start: int, end: int) -> str | None:
    if start == end:
        return None
    f = _fields(buf, start, end)
    seconds = wire.to_int64(_int(f, 1))
    return None if seconds == _ZERO_TIME_SECONDS else format_time(seconds)


def _decode_micro_time(buf: bytes, start: int, end: int) -> str | None:
    if start == end:
        return None
    f = _fields(buf, start, end)
    seconds, nanos = wire.to_int64(_int(f, 1)), wire.to_int32(_int(f, 2))
    if seconds == _ZERO_TIME_SECONDS and nanos == 0:
        return None
    if not 0 <= nanos < 1_000_000_000:
        raise MalformedProtobuf(f"protobuf timestamp nanos {nanos} out of range")
    return format_time(seconds, nanos // 1000)


def _timestamp(seconds: int, nanos: int) -> bytes:
    return b"\x08" + wire.varint_bytes(seconds) + b"\x10" + wire.varint_bytes(nanos)


def _encode_time(value: Any, path: str) -> bytes:
    if value is None:
        return b""
    seconds, _ = parse_time(value, path)
    return _timestamp(seconds, 0)


def _encode_micro_time(value: Any, path: str) -> bytes:
    if value is None:
        return b""
    seconds, nanos = parse_time(value, path)
    return _timestamp(seconds, nanos - nanos % 1000)


_UNITS = (("h", 3600 * 10**9), ("m", 60 * 10**9))
_DURATION_PART = re.compile(r"(\d*\.?\d*)(ns|us|µs|μs|ms|s|m|h)")
_UNIT_NS = {"ns": 1, "us": 1000, "µs": 1000, "μs": 1000, "ms": 10**6, "s": 10**9, "m": 60 * 10**9,
            "h": 3600 * 10**9}


def _frac(value: int, unit: int) -> str:
    whole, rest = divmod(value, unit)
    if not rest:
        return str(whole)
    digits = str(rest).rjust(len(str(unit)) - 1, "0").rstrip("0")
    return f"{whole}.{digits}"


def format_duration(nanos: int) -> str:
    """Go's ``time.Duration.String``."""
    sign, u = ("-", -nanos) if nanos < 0 else ("", nanos)
    if u == 0:
        return "0s"
    if u < 1000:
        return f"{sign}{u}ns"
    if u < 10**6:
        return f"{sign}{_frac(u, 1000)}µs"
    if u < 10**9:
        return f"{sign}{_frac(u, 10**6)}ms"
    hours, rest = divmod(u, _UNITS[0][1])
    minutes, rest = divmod(rest, _UNITS[1][1])
    text = (f"{hours}h" if hours else "") + (f"{minutes}m" if hours or minutes else "")
    return f"{sign}{text}{_frac(rest, 10**9)}s"


def parse_duration(value: Any, path: str) -> int:
    """Go's ``time.ParseDuration`` -> nanoseconds (exact: fractions are not rounded through floats)."""
    if not isinstance(value, str) or not value:
        raise UnencodableObject(path, f"not a duration: {value!r}")
    sign, text = (-1, value[1:]) if value[0] == "-" else (1, value[1:] if value[0] == "+" else value)
    if text == "0":
        return 0
    pos, total = 0, Fraction(0)
    for m in _DURATION_PART.finditer(text):
        if m.start() != pos or m.group(1) in ("", "."):
            raise UnencodableObject(path, f"not a duration: {value!r}")
        total += Fraction(m.group(1)) * _UNIT_NS[m.group(2)]
        pos = m.end()
    nanos = sign * int(total)
    if pos != len(text) or pos == 0 or not -(2**63) <= nanos < 2**63:
        raise UnencodableObject(path, f"not a duration: {value!r}")
    return nanos


def _decode_duration(buf: bytes, start: int, end: int) -> str:
    return format_duration(wire.to_int64(_int(_fields(buf, start, end), 1)))


def _encode_duration(value: Any, path: str) -> bytes:
    nanos = 0 if value is None else parse_duration(value, path)
    return b"\x08" + wire.varint_bytes(nanos)


def _decode_quantity(buf: bytes, start: int, end: int) -> str:
    return _str(_fields(buf, start, end), 1) or "0"


def quantity_text(value: Any, path: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise UnencodableObject(path, f"not a quantity: {value!r}")
    return str(int(value)) if isinstance(value, int) or value.is_integer() else repr(value)


def _encode_quantity(value: Any, path: str) -> bytes:
    data = ("0" if value is None else quantity_text(value, path)).encode()
    return b"\x0a" + wire.varint_bytes(len(data)) + data


def _decode_int_or_string(buf: bytes, start: int, end: int) -> int | str:
    f = _fields(buf, start, end)
    return _str(f, 3) if _int(f, 1) == 1 else wire.to_int32(_int(f, 2))


def _encode_int_or_string(value: Any, path: str) -> bytes:
    if value is None:
        value = 0
    if isinstance(value, str):
        data = value.encode()
        return b"\x08\x01\x10\x00\x1a" + wire.varint_bytes(len(data)) + data
    if isinstance(value, bool) or not isinstance(value, int) or not -(2**31) <= value < 2**31:
        raise UnencodableObject(path, f"not an int32 or a string: {value!r}")
    return b"\x08\x00\x10" + wire.varint_bytes(value) + b"\x1a\x00"


def _decode_fields_v1(buf: bytes, start: int, end: int) -> Any:
    raw = _fields(buf, start, end).get(1)
    if not raw:
        return None
    if not isinstance(raw, bytes):
        raise MalformedProtobuf("FieldsV1 raw has the wrong wire type")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as err:
        raise MalformedProtobuf(f"FieldsV1 does not hold JSON: {err}") from err


def _encode_fields_v1(value: Any, path: str) -> bytes:
    if value is None:
        return b""
    data = orjson.dumps(value)
    return b"\x0a" + wire.varint_bytes(len(data)) + data


Decoder = Callable[[bytes, int, int], Any]
Encoder = Callable[[Any, str], bytes]
DECODERS: dict[str, Decoder] = {
    "meta/v1.Time": _decode_time,
    "meta/v1.MicroTime": _decode_micro_time,
    "meta/v1.Duration": _decode_duration,
    "meta/v1.FieldsV1": _decode_fields_v1,
    "resource.Quantity": _decode_quantity,
    "resource.QuantityValue": _decode_quantity,
    "intstr.IntOrString": _decode_int_or_string,
}
ENCODERS: dict[str, Encoder] = {
    "meta/v1.Time": _encode_time,
    "meta/v1.MicroTime": _encode_micro_time,
    "meta/v1.Duration": _encode_duration,
    "meta/v1.FieldsV1": _encode_fields_v1,
    "resource.Quantity": _encode_quantity,
    "resource.QuantityValue": _encode_quantity,
    "intstr.IntOrString": _encode_int_or_string,
}
