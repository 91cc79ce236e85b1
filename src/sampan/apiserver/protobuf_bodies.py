"""Protobuf on the API server's wire: request bodies in, objects, lists, Status and watch frames out.

The codec (:mod:`sampan.api.protobuf`) turns one dict into one envelope and back. This module adds what
serving needs on top of it:

* :func:`decode_request` — a request body (``Content-Type: application/vnd.kubernetes.protobuf``) into
  the same dict a JSON body gives, minus fields the server's schema does not know (upstream's protobuf
  decoder drops unknown fields silently; ``fieldValidation`` only ever reports JSON/YAML problems);
* :func:`message_of` / :func:`wrap` — an object's bare message (what a list item or a watch event
  carries) and its envelope, so a cached object is encoded once and shared by GETs, lists and watchers;
* :func:`list_body` — a ``<Kind>List`` assembled from memoized item messages (no re-encoding);
  :func:`list_prefix` / :func:`list_items` / :data:`LIST_SUFFIX` — the same bytes in pieces, for
  streaming a large list;
* :func:`watch_frame` — one length-prefixed ``WatchEvent`` frame around an envelope.

Invariant: every byte string built here equals what :func:`sampan.api.protobuf.encode` /
:func:`~sampan.api.protobuf.encode_watch_frame` write for the same dict (tests check it), i.e. what Go's
generated marshallers write.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sampan.api import protobuf
from sampan.api.protobuf import wire
from sampan.api.schema import type_for_kind
from sampan.apiserver.fieldvalidation import prune_unknown

log = logging.getLogger(__name__)

CONTENT_TYPE = protobuf.CONTENT_TYPE
WATCH_CONTENT_TYPE = protobuf.WATCH_CONTENT_TYPE
ProtobufError = protobuf.ProtobufError
_TRAILER = b"\x1a\x00\x22\x00"  # runtime.Unknown contentEncoding "" and contentType "": Go always writes both


def decode_request(raw: bytes) -> dict[str, Any]:
    """The JSON object of a protobuf request body. Raises ``MalformedProtobuf`` (400) and
    ``UnsupportedKind`` (415: custom resources and kinds without a schema), nothing else."""
    obj = protobuf.decode(raw)
    group, _, version = str(obj.get("apiVersion") or "").rpartition("/")
    node = type_for_kind(group, version, str(obj.get("kind") or ""))
    if node is not None:
        prune_unknown(obj, node)
    return obj


def message_of(obj: Mapping[str, Any]) -> bytes:
    """The bare protobuf message of ``obj`` (no magic, no envelope): a list item, an envelope's ``raw``.
    Raises ``UnsupportedKind`` or ``UnencodableObject``."""
    _, _, raw = protobuf.read_type(protobuf.encode(dict(obj)))
    return raw


def _envelope_head(api_version: str, kind: str) -> bytearray:
    """``k8s\\0`` + ``runtime.Unknown``'s typeMeta field: what precedes the ``raw`` field."""
    type_meta = bytearray()
    wire.write_bytes(type_meta, b"\x0a", api_version.encode())
    wire.write_bytes(type_meta, b"\x12", kind.encode())
    out = bytearray(protobuf.MAGIC)
    wire.write_bytes(out, b"\x0a", type_meta)
    return out


def wrap(api_version: str, kind: str, message: bytes) -> bytes:
    """``k8s\\0`` + ``runtime.Unknown{typeMeta, raw=message, "", ""}``."""
    out = _envelope_head(api_version, kind)
    wire.write_bytes(out, b"\x12", message)
    out += _TRAILER
    return bytes(out)


def supported(obj: Mapping[str, Any]) -> bool:
    """True when ``obj``'s apiVersion/kind has a protobuf schema (built-in kinds; not custom resources)."""
    return protobuf.supports(str(obj.get("apiVersion") or ""), str(obj.get("kind") or ""))


def encode_or_none(obj: Mapping[str, Any]) -> bytes | None:
    """``obj``'s envelope, or None (logged) when its kind has no schema or its values do not fit."""
    if not supported(obj):
        return None
    try:
        return protobuf.encode(dict(obj))
    except protobuf.ProtobufError as exc:
        log.warning("cannot answer in protobuf, sending JSON kind=%s: %s", obj.get("kind"), exc)
        return None


def list_body(head: Mapping[str, Any], item_messages: Iterable[bytes]) -> bytes:
    """The envelope of a list whose ``head`` (kind, apiVersion, metadata) is encoded here and whose items
    are already-encoded messages (field 2, in order). Raises like :func:`message_of`."""
    out = bytearray(message_of(head))
    for item in item_messages:
        wire.write_bytes(out, b"\x12", item)
    return wrap(str(head.get("apiVersion") or ""), str(head.get("kind") or ""), bytes(out))


def list_prefix(head: Mapping[str, Any], item_messages: Sequence[bytes]) -> bytes:
    """The bytes of :func:`list_body` before its first item: envelope, ``raw``'s length (which counts every
    item, so all must be known) and the list's own head. ``list_prefix(h, ms) + list_items(ms) +
    LIST_SUFFIX == list_body(h, ms)``, and ``list_items`` may be called on consecutive slices of ``ms``,
    so a large list can be written in pieces without being built whole. Raises like :func:`message_of`."""
    head_message = message_of(head)
    length = len(head_message) + sum(1 + len(wire.varint_bytes(len(m))) + len(m) for m in item_messages)
    out = _envelope_head(str(head.get("apiVersion") or ""), str(head.get("kind") or ""))
    out += b"\x12"
    wire.write_varint(out, length)
    out += head_message
    return bytes(out)


def list_items(item_messages: Iterable[bytes]) -> bytes:
    """Items as the list's field 2, in order (see :func:`list_prefix`)."""
    out = bytearray()
    for item in item_messages:
        wire.write_bytes(out, b"\x12", item)
    return bytes(out)


LIST_SUFFIX = _TRAILER
"""What follows the last item of a list body (see :func:`list_prefix`)."""


def watch_frame(event_type: str, envelope: bytes) -> bytes:
    """A 4-byte big-endian length, then ``WatchEvent{type=1, object=2: RawExtension{raw=1: envelope}}``."""
    payload = bytearray()
    wire.write_bytes(payload, b"\x0a", event_type.encode())
    raw_ext = bytearray()
    wire.write_bytes(raw_ext, b"\x0a", envelope)
    wire.write_bytes(payload, b"\x12", raw_ext)
    return len(payload).to_bytes(4, "big") + bytes(payload)


def error_frame(status: Mapping[str, Any]) -> bytes:
    """An ERROR event carrying a ``Status`` (expired watch, an object that cannot be encoded)."""
    return watch_frame("ERROR", protobuf.encode(dict(status)))
