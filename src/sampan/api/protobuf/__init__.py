"""Kubernetes' protobuf wire format for built-in kinds, as a table-driven codec (no HTTP here).

``decode(body) -> dict`` turns an ``application/vnd.kubernetes.protobuf`` body into the JSON object the
JSON API would carry; ``encode(obj) -> bytes`` does the reverse; ``supports(api_version, kind)`` says
whether a kind has a schema (custom resources do not: upstream answers 415). The schemas come from
upstream's ``generated.proto`` and Go struct tags via :mod:`.generate` into :mod:`.schema_table`.
Errors (all APIError subclasses): :class:`MalformedProtobuf` (400), :class:`UnsupportedKind` (415),
:class:`UnencodableObject` (500).
"""

from __future__ import annotations

import logging
from typing import Any

from .envelope import (
    CONTENT_TYPE,
    MAGIC,
    WATCH_CONTENT_TYPE,
    decode_envelope,
    decode_watch_frame,
    encode_envelope,
    encode_watch_frame,
    read_type,
    supports,
)
from .errors import MalformedProtobuf, ProtobufError, UnencodableObject, UnsupportedKind

logger = logging.getLogger(__name__)


def decode(body: bytes) -> dict[str, Any]:
    """The JSON object of a protobuf body (apiVersion and kind come from the envelope).

    Raises :class:`MalformedProtobuf` for bytes that are not a valid envelope or message and
    :class:`UnsupportedKind` for kinds without a schema; nothing else."""
    try:
        return decode_envelope(body)
    except ProtobufError:
        raise
    except (IndexError, ValueError, TypeError, OverflowError, RecursionError) as err:  # defence in depth
        logger.warning("protobuf decoder failed unexpectedly; treating the body as malformed", exc_info=True)
        raise MalformedProtobuf(f"malformed protobuf body: {err}") from err


def encode(obj: dict[str, Any]) -> bytes:
    """The protobuf body of a JSON object. Raises :class:`UnsupportedKind` or :class:`UnencodableObject`."""
    try:
        return encode_envelope(obj)
    except ProtobufError:
        raise
    except (ValueError, TypeError, OverflowError, RecursionError) as err:
        logger.warning("protobuf encoder failed unexpectedly", exc_info=True)
        raise UnencodableObject("", str(err)) from err


__all__ = [
    "CONTENT_TYPE", "MAGIC", "WATCH_CONTENT_TYPE", "MalformedProtobuf", "ProtobufError", "UnencodableObject",
    "UnsupportedKind", "decode", "decode_watch_frame", "encode", "encode_watch_frame", "read_type", "supports",
]
