"""core/v1 persistentvolumes (``pv``, cluster-scoped): defaults as upstream (reclaim policy ``Retain``,
volumeMode ``Filesystem``, ``status.phase: Pending`` on create), validation of capacity (one
``storage`` quantity), access modes, exactly one volume source, reclaim policy, volume mode (immutable)
and ``claimRef``; the ``kubernetes.io/pv-protection`` finalizer added on create (upstream's admission
plugin, run here by the strategy); status via the status subresource; the ``kubectl get pv`` table
(Name, Capacity, Access Modes, Reclaim Policy, Status, Claim, StorageClass, VolumeAttributesClass,
Reason, Age, VolumeMode)."""

from __future__ import annotations

from typing import Any, ClassVar

from sampan.api import validation
from sampan.api.errors import Cause, invalid, not_supported, required
from sampan.api.meta import add_finalizer
from sampan.api.quantity import parse_or_none
from sampan.api.resources import ResourceInfo
from sampan.api.volumes import PV_PROTECTION
from sampan.apiserver.registry.base import AGE_COLUMN, NAME_COLUMN, BaseStrategy, age_cell, as_dict, as_list
from sampan.apiserver.registry.strategy import Object, TableColumn

ACCESS_MODES = ["ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod"]
RECLAIM_POLICIES = ["Delete", "Recycle", "Retain"]
VOLUME_MODES = ["Block", "Filesystem"]
VOLUME_SOURCES = ("hostPath", "local", "nfs", "csi", "iscsi", "fc", "gcePersistentDisk", "awsElasticBlockStore",
                  "azureDisk", "azureFile", "cephfs", "rbd", "cinder", "flexVolume", "flocker", "glusterfs",
                  "photonPersistentDisk", "portworxVolume", "quobyte", "scaleIO", "storageos", "vsphereVolume")


def access_modes_text(modes: Any) -> str:
    """Upstream's ``GetAccessModesAsString``: RWO,ROX,RWX,RWOP in that fixed order."""
    short = {"ReadWriteOnce": "RWO", "ReadOnlyMany": "ROX", "ReadWriteMany": "RWX", "ReadWriteOncePod": "RWOP"}
    present = set(as_list(modes))
    return ",".join(v for k, v in short.items() if k in present)


def validate_access_modes(modes: Any, path: str) -> list[Cause]:
    causes: list[Cause] = []
    if not as_list(modes):
        causes.append(required(path))
    for mode in as_list(modes):
        if mode not in ACCESS_MODES:
            causes.append(not_supported(path, mode, ACCESS_MODES))
    if "ReadWriteOncePod" in as_list(modes) and len(as_list(modes)) > 1:
        causes.append(Cause("FieldValueForbidden", path,
                            "Forbidden: may not use ReadWriteOncePod with other access modes"))
    return causes


def validate_storage(resources: Any, path: str) -> list[Cause]:
    """``resources`` must hold a positive ``storage`` quantity."""
    storage = as_dict(resources).get("storage")
    if storage is None:
        return [required(f"{path}[storage]")]
    q = parse_or_none(storage)
    if q is None:
        return [invalid(f"{path}[storage]", storage, "quantities must match the regular expression "
                        "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")]
    if q < 1:
        return [invalid(f"{path}[storage]", storage, "must be greater than zero")]
    return []


class PersistentVolumeStrategy(BaseStrategy):
    info = ResourceInfo(
        group="", version="v1", resource="persistentvolumes", kind="PersistentVolume",
        singular="persistentvolume", namespaced=False, short_names=("pv",), subresources=("status",),
    )
    has_status = True
    defaults = (("spec.persistentVolumeReclaimPolicy", "Retain"), ("spec.volumeMode", "Filesystem"))
    columns: ClassVar[tuple[TableColumn, ...]] = (
        NAME_COLUMN,
        TableColumn("Capacity", description="Capacity of the volume"),
        TableColumn("Access Modes", description="Access modes of the volume"),
        TableColumn("Reclaim Policy", description="Reclaim policy of the volume"),
        TableColumn("Status", description="Status of the volume"),
        TableColumn("Claim", description="Claim bound to the volume"),
        TableColumn("StorageClass", description="StorageClass of the volume"),
        TableColumn("VolumeAttributesClass", description="VolumeAttributesClass of the volume"),
        TableColumn("Reason", description="Reason of the volume status"),
        AGE_COLUMN,
        TableColumn("VolumeMode", priority=1, description="Volume mode of the volume"),
    )
    selectable_fields = (("status.phase", "status.phase"),)

    def initial_status(self, obj: Object) -> dict[str, Any] | None:
        return {"phase": "Pending"}

    def prepare_for_create(self, obj: Object) -> None:
        super().prepare_for_create(obj)
        add_finalizer(obj, PV_PROTECTION)

    def validate_spec(self, obj: Object) -> list[Cause]:
        spec = as_dict(obj.get("spec"))
        causes = validate_access_modes(spec.get("accessModes"), "spec.accessModes")
        causes += validate_storage(spec.get("capacity"), "spec.capacity")
        sources = [k for k in VOLUME_SOURCES if spec.get(k) is not None]
        if not sources:
            causes.append(required("spec"))
            causes[-1] = Cause("FieldValueRequired", "spec", "Required value: must specify a volume type")
        elif len(sources) > 1:
            causes.append(Cause("FieldValueForbidden", f"spec.{sources[1]}",
                                "Forbidden: may not specify more than 1 volume type"))
        host_path = as_dict(spec.get("hostPath")).get("path") if "hostPath" in sources else None
        if "hostPath" in sources and not host_path:
            causes.append(required("spec.hostPath.path"))
        if "local" in sources:
            if not as_dict(spec.get("local")).get("path"):
                causes.append(required("spec.local.path"))
            if not as_dict(spec.get("nodeAffinity")).get("required"):
                causes.append(required("spec.nodeAffinity"))
        policy = spec.get("persistentVolumeReclaimPolicy")
        if policy not in RECLAIM_POLICIES:
            causes.append(not_supported("spec.persistentVolumeReclaimPolicy", policy, RECLAIM_POLICIES))
        if spec.get("volumeMode") not in VOLUME_MODES:
            causes.append(not_supported("spec.volumeMode", spec.get("volumeMode"), VOLUME_MODES))
        claim_ref = spec.get("claimRef")
        if claim_ref is not None and not as_dict(claim_ref).get("name"):
            causes.append(required("spec.claimRef.name"))
        return causes

    def validate_spec_update(self, obj: Object, old: Object) -> list[Cause]:
        new, prev = as_dict(obj.get("spec")), as_dict(old.get("spec"))
        return validation.validate_immutable(new.get("volumeMode"), prev.get("volumeMode"), "volumeMode")

    def row_cells(self, obj: Object, now: float) -> list[Any]:
        spec, status = as_dict(obj.get("spec")), as_dict(obj.get("status"))
        ref = as_dict(spec.get("claimRef"))
        claim = f"{ref.get('namespace', '')}/{ref.get('name')}" if ref.get("name") else ""
        return [as_dict(spec.get("capacity")).get("storage", ""), access_modes_text(spec.get("accessModes")),
                spec.get("persistentVolumeReclaimPolicy", ""), status.get("phase", ""), claim,
                spec.get("storageClassName", ""), spec.get("volumeAttributesClassName") or "<unset>",
                status.get("reason", ""), age_cell(obj, now), spec.get("volumeMode") or "<unset>"]
