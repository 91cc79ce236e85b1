"""storage.k8s.io/v1 csidrivers (cluster-scoped): how Kubernetes talks to an installed CSI volume driver.

sampan's kubelet has no CSI support: drivers are stored, validated and listed only. Defaults, as
upstream's ``SetDefaults_CSIDriver``: ``attachRequired: true``, ``podInfoOnMount: false``,
``storageCapacity: false``, ``fsGroupPolicy: ReadWriteOnceWithFSType``, ``volumeLifecycleModes:
[Persistent]``, ``requiresRepublish: false``, ``seLinuxMount: false``. Validation, as
``ValidateCSIDriver``: the name is a DNS subdomain; the defaulted booleans are required; ``fsGroupPolicy``
and the lifecycle modes are known values; token-request audiences are unique and their
``expirationSeconds`` lie in [600, 2^32]. ``attachRequired`` (reported as upstream does, at
``spec.attachedRequired``) and ``volumeLifecycleModes`` are immutable. Table: Name, AttachRequired,
PodInfoOnMount, StorageCapacity, TokenRequests, RequiresRepublish, Modes, Age.
"""

from __future__ import annotations

import functools
from typing import Any

from sampan.api import validation
from sampan.api.errors import Cause, duplicate, invalid, not_supported, required
from sampan.api.resources import ResourceInfo
from sampan.apiserver.registry.base import AGE_COLUMN, NAME_COLUMN, BaseStrategy, age_cell, as_dict, as_list
from sampan.apiserver.registry.columns import doc_column
from sampan.apiserver.registry.strategy import Object, TableColumn

FS_GROUP_POLICIES = ["File", "None", "ReadWriteOnceWithFSType"]
LIFECYCLE_MODES = ["Persistent", "Ephemeral"]
MIN_TOKEN_SECONDS = 600
MAX_TOKEN_SECONDS = 1 << 32
CSI_DRIVER_NAME_MAX = 63
_SPEC = "io.k8s.api.storage.v1.CSIDriverSpec"


@functools.cache
def _columns() -> tuple[TableColumn, ...]:
    return (
        NAME_COLUMN,
        doc_column("AttachRequired", _SPEC, "attachRequired", type="boolean"),
        doc_column("PodInfoOnMount", _SPEC, "podInfoOnMount", type="boolean"),
        doc_column("StorageCapacity", _SPEC, "storageCapacity", type="boolean"),
        doc_column("TokenRequests", _SPEC, "tokenRequests"),
        doc_column("RequiresRepublish", _SPEC, "requiresRepublish", type="boolean"),
        doc_column("Modes", _SPEC, "volumeLifecycleModes"),
        AGE_COLUMN,
    )


def validate_csi_driver_name(name: Any, path: str) -> list[Cause]:
    """Upstream core ``ValidateCSIDriverName`` (CSINode drivers, VolumeAttachment attachers): required, at
    most 63 characters, a DNS subdomain once lower-cased."""
    if not isinstance(name, str):
        return [invalid(path, str(name), "must be a string")]
    causes: list[Cause] = []
    if not name:
        causes.append(required(path))
    if len(name) > CSI_DRIVER_NAME_MAX:
        causes.append(Cause("FieldValueTooLong", path, f"Too long: may not be more than {CSI_DRIVER_NAME_MAX} bytes"))
    return causes + [invalid(path, name, msg) for msg in validation.dns1123_subdomain(name.lower())]


class CSIDriverStrategy(BaseStrategy):
    info = ResourceInfo(
        group="storage.k8s.io", version="v1", resource="csidrivers", kind="CSIDriver", singular="csidriver",
        namespaced=False,
    )
    defaults = (
        ("spec.attachRequired", True), ("spec.podInfoOnMount", False), ("spec.storageCapacity", False),
        ("spec.fsGroupPolicy", "ReadWriteOnceWithFSType"), ("spec.requiresRepublish", False),
        ("spec.seLinuxMount", False),
    )

    def default(self, obj: Object) -> None:
        spec = obj.get("spec")
        if isinstance(spec, dict) and not spec.get("volumeLifecycleModes"):
            spec["volumeLifecycleModes"] = ["Persistent"]

    def validate_spec(self, obj: Object) -> list[Cause]:
        spec = as_dict(obj.get("spec"))
        causes: list[Cause] = []
        for key, path in (("attachRequired", "spec.attachedRequired"), ("podInfoOnMount", "spec.podInfoOnMount"),
                          ("storageCapacity", "spec.storageCapacity"), ("seLinuxMount", "spec.seLinuxMount")):
            if spec.get(key) is None:
                causes.append(required(path))
        policy = spec.get("fsGroupPolicy")
        if policy is not None and policy not in FS_GROUP_POLICIES:
            causes.append(not_supported("spec.fsGroupPolicy", policy, FS_GROUP_POLICIES))
        causes += validate_token_requests(as_list(spec.get("tokenRequests")))
        for mode in as_list(spec.get("volumeLifecycleModes")):
            if mode not in LIFECYCLE_MODES:
                causes.append(not_supported("spec.volumeLifecycleModes", mode, LIFECYCLE_MODES))
        return causes

    def validate_spec_update(self, obj: Object, old: Object) -> list[Cause]:
        new_spec, old_spec = as_dict(obj.get("spec")), as_dict(old.get("spec"))
        causes = validation.validate_immutable(new_spec.get("attachRequired"), old_spec.get("attachRequired"),
                                               "spec.attachedRequired")
        return causes + validation.validate_immutable(new_spec.get("volumeLifecycleModes"),
                                                      old_spec.get("volumeLifecycleModes"),
                                                      "spec.volumeLifecycleModes",
                                                      go_type="[]storage.VolumeLifecycleMode")

    def spec_changed(self, obj: Object, old: Object) -> bool:
        return False

    def table_columns(self) -> list[TableColumn]:
        return list(_columns())

    def row_cells(self, obj: Object, now: float) -> list[Any]:
        spec = as_dict(obj.get("spec"))
        tokens = spec.get("tokenRequests")
        shown_tokens = "<unset>" if tokens is None else ",".join(
            str(as_dict(t).get("audience") or "") for t in as_list(tokens))
        modes = ",".join(str(m) for m in as_list(spec.get("volumeLifecycleModes"))) or "<none>"
        return [spec.get("attachRequired") is not False, spec.get("podInfoOnMount") is True,
                spec.get("storageCapacity") is True, shown_tokens, spec.get("requiresRepublish") is True, modes,
                age_cell(obj, now)]


def validate_token_requests(requests: list[Any]) -> list[Cause]:
    """Upstream ``validateTokenRequests``: unique audiences, expirations of 10 minutes to 2^32 seconds."""
    causes: list[Cause] = []
    seen: set[str] = set()
    for i, request in enumerate(requests):
        request, path = as_dict(request), f"spec.tokenRequests[{i}]"
        audience = str(request.get("audience") or "")
        if audience in seen:
            causes.append(duplicate(f"{path}.audience", audience))
            continue
        seen.add(audience)
        seconds = request.get("expirationSeconds")
        if not isinstance(seconds, int) or isinstance(seconds, bool):
            continue
        if seconds < MIN_TOKEN_SECONDS:
            causes.append(invalid(f"{path}.expirationSeconds", seconds, "may not specify a duration less than 10 "
                                  "minutes"))
        if seconds > MAX_TOKEN_SECONDS:
            causes.append(invalid(f"{path}.expirationSeconds", seconds, "may not specify a duration larger than "
                                  "2^32 seconds"))
    return causes
