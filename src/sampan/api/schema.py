"""Schema metadata for built-in kinds: the type tree the patch and apply algorithms walk.

Upstream's Kubernetes 1.32 definitions ship in the ``kubernetes-validate`` package as one JSON-Schema
``_definitions.json`` whose ``$defs`` keep the vendor extensions (``x-kubernetes-group-version-kind``,
``x-kubernetes-patch-strategy``, ``x-kubernetes-patch-merge-key``, ``x-kubernetes-list-type``,
``x-kubernetes-list-map-keys``, ``x-kubernetes-map-type``). :func:`raw_definitions` reads that file once
per process; :func:`type_for_kind` gives the root :class:`TypeNode` of a built-in kind, or ``None`` for a
kind the definitions do not know (custom resources), in which case callers fall back to JSON merge-patch
semantics and atomic lists, as upstream does for CRDs without schema hints.

Invariants:

* Every :class:`TypeNode` is immutable and shared; children are resolved lazily (``$ref`` is followed on
  first access) and memoised, so walking the same path twice yields the same objects.
* A field's patch strategy, merge key and list type live on the *property* schema in the definitions,
  not on the referenced type: :meth:`TypeNode.field` returns a node carrying the property's extensions
  (the referenced definition's ``x-kubernetes-map-type`` is used when the property has none).
* Nothing here imports ``sampan.apiserver``; the raw definitions are read-only for everyone.
"""

from __future__ import annotations

import functools
import importlib.resources
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

import orjson

log = logging.getLogger(__name__)

KUBERNETES_VERSION = "1.32.0"
_DEFS_PREFIX = "#/$defs/"

Kind = Literal["map", "struct", "list", "scalar", "any"]
ListType = Literal["atomic", "set", "map"]
MapType = Literal["granular", "atomic"]
_SCALAR_TYPES = frozenset({"string", "integer", "number", "boolean"})


class SchemaUnavailable(RuntimeError):
    """The kubernetes-validate package, or a definitions file for 1.32 or later, cannot be found."""


def _definitions_bytes() -> bytes:
    try:
        root = importlib.resources.files("kubernetes_validate") / "kubernetes-json-schema"
    except ModuleNotFoundError as err:
        raise SchemaUnavailable("the kubernetes-validate package is not installed") from err
    wanted = root / f"v{KUBERNETES_VERSION}-local" / "_definitions.json"
    if wanted.is_file():
        return wanted.read_bytes()
    found = []
    for entry in root.iterdir():
        m = re.fullmatch(r"v(\d+)\.(\d+)\.(\d+)-local", entry.name)
        if m and (entry / "_definitions.json").is_file():
            found.append(((int(m[1]), int(m[2]), int(m[3])), entry))
    newer = sorted((v for v in found if v[0] >= (1, 32, 0)), key=lambda v: v[0])
    if not newer:
        raise SchemaUnavailable(f"kubernetes-validate has no definitions for v{KUBERNETES_VERSION} or later")
    log.warning("kubernetes 1.32 definitions missing, using version=%s", newer[0][1].name)
    return (newer[0][1] / "_definitions.json").read_bytes()


@functools.cache
def raw_definitions() -> Mapping[str, Mapping[str, Any]]:
    """Every upstream definition by full name (``io.k8s.api.core.v1.Pod``), as JSON-Schema. Read-only."""
    raw = orjson.loads(_definitions_bytes())
    defs = raw.get("$defs") or raw.get("definitions") or {}
    log.debug("schema definitions loaded count=%d", len(defs))
    return defs  # type: ignore[no-any-return,unused-ignore]


@functools.cache
def _gvk_index() -> Mapping[tuple[str, str, str], str]:
    index: dict[tuple[str, str, str], str] = {}
    for name, schema in raw_definitions().items():
        for gvk in schema.get("x-kubernetes-group-version-kind") or ():
            key = (gvk.get("group", ""), gvk.get("version", ""), gvk.get("kind", ""))
            # A few option types (DeleteOptions, WatchEvent) carry every group's GVK: first one wins.
            index.setdefault(key, name)
    return index


@functools.cache
def type_for_kind(group: str, version: str, kind: str) -> TypeNode | None:
    """The root type of a built-in kind (group ``""`` or ``"core"`` for the core group), or ``None``."""
    name = _gvk_index().get(("" if group == "core" else group, version, kind))
    return type_named(name) if name else None


@functools.cache
def type_named(name: str) -> TypeNode | None:
    """The type of one definition by its full name, or ``None`` when there is no such definition."""
    if name not in raw_definitions():
        return None
    return _build({"$ref": _DEFS_PREFIX + name})


