"""JSON patch (RFC 6902) with JSON pointers (RFC 6901), as kube-apiserver applies it.

Errors as upstream:

* a body that is not a JSON array of operation objects, an unknown ``op``, a missing ``path``/``from``/
  ``value`` or a malformed pointer -> 400 BadRequest naming the operation (upstream's decoder reports some
  of these at apply time as 422; we reject them up front with a clearer message);
* more than :data:`MAX_OPERATIONS` operations -> 413 RequestEntityTooLarge with upstream's wording;
* an operation that does not apply (a failing ``test``, a missing member, an index out of range) -> 422
  Invalid with upstream's generic message, ``the server rejected our request due to an error in our
  request``, and the precise reason as the one ``UnexpectedServerResponse`` cause (as upstream's
  ``NewGenericServerResponse`` carries the patch library's error), also on :attr:`PatchNotApplied.detail`.

Operations apply in order to a private copy: either every operation applies or the input is untouched.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sampan.api.errors import BadRequest, Invalid, RequestEntityTooLarge
from sampan.api.patches.document import decode, deep_copy, json_equal, type_name

log = logging.getLogger(__name__)

MAX_OPERATIONS = 10000
"""kube-apiserver's limit on operations in one JSON patch."""

GENERIC_422 = "the server rejected our request due to an error in our request"
_OPS = ("add", "remove", "replace", "move", "copy", "test")


class PatchNotApplied(Invalid):
    """422: an operation of a well-formed JSON patch does not apply. ``detail`` says which and why."""

    def __init__(self, detail: str) -> None:
        super().__init__(GENERIC_422, details={"causes": [{"reason": "UnexpectedServerResponse", "message": detail}]})
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Operation:
    """One decoded operation; ``path`` and ``from_`` are split pointers (``()`` is the whole document)."""

    op: str
    path: tuple[str, ...]
    raw_path: str
    from_: tuple[str, ...] | None = None
    value: Any = None


def parse_pointer(pointer: str) -> tuple[str, ...]:
    """Split a JSON pointer into unescaped tokens (``~1`` -> ``/``, ``~0`` -> ``~``). Raises ``ValueError``."""
    if pointer == "":
        return ()
    if not pointer.startswith("/"):
        raise ValueError(f"JSON pointer {pointer!r} must be empty or start with '/'")
    tokens = []
    for token in pointer[1:].split("/"):
        rest = token.replace("~0", "").replace("~1", "")
        if "~" in rest:
            raise ValueError(f"JSON pointer {pointer!r} has an invalid escape (only ~0 and ~1 are allowed)")
        tokens.append(token.replace("~1", "/").replace("~0", "~"))
    return tuple(tokens)


def format_pointer(tokens: tuple[str, ...] | list[str]) -> str:
    """The JSON pointer for a token path (inverse of :func:`parse_pointer`)."""
    return "".join("/" + t.replace("~", "~0").replace("/", "~1") for t in tokens)


def decode_operations(patch: Any) -> list[Operation]:
    """Decode and validate a JSON patch body (bytes, text or a list). Raises BadRequest / 413."""
    doc = decode(patch, what="JSON patch")
    if not isinstance(doc, list):
        raise BadRequest(f"invalid JSON patch: expected an array of operations, got a JSON {type_name(doc)}")
    if len(doc) > MAX_OPERATIONS:
        raise RequestEntityTooLarge(
            f"The allowed maximum operations in a JSON patch is {MAX_OPERATIONS}, got {len(doc)}"
        )
    return [_decode_operation(i, raw) for i, raw in enumerate(doc)]


def _decode_operation(index: int, raw: Any) -> Operation:
    where = f"invalid JSON patch operation {index}"
    if not isinstance(raw, dict):
        raise BadRequest(f"{where}: expected an object, got a JSON {type_name(raw)}")
    op = raw.get("op")
    if op not in _OPS:
        choices = ", ".join(f'"{o}"' for o in _OPS)
        raise BadRequest(f"{where}: unsupported op {op!r}: supported values: {choices}")
    path = raw.get("path")
    if not isinstance(path, str):
        raise BadRequest(f'{where}: "{op}" needs a "path" string')
    try:
        tokens = parse_pointer(path)
        from_ = None
        if op in ("move", "copy"):
            source = raw.get("from")
            if not isinstance(source, str):
                raise BadRequest(f'{where}: "{op}" needs a "from" string')
            from_ = parse_pointer(source)
    except ValueError as err:
        raise BadRequest(f"{where}: {err}") from None
    if op in ("add", "replace", "test") and "value" not in raw:
        raise BadRequest(f'{where}: "{op}" needs a "value"')
    return Operation(op=op, path=tokens, raw_path=path, from_=from_, value=raw.get("value"))


