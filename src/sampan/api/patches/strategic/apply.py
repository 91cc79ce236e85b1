"""Applying a strategic merge patch (server side), following upstream's ``StrategicMergeMapPatch``.

Per map, in this order:

1. ``$patch: replace`` -> the patch map (minus the directive) replaces the original; ``$patch: delete`` ->
   the map becomes ``{}``; ``$patch: merge`` is the default and is dropped.
2. ``$retainKeys: [..]`` -> original keys not listed are cleared; a patch key with a non-null value that is
   not listed is an error (``invalid patch format of retainKeys``).
3. ``$setElementOrder/<field>: [..]`` -> the field's list is merged with the patch's list, then ordered:
   listed items in the listed order, server-only items interleaved where the server had them.
4. Every other key: ``null`` deletes; a map merges recursively (unless the field's strategy is
   ``replace``); a list merges when the field's strategy has ``merge`` (maps by ``patchMergeKey``, with
   ``{$patch: delete, <key>: v}`` / ``{$patch: replace}`` elements; primitives as a set) and is replaced
   otherwise; anything else replaces.
5. ``$deleteFromPrimitiveList/<field>: [..]`` -> those values are removed from the field's list (a list
   that does not exist stays absent), after the additions of step 4.

Deliberate differences from upstream, all on inputs upstream mishandles: a value the original lacks is
itself run through the merge (so ``null`` members and directives inside it are resolved, not stored), and
errors upstream returns as 500 are 400 here.
"""

from __future__ import annotations

import logging
from typing import Any

from sampan.api.errors import BadRequest
from sampan.api.patches.document import decode, deep_copy, type_name
from sampan.api.patches.strategic import order
from sampan.api.patches.strategic.directives import (
    DELETE,
    DELETE_FROM_PRIMITIVE_LIST,
    DIRECTIVE,
    MERGE,
    REPLACE,
    RETAIN_KEYS,
    SET_ELEMENT_ORDER,
    bad_arg_kind,
    bad_patch_type,
    bad_primitive_list,
    bad_retain_keys,
    bad_set_element_order,
    mixed_list,
    no_list_of_lists,
    no_merge_key,
    show,
    split_directive_key,
)
from sampan.api.schema import ANY, TypeNode

log = logging.getLogger(__name__)

_ABSENT: Any = object()


def apply_strategic_merge_patch(obj: dict[str, Any], patch: Any, type_node: TypeNode | None, *,
                                owned: bool = False) -> dict[str, Any]:
    """Apply a strategic merge patch (bytes, text or a decoded object) to ``obj``, guided by
    ``type_node`` (the kind's root type from :func:`sampan.api.schema.type_for_kind`; ``None`` for a kind
    without schema, which then merges like a JSON merge patch: maps merge, lists are replaced).

    Pure: neither input is mutated, unless ``owned`` (``obj`` is the caller's private copy: it is patched in
    place). Raises BadRequest for a malformed patch.
    """
    doc = decode(patch, what="strategic merge patch")  # a private copy: popping directives is safe
    if not isinstance(doc, dict):
        raise BadRequest(f"invalid strategic merge patch: expected a JSON object, got a JSON {type_name(doc)}")
    original = (obj if owned else deep_copy(obj)) if isinstance(obj, dict) else {}
    return merge_map(original, doc, type_node or ANY)


def merge_map(original: dict[str, Any], patch: dict[str, Any], node: TypeNode) -> dict[str, Any]:
    """Merge ``patch`` into ``original`` in place (both must be private) and return the result."""
    if DIRECTIVE in patch:
        directive = patch.pop(DIRECTIVE)
        if directive == REPLACE:
            return merge_map({}, patch, node)
        if directive == DELETE:
            return {}
        if directive != MERGE:
            raise bad_patch_type(directive, {**patch, DIRECTIVE: directive})
    _retain_keys(original, patch)
    for key in [k for k in patch if k.startswith(SET_ELEMENT_ORDER)]:
        field = split_directive_key(key, SET_ELEMENT_ORDER)
        _set_element_order(original, patch, field, patch.pop(key), _child(node, field))
    deletions = []
    for key, value in patch.items():
        if key.startswith(DELETE_FROM_PRIMITIVE_LIST):
            deletions.append((split_directive_key(key, DELETE_FROM_PRIMITIVE_LIST), value))
        elif value is None:
            original.pop(key, None)
        else:
            original[key] = merge_value(original.get(key, _ABSENT), value, _child(node, key))
    for field, values in deletions:
        if not isinstance(values, list):
            raise bad_primitive_list()
        current = original.get(field)
        if isinstance(current, list):
            drop = {order.scalar_key(v) for v in values}
            original[field] = [v for v in current if order.scalar_key(v) not in drop]
    return original


