"""Interplay with client-side apply's ``kubectl.kubernetes.io/last-applied-configuration`` annotation.

Only for the manager named ``kubectl`` (what ``kubectl apply --server-side`` sends), as upstream:

* :func:`allowed_conflicts` — when such an apply conflicts, paths the annotation records with the same
  value the object still has are not real conflicts (the user applied them client-side before
  switching to server-side apply); if every conflict is allowed, the apply is retried forced;
* :func:`record` — after a successful apply, an object that carries the annotation gets it rewritten
  to the applied configuration, so a later client-side apply diffs against the right thing.
"""

from __future__ import annotations

import copy
import json
import logging
from typing import Any

from sampan.api.apply.fieldset import FieldSet
from sampan.api.apply.path import go_json
from sampan.api.apply.shapes import ShapeError, TypeRef
from sampan.api.apply.walk import compare, to_field_set

log = logging.getLogger(__name__)

ANNOTATION = "kubectl.kubernetes.io/last-applied-configuration"
KUBECTL = "kubectl"
_MAX_ANNOTATIONS_BYTES = 256 * 1024


def _annotations(obj: Any) -> dict[str, Any]:
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    ann = meta.get("annotations") if isinstance(meta, dict) else None
    return ann if isinstance(ann, dict) else {}


def allowed_conflicts(live: Any, t: TypeRef, *, api_version: str) -> FieldSet | None:
    """Paths of the live object's last-applied annotation whose value the object still has; ``None``
    when there is no usable annotation."""
    text = _annotations(live).get(ANNOTATION)
    if not isinstance(text, str) or not text:
        return None
    try:
        last = json.loads(text)
    except ValueError:
        log.debug("last-applied annotation is not JSON")
        return None
    if not isinstance(last, dict) or last.get("apiVersion") != api_version:
        return None
    try:
        cmp = compare(last, live, t)
    except ShapeError:
        return None
    return to_field_set(last, t) - cmp.modified - cmp.added - cmp.removed


def record(obj: dict[str, Any], applied: dict[str, Any]) -> dict[str, Any]:
    """``obj`` with its last-applied annotation set to ``applied`` (when it has one). Mutates ``obj``."""
    annotations = _annotations(obj)
    if not annotations.get(ANNOTATION):
        return obj
    config = copy.deepcopy(applied)
    config_ann = _annotations(config)
    config_ann.pop(ANNOTATION, None)
    if not config_ann and isinstance(config.get("metadata"), dict):
        config["metadata"].pop("annotations", None)
    annotations[ANNOTATION] = go_json(config) + "\n"
    if sum(len(k) + len(v) for k, v in annotations.items() if isinstance(v, str)) > _MAX_ANNOTATIONS_BYTES:
        del annotations[ANNOTATION]
    return obj
