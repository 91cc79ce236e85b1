"""scheduling.k8s.io/v1 priorityclasses: named pod priorities (cluster-scoped).

Validation, as upstream: ``value`` is required and may not exceed 1,000,000,000 for user classes; names
starting with ``system-`` are reserved for the built-ins (``system-node-critical`` 2000001000,
``system-cluster-critical`` 2000000000, created at start by :mod:`sampan.apiserver.admission.priority`)
and these keep their exact values; ``value`` and ``preemptionPolicy`` are immutable;
``preemptionPolicy`` is ``PreemptLowerPriority`` (default) or ``Never``. At most one class should be
``globalDefault`` (upstream's admission rejects a second one; see the admission module).
"""

from __future__ import annotations

from typing import Any, ClassVar

from sampan.api.errors import Cause, forbidden, invalid, not_supported, required
from sampan.api.resources import ResourceInfo
from sampan.apiserver.registry.base import AGE_COLUMN, NAME_COLUMN, BaseStrategy, age_cell
from sampan.apiserver.registry.strategy import Object, TableColumn

HIGHEST_USER_DEFINABLE_PRIORITY = 1_000_000_000
SYSTEM_CRITICAL_PRIORITY = 2 * HIGHEST_USER_DEFINABLE_PRIORITY
SYSTEM_PRIORITY_CLASSES = {
    "system-node-critical": (SYSTEM_CRITICAL_PRIORITY + 1000,
                             "Used for system critical pods that must not be moved from their current node."),
    "system-cluster-critical": (SYSTEM_CRITICAL_PRIORITY,
                                "Used for system critical pods that must run in the cluster, but can be moved to "
                                "another node if necessary."),
}
PREEMPTION_POLICIES = ["Never", "PreemptLowerPriority"]
IMMUTABLE = "field is immutable"


def _int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class PriorityClassStrategy(BaseStrategy):
    info = ResourceInfo(
        group="scheduling.k8s.io", version="v1", resource="priorityclasses", kind="PriorityClass",
        singular="priorityclass", namespaced=False, short_names=("pc",),
    )
    defaults = (("preemptionPolicy", "PreemptLowerPriority"),)
    columns: ClassVar[tuple[TableColumn, ...]] = (
        NAME_COLUMN,
        TableColumn("Value", type="integer", description="value represents the integer value of this priority "
                    "class. This is the actual priority that pods receive when they have the name of this class "
                    "in their pod spec."),
        TableColumn("Global-Default", type="boolean", description="globalDefault specifies whether this "
                    "PriorityClass should be considered as the default priority for pods that do not have any "
                    "priority class."),
        AGE_COLUMN,
        TableColumn("PreemptionPolicy", description="preemptionPolicy is the Policy for preempting pods with "
                    "lower priority."),
    )

    def validate_spec(self, obj: Object) -> list[Cause]:
        causes: list[Cause] = []
        name = obj.get("metadata", {}).get("name") or ""
        value = obj.get("value")
        if value is None:
            causes.append(required("value"))
        elif not _int(value):
            causes.append(invalid("value", value, "must be an integer"))
        elif name.startswith("system-"):
            builtin = SYSTEM_PRIORITY_CLASSES.get(name)
            if builtin is None:
                causes.append(forbidden("metadata.name", "priority class names with 'system-' prefix are reserved "
                                        "for system use only"))
            elif value != builtin[0]:
                causes.append(forbidden("value", f"value of {name} PriorityClass must be {builtin[0]}"))
        elif value > HIGHEST_USER_DEFINABLE_PRIORITY:
            causes.append(invalid("value", value, f"must be less than or equal to {HIGHEST_USER_DEFINABLE_PRIORITY}"))
        policy = obj.get("preemptionPolicy")
        if policy is not None and policy not in PREEMPTION_POLICIES:
            causes.append(not_supported("preemptionPolicy", policy, PREEMPTION_POLICIES))
        gd = obj.get("globalDefault")
        if gd is not None and not isinstance(gd, bool):
            causes.append(invalid("globalDefault", gd, "must be a boolean"))
        return causes

    def validate_spec_update(self, obj: Object, old: Object) -> list[Cause]:
        causes: list[Cause] = []
        if obj.get("value") != old.get("value"):
            causes.append(forbidden("value", "may not be changed in an update."))
        if obj.get("preemptionPolicy") != old.get("preemptionPolicy"):
            causes.append(invalid("preemptionPolicy", obj.get("preemptionPolicy"), IMMUTABLE))
        return causes

    def spec_changed(self, obj: Object, old: Object) -> bool:
        return False

    def row_cells(self, obj: Object, now: float) -> list[Any]:
        return [obj.get("value", 0), bool(obj.get("globalDefault")), age_cell(obj, now),
                obj.get("preemptionPolicy") or ""]
