"""policy/v1 poddisruptionbudgets: how many selected pods voluntary disruptions must leave running.

Validation, as upstream: ``minAvailable`` and ``maxUnavailable`` exclude each other; each is a
non-negative integer or a percentage up to 100%; the selector parses; ``unhealthyPodEvictionPolicy`` is
``IfHealthyBudget`` or ``AlwaysAllow``. The status is a subresource that starts at upstream's zero value
(the ``disruption`` controller fills it; ``pods/eviction`` spends it, see ``handlers/evictionbudget.py``).
Generation is tracked. Table: Name, Min Available, Max Unavailable, Allowed Disruptions, Age.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from sampan.api.errors import Cause, invalid, not_supported
from sampan.api.resources import ResourceInfo
from sampan.api.selectors import LabelSelector
from sampan.apiserver.registry.base import AGE_COLUMN, NAME_COLUMN, BaseStrategy, age_cell, as_dict, as_int
from sampan.apiserver.registry.strategy import Object, TableColumn

EVICTION_POLICIES = ["AlwaysAllow", "IfHealthyBudget"]
_PERCENT = re.compile(r"[0-9]+%")


def validate_int_or_percent(value: Any, path: str) -> list[Cause]:
    """Upstream's ``ValidatePositiveIntOrPercent`` plus ``IsNotMoreThan100Percent``."""
    if value is None:
        return []
    if isinstance(value, int) and not isinstance(value, bool):
        return [invalid(path, value, "must be greater than or equal to 0")] if value < 0 else []
    if isinstance(value, str):
        if not _PERCENT.fullmatch(value):
            return [invalid(path, value, "a valid percent string must be a numeric string followed by an "
                            "ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')")]
        if int(value[:-1]) > 100:
            return [invalid(path, value, "must not be greater than 100%")]
        return []
    return [invalid(path, str(value), "must be an integer or a percentage string")]


class PodDisruptionBudgetStrategy(BaseStrategy):
    info = ResourceInfo(
        group="policy", version="v1", resource="poddisruptionbudgets", kind="PodDisruptionBudget",
        singular="poddisruptionbudget", namespaced=True, short_names=("pdb",), subresources=("status",),
    )
    has_status = True
    tracks_generation = True
    columns: ClassVar[tuple[TableColumn, ...]] = (
        NAME_COLUMN,
        TableColumn("Min Available", description="The minimum number of pods that must be available "
                    "simultaneously.  This can be either an integer or a string specifying a percentage, e.g. "
                    "\"28%\"."),
        TableColumn("Max Unavailable", description="The maximum number of pods that may be unavailable "
                    "simultaneously.  This can be either an integer or a string specifying a percentage, e.g. "
                    "\"28%\"."),
        TableColumn("Allowed Disruptions", type="integer", description="Number of pod disruptions that are "
                    "currently allowed."),
        AGE_COLUMN,
    )

    def initial_status(self, obj: Object) -> dict[str, Any] | None:
        return {"disruptionsAllowed": 0, "currentHealthy": 0, "desiredHealthy": 0, "expectedPods": 0}

    def validate_spec(self, obj: Object) -> list[Cause]:
        spec = obj.get("spec")
        if spec is not None and not isinstance(spec, dict):
            return [invalid("spec", str(spec), "must be an object")]
        spec = as_dict(spec)
        causes: list[Cause] = []
        if spec.get("minAvailable") is not None and spec.get("maxUnavailable") is not None:
            causes.append(invalid("spec", "", "minAvailable and maxUnavailable cannot be both set"))
        causes += validate_int_or_percent(spec.get("minAvailable"), "spec.minAvailable")
        causes += validate_int_or_percent(spec.get("maxUnavailable"), "spec.maxUnavailable")
        if spec.get("selector") is not None:
            try:
                LabelSelector.from_dict(spec["selector"])
            except ValueError as exc:
                causes.append(invalid("spec.selector", str(spec["selector"]), str(exc)))
        policy = spec.get("unhealthyPodEvictionPolicy")
        if policy is not None and policy not in EVICTION_POLICIES:
            causes.append(not_supported("spec.unhealthyPodEvictionPolicy", policy, EVICTION_POLICIES))
        return causes

    def row_cells(self, obj: Object, now: float) -> list[Any]:
        spec, status = as_dict(obj.get("spec")), as_dict(obj.get("status"))
        shown = [str(spec[k]) if spec.get(k) is not None else "N/A" for k in ("minAvailable", "maxUnavailable")]
        return [*shown, as_int(status.get("disruptionsAllowed")), age_cell(obj, now)]
