"""storage.k8s.io/v1 csistoragecapacities (namespaced): how much a CSI driver can provision for a storage
class in a topology segment, as its external-provisioner publishes it for the scheduler.

The fields sit at the top level (no ``spec``). Validation, as ``ValidateCSIStorageCapacity``: the name is
a DNS subdomain; ``nodeTopology`` is a valid label selector; ``storageClassName`` is a class name (a DNS
subdomain, so required); ``capacity`` is a non-negative quantity. ``nodeTopology`` and
``storageClassName`` are immutable. Table (upstream's, without Age): Name, StorageClassName, Capacity.
"""

from __future__ import annotations

import functools
from typing import Any

from sampan.api import validation
from sampan.api.errors import Cause, invalid
from sampan.api.quantity import PATTERN_MSG, parse_or_none
from sampan.api.resources import ResourceInfo
from sampan.apiserver.registry.base import NAME_COLUMN, BaseStrategy
from sampan.apiserver.registry.columns import doc_column
from sampan.apiserver.registry.labelselectors import validate_label_selector
from sampan.apiserver.registry.strategy import Object, TableColumn

_DEF = "io.k8s.api.storage.v1.CSIStorageCapacity"


@functools.cache
def _columns() -> tuple[TableColumn, ...]:
    return (NAME_COLUMN, doc_column("StorageClassName", _DEF, "storageClassName"),
            doc_column("Capacity", _DEF, "capacity"))


def validate_non_negative_quantity(value: Any, path: str) -> list[Cause]:
    """Upstream ``ValidateNonnegativeQuantity`` (malformed text is reported too, as sampan does elsewhere)."""
    if value is None:
        return []
    parsed = parse_or_none(value)
    if parsed is None:
        return [invalid(path, str(value), PATTERN_MSG)]
    if parsed < 0:
        return [invalid(path, str(value), "must be greater than or equal to 0")]
    return []


class CSIStorageCapacityStrategy(BaseStrategy):
    info = ResourceInfo(
        group="storage.k8s.io", version="v1", resource="csistoragecapacities", kind="CSIStorageCapacity",
        singular="csistoragecapacity", namespaced=True,
    )

    def validate_spec(self, obj: Object) -> list[Cause]:
        causes = validate_label_selector(obj.get("nodeTopology"), "nodeTopology")
        name = obj.get("storageClassName")
        causes += validation.validate_name(name if name is not None else "", "storageClassName",
                                           validation.dns1123_subdomain)
        return causes + validate_non_negative_quantity(obj.get("capacity"), "capacity")

    def validate_spec_update(self, obj: Object, old: Object) -> list[Cause]:
        causes: list[Cause] = []
        if obj.get("nodeTopology") != old.get("nodeTopology"):
            causes.append(invalid("nodeTopology", str(obj.get("nodeTopology")), validation.FIELD_IMMUTABLE))
        if obj.get("storageClassName") != old.get("storageClassName"):
            causes.append(invalid("storageClassName", obj.get("storageClassName") or "", validation.FIELD_IMMUTABLE))
        return causes

    def spec_changed(self, obj: Object, old: Object) -> bool:
        return False

    def table_columns(self) -> list[TableColumn]:
        return list(_columns())

    def row_cells(self, obj: Object, now: float) -> list[Any]:
        name = obj.get("storageClassName")
        capacity = obj.get("capacity")
        parsed = parse_or_none(capacity) if capacity is not None else None
        shown = "<unset>" if capacity is None else str(parsed) if parsed is not None else str(capacity)
        return [name if isinstance(name, str) else "", shown]
