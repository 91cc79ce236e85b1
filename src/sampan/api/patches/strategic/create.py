"""Creating a two-way strategic merge patch: what ``kubectl`` computes between two versions of an object.

The server never needs this (it only applies patches); it exists so property tests can check
``apply(a, create_two_way(a, b)) == b`` and so tools can produce realistic patches. The rules follow
upstream's ``CreateTwoWayMergePatch`` with ``$setElementOrder`` enabled:

* a key only in ``modified`` is added whole; a key only in ``original`` becomes ``null``;
* maps are diffed recursively (whole replacement for ``patchStrategy: replace``), and a field whose
  strategy includes ``retainKeys`` gets a ``$retainKeys`` list of the keys it keeps;
* merge-strategy lists of maps send changed and added elements (identified by the merge key), a
  ``{$patch: delete}`` element per removed one, and ``$setElementOrder/<field>`` listing the new order;
* merge-strategy lists of primitives send added values, ``$deleteFromPrimitiveList/<field>`` for removed
  ones and ``$setElementOrder/<field>`` when anything changed;
* every other list, and scalars, are sent whole when they differ.

Precondition: merge-strategy lists hold no duplicate values (maps: no duplicate merge keys) and values
are not ``null``, as in every object the API server stores.
"""

from __future__ import annotations

from typing import Any

from sampan.api.patches.document import deep_copy, json_equal
from sampan.api.patches.strategic import order
from sampan.api.patches.strategic.apply import element_kind
from sampan.api.patches.strategic.directives import (
    DELETE,
    DELETE_FROM_PRIMITIVE_LIST,
    DIRECTIVE,
    MERGE,
    REPLACE,
    RETAIN_KEYS,
    SET_ELEMENT_ORDER,
    no_merge_key,
)
from sampan.api.schema import ANY, TypeNode


def create_two_way(original: dict[str, Any], modified: dict[str, Any], type_node: TypeNode | None) -> dict[str, Any]:
    """The strategic merge patch that turns ``original`` into ``modified`` (pure)."""
    return _diff_maps(original, modified, type_node or ANY, retain_keys=False)


def _shape(value: Any) -> str:
    return "map" if isinstance(value, dict) else "list" if isinstance(value, list) else "scalar"


def _diff_maps(
    original: dict[str, Any], modified: dict[str, Any], node: TypeNode, *, retain_keys: bool
) -> dict[str, Any]:
    patch: dict[str, Any] = {}
    for key, after in modified.items():
        if key not in original:
            patch[key] = deep_copy(after)
            continue
        before = original[key]
        if _shape(before) != _shape(after):
            patch[key] = deep_copy(after)
            continue
        child = node.field(key) or ANY
        if isinstance(after, dict):
            if REPLACE in child.strategies:
                if not json_equal(before, after):
                    patch[key] = deep_copy(after)
                continue
            nested = _diff_maps(before, after, child, retain_keys="retainKeys" in child.strategies)
            if nested:
                patch[key] = nested
        elif isinstance(after, list) and MERGE in child.strategies:
            items = child.items if child.kind in ("list", "any") else ANY
            changes, removed, wanted = _diff_lists(
                before, after, items, child.patch_merge_key, retain_keys="retainKeys" in child.strategies
            )
            if changes:
                patch[key] = changes
            if removed:
                patch[f"{DELETE_FROM_PRIMITIVE_LIST}/{key}"] = removed
            if wanted:
                patch[f"{SET_ELEMENT_ORDER}/{key}"] = wanted
        elif not json_equal(before, after):
            patch[key] = deep_copy(after)
    for key in original:
        if key not in modified:
            patch[key] = None
    if retain_keys:
        kept = sorted(k for k, v in modified.items() if v is not None)
        cleared = any(v is not None and k not in modified for k, v in original.items())
        if kept and (patch or cleared):
            patch[RETAIN_KEYS] = kept
    return patch


def _diff_lists(
    original: list[Any], modified: list[Any], items: TypeNode, merge_key: str | None, *, retain_keys: bool
) -> tuple[list[Any], list[Any], list[Any]]:
    """(changed/added elements plus delete directives, primitives to delete, the $setElementOrder list)."""
    if not original:
        return deep_copy(modified), [], []
    if element_kind(original, modified) == "map" and merge_key:
        return _diff_lists_of_maps(original, modified, items, merge_key, retain_keys=retain_keys)
    key = order.scalar_key
    have = {key(v) for v in original}
    want = {key(v) for v in modified}
    added = [deep_copy(v) for v in modified if key(v) not in have]
    removed = order.dedupe([v for v in original if key(v) not in want])
    changed = bool(removed) or not json_equal(original, modified)
    return added, removed, deep_copy(modified) if changed else []


def _diff_lists_of_maps(
    original: list[Any], modified: list[Any], items: TypeNode, merge_key: str, *, retain_keys: bool
) -> tuple[list[Any], list[Any], list[Any]]:
    key = order.key_fn(merge_key)
    for element in (*original, *modified):
        if merge_key not in element:
            raise no_merge_key(element, merge_key)
    before = {key(e): e for e in original}
    after_keys = {key(e) for e in modified}
    changes: list[Any] = []
    for element in modified:
        old = before.get(key(element))
        if old is None:
            changes.append(deep_copy(element))
            continue
        nested = _diff_maps(old, element, items, retain_keys=retain_keys)
        if nested:
            nested[merge_key] = deep_copy(element[merge_key])
            changes.append(nested)
    for element in original:
        if key(element) not in after_keys:
            changes.append({merge_key: deep_copy(element[merge_key]), DIRECTIVE: DELETE})
    same_order = [key(e) for e in original] == [key(e) for e in modified]
    wanted = [{merge_key: deep_copy(e[merge_key])} for e in modified] if changes or not same_order else []
    return changes, [], wanted