def apply_json_patch(obj: Any, patch: Any, *, owned: bool = False) -> Any:
    """Apply a JSON patch (bytes, text or a decoded list) to ``obj`` and return the new document.

    Pure: ``obj`` and ``patch`` are never mutated, unless ``owned`` (``obj`` is the caller's private copy,
    changed in place; after an error it is in an unspecified state). Raises BadRequest for a malformed patch,
    413 for too many operations, :class:`PatchNotApplied` (422) when an operation does not apply.
    """
    operations = decode_operations(patch)
    doc = obj if owned else deep_copy(obj)
    for index, op in enumerate(operations):
        try:
            doc = _apply(doc, op)
        except _NotApplied as err:
            detail = f"operation {index} ({op.op} {op.raw_path}): {err}"
            log.debug("json patch not applied detail=%s", detail)
            raise PatchNotApplied(detail) from None
    return doc


class _NotApplied(Exception):
    pass


def _apply(doc: Any, op: Operation) -> Any:
    if op.op == "test":
        found, current = _lookup(doc, op.path)
        if not found:
            # Upstream (evanphx/json-patch) lets a test for null pass on an absent member.
            if op.value is None:
                return doc
            raise _NotApplied(f"testing value {op.raw_path} failed: the path does not exist")
        if not json_equal(current, op.value):
            raise _NotApplied(f"testing value {op.raw_path} failed: test failed")
        return doc
    if op.op == "add":
        return _add(doc, op.path, deep_copy(op.value))
    if op.op == "remove":
        doc, _ = _remove(doc, op.path)
        return doc
    if op.op == "replace":
        doc, _ = _remove(doc, op.path, verb="replace")
        return _add(doc, op.path, deep_copy(op.value))
    assert op.from_ is not None
    if op.op == "move":
        if op.from_ == op.path:
            if not _lookup(doc, op.from_)[0]:
                raise _NotApplied(f"move: the path {format_pointer(op.from_)} does not exist")
            return doc
        if op.path[: len(op.from_)] == op.from_:
            raise _NotApplied("move: a value cannot be moved into one of its own children")
        doc, value = _remove(doc, op.from_, verb="move")
        return _add(doc, op.path, value)
    found, value = _lookup(doc, op.from_)
    if not found:
        raise _NotApplied(f"copy: the path {format_pointer(op.from_)} does not exist")
    return _add(doc, op.path, deep_copy(value))


def _lookup(doc: Any, path: tuple[str, ...]) -> tuple[bool, Any]:
    current = doc
    for token in path:
        if isinstance(current, dict):
            if token not in current:
                return False, None
            current = current[token]
        elif isinstance(current, list):
            index = _index(token, len(current), allow_end=False, strict=False)
            if index is None:
                return False, None
            current = current[index]
        else:
            return False, None
    return True, current


def _parent(doc: Any, path: tuple[str, ...], verb: str) -> Any:
    found, parent = _lookup(doc, path[:-1])
    if not found:
        raise _NotApplied(f"{verb}: the parent of the path does not exist")
    if not isinstance(parent, dict | list):
        raise _NotApplied(f"{verb}: the parent of the path is a JSON {type_name(parent)}, not an object or array")
    return parent


def _index(token: str, length: int, *, allow_end: bool, strict: bool = True) -> int | None:
    """The array index a token names, ``None`` when it names none (or raise when ``strict``)."""
    if token == "-" and allow_end:
        return length
    valid = token.isdigit() and token.isascii() and (token == "0" or not token.startswith("0"))
    index = int(token) if valid else -1
    limit = length if allow_end else length - 1
    if 0 <= index <= limit:
        return index
    if strict:
        raise _NotApplied(f"array index {token!r} is out of range (length {length})")
    return None


def _add(doc: Any, path: tuple[str, ...], value: Any) -> Any:
    if not path:
        return value
    parent = _parent(doc, path, "add")
    token = path[-1]
    if isinstance(parent, dict):
        parent[token] = value
    else:
        parent.insert(_index(token, len(parent), allow_end=True), value)
    return doc


def _remove(doc: Any, path: tuple[str, ...], verb: str = "remove") -> tuple[Any, Any]:
    if not path:
        if verb == "replace":
            return None, doc
        raise _NotApplied(f"{verb}: the whole document cannot be removed")
    parent = _parent(doc, path, verb)
    token = path[-1]
    if isinstance(parent, dict):
        if token not in parent:
            raise _NotApplied(f"{verb}: the path {format_pointer(path)} does not exist")
        return doc, parent.pop(token)
    index = _index(token, len(parent), allow_end=False)
    return doc, parent.pop(index)


def create_json_patch(original: Any, modified: Any, *, _prefix: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """A JSON patch that turns ``original`` into ``modified``: objects are diffed member by member, other
    values (arrays included) are replaced whole. For tests and tools; the server never needs it."""
    if isinstance(original, dict) and isinstance(modified, dict):
        ops: list[dict[str, Any]] = []
        for key in original:
            if key not in modified:
                ops.append({"op": "remove", "path": format_pointer((*_prefix, key))})
        for key, value in modified.items():
            if key not in original:
                ops.append({"op": "add", "path": format_pointer((*_prefix, key)), "value": deep_copy(value)})
            else:
                ops.extend(create_json_patch(original[key], value, _prefix=(*_prefix, key)))
        return ops
    if json_equal(original, modified):
        return []
    return [{"op": "replace", "path": format_pointer(_prefix), "value": deep_copy(modified)}]
