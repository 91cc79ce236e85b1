"""Validation of a JSON value against a structural OpenAPI v3 schema, as apiextensions does it.

:func:`validate` walks ``value`` and ``schema`` together and returns :class:`~sampan.api.errors.Cause`
objects with upstream's field paths (``spec.items[0].name``, map entries as ``spec.labels.key``) and
kube-openapi's wording (``spec.replicas in body must be of type integer: "string"``).

Invariants: never raises, whatever ``value`` and ``schema`` are (the schema is assumed to have passed
:func:`sampan.api.structural.checks.check_schema`, but junk only yields fewer or odder causes); the
fields ``apiVersion``, ``kind`` and ``metadata`` of the root are left to the caller (object metadata
is validated by ``sampan.api.validation``). CEL rules are not evaluated here (see ``cel.py``).
"""

from __future__ import annotations

import math
from typing import Any, TypeGuard

import orjson

from sampan.api import validation
from sampan.api.errors import Cause, duplicate, invalid, not_supported, required, too_long
from sampan.api.structural import formats, patterns

Schema = dict[str, Any]
ROOT_IMPLICIT = ("apiVersion", "kind", "metadata")


def json_type(value: Any) -> str:
    """The JSON type of a decoded value: null, boolean, integer, number, string, array, object."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "integer" if math.isfinite(value) and value.is_integer() else "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def as_map(value: Any) -> dict[str, Any]:
    """``value`` if it is a dict, else an empty one (schemas from users may hold junk anywhere)."""
    return value if isinstance(value, dict) else {}


def child(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def index(path: str, i: int) -> str:
    return f"{path}[{i}]"


def canonical(value: Any) -> bytes:
    """A key under which JSON-equal values compare equal (``1`` and ``1.0``; never ``1`` and ``true``)."""
    if isinstance(value, float) and value.is_integer() and math.isfinite(value):
        value = int(value)
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
    except (TypeError, orjson.JSONEncodeError):
        return repr(value).encode()


def _body(path: str) -> str:
    return f"{path} in body" if path else "body"


def _type_invalid(path: str, expected: str, value: Any) -> Cause:
    actual = json_type(value)
    return Cause(
        "FieldValueTypeInvalid", path,
        f'Invalid value: "{actual}": {_body(path)} must be of type {expected}: "{actual}"',
    )


def _type_ok(expected: str, value: Any) -> bool:
    actual = json_type(value)
    return actual == expected or (expected == "number" and actual == "integer")


def validate(value: Any, schema: Any, path: str = "", *, root: bool = True) -> list[Cause]:
    """Every way ``value`` breaks ``schema``; ``path`` is the field path of ``value``."""
    if not isinstance(schema, dict):
        return []
    causes: list[Cause] = []
    _node(value, schema, path, causes, root=root)
    return causes


def _node(value: Any, s: Schema, path: str, out: list[Cause], *, root: bool = False) -> None:
    if value is None:
        if s.get("nullable") is True or (not s.get("type") and s.get("x-kubernetes-preserve-unknown-fields")):
            return
        if s.get("x-kubernetes-int-or-string"):
            out.append(_type_invalid(path, "integer or string", value))
            return
        if s.get("type"):
            out.append(_type_invalid(path, str(s["type"]), value))
            return
    if s.get("x-kubernetes-int-or-string"):
        if json_type(value) not in ("integer", "string"):
            out.append(_type_invalid(path, "integer or string", value))
            return
    else:
        expected = s.get("type")
        if isinstance(expected, str) and expected and not _type_ok(expected, value):
            out.append(_type_invalid(path, expected, value))
            return
    _enum(value, s, path, out)
    if isinstance(value, str):
        _string(value, s, path, out)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        _number(value, s, path, out)
    elif isinstance(value, list):
        _array(value, s, path, out)
    elif isinstance(value, dict):
        _object(value, s, path, out, root=root)
    _combinators(value, s, path, out)


def _enum(value: Any, s: Schema, path: str, out: list[Cause]) -> None:
    enum = s.get("enum")
    if isinstance(enum, list) and enum:
        key = canonical(value)
        if all(canonical(e) != key for e in enum):
            shown = value if isinstance(value, str | int | float | bool) else json_type(value)
            out.append(not_supported(path, shown, [e if isinstance(e, str) else str(e) for e in enum]))


def _string(value: str, s: Schema, path: str, out: list[Cause]) -> None:
    max_len, min_len = s.get("maxLength"), s.get("minLength")
    if isinstance(max_len, int) and len(value) > max_len:
        out.append(too_long(path, max_len))
    if isinstance(min_len, int) and len(value) < min_len:
        out.append(invalid(path, value, f"{_body(path)} should be at least {min_len} chars long"))
    pattern = s.get("pattern")
    if isinstance(pattern, str) and not patterns.matches(pattern, value):
        out.append(invalid(path, value, f"{_body(path)} should match '{pattern}'"))
    fmt = s.get("format")
    if isinstance(fmt, str) and fmt and not formats.check(fmt, value):
        out.append(invalid(path, value, f'{_body(path)} must be of type {fmt}: "{value}"'))


def _number(value: float, s: Schema, path: str, out: list[Cause]) -> None:
    shown: Any = int(value) if isinstance(value, float) and value.is_integer() else value
    lo, hi = s.get("minimum"), s.get("maximum")
    if _num(lo):
        if s.get("exclusiveMinimum") is True and value <= lo:
            out.append(invalid(path, shown, f"{_body(path)} should be greater than {_fmt(lo)}"))
        elif value < lo:
            out.append(invalid(path, shown, f"{_body(path)} should be greater than or equal to {_fmt(lo)}"))
    if _num(hi):
        if s.get("exclusiveMaximum") is True and value >= hi:
            out.append(invalid(path, shown, f"{_body(path)} should be less than {_fmt(hi)}"))
        elif value > hi:
            out.append(invalid(path, shown, f"{_body(path)} should be less than or equal to {_fmt(hi)}"))
    mult = s.get("multipleOf")
    if _num(mult) and mult > 0:
        ratio = value / mult
        if not math.isclose(ratio, round(ratio), rel_tol=0, abs_tol=1e-9):
            out.append(invalid(path, shown, f"{_body(path)} should be a multiple of {_fmt(mult)}"))


def _num(x: Any) -> TypeGuard[float]:
    return isinstance(x, int | float) and not isinstance(x, bool)


def _fmt(x: float) -> str:
    return str(int(x)) if isinstance(x, float) and x.is_integer() else str(x)


def _array(value: list[Any], s: Schema, path: str, out: list[Cause]) -> None:
    max_items, min_items = s.get("maxItems"), s.get("minItems")
    if isinstance(max_items, int) and len(value) > max_items:
        out.append(Cause("FieldValueTooMany", path,
                         f"Too many: {len(value)}: must have at most {max_items} items"))
    if isinstance(min_items, int) and len(value) < min_items:
        out.append(invalid(path, len(value), f"{_body(path)} should have at least {min_items} items"))
    items = s.get("items")
    if isinstance(items, dict):
        for i, item in enumerate(value):
            _node(item, items, index(path, i), out)
    list_type = s.get("x-kubernetes-list-type")
    if s.get("uniqueItems") is True or list_type == "set":
        seen: set[bytes] = set()
        for i, item in enumerate(value):
            key = canonical(item)
            if key in seen:
                out.append(duplicate(index(path, i), item if isinstance(item, str | int | bool) else json_type(item)))
            seen.add(key)
    elif list_type == "map":
        _list_map(value, s, path, out)


def _list_map(value: list[Any], s: Schema, path: str, out: list[Cause]) -> None:
    keys = [k for k in s.get("x-kubernetes-list-map-keys") or [] if isinstance(k, str)]
    seen: set[bytes] = set()
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            continue
        ident = {k: item.get(k) for k in keys}
        key = canonical(ident)
        if key in seen:
            shown = orjson.dumps(ident, option=orjson.OPT_SORT_KEYS).decode()
            out.append(Cause("FieldValueDuplicate", index(path, i), f"Duplicate value: {shown}"))
        seen.add(key)


def _object(value: dict[str, Any], s: Schema, path: str, out: list[Cause], *, root: bool) -> None:
    props = as_map(s.get("properties"))
    required_names = s.get("required")
    for name in required_names if isinstance(required_names, list) else []:  # junk schemas: check_schema says so
        if isinstance(name, str) and name not in value:
            out.append(required(child(path, name)))
    max_p, min_p = s.get("maxProperties"), s.get("minProperties")
    if isinstance(max_p, int) and len(value) > max_p:
        out.append(Cause("FieldValueTooMany", path, f"Too many: {len(value)}: must have at most {max_p} items"))
    if isinstance(min_p, int) and len(value) < min_p:
        out.append(invalid(path, len(value), f"{_body(path)} should have at least {min_p} properties"))
    additional = s.get("additionalProperties")
    for key, item in value.items():
        if root and key in ROOT_IMPLICIT and key not in props:
            continue
        sub = props.get(key)
        if isinstance(sub, dict):
            _node(item, sub, child(path, key), out)
        elif isinstance(additional, dict):
            _node(item, additional, child(path, key), out)
    if s.get("x-kubernetes-embedded-resource"):
        _embedded(value, path, out)


def _embedded(value: dict[str, Any], path: str, out: list[Cause]) -> None:
    """An embedded object (a pod template of a custom workload): apiVersion and kind required,
    metadata labels/annotations valid."""
    for key in ("apiVersion", "kind"):
        if not value.get(key):
            out.append(Cause("FieldValueRequired", child(path, key), "Required value: must not be empty"))
    md = value.get("metadata")
    if isinstance(md, dict):
        out.extend(validation.validate_labels(md.get("labels"), child(path, "metadata.labels")))
        out.extend(validation.validate_annotations(md.get("annotations"), child(path, "metadata.annotations")))


def _subschemas(s: Schema, key: str) -> list[Schema]:
    """The dict members of ``s[key]`` when it is a list; anything else (junk a structural check
    reports elsewhere) yields none."""
    subs = s.get(key)
    return [sub for sub in subs if isinstance(sub, dict)] if isinstance(subs, list) else []


def _combinators(value: Any, s: Schema, path: str, out: list[Cause]) -> None:
    for sub in _subschemas(s, "allOf"):
        _node(value, sub, path, out)
    any_of = _subschemas(s, "anyOf")
    if any_of and all(validate(value, sub, path, root=False) for sub in any_of):
        out.append(invalid(path, _shown(value), f"{_body(path)} must validate at least one schema (anyOf)"))
    one_of = _subschemas(s, "oneOf")
    if one_of and sum(1 for sub in one_of if not validate(value, sub, path, root=False)) != 1:
        out.append(invalid(path, _shown(value), f"{_body(path)} must validate one and only one schema (oneOf)"))
    not_ = s.get("not")
    if isinstance(not_, dict) and not validate(value, not_, path, root=False):
        out.append(invalid(path, _shown(value), f"{_body(path)} must not validate the schema (not)"))


def _shown(value: Any) -> Any:
    return value if isinstance(value, str | int | float | bool) else json_type(value)
