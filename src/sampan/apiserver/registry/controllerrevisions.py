"""apps/v1 controllerrevisions: immutable snapshots of a DaemonSet's or StatefulSet's template.

Validation as upstream: ``revision`` is a non-negative integer and ``data`` may not change after create.
Table: Name, Controller (``<kind>.<group>/<name>`` of the controller owner reference), Revision, Age."""

from __future__ import annotations

from typing import Any, ClassVar

from sampan.api import validation
from sampan.api.errors import Cause, invalid
from sampan.api.resources import ResourceInfo
from sampan.apiserver.registry.base import AGE_COLUMN, NAME_COLUMN, BaseStrategy, age_cell, as_dict, as_list
from sampan.apiserver.registry.strategy import Object, TableColumn


class ControllerRevisionStrategy(BaseStrategy):
    info = ResourceInfo(
        group="apps", version="v1", resource="controllerrevisions", kind="ControllerRevision",
        singular="controllerrevision", namespaced=True,
    )
    columns: ClassVar[tuple[TableColumn, ...]] = (
        NAME_COLUMN,
        TableColumn("Controller", description="The owner of this ControllerRevision."),
        TableColumn("Revision", type="integer", description="Revision indicates the revision of the state "
                    "represented by Data."),
        AGE_COLUMN,
    )

    def validate_spec(self, obj: Object) -> list[Cause]:
        revision = obj.get("revision", 0)
        if isinstance(revision, bool) or not isinstance(revision, int) or revision < 0:
            return [invalid("revision", revision, "must be greater than or equal to 0")]
        return []

    def validate_spec_update(self, obj: Object, old: Object) -> list[Cause]:
        return validation.validate_immutable(obj.get("data"), old.get("data"), "data",
                                             go_type="runtime.RawExtension")

    def spec_changed(self, obj: Object, old: Object) -> bool:
        return False

    def row_cells(self, obj: Object, now: float) -> list[Any]:
        owner = "<none>"
        for ref in as_list(as_dict(obj.get("metadata")).get("ownerReferences")):
            ref = as_dict(ref)
            if ref.get("controller"):
                group = str(ref.get("apiVersion", "")).rpartition("/")[0]
                owner = f"{str(ref.get('kind', '')).lower()}.{group}/{ref.get('name')}" if group else \
                    f"{str(ref.get('kind', '')).lower()}/{ref.get('name')}"
        return [owner, int(obj.get("revision") or 0), age_cell(obj, now)]
