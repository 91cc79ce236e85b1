"""Reading request bodies: size limit, media type, JSON or YAML decoding into a dict.

Every failure is an :class:`~sampan.api.errors.APIError` with upstream's code: 413 for bodies over the
limit, 415 for media types other than JSON/YAML/protobuf (and for protobuf bodies of kinds without a
protobuf schema: custom resources), 400 for bodies that do not parse or are not a JSON object. A protobuf
body (``application/vnd.kubernetes.protobuf``, built-in kinds) becomes the same dict a JSON body gives
(:mod:`sampan.apiserver.protobuf_bodies`). The returned dict is the caller's to mutate.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import yaml
from aiohttp import web

from sampan.api import errors
from sampan.apiserver import protobuf_bodies

JSON_TYPES = frozenset({"application/json", "text/json"})
YAML_TYPES = frozenset({"application/yaml", "application/x-yaml", "text/yaml"})
PROTOBUF_TYPE = protobuf_bodies.CONTENT_TYPE
ACCEPTED = "application/json, application/yaml"
ACCEPTED_OBJECTS = "application/json, application/yaml, application/vnd.kubernetes.protobuf"


class _NoAliasLoader(yaml.SafeLoader):
    """SafeLoader without anchors/aliases (no "billion laughs") and without implicit timestamps
    (``2024-01-01`` stays a string, as in upstream's YAML-to-JSON conversion)."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            raise yaml.YAMLError("yaml aliases are not supported")
        return super().compose_node(parent, index)


_NoAliasLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


BODY_KEY = "sampan.request-body"
"""Where :func:`read_raw` keeps the bytes it read on the request."""


def media_type(request: web.BaseRequest) -> str:
    """The request's Content-Type without parameters, lower case ("" when absent)."""
    raw = request.headers.get("Content-Type", "")
    return raw.split(";", 1)[0].strip().lower()


async def read_raw(request: web.BaseRequest, *, max_bytes: int) -> bytes:
    """The body bytes; 413 when longer than ``max_bytes`` (checked before and while reading)."""
    if request.content_length is not None and request.content_length > max_bytes:
        raise errors.RequestEntityTooLarge(f"Request entity too large: limit is {max_bytes}")
    if request.content_length is not None:  # the common case: one read of a known length
        try:
            body = await request.content.readexactly(request.content_length) if request.content_length else b""
        except asyncio.IncompleteReadError:  # the client went away mid-body
            raise errors.BadRequest("the request body ended before its Content-Length") from None
        request[BODY_KEY] = body
        return body
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_any():
        size += len(chunk)
        if size > max_bytes:
            raise errors.RequestEntityTooLarge(f"Request entity too large: limit is {max_bytes}")
        chunks.append(chunk)
    body = b"".join(chunks)
    request[BODY_KEY] = body  # the audit log's requestObject (Request level and above)
    return body


async def read_object(request: web.BaseRequest, *, max_bytes: int, expect: str) -> dict[str, Any]:
    """Decode the body as a JSON object. ``expect`` names the kind for error messages."""
    obj, _ = await read_body(request, max_bytes=max_bytes, expect=expect)
    return obj


async def read_body(request: web.BaseRequest, *, max_bytes: int, expect: str) -> tuple[dict[str, Any], bytes]:
    """:func:`read_object` plus the raw bytes (for duplicate-field detection)."""
    ctype = media_type(request)
    if ctype and ctype not in JSON_TYPES and ctype not in YAML_TYPES and ctype != PROTOBUF_TYPE:
        raise errors.UnsupportedMediaType(
            f"the body of the request was in an unknown format - accepted media types include: {ACCEPTED_OBJECTS}"
        )
    raw = await read_raw(request, max_bytes=max_bytes)
    return decode_typed(raw, ctype=ctype, expect=expect), raw


def decode_typed(raw: bytes, *, ctype: str, expect: str) -> dict[str, Any]:
    """Parse ``raw`` by its media type ``ctype`` (as :func:`media_type` gives it): protobuf, YAML, else
    JSON. 400 for an empty or malformed body, 415 for a protobuf body of a kind without a schema."""
    if ctype == PROTOBUF_TYPE:
        if not raw:
            raise errors.BadRequest(f"the body of the request is empty; expected a {expect} object")
        return protobuf_bodies.decode_request(raw)
    if not raw.strip():
        raise errors.BadRequest(f"the body of the request is empty; expected a {expect} object")
    return decode(raw, yaml_body=ctype in YAML_TYPES, expect=expect)


def decode_quietly(raw: bytes, *, ctype: str) -> Any:
    """``raw`` decoded by its media type, or None when it does not decode (for the audit log, which
    records what a request sent without ever failing it)."""
    try:
        if ctype == PROTOBUF_TYPE:
            return protobuf_bodies.decode_request(raw) if raw else None
        if not raw.strip():
            return None
        return orjson.loads(raw) if ctype not in YAML_TYPES else decode(raw, yaml_body=True, expect="")
    except Exception:
        return None


def decode(raw: bytes, *, yaml_body: bool, expect: str) -> dict[str, Any]:
    """Parse ``raw`` (JSON, or YAML when ``yaml_body``) into a dict with string keys; 400 otherwise."""
    value: Any
    if yaml_body:
        try:
            value = yaml.load(raw, Loader=_NoAliasLoader)
        except (yaml.YAMLError, RecursionError, UnicodeDecodeError) as exc:
            raise errors.BadRequest(f"couldn't get version/kind; yaml parse error: {_one_line(exc)}") from None
        _check_json_like(value, depth=0)
        if b"\\u" in raw.lower():
            value = _without_lone_surrogates(value)
    else:
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise errors.BadRequest(f"couldn't get version/kind; json parse error: {_one_line(exc)}") from None
    if not isinstance(value, dict):
        raise errors.BadRequest(
            f"couldn't get version/kind; json parse error: cannot unmarshal {_json_type(value)} into a {expect}"
        )
    return value


def _check_json_like(value: Any, *, depth: int) -> None:
    """YAML allows non-string keys and odd scalars; JSON objects do not."""
    if depth > 512:
        raise errors.BadRequest("couldn't get version/kind; yaml parse error: document nested too deeply")
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                raise errors.BadRequest(f"couldn't get version/kind; yaml parse error: non-string key {k!r}")
            _check_json_like(v, depth=depth + 1)
    elif isinstance(value, list):
        for v in value:
            _check_json_like(v, depth=depth + 1)
    elif not (value is None or isinstance(value, str | int | float | bool)):
        raise errors.BadRequest(f"couldn't get version/kind; yaml parse error: unsupported value {value!r:.40}")


def _without_lone_surrogates(value: Any) -> Any:
    """YAML's ``\\uD83D\\uDE00`` escapes give two surrogate code points: join the pairs and replace
    lone surrogates with U+FFFD, as Go's YAML-to-JSON conversion does (a str must be encodable)."""
    if isinstance(value, str):
        if any("\ud800" <= ch <= "\udfff" for ch in value):
            return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
        return value
    if isinstance(value, dict):
        return {_without_lone_surrogates(k): _without_lone_surrogates(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_lone_surrogates(v) for v in value]
    return value


def _json_type(value: Any) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    return "null"


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300]
