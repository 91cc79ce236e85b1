"""Defaulting from a structural schema's ``default`` values, as apiextensions does.

Rules (upstream's ``structuraldefaulting``): for an object, each property whose schema has a
``default`` and that is absent, or ``null`` while the property is not ``nullable``, takes a deep copy
of the default; then the walk continues into the (possibly just defaulted) value, so defaults nest.
``additionalProperties`` and ``items`` schemas default every entry; list items that are ``null`` in a
non-nullable item schema with a default are defaulted too.

Invariant: :func:`apply_defaults` mutates ``value`` in place, only adds or replaces-null, and never
raises. Defaulting runs after pruning (so pruned fields are not resurrected) and before validation.
"""

from __future__ import annotations

import copy
from typing import Any


def apply_defaults(value: Any, schema: Any) -> None:
    """Fill ``value`` with the defaults ``schema`` gives, recursively."""
    if isinstance(schema, dict):
        _walk(value, schema)


def _needs_default(present: bool, item: Any, s: dict[str, Any]) -> bool:
    return "default" in s and (not present or (item is None and s.get("nullable") is not True))


def _walk(value: Any, s: dict[str, Any]) -> None:
    if isinstance(value, dict):
        props = s.get("properties")
        if isinstance(props, dict):
            for key, sub in props.items():
                if isinstance(sub, dict) and _needs_default(key in value, value.get(key), sub):
                    value[key] = copy.deepcopy(sub["default"])
        additional = s.get("additionalProperties")
        for key, item in list(value.items()):
            sub = props.get(key) if isinstance(props, dict) else None
            if not isinstance(sub, dict):
                sub = additional if isinstance(additional, dict) else None
            if sub is None:
                continue
            if item is None and _needs_default(True, None, sub):
                value[key] = copy.deepcopy(sub["default"])
            _walk(value[key], sub)
    elif isinstance(value, list):
        items = s.get("items")
        if isinstance(items, dict):
            for i, item in enumerate(value):
                if item is None and _needs_default(True, None, items):
                    value[i] = copy.deepcopy(items["default"])
                _walk(value[i], items)
