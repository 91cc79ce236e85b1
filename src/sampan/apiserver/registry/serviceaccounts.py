"""core/v1 serviceaccounts: names, referenced secrets; the SECRETS column counts ``secrets``."""

from __future__ import annotations

from typing import Any, ClassVar

from sampan.api import validation
from sampan.api.errors import Cause
from sampan.api.resources import ResourceInfo
from sampan.apiserver.registry.base import AGE_COLUMN, NAME_COLUMN, BaseStrategy, age_cell, as_dict, as_list
from sampan.apiserver.registry.strategy import Object, TableColumn


class ServiceAccountStrategy(BaseStrategy):
    info = ResourceInfo(
        group="", version="v1", resource="serviceaccounts", kind="ServiceAccount", singular="serviceaccount",
        namespaced=True, short_names=("sa",), subresources=("token",),
    )
    columns: ClassVar[tuple[TableColumn, ...]] = (
        NAME_COLUMN,
        TableColumn("Secrets", description="Secrets is a list of the secrets in the same namespace that pods "
                    "running using this ServiceAccount are allowed to use."),
        AGE_COLUMN,
    )

    def validate_spec(self, obj: Object) -> list[Cause]:
        causes: list[Cause] = []
        for field in ("secrets", "imagePullSecrets"):
            for i, ref in enumerate(as_list(obj.get(field))):
                name = as_dict(ref).get("name")
                if name:
                    causes += validation.validate_name(name, f"{field}[{i}].name", validation.dns1123_subdomain)
        return causes

    def spec_changed(self, obj: Object, old: Object) -> bool:
        return False

    def row_cells(self, obj: Object, now: float) -> list[Any]:
        return [len(as_list(obj.get("secrets"))), age_cell(obj, now)]
