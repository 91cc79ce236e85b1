"""apps/v1 deployments: defaults (replicas, RollingUpdate 25%/25%, revisionHistoryLimit 10,
progressDeadlineSeconds 600, pod template defaults), selector/template/strategy validation, an
immutable selector, status via the status subresource, and the ``kubectl get deployments`` table."""

from __future__ import annotations

import re
from typing import Any, ClassVar

from sampan.api.errors import Cause, forbidden, invalid, not_supported
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

STRATEGY_TYPES = ["Recreate", "RollingUpdate"]
_PERCENT_RE = re.compile(r"[0-9]+%")
PERCENT_MSG = (
    "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used "
    "for validation is '[0-9]+%')"
)


class DeploymentStrategy(BaseStrategy):
    info = ResourceInfo(
        group="apps", version="v1", resource="deployments", kind="Deployment", singular="deployment",
        namespaced=True, short_names=("deploy",), categories=("all",), subresources=("scale", "status"),
    )
    has_status = True
    tracks_generation = True
    defaults = (
        ("spec.replicas", 1),
        ("spec.revisionHistoryLimit", 10),
        ("spec.progressDeadlineSeconds", 600),
        ("spec.strategy.type", "RollingUpdate"),
    )
    columns: ClassVar[tuple[TableColumn, ...]] = (
        NAME_COLUMN,
        TableColumn("Ready", description="Number of the pod with ready state"),
        TableColumn("Up-to-date", description="Total number of non-terminated pods targeted by this deployment "
                    "that have the desired template spec."),
        TableColumn("Available", description="Total number of available pods (ready for at least minReadySeconds) "
                    "targeted by this deployment."),
        AGE_COLUMN,
        CONTAINERS_COLUMN,
        IMAGES_COLUMN,
        SELECTOR_COLUMN,
    )

    def initial_status(self, obj: Object) -> dict[str, Any] | None:
        return {}

    def default(self, obj: Object) -> None:
        spec = as_dict(obj.get("spec"))
        strategy = as_dict(spec.get("strategy"))
        if strategy.get("type") == "RollingUpdate":
            rolling = strategy.get("rollingUpdate")
            if not isinstance(rolling, dict):
                rolling = strategy["rollingUpdate"] = {}
            rolling.setdefault("maxUnavailable", "25%")
            rolling.setdefault("maxSurge", "25%")
        default_template(obj)

    def validate_spec(self, obj: Object) -> list[Cause]:
        spec = as_dict(obj.get("spec"))
        causes = validate_selector_and_template(spec, kind="deployment", restart_policies=["Always"])
        for key in ("replicas", "revisionHistoryLimit", "minReadySeconds"):
            causes += validate_non_negative(spec, key)
        causes += _validate_strategy(as_dict(spec.get("strategy")))
        deadline = spec.get("progressDeadlineSeconds")
        if deadline is not None:
            if not isinstance(deadline, int) or deadline < 0:
                causes.append(invalid("spec.progressDeadlineSeconds", deadline, "must be greater than or equal to 0"))
            elif deadline <= as_int(spec.get("minReadySeconds")):
                causes.append(invalid("spec.progressDeadlineSeconds", deadline,
                                      "must be greater than minReadySeconds"))
        return causes

    def validate_spec_update(self, obj: Object, old: Object) -> list[Cause]:
        return validate_selector_unchanged(as_dict(obj.get("spec")).get("selector"),
                                           as_dict(old.get("spec")).get("selector"))

    def row_cells(self, obj: Object, now: float) -> list[Any]:
        spec, status = as_dict(obj.get("spec")), as_dict(obj.get("status"))
        ready = f"{as_int(status.get('readyReplicas'))}/{as_int(spec.get('replicas'))}"
        return [ready, as_int(status.get("updatedReplicas")), as_int(status.get("availableReplicas")),
                age_cell(obj, now), *template_cells(obj)]


def _int_or_percent(value: Any, path: str) -> tuple[list[Cause], int | None]:
    """Causes, and the value when it is a plain int or a percent (percent as its number)."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        return [invalid(path, str(value), "must be an integer or percentage (e.g '5%')")], None
    if isinstance(value, str):
        if not _PERCENT_RE.fullmatch(value):
            return [invalid(path, value, PERCENT_MSG)], None
        pct = int(value[:-1])
        if pct > 100:
            return [invalid(path, value, "must not be greater than 100%")], pct
        return [], pct
    if value < 0:
        return [invalid(path, value, "must be greater than or equal to 0")], None
    return [], value


def _validate_strategy(strategy: dict[str, Any]) -> list[Cause]:
    stype = strategy.get("type")
    if stype not in STRATEGY_TYPES:
        return [not_supported("spec.strategy.type", stype or "", STRATEGY_TYPES)]
    rolling = strategy.get("rollingUpdate")
    if stype == "Recreate":
        if rolling is not None:
            return [forbidden("spec.strategy.rollingUpdate",
                              "may not be specified when strategy `type` is 'Recreate'")]
        return []
    rolling = as_dict(rolling)
    base = "spec.strategy.rollingUpdate"
    causes, unavailable = _int_or_percent(rolling.get("maxUnavailable"), f"{base}.maxUnavailable")
    more, surge = _int_or_percent(rolling.get("maxSurge"), f"{base}.maxSurge")
    causes += more
    if unavailable == 0 and surge == 0:
        causes.append(invalid(f"{base}.maxUnavailable", rolling.get("maxUnavailable"),
                              "may not be 0 when `maxSurge` is 0"))
    return causes
