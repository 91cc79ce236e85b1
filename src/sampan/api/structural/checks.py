"""Is an OpenAPI v3 schema *structural*? The checks apiextensions makes on a CRD version's schema.

:func:`check_schema` returns causes whose fields are rooted at ``path`` (for a CRD,
``spec.versions[0].schema.openAPIV3Schema``) and use upstream's node names (``properties[spec]``,
``items``, ``additionalProperties``). What is checked:

* every node that specifies fields (a property, ``items``, ``additionalProperties``) has a ``type``
  unless it sets ``x-kubernetes-int-or-string`` or ``x-kubernetes-preserve-unknown-fields``; the root
  is ``type: object``; arrays have ``items``; ``properties`` and ``additionalProperties`` exclude
  each other; ``additionalProperties: false``, ``$ref``, ``patternProperties``, ``additionalItems``,
  ``dependencies``, ``definitions``, ``id``, ``$schema`` and ``uniqueItems: true`` are forbidden;
* ``metadata`` at the root may only restrict ``name`` and ``generateName``;
* the extensions are consistent (int-or-string without ``type``, preserve-unknown-fields only ``true``,
  embedded resources are objects, list types and map keys), patterns compile, defaults validate
  against their own schema, and CEL rules compile (``cel.py``).

Invariant: never raises on junk; a schema with no causes can be used by ``values``, ``pruning``,
``defaulting`` and ``cel`` without surprises.
"""

from __future__ import annotations

from typing import Any

from sampan.api.errors import Cause, forbidden, invalid, not_supported, required
from sampan.api.structural import cel, patterns, values

TYPES = ["array", "boolean", "integer", "number", "object", "string"]
_FORBIDDEN_KEYS = {
    "$ref": "$ref is not supported",
    "patternProperties": "patternProperties is not supported",
    "additionalItems": "additionalItems cannot be set to false",
    "dependencies": "dependencies is not supported",
    "definitions": "definitions is not supported",
    "id": "id is not supported",
    "$schema": "$schema is not supported",
}
_SCALARS = ("string", "integer", "number", "boolean")


def check_schema(schema: Any, path: str) -> list[Cause]:
    """Every way ``schema`` fails to be a structural schema usable for a custom resource."""
    if not isinstance(schema, dict):
        return [required(path)] if schema is None else [invalid(path, str(schema), "must be an object")]
    causes: list[Cause] = []
    kind = schema.get("type")
    if not kind:
        causes.append(Cause("FieldValueRequired", f"{path}.type", "Required value: must not be empty at the root"))
    elif kind != "object":
        causes.append(invalid(f"{path}.type", kind, "must be object at the root"))
    props = schema.get("properties")
    if isinstance(props, dict) and "metadata" in props:
        causes += _check_metadata(props["metadata"], f"{path}.properties[metadata]")
    _node(schema, path, causes, root=True)
    return causes


def _check_metadata(md: Any, path: str) -> list[Cause]:
    msg = "must not specify anything other than name and generateName, but metadata is implicitly specified"
    if not isinstance(md, dict):
        return [forbidden(path, msg)]
    causes: list[Cause] = []
    if md.get("type") not in (None, "object"):
        causes.append(invalid(f"{path}.type", md.get("type"), "must be object"))
    extra = set(md) - {"type", "properties", "description"}
    sub = md.get("properties")
    if extra or (isinstance(sub, dict) and set(sub) - {"name", "generateName"}):
        causes.append(forbidden(path, msg))
    return causes


def _node(s: dict[str, Any], path: str, out: list[Cause], *, root: bool = False, correlatable: bool = True) -> None:
    for key, why in _FORBIDDEN_KEYS.items():
        if key in s and not (key == "additionalItems" and s[key] is not False):
            out.append(forbidden(f"{path}.{key}", why))
    if s.get("uniqueItems") is True:
        out.append(forbidden(f"{path}.uniqueItems",
                             "uniqueItems cannot be set to true since the runtime complexity becomes quadratic"))
    kind = s.get("type")
    if kind and kind not in TYPES:
        out.append(not_supported(f"{path}.type", kind, TYPES))
    if s.get("nullable") is not None and not isinstance(s.get("nullable"), bool):
        out.append(invalid(f"{path}.nullable", str(s["nullable"]), "must be a boolean"))
    _extensions(s, path, out)
    _structure(s, path, out)
    pattern = s.get("pattern")
    if pattern is not None:
        err = patterns.error(str(pattern))
        if err is not None:
            out.append(invalid(f"{path}.pattern", pattern, f"must be a valid regular expression, but isn't: {err}"))
    if "default" in s:
        _default(s, path, out)
    out.extend(cel.check_rules(s, path, correlatable=correlatable))
    props = s.get("properties")
    if isinstance(props, dict):
        for name, sub in props.items():
            _child(sub, f"{path}.properties[{name}]", out, "specified object fields", correlatable=correlatable)
    if isinstance(s.get("items"), dict):
        by_key = s.get("x-kubernetes-list-type") == "map"
        _child(s["items"], f"{path}.items", out, "specified array items", correlatable=correlatable and by_key)
    if isinstance(s.get("additionalProperties"), dict):
        _child(s["additionalProperties"], f"{path}.additionalProperties", out, "specified object fields",
               correlatable=correlatable)


