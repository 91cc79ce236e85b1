"""storage.k8s.io/v1 csinodes (cluster-scoped, named after their Node): the CSI drivers a node has.

A node's kubelet writes it when CSI drivers register (sampan's kubelet has no CSI support, so none are
written for you). Validation, as ``ValidateCSINode``: the name is a node name; each driver has a
valid CSI driver name (unique in the list), a ``nodeID`` of 1-192 characters, non-empty, unique,
qualified-name ``topologyKeys`` and a non-negative ``allocatable.count``. On update, a driver present
before and after may not change at all (``spec.drivers: Invalid value: …: field is immutable``).
Table: Name, Drivers (how many), Age.
"""

from __future__ import annotations

from typing import Any, ClassVar

from sampan.api import validation
from sampan.api.errors import Cause, duplicate, invalid, required
from sampan.api.resources import ResourceInfo
from sampan.apiserver.registry.base import AGE_COLUMN, NAME_COLUMN, BaseStrategy, age_cell, as_dict, as_list
from sampan.apiserver.registry.csidrivers import validate_csi_driver_name
from sampan.apiserver.registry.strategy import Object, TableColumn

NODE_ID_MAX = 192


class CSINodeStrategy(BaseStrategy):
    info = ResourceInfo(
        group="storage.k8s.io", version="v1", resource="csinodes", kind="CSINode", singular="csinode",
        namespaced=False,
    )
    columns: ClassVar[tuple[TableColumn, ...]] = (
        NAME_COLUMN,
        TableColumn("Drivers", type="integer", description="Drivers indicates the number of CSI drivers registered "
                    "on the node"),
        AGE_COLUMN,
    )

    def validate_spec(self, obj: Object) -> list[Cause]:
        causes: list[Cause] = []
        names: set[str] = set()
        for i, driver in enumerate(as_list(as_dict(obj.get("spec")).get("drivers"))):
            causes += _validate_driver(as_dict(driver), f"spec.drivers[{i}]", names)
        return causes

    def validate_spec_update(self, obj: Object, old: Object) -> list[Cause]:
        new_drivers = [as_dict(d) for d in as_list(as_dict(obj.get("spec")).get("drivers"))]
        causes: list[Cause] = []
        for before in as_list(as_dict(old.get("spec")).get("drivers")):
            before = as_dict(before)
            for after in new_drivers:
                if after.get("name") == before.get("name"):
                    causes += validation.validate_immutable(after, before, "spec.drivers",
                                                                  go_type="storage.CSINodeDriver")
        return causes

    def row_cells(self, obj: Object, now: float) -> list[Any]:
        return [len(as_list(as_dict(obj.get("spec")).get("drivers"))), age_cell(obj, now)]


def _validate_driver(driver: dict[str, Any], path: str, names: set[str]) -> list[Cause]:
    name = driver.get("name")
    causes = validate_csi_driver_name(name if name is not None else "", f"{path}.name")
    node_id = driver.get("nodeID")
    if not node_id:
        causes.append(required(f"{path}.nodeID"))
    elif isinstance(node_id, str) and len(node_id) > NODE_ID_MAX:
        causes.append(invalid(f"{path}.nodeID", node_id, f"must be {NODE_ID_MAX} characters or less"))
    count = as_dict(driver.get("allocatable")).get("count")
    if isinstance(count, int) and not isinstance(count, bool) and count < 0:
        causes.append(invalid(f"{path}.allocatable.count", count, "must be greater than or equal to 0"))
    if isinstance(name, str):
        if name in names:
            causes.append(duplicate(f"{path}.name", name))
        names.add(name)
    keys: set[str] = set()
    for key in as_list(driver.get("topologyKeys")):
        if not key:
            causes.append(required(path))
        if isinstance(key, str) and key in keys:
            causes.append(duplicate(path, key))
        keys.add(str(key))
        causes += validation.validate_name(key if key is not None else "", path, validation.qualified_name)
    return causes
