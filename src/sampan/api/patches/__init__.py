"""Patch algorithms over wire-format objects (plain JSON dicts), as kube-apiserver applies them.

``jsonpatch`` (RFC 6902, ``application/json-patch+json``), ``mergepatch`` (RFC 7386,
``application/merge-patch+json``) and ``strategic`` (``application/strategic-merge-patch+json``, driven by
the schema metadata in :mod:`sampan.api.schema`). Every function here is pure: inputs are never mutated and
the result shares no mutable structure with them. Bad patches raise :mod:`sampan.api.errors` exceptions
with upstream's reasons and codes (400 BadRequest for malformed documents, 422 Invalid for a JSON patch that
does not apply, 413 for too many operations). ``dispatch`` maps a PATCH ``Content-Type`` to the algorithm
(415 for types a resource does not accept). Server-side apply lives in ``sampan.api.apply``.
"""

from sampan.api.patches.dispatch import (
    APPLY_PATCH,
    BUILTIN_PATCH_TYPES,
    CUSTOM_PATCH_TYPES,
    JSON_PATCH,
    MERGE_PATCH,
    STRATEGIC_MERGE_PATCH,
    apply_patch,
    patch_type,
)
from sampan.api.patches.jsonpatch import apply_json_patch, create_json_patch
from sampan.api.patches.mergepatch import apply_merge_patch, create_merge_patch
from sampan.api.patches.strategic import apply_strategic_merge_patch, create_two_way

__all__ = [
    "APPLY_PATCH",
    "BUILTIN_PATCH_TYPES",
    "CUSTOM_PATCH_TYPES",
    "JSON_PATCH",
    "MERGE_PATCH",
    "STRATEGIC_MERGE_PATCH",
    "apply_json_patch",
    "apply_merge_patch",
    "apply_patch",
    "apply_strategic_merge_patch",
    "create_json_patch",
    "create_merge_patch",
    "create_two_way",
    "patch_type",
]