def _child(sub: Any, path: str, out: list[Cause], what: str, *, correlatable: bool) -> None:
    if not isinstance(sub, dict):
        out.append(invalid(path, str(sub), "must be a schema object"))
        return
    typeless_ok = (sub.get("x-kubernetes-int-or-string") is True
                   or sub.get("x-kubernetes-preserve-unknown-fields") is True)
    if not sub.get("type") and not typeless_ok:
        out.append(Cause("FieldValueRequired", f"{path}.type", f"Required value: must not be empty for {what}"))
    _node(sub, path, out, correlatable=correlatable)


def _structure(s: dict[str, Any], path: str, out: list[Cause]) -> None:
    kind = s.get("type")
    props, additional = s.get("properties"), s.get("additionalProperties")
    if props is not None and additional is not None and additional is not True:
        out.append(forbidden(f"{path}.additionalProperties",
                             "additionalProperties and properties are mutual exclusive"))
    if additional is False:
        out.append(forbidden(f"{path}.additionalProperties", "must not be false"))
    if props is not None and not isinstance(props, dict):
        out.append(invalid(f"{path}.properties", str(props), "must be a map of schemas"))
    if kind and kind != "object" and (props or isinstance(additional, dict)):
        out.append(invalid(f"{path}.type", kind, "must be object if properties or additionalProperties are specified"))
    if kind == "array" and not isinstance(s.get("items"), dict):
        out.append(required(f"{path}.items"))
    if kind and kind != "array" and "items" in s:
        out.append(forbidden(f"{path}.items", "must not be specified for a non-array type"))
    req = s.get("required")
    if req is not None and not (isinstance(req, list) and all(isinstance(r, str) for r in req)):
        out.append(invalid(f"{path}.required", str(req), "must be a list of property names"))


def _extensions(s: dict[str, Any], path: str, out: list[Cause]) -> None:
    kind = s.get("type")
    if "x-kubernetes-int-or-string" in s and s["x-kubernetes-int-or-string"] is not True:
        out.append(invalid(f"{path}.x-kubernetes-int-or-string", s["x-kubernetes-int-or-string"],
                           "must be true or undefined"))
    if s.get("x-kubernetes-int-or-string") is True and kind:
        out.append(invalid(f"{path}.type", kind, "must be empty if x-kubernetes-int-or-string is true"))
    if "x-kubernetes-preserve-unknown-fields" in s and s["x-kubernetes-preserve-unknown-fields"] is not True:
        out.append(invalid(f"{path}.x-kubernetes-preserve-unknown-fields",
                           s["x-kubernetes-preserve-unknown-fields"], "must be true or undefined"))
    if "x-kubernetes-embedded-resource" in s:
        if s["x-kubernetes-embedded-resource"] is not True:
            out.append(invalid(f"{path}.x-kubernetes-embedded-resource", s["x-kubernetes-embedded-resource"],
                               "must be true or undefined"))
        elif kind != "object":
            out.append(invalid(f"{path}.type", kind or "", "must be object if x-kubernetes-embedded-resource is true"))
    _list_type(s, path, out)


def _list_type(s: dict[str, Any], path: str, out: list[Cause]) -> None:
    list_type, keys = s.get("x-kubernetes-list-type"), s.get("x-kubernetes-list-map-keys")
    items = values.as_map(s.get("items"))
    if list_type is not None:
        if list_type not in ("atomic", "set", "map"):
            out.append(not_supported(f"{path}.x-kubernetes-list-type", list_type, ["atomic", "set", "map"]))
        elif s.get("type") != "array":
            out.append(invalid(f"{path}.type", s.get("type") or "",
                               "must be array if x-kubernetes-list-type is specified"))
    atomic_items = items.get("x-kubernetes-map-type") == "atomic"
    if list_type == "set" and items.get("type") not in (*_SCALARS, None) and not atomic_items:
        out.append(invalid(f"{path}.items.type", items.get("type"),
                           "must be a scalar type if parent array's x-kubernetes-list-type is set"))
    if list_type == "map":
        if not keys:
            out.append(Cause("FieldValueRequired", f"{path}.x-kubernetes-list-map-keys",
                             "Required value: must not be empty if x-kubernetes-list-type is map"))
        if items.get("type") != "object":
            out.append(invalid(f"{path}.items.type", items.get("type") or "",
                               "must be object if parent array's x-kubernetes-list-type is map"))
        item_props = values.as_map(items.get("properties"))
        for key in keys if isinstance(keys, list) else []:
            prop = item_props.get(key) if isinstance(key, str) else None
            if not isinstance(prop, dict) or prop.get("type") not in _SCALARS:
                out.append(invalid(f"{path}.x-kubernetes-list-map-keys", str(keys),
                                   "entries must all be names of item properties of scalar type"))
                break
            if key not in (items.get("required") or []) and "default" not in prop:
                out.append(invalid(f"{path}.items.properties[{key}]", "",
                                   "all map keys must be required or have a default value"))
    elif keys:
        out.append(Cause("FieldValueRequired", f"{path}.x-kubernetes-list-type",
                         "Required value: must be map if x-kubernetes-list-map-keys is non-empty"))


def _default(s: dict[str, Any], path: str, out: list[Cause]) -> None:
    default = s["default"]
    if default is None and s.get("nullable") is not True:
        out.append(invalid(f"{path}.default", "null", "must not be null for a non-nullable schema"))
        return
    for cause in values.validate(default, s, "", root=False):
        sub = cause.field
        field = f"{path}.default" + (f".{sub}" if sub and not sub.startswith("[") else sub)
        out.append(Cause(cause.type, field, cause.message))
