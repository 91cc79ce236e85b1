"""Choosing the patch algorithm from a PATCH request's ``Content-Type``, as kube-apiserver does.

:func:`patch_type` normalises the header (parameters such as ``; charset=utf-8`` are dropped) and rejects
types the resource does not accept with upstream's 415. :func:`apply_patch` runs one of the three
non-apply algorithms and checks that the result is still an object; ``application/apply-patch+yaml`` is
server-side apply, which lives in ``sampan.api.apply`` and is not dispatched here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sampan.api.errors import BadRequest, UnsupportedMediaType
from sampan.api.patches.document import type_name
from sampan.api.patches.jsonpatch import apply_json_patch
from sampan.api.patches.mergepatch import apply_merge_patch
from sampan.api.patches.strategic import apply_strategic_merge_patch
from sampan.api.schema import TypeNode

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"

BUILTIN_PATCH_TYPES = (JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH, APPLY_PATCH)
"""What kube-apiserver accepts for built-in kinds, in the order its 415 message lists them."""
CUSTOM_PATCH_TYPES = (JSON_PATCH, MERGE_PATCH, APPLY_PATCH)
"""What it accepts for custom resources (no strategic merge patch)."""


def patch_type(content_type: str | None, accepted: Sequence[str] = BUILTIN_PATCH_TYPES) -> str:
    """The patch type named by a ``Content-Type`` header; 415 UnsupportedMediaType when not accepted."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media not in accepted:
        raise UnsupportedMediaType(
            "the body of the request was in an unknown format - accepted media types include: "
            + ", ".join(accepted)
        )
    return media


def apply_patch(kind: str, obj: dict[str, Any], body: Any, *, type_node: TypeNode | None,
                owned: bool = False) -> dict[str, Any]:
    """Apply a JSON, merge or strategic merge patch (``kind`` from :func:`patch_type`) to ``obj``.

    Pure unless ``owned``: then ``obj`` is the caller's private copy, which the patch may change in place
    instead of copying it first (the API server's PATCH, which patches a fresh decode of the stored object);
    after an error ``obj`` is then in an unspecified state. Raises the algorithm's errors, and BadRequest
    when a JSON patch leaves something other than an object. ``type_node`` is only used by the strategic
    merge patch.
    """
    if kind == JSON_PATCH:
        result = apply_json_patch(obj, body, owned=owned)
    elif kind == MERGE_PATCH:
        result = apply_merge_patch(obj, body, owned=owned)
    elif kind == STRATEGIC_MERGE_PATCH:
        result = apply_strategic_merge_patch(obj, body, type_node, owned=owned)
    else:
        raise ValueError(f"{kind} is not applied by sampan.api.patches")
    if not isinstance(result, dict):
        raise BadRequest(f"the patched document must be a JSON object, got a JSON {type_name(result)}")
    return result
