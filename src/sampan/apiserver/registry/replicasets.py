"""apps/v1 replicasets: replicas default 1, selector matching the template, status via the status
subresource, ``status.replicas`` as a field selector, and the ``kubectl get rs`` table."""

from __future__ import annotations

from typing import Any, ClassVar

from sampan.api.errors import Cause
from sampan.api.resources import ResourceInfo
from sampan.apiserver.registry.base import AGE_COLUMN, NAME_COLUMN, BaseStrategy, age_cell, as_dict, as_int
from sampan.apiserver.registry.strategy import Object, TableColumn
from sampan.apiserver.registry.workloads import (
    CONTAINERS_COLUMN,
    IMAGES_COLUMN,
    SELECTOR_COLUMN,
    default_template,
    template_cells,
    validate_non_negative,
    validate_selector_and_template,
    validate_selector_unchanged,
)


class ReplicaSetStrategy(BaseStrategy):
    info = ResourceInfo(
        group="apps", version="v1", resource="replicasets", kind="ReplicaSet", singular="replicaset",
        namespaced=True, short_names=("rs",), categories=("all",), subresources=("scale", "status"),
    )
    has_status = True
    tracks_generation = True
    defaults = (("spec.replicas", 1),)
    selectable_fields = (("status.replicas", "status.replicas"),)
    columns: ClassVar[tuple[TableColumn, ...]] = (
        NAME_COLUMN,
        TableColumn("Desired", type="integer", description="Replicas is the number of desired pods. This is a "
                    "pointer to distinguish between explicit zero and unspecified. Defaults to 1."),
        TableColumn("Current", type="integer", description="Replicas is the most recently observed number of "
                    "replicas."),
        TableColumn("Ready", type="integer", description="The number of ready replicas for this replica set. A pod "
                    "is considered ready when it's Ready condition is true."),
        AGE_COLUMN,
        CONTAINERS_COLUMN,
        IMAGES_COLUMN,
        SELECTOR_COLUMN,
    )

    def initial_status(self, obj: Object) -> dict[str, Any] | None:
        return {"replicas": 0}

    def default(self, obj: Object) -> None:
        default_template(obj)

    def validate_spec(self, obj: Object) -> list[Cause]:
        spec = as_dict(obj.get("spec"))
        causes = validate_selector_and_template(spec, kind="replicaset", restart_policies=["Always"])
        return causes + validate_non_negative(spec, "replicas") + validate_non_negative(spec, "minReadySeconds")

    def validate_spec_update(self, obj: Object, old: Object) -> list[Cause]:
        return validate_selector_unchanged(as_dict(obj.get("spec")).get("selector"),
                                           as_dict(old.get("spec")).get("selector"))

    def field_values(self, obj: Object) -> dict[str, str]:
        values = dict(super().field_values(obj))
        values["status.replicas"] = str(as_int(as_dict(obj.get("status")).get("replicas")))
        return values

    def row_cells(self, obj: Object, now: float) -> list[Any]:
        spec, status = as_dict(obj.get("spec")), as_dict(obj.get("status"))
        return [as_int(spec.get("replicas")), as_int(status.get("replicas")), as_int(status.get("readyReplicas")),
                age_cell(obj, now), *template_cells(obj)]
