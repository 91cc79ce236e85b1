"""JSON merge patch (RFC 7386): apply, and create (the two-way diff).

A merge patch is an object mirroring the target: a member set to ``null`` deletes it, an object merges
recursively, anything else (arrays included) replaces the target value whole. A patch that is not a JSON
object is rejected with 400 BadRequest: the result of patching a Kubernetes object must be an object.

Invariant (checked by property tests): for JSON objects ``a`` and ``b`` without ``null`` values,
``apply_merge_patch(a, create_merge_patch(a, b)) == b``.
"""

from __future__ import annotations

from typing import Any

from sampan.api.errors import BadRequest
from sampan.api.patches.document import decode, deep_copy, json_equal, type_name


def apply_merge_patch(obj: dict[str, Any], patch: Any, *, owned: bool = False) -> dict[str, Any]:
    """Apply a merge patch (bytes, text or a decoded object) to ``obj``; returns a new object.

    Pure: neither input is mutated, unless ``owned`` (``obj`` is the caller's private copy: it is patched in
    place and returned). Raises BadRequest when the patch is not a JSON object.
    """
    doc = decode(patch, what="merge patch")
    if not isinstance(doc, dict):
        raise BadRequest(f"invalid merge patch: expected a JSON object, got a JSON {type_name(doc)}")
    target = (obj if owned else deep_copy(obj)) if isinstance(obj, dict) else {}
    return merge_into(target, doc)


def merge_into(target: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """RFC 7386 MergePatch, in place on ``target`` (which must be private); ``patch`` is read-only."""
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict):
            current = target.get(key)
            target[key] = merge_into(current if isinstance(current, dict) else {}, value)
        else:
            target[key] = deep_copy(value)
    return target


def create_merge_patch(original: dict[str, Any], modified: dict[str, Any]) -> dict[str, Any]:
    """The merge patch that turns ``original`` into ``modified`` (members missing from ``modified`` become
    ``null``; nested objects are diffed; other changed values are copied from ``modified``)."""
    patch: dict[str, Any] = {}
    for key in original:
        if key not in modified:
            patch[key] = None
    for key, value in modified.items():
        if key not in original:
            patch[key] = deep_copy(value)
            continue
        before = original[key]
        if isinstance(before, dict) and isinstance(value, dict):
            nested = create_merge_patch(before, value)
            if nested:
                patch[key] = nested
        elif not json_equal(before, value):
            patch[key] = deep_copy(value)
    return patch