_OBJECT_META_REF = {"$ref": _DEFS_PREFIX + "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}


def type_for_custom_resource(schema: Mapping[str, Any]) -> TypeNode:
    """The root type of a custom resource from its CRD version's structural schema, as upstream's
    server-side apply types it: the schema's ``x-kubernetes-list-type``/``-list-map-keys``/``-map-type``
    decide list and map ownership, ``apiVersion`` and ``kind`` are strings and ``metadata`` is always
    ObjectMeta (whatever the CRD says of it). Fields the schema leaves open are deduced."""
    props = dict(schema.get("properties") or {})
    props.update(apiVersion={"type": "string"}, kind={"type": "string"}, metadata=_OBJECT_META_REF)
    return _build({**schema, "type": "object", "properties": props})


def _resolve(schema: Mapping[str, Any]) -> tuple[Mapping[str, Any], str | None]:
    """Follow ``$ref`` chains; returns the target schema and its definition name (if any)."""
    name = None
    seen = 0
    while isinstance(ref := schema.get("$ref"), str) and seen < 16:
        name = ref.removeprefix(_DEFS_PREFIX)
        schema = raw_definitions().get(name, {})
        seen += 1
    return schema, name


def _types(schema: Mapping[str, Any]) -> set[str]:
    t = schema.get("type")
    if isinstance(t, str):
        return {t}
    if isinstance(t, list):
        return {x for x in t if x != "null"}
    return set()


def _build(prop: Mapping[str, Any]) -> TypeNode:
    """A node for ``prop`` (a property schema, possibly a bare ``$ref``); extensions come from ``prop``,
    falling back to the referenced definition's own."""
    ext = prop
    target, name = _resolve(prop)
    types = _types(target)
    kind: Kind
    if target.get("properties"):
        kind = "struct"
    elif "array" in types:
        kind = "list"
    elif "object" in types and isinstance(target.get("additionalProperties"), Mapping):
        kind = "map"
    elif types and types <= _SCALAR_TYPES:
        kind = "scalar"
    elif target.get("oneOf") and all(_types(o) <= _SCALAR_TYPES for o in target["oneOf"]):
        kind = "scalar"  # IntOrString, Quantity
    else:
        kind = "any"  # RawExtension, JSON, FieldsV1, schemaless objects
    keys = ext.get("x-kubernetes-list-map-keys") or target.get("x-kubernetes-list-map-keys") or ()
    return TypeNode(
        kind=kind,
        name=name,
        list_type=ext.get("x-kubernetes-list-type") or target.get("x-kubernetes-list-type"),
        list_map_keys=tuple(keys),
        patch_strategy=ext.get("x-kubernetes-patch-strategy"),
        patch_merge_key=ext.get("x-kubernetes-patch-merge-key"),
        map_type=ext.get("x-kubernetes-map-type") or target.get("x-kubernetes-map-type"),
        _schema=target,
    )


@dataclass(frozen=True, eq=False)
class TypeNode:
    """One node of a kind's type tree.

    ``kind`` says which accessor is meaningful: ``struct`` -> :meth:`field`; ``map`` -> :attr:`values`;
    ``list`` -> :attr:`items` (with ``list_type``, ``list_map_keys``, ``patch_strategy`` and
    ``patch_merge_key``); ``scalar`` (strings, numbers, booleans, IntOrString, Quantity, Time) has no
    children; ``any`` (RawExtension, JSON, FieldsV1, schemaless objects) carries no schema: every
    accessor on it returns :data:`ANY`, so a walker can descend blindly.

    ``patch_strategy`` is upstream's comma list (``merge``, ``replace``, ``retainKeys``,
    ``merge,retainKeys``); use :attr:`strategies` for the parsed set. Nodes compare by identity.
    """

    kind: Kind
    name: str | None = None
    list_type: ListType | None = None
    list_map_keys: tuple[str, ...] = ()
    patch_strategy: str | None = None
    patch_merge_key: str | None = None
    map_type: MapType | None = None
    _schema: Mapping[str, Any] = field(default_factory=dict, repr=False)
    _fields: dict[str, TypeNode | None] = field(default_factory=dict, repr=False)

    @property
    def strategies(self) -> frozenset[str]:
        """The patch strategy as a set: ``{"merge", "retainKeys"}`` for ``merge,retainKeys``."""
        return frozenset(s for s in (self.patch_strategy or "").split(",") if s)

    @property
    def field_names(self) -> tuple[str, ...]:
        """The declared fields of a struct (empty for other kinds)."""
        props = self._schema.get("properties") if self.kind == "struct" else None
        return tuple(props) if isinstance(props, Mapping) else ()

    def field(self, name: str) -> TypeNode | None:
        """The type of struct field ``name`` (with the property's patch metadata), ``None`` if the struct
        has no such field. On a map it is :attr:`values`; on ``any`` it is :data:`ANY`."""
        if self.kind == "any":
            return ANY
        if self.kind == "map":
            return self.values
        if self.kind != "struct":
            return None
        if name in self._fields:
            return self._fields[name]
        props = self._schema.get("properties") or {}
        prop = props.get(name)
        node = _build(prop) if isinstance(prop, Mapping) else None
        self._fields[name] = node  # benign race: both writers compute equal nodes
        return node

    @cached_property
    def values(self) -> TypeNode:
        """The value type of a map (``ANY`` for ``any``). Raises ``TypeError`` on other kinds."""
        if self.kind == "any":
            return ANY
        if self.kind != "map":
            raise TypeError(f"{self.kind} type {self.name or ''} has no map values")
        return _build(self._schema["additionalProperties"])

    @cached_property
    def items(self) -> TypeNode:
        """The element type of a list (``ANY`` for ``any``). Raises ``TypeError`` on other kinds."""
        if self.kind == "any":
            return ANY
        if self.kind != "list":
            raise TypeError(f"{self.kind} type {self.name or ''} has no list items")
        items = self._schema.get("items")
        return _build(items) if isinstance(items, Mapping) else ANY


ANY = TypeNode(kind="any")
"""The node for values with no schema; every accessor on it returns ``ANY``."""
