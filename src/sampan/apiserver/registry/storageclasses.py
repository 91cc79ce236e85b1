"""storage.k8s.io/v1 storageclasses (``sc``, cluster-scoped): classes of dynamically provisioned volumes.

sampan runs no volume provisioner: classes are stored, validated and listed for tools and operators that
read them. Defaults, as upstream: ``reclaimPolicy: Delete``, ``volumeBindingMode: Immediate``. Validation,
as ``ValidateStorageClass``: ``provisioner`` is a required qualified name; at most 512 ``parameters``,
no empty key, 256 KiB in all; ``reclaimPolicy`` Delete or Retain; ``volumeBindingMode`` Immediate or
WaitForFirstConsumer; each ``allowedTopologies`` term has valid, unique keys with non-empty, unique
values, and no two terms are equal. ``parameters``, ``provisioner`` and ``reclaimPolicy`` may not change
(``Forbidden: updates to … are forbidden.``), ``volumeBindingMode`` is immutable. Table: Name (``(default)``
appended for the default class), Provisioner, ReclaimPolicy, VolumeBindingMode, AllowVolumeExpansion, Age.
"""

from __future__ import annotations

import functools
from typing import Any

from sampan.api import validation
from sampan.api.errors import Cause, duplicate, forbidden, invalid, not_supported, required, too_long
from sampan.api.resources import ResourceInfo
from sampan.apiserver.registry.base import AGE_COLUMN, NAME_COLUMN, BaseStrategy, age_cell, as_dict, as_list
from sampan.apiserver.registry.columns import doc_column
from sampan.apiserver.registry.strategy import Object, TableColumn

RECLAIM_POLICIES = ["Delete", "Retain"]
BINDING_MODES = ["Immediate", "WaitForFirstConsumer"]
MAX_PARAMETERS = 512
MAX_PARAMETERS_SIZE = 256 * 1024
DEFAULT_CLASS_ANNOTATIONS = ("storageclass.kubernetes.io/is-default-class",
                             "storageclass.beta.kubernetes.io/is-default-class")
_DEF = "io.k8s.api.storage.v1.StorageClass"


@functools.cache
def _columns() -> tuple[TableColumn, ...]:
    return (
        NAME_COLUMN,
        doc_column("Provisioner", _DEF, "provisioner"),
        doc_column("ReclaimPolicy", _DEF, "reclaimPolicy"),
        doc_column("VolumeBindingMode", _DEF, "volumeBindingMode"),
        doc_column("AllowVolumeExpansion", _DEF, "allowVolumeExpansion"),
        AGE_COLUMN,
    )


def is_default_class(obj: Object) -> bool:
    """Upstream ``IsDefaultAnnotation``: either annotation set to ``"true"``."""
    annotations = as_dict(as_dict(obj.get("metadata")).get("annotations"))
    return any(annotations.get(key) == "true" for key in DEFAULT_CLASS_ANNOTATIONS)


class StorageClassStrategy(BaseStrategy):
    info = ResourceInfo(
        group="storage.k8s.io", version="v1", resource="storageclasses", kind="StorageClass",
        singular="storageclass", namespaced=False, short_names=("sc",),
    )
    defaults = (("reclaimPolicy", "Delete"), ("volumeBindingMode", "Immediate"))

    def validate_spec(self, obj: Object) -> list[Cause]:
        causes: list[Cause] = []
        provisioner = obj.get("provisioner")
        if not provisioner:
            causes.append(required("provisioner"))
        elif not isinstance(provisioner, str):
            causes.append(invalid("provisioner", str(provisioner), "must be a string"))
        else:
            causes += [invalid("provisioner", provisioner.lower(), msg)
                       for msg in validation.qualified_name(provisioner.lower())]
        causes += validate_parameters(obj.get("parameters"), "parameters")
        policy = obj.get("reclaimPolicy")
        if policy and policy not in RECLAIM_POLICIES:
            causes.append(not_supported("reclaimPolicy", policy, RECLAIM_POLICIES))
        mode = obj.get("volumeBindingMode")
        if mode is None:
            causes.append(required("volumeBindingMode"))
        elif mode not in BINDING_MODES:
            causes.append(not_supported("volumeBindingMode", mode, BINDING_MODES))
        return causes + validate_allowed_topologies(obj.get("allowedTopologies"))

    def validate_spec_update(self, obj: Object, old: Object) -> list[Cause]:
        causes: list[Cause] = []
        for key in ("parameters", "provisioner", "reclaimPolicy"):
            if (obj.get(key) or None) != (old.get(key) or None):
                causes.append(forbidden(key, f"updates to {key} are forbidden."))
        return causes + validation.validate_immutable(obj.get("volumeBindingMode"), old.get("volumeBindingMode"),
                                                      "volumeBindingMode")

    def spec_changed(self, obj: Object, old: Object) -> bool:
        return False

    def table_columns(self) -> list[TableColumn]:
        return list(_columns())

    def table_row(self, obj: Object, now: float) -> list[Any]:
        name = str(as_dict(obj.get("metadata")).get("name") or "")
        if is_default_class(obj):
            name += " (default)"
        return [name, *self.row_cells(obj, now)]

    def row_cells(self, obj: Object, now: float) -> list[Any]:
        provisioner = obj.get("provisioner")
        return [provisioner if isinstance(provisioner, str) else "", str(obj.get("reclaimPolicy") or "Delete"),
                str(obj.get("volumeBindingMode") or "Immediate"), obj.get("allowVolumeExpansion") is True,
                age_cell(obj, now)]


def validate_parameters(params: Any, path: str) -> list[Cause]:
    """Upstream ``validateParameters`` (StorageClass, VolumeAttributesClass)."""
    if params is None:
        return []
    if not isinstance(params, dict):
        return [invalid(path, str(params), "must be a map of string keys to string values")]
    if len(params) > MAX_PARAMETERS:
        return [too_long(path, MAX_PARAMETERS)]
    causes = [invalid(path, key, "field can not be empty.") for key in params if not key]
    size = sum(len(str(k)) + len(str(v)) for k, v in params.items())
    if size > MAX_PARAMETERS_SIZE:
        causes.append(too_long(path, MAX_PARAMETERS_SIZE))
    return causes


def validate_allowed_topologies(terms: Any) -> list[Cause]:
    """Upstream ``validateAllowedTopologies`` over ``TopologySelectorTerm`` items."""
    causes: list[Cause] = []
    seen: list[dict[str, frozenset[str]]] = []
    for i, term in enumerate(as_list(terms)):
        path = f"allowedTopologies[{i}].matchLabelExpressions"
        keys: dict[str, frozenset[str]] = {}
        for j, req in enumerate(as_list(as_dict(term).get("matchLabelExpressions"))):
            req, rpath = as_dict(req), f"{path}[{j}]"
            values = [v for v in as_list(req.get("values"))]
            if not values:
                causes.append(required(f"{rpath}.values"))
            causes += [duplicate(f"{rpath}.values[{k}]", values[k]) for k in validation.each_duplicate(values)]
            key = req.get("key")
            causes += validation.validate_name(key if key is not None else "", f"{rpath}.key",
                                               validation.qualified_name)
            if isinstance(key, str) and key in keys:
                causes.append(duplicate(f"{rpath}.key", key))
            keys[str(key)] = frozenset(str(v) for v in values)
        if keys in seen:
            causes.append(duplicate(path, ""))
        seen.append(keys)
    return causes
