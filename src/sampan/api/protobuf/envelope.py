"""Kubernetes' protobuf envelope: ``k8s\\x00`` then a ``runtime.Unknown`` message
(typeMeta{apiVersion=1, kind=2}=1, raw=2, contentEncoding=3, contentType=4), ``raw`` being the
object's own message. The JSON object gets ``kind`` and ``apiVersion`` from typeMeta.

Watch streams (``application/vnd.kubernetes.protobuf;stream=watch``) are frames of a 4-byte
big-endian length followed by a bare ``meta/v1.WatchEvent`` message (no magic, no Unknown) whose
``object.raw`` is a full envelope: :func:`encode_watch_frame` / :func:`decode_watch_frame`.
"""

from __future__ import annotations

import logging
from typing import Any

from . import wire
from .decode import decode_message
from .encode import encode_message
from .errors import MalformedProtobuf, UnsupportedKind
from .schema import SCHEMA, message_for

logger = logging.getLogger(__name__)

MAGIC = b"k8s\x00"
CONTENT_TYPE = "application/vnd.kubernetes.protobuf"
WATCH_CONTENT_TYPE = "application/vnd.kubernetes.protobuf;stream=watch"


def supports(api_version: str, kind: str) -> bool:
    """True when objects of this kind can travel as protobuf (built-in kinds, lists, meta kinds)."""
    return message_for(api_version, kind) is not None


def read_type(body: bytes) -> tuple[str, str, bytes]:
    """``(apiVersion, kind, raw)`` of an envelope, without decoding ``raw``."""
    if not isinstance(body, bytes | bytearray | memoryview):
        raise MalformedProtobuf("protobuf body must be bytes")
    body = bytes(body)
    if not body.startswith(MAGIC):
        raise MalformedProtobuf("protobuf body does not start with the Kubernetes magic number k8s\\x00")
    api_version = kind = content_encoding = ""
    raw = b""
    pos, end = len(MAGIC), len(body)
    while pos < end:
        key, pos = wire.read_varint(body, pos, end)
        number, wire_type = key >> 3, key & 7
        if number in (1, 2, 3, 4) and wire_type != wire.BYTES:
            raise MalformedProtobuf(f"protobuf envelope field {number} has wire type {wire_type}")
        if number not in (1, 2, 3, 4):
            pos = wire.skip_field(body, pos, end, wire_type)
            continue
        s, pos = wire.read_length(body, pos, end)
        if number == 1:
            meta = decode_message(body, s, pos, SCHEMA["runtime.TypeMeta"])
            api_version, kind = meta.get("apiVersion") or "", meta.get("kind") or ""
        elif number == 2:
            raw = body[s:pos]
        elif number == 3:
            content_encoding = body[s:pos].decode("utf-8", "replace")
    if content_encoding:
        raise MalformedProtobuf(f"protobuf content encoding {content_encoding!r} is not supported")
    if not kind:
        raise MalformedProtobuf("protobuf envelope does not name a kind")
    return api_version, kind, raw


def decode_envelope(body: bytes, *, depth: int = 0) -> dict[str, Any]:
    """The JSON object of a protobuf body. Raises MalformedProtobuf (400) or UnsupportedKind (415)."""
    api_version, kind, raw = read_type(body)
    msg = message_for(api_version, kind)
    if msg is None:
        logger.debug("protobuf body of an unsupported kind apiVersion=%s kind=%s", api_version, kind)
        raise UnsupportedKind(api_version, kind)
    obj = decode_message(raw, 0, len(raw), msg, depth)
    if not isinstance(obj, dict):
        raise MalformedProtobuf(f"{kind} is not an object")
    return {"kind": kind, "apiVersion": api_version, **obj}


def encode_envelope(obj: dict[str, Any]) -> bytes:
    """The protobuf body of a JSON object (its ``apiVersion`` and ``kind`` pick the message)."""
    if not isinstance(obj, dict):
        raise UnsupportedKind("", type(obj).__name__)
    api_version, kind = obj.get("apiVersion") or "", obj.get("kind") or ""
    msg = message_for(str(api_version), str(kind))
    if msg is None:
        raise UnsupportedKind(str(api_version), str(kind))
    raw = encode_message(obj, msg, kind)
    type_meta = encode_message({"apiVersion": api_version, "kind": kind}, SCHEMA["runtime.TypeMeta"], "typeMeta")
    out = bytearray(MAGIC)
    wire.write_bytes(out, b"\x0a", type_meta)
    wire.write_bytes(out, b"\x12", raw)
    out += b"\x1a\x00\x22\x00"  # contentEncoding "", contentType "": Go writes both, always
    return bytes(out)


def encode_watch_frame(event_type: str, obj: dict[str, Any]) -> bytes:
    """One length-prefixed frame of a protobuf watch stream (``ADDED``, ``MODIFIED``, ... ``ERROR``)."""
    inner = encode_envelope(obj)
    payload = bytearray(b"\x0a")
    data = event_type.encode()
    payload += wire.varint_bytes(len(data)) + data
    wire.write_bytes(payload, b"\x12", b"\x0a" + wire.varint_bytes(len(inner)) + inner)
    return len(payload).to_bytes(4, "big") + bytes(payload)


def decode_watch_frame(frame: bytes) -> dict[str, Any]:
    """``{"type": ..., "object": {...}}`` from one frame (length prefix included)."""
    if len(frame) < 4 or int.from_bytes(frame[:4], "big") != len(frame) - 4:
        raise MalformedProtobuf("protobuf watch frame length does not match its payload")
    event = decode_message(frame, 4, len(frame), SCHEMA["meta/v1.WatchEvent"])
    if not isinstance(event, dict):
        raise MalformedProtobuf("protobuf watch frame is not an event")
    return event
