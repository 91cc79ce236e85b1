"""core/v1 configmaps: ``data`` and ``binaryData`` with config-key names, 1 MiB total, and
``immutable: true`` freezing the content (and itself)."""

from __future__ import annotations

from typing import Any, ClassVar

from sampan.api import validation
from sampan.api.errors import Cause, forbidden, invalid
from sampan.api.resources import ResourceInfo
from sampan.apiserver.registry.base import AGE_COLUMN, NAME_COLUMN, BaseStrategy, age_cell, as_dict
from sampan.apiserver.registry.strategy import Object, TableColumn

MAX_TOTAL_BYTES = 1024 * 1024
IMMUTABLE_MSG = "field is immutable when `immutable` is set"


class ConfigMapStrategy(BaseStrategy):
    info = ResourceInfo(
        group="", version="v1", resource="configmaps", kind="ConfigMap", singular="configmap",
        namespaced=True, short_names=("cm",),
    )
    columns: ClassVar[tuple[TableColumn, ...]] = (
        NAME_COLUMN,
        TableColumn(
            "Data", type="string",
            description="Data contains the configuration data. Each key must consist of alphanumeric characters, "
            "'-', '_' or '.'. Values with non-UTF-8 byte sequences must use the BinaryData field. The keys "
            "stored in Data must not overlap with the keys in the BinaryData field, this is enforced during "
            "validation process.",
        ),
        AGE_COLUMN,
    )

    def validate_spec(self, obj: Object) -> list[Cause]:
        return validate_key_maps(obj, ("data", "binaryData"), limit=MAX_TOTAL_BYTES, limit_path="")

    def validate_spec_update(self, obj: Object, old: Object) -> list[Cause]:
        return validate_immutable_content(obj, old, ("data", "binaryData"))

    def spec_changed(self, obj: Object, old: Object) -> bool:
        return False

    def row_cells(self, obj: Object, now: float) -> list[Any]:
        return [len(as_dict(obj.get("data"))) + len(as_dict(obj.get("binaryData"))), age_cell(obj, now)]


def validate_key_maps(obj: Object, fields: tuple[str, ...], *, limit: int | None, limit_path: str) -> list[Cause]:
    """Keys are config keys, values strings, no key in two maps; total value bytes ≤ ``limit`` (None:
    no size check)."""
    causes: list[Cause] = []
    seen: dict[str, str] = {}
    total = 0
    for field in fields:
        value = obj.get(field)
        if value is None:
            continue
        if not isinstance(value, dict):
            causes.append(invalid(field, str(value), "must be a map of string keys to string values"))
            continue
        for key, val in value.items():
            path = f"{field}[{key}]"
            causes += [invalid(path, key, msg) for msg in validation.config_map_key(key)]
            if key in seen:
                causes.append(invalid(path, key, f"duplicate of key present in {seen[key]}"))
            seen.setdefault(key, field)
            if not isinstance(val, str):
                causes.append(invalid(path, str(val), "must be a string"))
                continue
            total += len(val)
    if limit is not None and total > limit:
        causes.append(Cause("FieldValueTooLong", limit_path, f"Too long: must have at most {limit} bytes"))
    return causes


def validate_immutable_content(obj: Object, old: Object, fields: tuple[str, ...]) -> list[Cause]:
    """Upstream's rule for immutable configmaps and secrets."""
    if old.get("immutable") is not True:
        return []
    causes = []
    if obj.get("immutable") is not True:
        causes.append(forbidden("immutable", IMMUTABLE_MSG))
    for field in fields:
        if (obj.get(field) or {}) != (old.get(field) or {}):
            causes.append(forbidden(field, IMMUTABLE_MSG))
    return causes
