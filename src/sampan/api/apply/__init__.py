"""Server-side apply: field ownership (``metadata.managedFields``) and the apply merge, over wire-format
dicts, with upstream's semantics (structured-merge-diff + kube-apiserver's field manager).

Public API:

* :func:`apply` ``(live, applied, *, manager, force, type_node, now, subresource="", ignored=None)`` —
  the object after ``PATCH`` with ``application/apply-patch+yaml``; raises ``errors.Conflict`` (409,
  ``Apply failed with N conflict(s): ...``, ``FieldManagerConflict`` causes) unless ``force``.
* :func:`update_managed_fields` ``(old, new, *, manager, now, type_node, subresource="", ignored=None)``
  — ``new`` with managedFields updated for a create / PUT / non-apply PATCH by ``manager``.
* :func:`check_applied_kind` — upstream's 400 for a configuration of the wrong kind.
* ``type_node`` is :func:`sampan.api.schema.type_for_kind` (None for kinds without a schema: maps
  granular, lists atomic); ``now`` is epoch seconds, a datetime or an RFC 3339 string; ``ignored`` are
  the resource's reset fields as paths (``[make_path("status")]`` for a main resource with a status).
* Field paths and sets: :func:`make_path`, :class:`PathElement`, :func:`path_string`,
  :func:`to_fields_v1` / :func:`from_fields_v1` (fieldsV1 encoding, upstream key order),
  :func:`to_field_set` (what a value sets under a type), :func:`decode_managed_fields`.

Modules: ``path`` (elements, spelling, order), ``fieldset`` (sets, fieldsV1), ``shapes`` (schema ->
map/list semantics), ``walk`` (field sets, comparison), ``merge`` (merge, removal), ``updater``
(ownership algorithm), ``managers`` (managedFields entries), ``conflicts`` (409 errors),
``lastapplied`` (client-side apply annotation), ``fieldmanager`` (the layers around every write).
"""

from sampan.api.apply.fieldmanager import BEFORE_FIRST_APPLY, apply, check_applied_kind, update_managed_fields
from sampan.api.apply.fieldset import FieldSet, from_fields_v1, to_fields_v1
from sampan.api.apply.managers import decode as decode_managed_fields
from sampan.api.apply.path import Path, PathElement, make_path, path_string
from sampan.api.apply.shapes import root as root_type
from sampan.api.apply.walk import to_field_set

__all__ = [
    "BEFORE_FIRST_APPLY",
    "FieldSet",
    "Path",
    "PathElement",
    "apply",
    "check_applied_kind",
    "decode_managed_fields",
    "from_fields_v1",
    "make_path",
    "path_string",
    "root_type",
    "to_field_set",
    "to_fields_v1",
    "update_managed_fields",
]
