"""coordination.k8s.io/v1 leases: leader election and node heartbeats. ``leaseDurationSeconds``
must be positive, ``leaseTransitions`` non-negative; the table shows the holder."""

from __future__ import annotations

from typing import Any, ClassVar

from sampan.api import humanize
from sampan.api.errors import Cause, invalid, not_supported
from sampan.api.resources import ResourceInfo
from sampan.apiserver.registry.base import AGE_COLUMN, NAME_COLUMN, BaseStrategy, age_cell, as_dict
from sampan.apiserver.registry.strategy import Object, TableColumn

STRATEGIES = ["OldestEmulationVersion"]


class LeaseStrategy(BaseStrategy):
    info = ResourceInfo(
        group="coordination.k8s.io", version="v1", resource="leases", kind="Lease", singular="lease",
        namespaced=True,
    )
    columns: ClassVar[tuple[TableColumn, ...]] = (
        NAME_COLUMN,
        TableColumn("Holder", description="holderIdentity contains the identity of the holder of a current "
                    "lease."),
        AGE_COLUMN,
    )

    def validate_spec(self, obj: Object) -> list[Cause]:
        spec = as_dict(obj.get("spec"))
        causes: list[Cause] = []
        duration = spec.get("leaseDurationSeconds")
        if duration is not None and (not _int(duration) or duration <= 0):
            causes.append(invalid("spec.leaseDurationSeconds", duration, "must be greater than 0"))
        transitions = spec.get("leaseTransitions")
        if transitions is not None and (not _int(transitions) or transitions < 0):
            causes.append(invalid("spec.leaseTransitions", transitions, "must be greater than or equal to 0"))
        for key in ("acquireTime", "renewTime"):
            value = spec.get(key)
            if value is not None and humanize.parse_rfc3339(value) is None:
                causes.append(invalid(f"spec.{key}", str(value), "must be an RFC 3339 timestamp"))
        strategy = spec.get("strategy")
        if strategy is not None and strategy not in STRATEGIES:
            causes.append(not_supported("spec.strategy", strategy, STRATEGIES))
        return causes

    def spec_changed(self, obj: Object, old: Object) -> bool:
        return False  # leases renew constantly; upstream keeps their generation unchanged

    def row_cells(self, obj: Object, now: float) -> list[Any]:
        return [str(as_dict(obj.get("spec")).get("holderIdentity") or ""), age_cell(obj, now)]


def _int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
