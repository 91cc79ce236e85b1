"""Kubernetes 1.32's API schemas, loaded once from the ``kubernetes-validate`` package and turned into
OpenAPI 3 component schemas.

The package ships upstream's definitions as a JSON-Schema (draft 2020-12) ``_definitions.json`` under
``kubernetes-json-schema/v1.32.0-local/``, with the vendor extensions kept
(``x-kubernetes-group-version-kind``, ``x-kubernetes-patch-merge-key``, ``x-kubernetes-patch-strategy``,
``x-kubernetes-list-type``, ``x-kubernetes-list-map-keys``, ``x-kubernetes-map-type``…). Conversion back to
the shape kube-apiserver serves in ``/openapi/v3``:

* ``$ref: #/$defs/X`` -> ``#/components/schemas/X``; a ``$ref`` with sibling keywords becomes
  ``allOf: [{$ref}]`` plus the siblings, as upstream writes it;
* nullable type lists (``["string", "null"]``) -> the single type;
* ``IntOrString`` -> ``oneOf: [{type: integer}, {type: string}]`` with ``format: int-or-string``, and
  ``Quantity`` -> ``oneOf: [{type: string}, {type: number}]``: what kube-openapi writes into 1.32's
  ``/openapi/v3`` for types with ``OpenAPIV3OneOfTypes`` (``type: string`` is only the v2 form), so a
  ``targetPort: 80`` or ``cpu: 1`` the server returns conforms to its own schema;
* the ``enum`` the JSON-Schema generator adds to ``apiVersion`` and ``kind`` is dropped, and upstream's
  ``+enum`` lists of the best-known string fields are put back (:mod:`.enums`).

:func:`definitions` is cached for the process: every server in a test process shares one copy.
Component schemas are treated as read-only by everything downstream.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable
from typing import Any

from sampan.api.schema import raw_definitions
from sampan.apiserver.openapi.enums import ENUMS

log = logging.getLogger(__name__)

REF_PREFIX = "#/components/schemas/"
_DEFS_PREFIX = "#/$defs/"
_INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
_QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"

Schema = dict[str, Any]


@functools.cache
def definitions() -> dict[str, Schema]:
    """Every upstream definition by its full name (``io.k8s.api.core.v1.Pod``), converted to OpenAPI 3."""
    defs = raw_definitions()
    out = {name: convert(schema) for name, schema in defs.items()}
    for name, fields in ENUMS.items():
        props = (out.get(name) or {}).get("properties") or {}
        for field, values in fields.items():
            if isinstance(props.get(field), dict) and props[field].get("type") == "string":
                props[field]["enum"] = list(values)
    out[_INT_OR_STRING] = {
        "description": "IntOrString is a type that can hold an int32 or a string.  When used in JSON or YAML "
                       "marshalling and unmarshalling, it produces or consumes the inner type.  This allows you to "
                       "have, for example, a JSON field that can accept a name or number.",
        "format": "int-or-string",
        "oneOf": [{"type": "integer"}, {"type": "string"}],
    }
    out[_QUANTITY] = {
        "description": defs.get(_QUANTITY, {}).get("description", "Quantity is a fixed-point number."),
        "oneOf": [{"type": "string"}, {"type": "number"}],
    }
    return out


def convert(node: Any) -> Any:
    """One JSON-Schema node converted to OpenAPI 3 (pure; returns new objects)."""
    if isinstance(node, list):
        return [convert(n) for n in node]
    if not isinstance(node, dict):
        return node
    out: Schema = {}
    for key, value in node.items():
        if key == "$ref" and isinstance(value, str):
            continue
        if key == "type" and isinstance(value, list):
            types = [t for t in value if t != "null"]
            if types:
                out["type"] = types[0]
            continue
        if key == "properties" and isinstance(value, dict):
            gvk_here = "x-kubernetes-group-version-kind" in node
            props = {}
            for pname, pschema in value.items():
                p = convert(pschema)
                if gvk_here and pname in ("apiVersion", "kind") and isinstance(p, dict):
                    p.pop("enum", None)
                props[pname] = p
            out["properties"] = props
            continue
        out[key] = convert(value)
    ref = node.get("$ref")
    if isinstance(ref, str):
        target = REF_PREFIX + ref.removeprefix(_DEFS_PREFIX)
        out = {"allOf": [{"$ref": target}], **out} if out else {"$ref": target}
    return out


def refs_in(node: Any) -> Iterable[str]:
    """Names of the component schemas ``node`` refers to (directly)."""
    stack = [node]
    while stack:
        cur = stack.pop()
        if isinstance(cur, dict):
            ref = cur.get("$ref")
            if isinstance(ref, str) and ref.startswith(REF_PREFIX):
                yield ref[len(REF_PREFIX):]
            stack.extend(cur.values())
        elif isinstance(cur, list):
            stack.extend(cur)


def closure(roots: Iterable[str], defs: dict[str, Schema]) -> dict[str, Schema]:
    """The named schemas plus everything they reference, transitively (unknown names skipped)."""
    out: dict[str, Schema] = {}
    todo = [r for r in roots if r in defs]
    while todo:
        name = todo.pop()
        if name in out:
            continue
        out[name] = defs[name]
        todo.extend(r for r in refs_in(defs[name]) if r in defs and r not in out)
    return dict(sorted(out.items()))


@functools.cache
def gvk_index() -> dict[tuple[str, str, str], str]:
    """(group, version, kind) -> definition name, from ``x-kubernetes-group-version-kind``. A
    definition listing several GVKs (DeleteOptions, WatchEvent) is indexed under each."""
    index: dict[tuple[str, str, str], str] = {}
    for name, schema in definitions().items():
        for gvk in schema.get("x-kubernetes-group-version-kind") or ():
            key = (gvk.get("group", ""), gvk.get("version", ""), gvk.get("kind", ""))
            index.setdefault(key, name)
    return index


def schema_name(group: str, version: str, kind: str) -> str | None:
    """The definition name of a kind, or None when upstream has no such kind."""
    return gvk_index().get((group, version, kind))
