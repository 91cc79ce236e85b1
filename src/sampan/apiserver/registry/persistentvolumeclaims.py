"""core/v1 persistentvolumeclaims (``pvc``): defaults as upstream (volumeMode ``Filesystem``,
``status.phase: Pending`` on create), validation (access modes, a positive ``resources.requests.storage``,
volume mode, selector), the spec immutable after create except ``resources.requests`` (expansion) and
``volumeName`` when unset (the binder's write); the ``kubernetes.io/pvc-protection`` finalizer added on
create (upstream's StorageObjectInUseProtection admission, run here by the strategy); status via the
status subresource; the ``kubectl get pvc`` table (Name, Status, Volume, Capacity, Access Modes,
StorageClass, VolumeAttributesClass, Age, VolumeMode)."""

from __future__ import annotations

import copy
from typing import Any, ClassVar

from sampan.api.errors import Cause, forbidden, invalid, not_supported
from sampan.api.meta import add_finalizer
from sampan.api.resources import ResourceInfo
from sampan.api.selectors import LabelSelector
from sampan.api.volumes import PVC_PROTECTION
from sampan.apiserver.registry.base import AGE_COLUMN, NAME_COLUMN, BaseStrategy, age_cell, as_dict
from sampan.apiserver.registry.persistentvolumes import (
    VOLUME_MODES,
    access_modes_text,
    validate_access_modes,
    validate_storage,
)
from sampan.apiserver.registry.strategy import Object, TableColumn

_IMMUTABLE_MSG = "spec is immutable after creation except resources.requests and volumeAttributesClassName for " \
    "bound claims"


class PersistentVolumeClaimStrategy(BaseStrategy):
    info = ResourceInfo(
        group="", version="v1", resource="persistentvolumeclaims", kind="PersistentVolumeClaim",
        singular="persistentvolumeclaim", namespaced=True, short_names=("pvc",), subresources=("status",),
    )
    has_status = True
    defaults = (("spec.volumeMode", "Filesystem"),)
    columns: ClassVar[tuple[TableColumn, ...]] = (
        NAME_COLUMN,
        TableColumn("Status", description="Status of the claim"),
        TableColumn("Volume", description="Volume bound to the claim"),
        TableColumn("Capacity", description="Capacity of the claim"),
        TableColumn("Access Modes", description="Access modes of the claim"),
        TableColumn("StorageClass", description="StorageClass of the claim"),
        TableColumn("VolumeAttributesClass", description="VolumeAttributesClass of the claim"),
        AGE_COLUMN,
        TableColumn("VolumeMode", priority=1, description="Volume mode of the claim"),
    )

    def initial_status(self, obj: Object) -> dict[str, Any] | None:
        return {"phase": "Pending"}

    def prepare_for_create(self, obj: Object) -> None:
        super().prepare_for_create(obj)
        add_finalizer(obj, PVC_PROTECTION)

    def validate_spec(self, obj: Object) -> list[Cause]:
        spec = as_dict(obj.get("spec"))
        causes = validate_access_modes(spec.get("accessModes"), "spec.accessModes")
        causes += validate_storage(as_dict(spec.get("resources")).get("requests"), "spec.resources")
        if spec.get("volumeMode") not in VOLUME_MODES:
            causes.append(not_supported("spec.volumeMode", spec.get("volumeMode"), VOLUME_MODES))
        if spec.get("selector") is not None:
            try:
                LabelSelector.from_dict(spec["selector"])
            except ValueError as exc:
                causes.append(invalid("spec.selector", str(spec["selector"]), str(exc)))
        return causes

    def validate_spec_update(self, obj: Object, old: Object) -> list[Cause]:
        new, prev = copy.deepcopy(as_dict(obj.get("spec"))), copy.deepcopy(as_dict(old.get("spec")))
        for spec in (new, prev):
            as_dict(spec.get("resources")).pop("requests", None)
            spec.pop("volumeAttributesClassName", None)
        if not prev.get("volumeName"):
            new.pop("volumeName", None)
            prev.pop("volumeName", None)
        if not prev.get("storageClassName"):  # the binder's retroactive default class
            new.pop("storageClassName", None)
            prev.pop("storageClassName", None)
        if new != prev:
            return [forbidden("spec", _IMMUTABLE_MSG)]
        return []

    def row_cells(self, obj: Object, now: float) -> list[Any]:
        spec, status = as_dict(obj.get("spec")), as_dict(obj.get("status"))
        phase = "Terminating" if as_dict(obj.get("metadata")).get("deletionTimestamp") else status.get("phase", "")
        return [phase, spec.get("volumeName", ""), as_dict(status.get("capacity")).get("storage", ""),
                access_modes_text(status.get("accessModes")), spec.get("storageClassName", ""),
                spec.get("volumeAttributesClassName") or "<unset>", age_cell(obj, now),
                spec.get("volumeMode") or "<unset>"]
