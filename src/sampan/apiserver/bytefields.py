"""``[]byte`` fields of built-in kinds (schema ``format: byte``: Secret ``data``, ConfigMap
``binaryData``, webhook ``caBundle``…) decoded and re-encoded as upstream's JSON decoder and encoder do.

Upstream decodes such a field into bytes with Go's base64 rules (line breaks skipped; anything else
wrong is ``illegal base64 data at input byte N``) and writes it back canonically. So a write carrying
``"aGVs\\nbG8=\\n"`` (what a YAML ``|`` block gives) is accepted and stored as ``"aGVsbG8="``, and a
malformed value is 400 ``Secret in version "v1" cannot be handled as a Secret: illegal base64 data at
input byte 4`` before anything else looks at the object.

Only the parts of the schema that can reach a byte field are walked: which definitions do is computed
once per process from upstream's definitions (a kind without one, like Pod, costs one lookup).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sampan.api import errors, gobase64
from sampan.api.schema import TypeNode, raw_definitions

_DEFS_PREFIX = "#/$defs/"


def _is_byte_schema(schema: Mapping[str, Any]) -> bool:
    return schema.get("format") == "byte"


_KNOWN: dict[str, bool] = {}
"""Definition name -> whether it reaches a byte field (only results no cycle cut short)."""


def _reaches(schema: Mapping[str, Any], visiting: frozenset[str]) -> tuple[bool, bool]:
    """(whether ``schema``, a raw JSON-schema node, is or contains a byte field; whether the search
    was cut short by a recursive type on the current path — then a False is not final)."""
    if _is_byte_schema(schema):
        return True, False
    ref = schema.get("$ref")
    if isinstance(ref, str):
        name = ref.removeprefix(_DEFS_PREFIX)
        if name in _KNOWN:
            return _KNOWN[name], False
        if name in visiting:
            return False, True  # what a recursive type holds is found at its first occurrence
        found, cut = _reaches(raw_definitions().get(name) or {}, visiting | {name})
        if found or not cut:
            _KNOWN[name] = found
        return found, cut
    children: list[Any] = []
    props = schema.get("properties")
    if isinstance(props, Mapping):
        children.extend(props.values())
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), Mapping):
            children.append(schema[key])
    for key in ("allOf", "anyOf", "oneOf"):
        if isinstance(schema.get(key), list):
            children.extend(schema[key])
    any_cut = False
    for child in children:
        if isinstance(child, Mapping):
            found, cut = _reaches(child, visiting)
            if found:
                return True, False
            any_cut |= cut
    return False, any_cut


def _node_reaches(node: TypeNode) -> bool:
    if node.name:
        return _reaches({"$ref": _DEFS_PREFIX + node.name}, frozenset())[0]
    return _reaches(node._schema, frozenset())[0]


def canonicalize(obj: Any, node: TypeNode | None, *, kind: str, version: str) -> None:
    """Rewrite, in place, every byte field of ``obj`` (of type ``node``) canonically; 400 as upstream's
    decoder for a value Go cannot decode. Values of the wrong JSON type are left for validation."""
    if node is None or not _node_reaches(node):
        return
    try:
        _walk(obj, node)
    except gobase64.CorruptInput as exc:
        raise errors.BadRequest(f'{kind} in version "{version}" cannot be handled as a {kind}: {exc}') from None


def _walk(value: Any, node: TypeNode) -> Any:
    """``value`` with its byte fields canonical (containers are changed in place)."""
    if _is_byte_schema(node._schema):
        return gobase64.canonical(value) if isinstance(value, str) else value
    if node.kind == "struct" and isinstance(value, dict):
        for key, child in value.items():
            sub = node.field(key)
            if sub is not None and _node_reaches(sub):
                value[key] = _walk(child, sub)
    elif node.kind == "map" and isinstance(value, dict):
        sub = node.values
        if _node_reaches(sub):
            for key, child in value.items():
                value[key] = _walk(child, sub)
    elif node.kind == "list" and isinstance(value, list):
        sub = node.items
        if _node_reaches(sub):
            for i, child in enumerate(value):
                value[i] = _walk(child, sub)
    return value
