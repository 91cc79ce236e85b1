"""Pruning: dropping the fields a structural schema does not specify, as apiextensions does.

Rules (upstream's ``structuralpruning``): in an object whose schema lists ``properties``, a key not
listed is removed unless the node has ``x-kubernetes-preserve-unknown-fields: true``; an object with
``additionalProperties`` keeps every key and prunes each value against that schema; a node with
preserve-unknown-fields and no properties keeps everything below it; at the root (and in every
``x-kubernetes-embedded-resource``) ``apiVersion``, ``kind`` and ``metadata`` are always kept.

Invariant: :func:`prune` mutates ``value`` in place and never raises; it only ever removes keys.
"""

from __future__ import annotations

from typing import Any

ROOT_KEPT = ("apiVersion", "kind", "metadata")


def prune(value: Any, schema: Any, *, root: bool = True) -> list[str]:
    """Remove unknown fields from ``value``; the dotted paths removed, for logging and warnings."""
    removed: list[str] = []
    if isinstance(schema, dict):
        _prune(value, schema, "", removed, keep_meta=root)
    return removed


def _prune(value: Any, s: dict[str, Any], path: str, removed: list[str], *, keep_meta: bool) -> None:
    if isinstance(value, dict):
        _object(value, s, path, removed, keep_meta=keep_meta or bool(s.get("x-kubernetes-embedded-resource")))
    elif isinstance(value, list):
        items = s.get("items")
        if isinstance(items, dict):
            for i, item in enumerate(value):
                _prune(item, items, f"{path}[{i}]", removed, keep_meta=False)


def _object(value: dict[str, Any], s: dict[str, Any], path: str, removed: list[str], *, keep_meta: bool) -> None:
    props = s.get("properties")
    additional = s.get("additionalProperties")
    preserve = s.get("x-kubernetes-preserve-unknown-fields") is True
    props = props if isinstance(props, dict) else {}
    for key in list(value):
        sub_path = f"{path}.{key}" if path else key
        sub = props.get(key)
        if keep_meta and key in ROOT_KEPT:
            continue  # metadata is ObjectMeta whatever the schema says of name/generateName
        if isinstance(sub, dict):
            _prune(value[key], sub, sub_path, removed, keep_meta=False)
        elif isinstance(additional, dict):
            _prune(value[key], additional, sub_path, removed, keep_meta=False)
        elif not preserve and additional is not True:
            del value[key]
            removed.append(sub_path)
