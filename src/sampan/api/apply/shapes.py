"""How server-side apply sees a value's type: map or list semantics, child types, list item identity.

The walkers (field sets, merge, compare, removal) ask this module, never the schema directly. A
:data:`TypeRef` is a :class:`~sampan.api.schema.TypeNode` from the built-in definitions or one of two
untyped refs, as upstream's schema conversion defines them:

* ``DEDUCED`` — a kind without a schema (custom resources) and schemaless objects: maps are granular
  (each key owned separately, children deduced too), lists are atomic;
* ``ATOMIC`` — ``RawExtension`` and list items of untyped lists: maps and lists owned whole;
* ``ROOT`` — the root of a kind without a schema: deduced, but ``metadata`` is ObjectMeta.

List semantics follow ``x-kubernetes-list-type`` (``atomic``; ``set`` -> items identified by value;
``map`` -> items identified by ``x-kubernetes-list-map-keys``), falling back to the patch strategy
(``merge`` with a merge key -> map keyed by it, ``merge`` alone -> set) and then to atomic. Maps and
structs are granular unless ``x-kubernetes-map-type: atomic``. A value whose shape does not match its
type (a map where a string is declared) is treated as a leaf, never an error.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sampan.api.apply import path as paths
from sampan.api.schema import TypeNode, type_named


class Untyped(enum.Enum):
    DEDUCED = "deduced"
    ATOMIC = "atomic"
    ROOT = "root"


DEDUCED = Untyped.DEDUCED
ATOMIC = Untyped.ATOMIC
ROOT = Untyped.ROOT
_OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
TypeRef = TypeNode | Untyped

_RAW_EXTENSION = "io.k8s.apimachinery.pkg.runtime.RawExtension"
# Key fields with a default in upstream's OpenAPI (absent from the JSON-Schema copy we load): an item
# that omits them is identified as if it carried the default.
_KEY_DEFAULTS: dict[tuple[str | None, str], Any] = {
    ("io.k8s.api.core.v1.ContainerPort", "protocol"): "TCP",
    ("io.k8s.api.core.v1.ServicePort", "protocol"): "TCP",
}


class ShapeError(ValueError):
    """A list item that cannot be identified (no key fields, a null or map in a set, ...)."""


@dataclass(frozen=True, slots=True)
class Shape:
    """What a value is under its type: ``leaf`` (scalar, null, or a shape mismatch), ``map``, ``list``.
    ``atomic`` maps and lists are owned whole. For granular lists ``keys`` is the key field names, or
    ``None`` for a set (items identified by value)."""

    kind: str
    atomic: bool = False
    keys: tuple[str, ...] | None = None


LEAF = Shape("leaf")
_ATOMIC_MAP = Shape("map", atomic=True)
_GRANULAR_MAP = Shape("map")
_ATOMIC_LIST = Shape("list", atomic=True)
_SET_LIST = Shape("list", keys=None)


def root(type_node: TypeNode | None) -> TypeRef:
    """The ref for a kind's root type; ``None`` (no schema) gives ``ROOT``: deduced, except that
    ``metadata`` is typed as ObjectMeta (every kind's metadata is, custom resources' included)."""
    return _norm(type_node) if type_node is not None else ROOT


def _norm(t: TypeRef) -> TypeRef:
    if isinstance(t, TypeNode) and t.kind == "any":
        return ATOMIC if t.name == _RAW_EXTENSION else DEDUCED
    return t


def shape(t: TypeRef, v: Any) -> Shape:
    """The shape of value ``v`` under type ``t``."""
    if isinstance(v, dict):
        if isinstance(t, Untyped):
            return _ATOMIC_MAP if t is ATOMIC else _GRANULAR_MAP
        if t.kind in ("struct", "map"):
            return _ATOMIC_MAP if t.map_type == "atomic" else _GRANULAR_MAP
        return LEAF
    if isinstance(v, list):
        if isinstance(t, Untyped):
            return _ATOMIC_LIST
        if t.kind == "list":
            return _list_shape(t)
        return LEAF
    return LEAF


def _list_shape(t: TypeNode) -> Shape:
    if t.list_type == "atomic":
        return _ATOMIC_LIST
    if t.list_type == "set":
        return _SET_LIST
    if t.list_type == "map":
        return Shape("list", keys=tuple(t.list_map_keys))
    if t.list_type is None and t.patch_strategy in ("merge", "merge,retainKeys"):
        return Shape("list", keys=(t.patch_merge_key,)) if t.patch_merge_key else _SET_LIST
    return _ATOMIC_LIST


def child(t: TypeRef, name: str) -> tuple[TypeRef, bool]:
    """The type of map entry / struct field ``name`` and whether it is a declared struct field (a
    declared field that holds a non-empty value is not itself owned, only what is inside it)."""
    if t is ROOT:
        meta = type_named(_OBJECT_META) if name == "metadata" else None
        return (meta, True) if meta is not None else (DEDUCED, False)
    if isinstance(t, Untyped):
        return t, False
    if t.kind == "struct":
        node = t.field(name)
        if node is None:
            return DEDUCED, False
        return _norm(node), True
    if t.kind == "map":
        return _norm(t.values), False
    return DEDUCED, False


def declared(t: TypeRef, name: str) -> bool:
    """Whether ``name`` is a declared struct field of ``t``."""
    if t is ROOT:
        return name == "metadata"
    return isinstance(t, TypeNode) and t.kind == "struct" and name in t.field_names


def item_type(t: TypeRef) -> TypeRef:
    if isinstance(t, TypeNode) and t.kind == "list":
        return _norm(t.items)
    return ATOMIC


def item_element(t: TypeRef, sh: Shape, item: Any) -> paths.PathElement:
    """The path element identifying ``item`` of a granular list of shape ``sh``."""
    if sh.keys is None:
        if isinstance(item, dict):
            raise ShapeError("associative list without keys has an element that's a map type")
        if isinstance(item, list):
            raise ShapeError("not supported: associative list with lists as elements")
        if item is None:
            raise ShapeError("associative list without keys has an element that's an explicit null")
        return paths.value(item)
    if item is None:
        raise ShapeError("associative list with keys may not have a null element")
    if not isinstance(item, Mapping):
        raise ShapeError("associative list with keys may not have non-map elements")
    itype = item_type(t)
    type_name = itype.name if isinstance(itype, TypeNode) else None
    fields: list[tuple[str, Any]] = []
    for name in sh.keys:
        if name in item:
            fields.append((name, item[name]))
        elif (type_name, name) in _KEY_DEFAULTS:
            fields.append((name, _KEY_DEFAULTS[(type_name, name)]))
    if sh.keys and not fields:
        names = "[" + " ".join(f'"{k}"' for k in sh.keys) + "]"
        raise ShapeError(
            f"associative list with keys has an element that omits all key fields {names} "
            "(and doesn't have default values for any key fields)"
        )
    return paths.key(fields)
