"""The "empty object" a create is compared against, shaped like upstream's Go zero value.

Upstream compares a create with a freshly allocated typed object, whose zero value is not ``{}``:
fields serialised without ``omitempty`` are present (a nil slice as ``null``, a struct as ``{}``), and
so are ``metadata``, ``spec`` and ``status`` structs at any level (value structs throughout the API).
That decides whether a field the create adds is itself owned (``".": {}``) or only what is inside it:
``f:spec`` and ``f:containers`` carry no ``"."`` in upstream's records, ``f:labels`` does.

The JSON-Schema we load marks non-``omitempty`` fields as ``required``; it cannot tell an optional
value struct from an optional pointer, so optional structs count as absent (right for pointers such
as ``securityContext`` and ``rollingUpdate``) except a short list of known value structs
(``strategy``, ``updateStrategy``); other optional value structs get a spurious ``"."``. Only the
structure along paths present in ``like`` is built, so recursive types end.
"""

from __future__ import annotations

from typing import Any

from sampan.api.apply.shapes import TypeRef
from sampan.api.schema import TypeNode, raw_definitions

_ROOT_STRUCTS = ("metadata", "spec", "status")
# Optional fields that are value structs (not pointers) in the common workload types.
_VALUE_STRUCTS = (*_ROOT_STRUCTS, "strategy", "updateStrategy")


def _required(t: TypeNode) -> tuple[str, ...]:
    schema = raw_definitions().get(t.name or "", {})
    req = schema.get("required")
    return tuple(r for r in req if isinstance(r, str)) if isinstance(req, list) else ()


def zero_object(t: TypeRef, like: Any) -> dict[str, Any]:
    """The zero value of kind type ``t`` restricted to the paths present in ``like`` (with its
    ``apiVersion`` and ``kind``)."""
    out: dict[str, Any] = {k: like[k] for k in ("apiVersion", "kind") if isinstance(like, dict) and k in like}
    if not isinstance(t, TypeNode) or t.kind != "struct" or not isinstance(like, dict):
        return out
    for name in _ROOT_STRUCTS:
        node = t.field(name)
        if node is not None and node.kind == "struct" and name in like:
            out[name] = _zero_struct(node, like[name])
    return out


def _zero_struct(t: TypeNode, like: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if not isinstance(like, dict):
        return out
    for name in (*_required(t), *_VALUE_STRUCTS):
        node = t.field(name)
        if node is None or name not in like:
            continue
        if node.kind == "struct":
            out[name] = _zero_struct(node, like[name])
        elif node.kind in ("list", "map") and name not in _VALUE_STRUCTS:
            out[name] = None
    return out
