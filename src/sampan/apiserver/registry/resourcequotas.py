"""core/v1 resourcequotas: per-namespace limits on object counts and resource totals.

Validation, as upstream: every ``spec.hard`` key is a standard quota resource (or a qualified name such as
``count/deployments.apps``), every value a non-negative quantity, whole for the countable resources; scopes
are one of upstream's six and ``Terminating``/``NotTerminating`` and ``BestEffort``/``NotBestEffort``
exclude each other. Status is a subresource and starts empty, as upstream (the ``resourcequota``
controller fills it; the ``ResourceQuota`` admission plugin enforces and charges it). Table: Name, Age, Request, Limit
(``pods: 1/2`` from ``status.used``/``status.hard``).
"""

from __future__ import annotations

from typing import Any, ClassVar

from sampan.api import validation
from sampan.api.errors import Cause, invalid, not_supported
from sampan.api.quantity import parse_or_none
from sampan.api.resources import ResourceInfo
from sampan.apiserver.registry.base import AGE_COLUMN, NAME_COLUMN, BaseStrategy, age_cell, as_dict, as_list
from sampan.apiserver.registry.strategy import Object, TableColumn

_COUNTED = ("pods", "services", "replicationcontrollers", "resourcequotas", "secrets", "configmaps",
            "persistentvolumeclaims", "services.nodeports", "services.loadbalancers")
_COMPUTE = ("cpu", "memory", "ephemeral-storage", "requests.cpu", "requests.memory", "requests.storage",
            "requests.ephemeral-storage", "limits.cpu", "limits.memory", "limits.ephemeral-storage")
SCOPES = ["BestEffort", "CrossNamespacePodAffinity", "NotBestEffort", "NotTerminating", "PriorityClass",
          "Terminating"]
_CONFLICTS = (("Terminating", "NotTerminating"), ("BestEffort", "NotBestEffort"))
PATTERN_MSG = "must match the regex ^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"


def standard_quota_resource(name: str) -> bool:
    """Upstream's ``IsStandardQuotaResourceName`` (hugepages included)."""
    return (name in _COUNTED or name in _COMPUTE or name.startswith("hugepages-")
            or name.startswith("requests.hugepages-"))


class ResourceQuotaStrategy(BaseStrategy):
    info = ResourceInfo(
        group="", version="v1", resource="resourcequotas", kind="ResourceQuota", singular="resourcequota",
        namespaced=True, short_names=("quota",), subresources=("status",),
    )
    has_status = True
    columns: ClassVar[tuple[TableColumn, ...]] = (
        NAME_COLUMN,
        AGE_COLUMN,
        TableColumn("Request", description="Request represents a minimum amount of cpu/memory that a container "
                    "may consume."),
        TableColumn("Limit", description="Limits control the maximum amount of cpu/memory that a container may "
                    "use independent of contention on the node."),
    )

    def initial_status(self, obj: Object) -> dict[str, Any] | None:
        return {}

    def validate_spec(self, obj: Object) -> list[Cause]:
        spec = obj.get("spec")
        if spec is not None and not isinstance(spec, dict):
            return [invalid("spec", str(spec), "must be an object")]
        spec = as_dict(spec)
        causes = validate_resource_list(spec.get("hard"), "spec.hard")
        scopes = spec.get("scopes")
        if scopes is not None and not isinstance(scopes, list):
            return [*causes, invalid("spec.scopes", str(scopes), "must be a list of scopes")]
        for i, scope in enumerate(as_list(scopes)):
            if scope not in SCOPES:
                causes.append(not_supported(f"spec.scopes[{i}]", scope, SCOPES))
        present = set(s for s in as_list(scopes) if isinstance(s, str))
        for a, b in _CONFLICTS:
            if a in present and b in present:
                causes.append(invalid("spec.scopes", ", ".join(sorted(present)), "conflicting scopes"))
        return causes

    def row_cells(self, obj: Object, now: float) -> list[Any]:
        status = as_dict(obj.get("status"))
        hard, used = as_dict(status.get("hard")), as_dict(status.get("used"))
        requests: list[str] = []
        limits: list[str] = []
        for name in sorted(hard):
            cell = f"{name}: {used.get(name, '0')}/{hard[name]}"
            (limits if name.startswith("limits") else requests).append(cell)
        return [age_cell(obj, now), ", ".join(requests), ", ".join(limits)]


def validate_resource_list(values: Any, path: str) -> list[Cause]:
    """A quota's ``hard`` (or ``used``) map: quota resource names to non-negative quantities."""
    if values is None:
        return []
    if not isinstance(values, dict):
        return [invalid(path, str(values), "must be a map of resource names to quantities")]
    causes: list[Cause] = []
    for name, raw in values.items():
        rpath = f"{path}[{name}]"
        if "/" in name:
            causes += [invalid(rpath, name, m) for m in validation.qualified_name(name)]
        elif not standard_quota_resource(name):
            causes.append(invalid(rpath, name, "must be a standard resource for quota"))
            continue
        q = parse_or_none(raw)
        if q is None:
            causes.append(invalid(rpath, str(raw), PATTERN_MSG))
        elif q < 0:
            causes.append(invalid(rpath, str(raw), "must be greater than or equal to 0"))
        elif (name in _COUNTED or name.startswith("count/")) and q.value_exact.denominator != 1:
            causes.append(invalid(rpath, str(raw), "must be an integer"))
    return causes
