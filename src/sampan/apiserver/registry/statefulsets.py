"""apps/v1 statefulsets (``sts``): defaults as upstream (replicas 1, podManagementPolicy OrderedReady,
updateStrategy RollingUpdate with partition 0, revisionHistoryLimit 10, persistentVolumeClaimRetentionPolicy
Retain/Retain, the claim templates' volumeMode Filesystem), selector/template validation, the fields
upstream lets change (replicas, template, updateStrategy, persistentVolumeClaimRetentionPolicy,
minReadySeconds, ordinals) — everything else in ``spec`` is ``Forbidden``, status and scale subresources,
and the ``kubectl get sts`` table (Name, Ready, Age, Containers, Images)."""

from __future__ import annotations

from typing import Any, ClassVar

from sampan.api.errors import Cause, forbidden, invalid, not_supported
from sampan.api.resources import ResourceInfo
from sampan.apiserver.registry.base import AGE_COLUMN, NAME_COLUMN, BaseStrategy, age_cell, as_dict, as_int, as_list
from sampan.apiserver.registry.strategy import Object, TableColumn
from sampan.apiserver.registry.workloads import (
    CONTAINERS_COLUMN,
    IMAGES_COLUMN,
    default_template,
    template_cells,
    validate_non_negative,
    validate_selector_and_template,
)

POD_MANAGEMENT_POLICIES = ["OrderedReady", "Parallel"]
UPDATE_STRATEGIES = ["OnDelete", "RollingUpdate"]
RETENTION_POLICIES = ["Delete", "Retain"]
MUTABLE_SPEC_FIELDS = ("replicas", "ordinals", "template", "updateStrategy", "persistentVolumeClaimRetentionPolicy",
                       "minReadySeconds")
_FORBIDDEN_MSG = ("updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', "
                  "'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden")


def _with_claim_volumes(spec: dict[str, Any]) -> dict[str, Any]:
    """The spec as validated: each claim template stands for a pod volume of its name (mounts may use it)."""
    names = [as_dict(as_dict(t).get("metadata")).get("name") for t in as_list(spec.get("volumeClaimTemplates"))]
    template = as_dict(spec.get("template"))
    pod_spec = as_dict(template.get("spec"))
    if not names or not pod_spec:
        return spec
    volumes = [v for v in as_list(pod_spec.get("volumes")) if as_dict(v).get("name") not in names]
    volumes += [{"name": n, "persistentVolumeClaim": {"claimName": n}} for n in names if isinstance(n, str) and n]
    return {**spec, "template": {**template, "spec": {**pod_spec, "volumes": volumes}}}


def _immutable_part(spec: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in spec.items() if k not in MUTABLE_SPEC_FIELDS}


class StatefulSetStrategy(BaseStrategy):
    info = ResourceInfo(
        group="apps", version="v1", resource="statefulsets", kind="StatefulSet", singular="statefulset",
        namespaced=True, short_names=("sts",), categories=("all",), subresources=("scale", "status"),
    )
    has_status = True
    tracks_generation = True
    defaults = (
        ("spec.replicas", 1),
        ("spec.podManagementPolicy", "OrderedReady"),
        ("spec.updateStrategy.type", "RollingUpdate"),
        ("spec.revisionHistoryLimit", 10),
        ("spec.persistentVolumeClaimRetentionPolicy.whenDeleted", "Retain"),
        ("spec.persistentVolumeClaimRetentionPolicy.whenScaled", "Retain"),
    )
    columns: ClassVar[tuple[TableColumn, ...]] = (
        NAME_COLUMN,
        TableColumn("Ready", description="Number of the pod with ready state"),
        AGE_COLUMN,
        CONTAINERS_COLUMN,
        IMAGES_COLUMN,
    )

    def initial_status(self, obj: Object) -> dict[str, Any] | None:
        return {"replicas": 0, "availableReplicas": 0}

    def default(self, obj: Object) -> None:
        spec = as_dict(obj.get("spec"))
        strategy = as_dict(spec.get("updateStrategy"))
        if strategy.get("type") == "RollingUpdate":
            rolling = strategy.get("rollingUpdate")
            if not isinstance(rolling, dict):
                rolling = strategy["rollingUpdate"] = {}
            rolling.setdefault("partition", 0)
        for claim in as_list(spec.get("volumeClaimTemplates")):
            if isinstance(claim, dict):
                cspec = claim.setdefault("spec", {})
                if isinstance(cspec, dict):
                    cspec.setdefault("volumeMode", "Filesystem")
                claim.setdefault("apiVersion", "v1")
                claim.setdefault("kind", "PersistentVolumeClaim")
        default_template(obj)

    def validate_spec(self, obj: Object) -> list[Cause]:
        spec = as_dict(obj.get("spec"))
        causes = validate_selector_and_template(_with_claim_volumes(spec), kind="statefulset",
                                                restart_policies=["Always"])
        for key in ("replicas", "revisionHistoryLimit", "minReadySeconds"):
            causes += validate_non_negative(spec, key)
        policy = spec.get("podManagementPolicy")
        if policy not in POD_MANAGEMENT_POLICIES:
            causes.append(not_supported("spec.podManagementPolicy", policy, POD_MANAGEMENT_POLICIES))
        strategy = as_dict(spec.get("updateStrategy"))
        stype = strategy.get("type")
        if stype not in UPDATE_STRATEGIES:
            causes.append(not_supported("spec.updateStrategy.type", stype, UPDATE_STRATEGIES))
        elif stype == "OnDelete" and strategy.get("rollingUpdate") is not None:
            causes.append(invalid("spec.updateStrategy.rollingUpdate", strategy["rollingUpdate"],
                                  "only allowed for updateStrategy 'RollingUpdate'"))
        rolling = as_dict(strategy.get("rollingUpdate"))
        partition = rolling.get("partition")
        if partition is not None and (not isinstance(partition, int) or partition < 0):
            causes.append(invalid("spec.updateStrategy.rollingUpdate.partition", partition,
                                  "must be greater than or equal to 0"))
        unavailable = rolling.get("maxUnavailable")
        if isinstance(unavailable, int) and unavailable < 1:
            causes.append(invalid("spec.updateStrategy.rollingUpdate.maxUnavailable", unavailable,
                                  "must be greater than 0"))
        retention = as_dict(spec.get("persistentVolumeClaimRetentionPolicy"))
        for key in ("whenDeleted", "whenScaled"):
            if retention.get(key) not in RETENTION_POLICIES:
                causes.append(not_supported(f"spec.persistentVolumeClaimRetentionPolicy.{key}", retention.get(key),
                                            RETENTION_POLICIES))
        for i, claim in enumerate(as_list(spec.get("volumeClaimTemplates"))):
            name = as_dict(as_dict(claim).get("metadata")).get("name")
            if not name:
                causes.append(Cause("FieldValueRequired", f"spec.volumeClaimTemplates[{i}].metadata.name",
                                    "Required value: name or generateName is required"))
        return causes

    def validate_spec_update(self, obj: Object, old: Object) -> list[Cause]:
        new_spec, old_spec = as_dict(obj.get("spec")), as_dict(old.get("spec"))
        if _immutable_part(new_spec) != _immutable_part(old_spec):
            return [forbidden("spec", _FORBIDDEN_MSG)]
        return []

    def row_cells(self, obj: Object, now: float) -> list[Any]:
        spec, status = as_dict(obj.get("spec")), as_dict(obj.get("status"))
        ready = f"{as_int(status.get('readyReplicas'))}/{as_int(spec.get('replicas'))}"
        return [ready, age_cell(obj, now), *template_cells(obj)[:2]]