def merge_value(original: Any, patch: Any, node: TypeNode) -> Any:
    """The merged value of one field; ``original`` may be ``_ABSENT``. ``patch`` is never ``None``."""
    if isinstance(patch, dict):
        keep = isinstance(original, dict) and REPLACE not in node.strategies
        return merge_map(original if keep else {}, patch, node)
    if isinstance(patch, list):
        if MERGE in node.strategies:
            base = original if isinstance(original, list) else []
            return merge_list(base, patch, _items(node), node.patch_merge_key)
        return patch
    return patch


def merge_list(original: list[Any], patch: list[Any], items: TypeNode, merge_key: str | None) -> list[Any]:
    """Merge a patch list into a merge-strategy list; returns the ordered result."""
    if not original and not patch:
        return original
    kind = element_kind(original, patch)
    if kind != "map":
        key: order.KeyFn = order.scalar_key
        merged = order.dedupe(original + patch)
        patch_order = patch
    else:
        if not merge_key:
            raise BadRequest("cannot merge lists without merge key for type struct")
        key = order.key_fn(merge_key)
        original, patch_order, replace = _special_elements(original, patch, merge_key, key)
        if replace:
            return patch_order
        merged = list(original)
        where: dict[Any, int] = {}
        for i, item in enumerate(merged):
            where.setdefault(key(item), i)
        for element in patch_order:
            if merge_key not in element:
                raise no_merge_key(element, merge_key)
            k = key(element)
            if k in where:
                merged[where[k]] = merge_map(merged[where[k]], element, items)
            else:
                where[k] = len(merged)
                merged.append(merge_map({}, element, items))
    named, server_only = order.partition(merged, patch_order, key)
    return order.normalize(named, server_only, patch_order=patch_order, server_order=original, key=key)


def _special_elements(
    original: list[Any], patch: list[Any], merge_key: str, key: order.KeyFn
) -> tuple[list[Any], list[Any], bool]:
    """Apply ``$patch`` elements of a list of maps: returns (original after deletions, the plain patch
    elements, whether the list is replaced by the plain elements)."""
    plain = []
    replace = False
    for element in patch:
        if DIRECTIVE not in element:
            plain.append(element)
            continue
        directive = element[DIRECTIVE]
        if directive == DELETE:
            if merge_key not in element:
                raise no_merge_key(element, merge_key)
            doomed = key(element)
            original = [item for item in original if key(item) != doomed]
        elif directive == REPLACE:
            replace = True
        elif directive == MERGE:
            log.debug("strategic merge patch: $patch merge list element is the default, ignored")
        else:
            raise bad_patch_type(directive, element)
    return original, plain, replace


def _retain_keys(original: dict[str, Any], patch: dict[str, Any]) -> None:
    if RETAIN_KEYS not in patch:
        return
    listed = patch.pop(RETAIN_KEYS)
    if not isinstance(listed, list):
        raise bad_retain_keys()
    keep = {k for k in listed if isinstance(k, str)}
    for key, value in patch.items():
        if value is None or key.startswith((DELETE_FROM_PRIMITIVE_LIST, SET_ELEMENT_ORDER)):
            continue
        if key not in keep:
            raise bad_retain_keys()
    for key in [k for k in original if k not in keep]:
        del original[key]


