"""Decoding patch bodies and copying JSON values: the steps every patch type shares.

A patch arrives as bytes (an HTTP body), text, or an already-decoded JSON value. :func:`decode` turns it
into a JSON value or raises :class:`~sampan.api.errors.BadRequest`; :func:`deep_copy` gives a private copy
of a JSON value so the algorithms can work in place without touching their inputs.
"""

from __future__ import annotations

from typing import Any

import orjson

from sampan.api.errors import BadRequest

PatchInput = bytes | bytearray | memoryview | str | dict[str, Any] | list[Any]


def decode(data: Any, *, what: str) -> Any:
    """The JSON value in ``data``. Bytes and text are parsed; other values are copied as they are.
    ``what`` names the document in error messages (``"JSON patch"``)."""
    if isinstance(data, bytes | bytearray | memoryview | str):
        raw = bytes(data) if not isinstance(data, str) else data.encode()
        if not raw.strip():
            raise BadRequest(f"error decoding {what}: the request body is empty")
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError as err:
            raise BadRequest(f"error decoding {what}: {err}") from None
    return deep_copy(data)


def deep_copy(value: Any) -> Any:
    """A deep copy of a JSON value (dicts, lists, scalars). Faster than ``copy.deepcopy`` for JSON."""
    if isinstance(value, dict):
        return {k: deep_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [deep_copy(v) for v in value]
    return value


def json_equal(a: Any, b: Any) -> bool:
    """JSON equality: like ``==`` but booleans never equal numbers (``True != 1``) and ints equal
    floats of the same value, as two JSON documents compare."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, dict):
        return (
            isinstance(b, dict)
            and a.keys() == b.keys()
            and all(json_equal(v, b[k]) for k, v in a.items())
        )
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, int | float):
        return isinstance(b, int | float) and a == b
    return type(a) is type(b) and a == b


def type_name(value: Any) -> str:
    """The JSON type of a value, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__