def _set_element_order(
    original: dict[str, Any], patch: dict[str, Any], field: str, wanted: Any, node: TypeNode
) -> None:
    """Merge ``patch[field]`` into ``original[field]`` and order the result by ``wanted``."""
    if not isinstance(wanted, list):
        raise bad_set_element_order()
    merge_key = node.patch_merge_key
    key = order.key_fn(merge_key)
    before = original.get(field, _ABSENT)
    before = before if isinstance(before, list) else _ABSENT
    incoming = patch.pop(field, _ABSENT)
    if incoming is None:
        original.pop(field, None)
        return
    if incoming is not _ABSENT and not isinstance(incoming, list):
        raise bad_arg_kind("list", incoming)
    if before is _ABSENT and incoming is _ABSENT:
        return
    if element_kind(wanted, incoming if incoming is not _ABSENT else []) == "map":
        if not merge_key:
            raise bad_set_element_order()
        for item in wanted:
            if not isinstance(item, dict) or merge_key not in item:
                raise no_merge_key(item, merge_key)
    if incoming is not _ABSENT:
        _check_patch_order(incoming, wanted, key, merge_key)
    merged = before if incoming is _ABSENT else merge_value(before, incoming, node)
    if MERGE not in node.strategies:
        original[field] = merged
        return
    named, server_only = order.partition(merged, wanted, key)
    server_order = before if before is not _ABSENT else []
    if merge_key and incoming is not _ABSENT:
        server_order = _upstream_view(server_order, incoming, key)
    original[field] = order.normalize(named, server_only, patch_order=wanted, server_order=server_order, key=key)


def _upstream_view(before: list[Any], incoming: list[Any], key: order.KeyFn) -> list[Any]:
    """The live list as upstream's ordering step sees it.

    Upstream deletes elements from the live list in place and appends new ones to the shortened slice, so
    the original slice it later uses as "the server's order" shows the survivors shifted left, then new
    elements, then stale leftovers, at the original length. Emulating that keeps the placement of
    server-only elements identical to upstream's when a patch both deletes and adds.
    """
    view = list(before)
    length = len(view)
    for element in incoming:
        if isinstance(element, dict) and element.get(DIRECTIVE) == DELETE:
            doomed = key(element)
            i = 0
            while i < length:
                if key(view[i]) == doomed:
                    view[i : length - 1] = view[i + 1 : length]
                    length -= 1
                else:
                    i += 1
    known = {key(item) for item in view[:length]}
    for element in incoming:
        if not isinstance(element, dict) or DIRECTIVE in element or key(element) in known:
            continue
        known.add(key(element))
        if length < len(view):
            view[length] = element
        length += 1
    return view


def _check_patch_order(incoming: list[Any], wanted: list[Any], key: order.KeyFn, merge_key: str | None) -> None:
    """The patch list's plain items must appear in ``wanted``, in the same relative order."""
    plain = [item for item in incoming if not (isinstance(item, dict) and DIRECTIVE in item)]
    if merge_key:
        for item in plain:
            if isinstance(item, dict) and merge_key not in item:
                raise no_merge_key(item, merge_key)
    i = 0
    for item in wanted:
        if i < len(plain) and key(plain[i]) == key(item):
            i += 1
    if i < len(plain):
        raise BadRequest(
            f"The order in patch list:\n{show(incoming)}\n doesn't match {SET_ELEMENT_ORDER} list:\n{show(wanted)}\n"
        )


def element_kind(*lists: list[Any]) -> str | None:
    """``"map"`` or ``"scalar"`` for the elements of all ``lists`` (``None`` when all are empty)."""
    kind = None
    for values in lists:
        for value in values:
            this = "map" if isinstance(value, dict) else "list" if isinstance(value, list) else "scalar"
            if this == "list":
                raise no_list_of_lists()
            if kind is None:
                kind = this
            elif kind != this:
                raise mixed_list(list(lists))
    return kind


def _child(node: TypeNode, field: str) -> TypeNode:
    return node.field(field) or ANY


def _items(node: TypeNode) -> TypeNode:
    return node.items if node.kind in ("list", "any") else ANY
