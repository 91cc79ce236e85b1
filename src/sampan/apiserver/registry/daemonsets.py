"""apps/v1 daemonsets: defaults (RollingUpdate with maxUnavailable 1 / maxSurge 0, revisionHistoryLimit 10,
pod template defaults), selector/template/update-strategy validation, an immutable selector, status via the
status subresource, and the ``kubectl get ds`` table.

``deprecated.daemonset.template.generation`` (upstream's v1 spelling of the internal ``templateGeneration``)
is 1 on create and goes up by one whenever ``spec.template`` changes; the controller labels pods with it
(``pod-template-generation``)."""

from __future__ import annotations

from typing import Any, ClassVar

from sampan.api import meta
from sampan.api.errors import Cause, invalid, not_supported
from sampan.api.resources import ResourceInfo
from sampan.apiserver.registry.base import AGE_COLUMN, NAME_COLUMN, BaseStrategy, age_cell, as_dict, as_int
from sampan.apiserver.registry.deployments import _int_or_percent
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

UPDATE_STRATEGY_TYPES = ["OnDelete", "RollingUpdate"]
TEMPLATE_GENERATION = "deprecated.daemonset.template.generation"


def _template_generation(obj: Object) -> int:
    try:
        return int(as_dict(as_dict(obj.get("metadata")).get("annotations")).get(TEMPLATE_GENERATION) or 0)
    except ValueError:
        return 0


class DaemonSetStrategy(BaseStrategy):
    info = ResourceInfo(
        group="apps", version="v1", resource="daemonsets", kind="DaemonSet", singular="daemonset",
        namespaced=True, short_names=("ds",), categories=("all",), subresources=("status",),
    )
    has_status = True
    tracks_generation = True
    defaults = (
        ("spec.revisionHistoryLimit", 10),
        ("spec.updateStrategy.type", "RollingUpdate"),
    )
    columns: ClassVar[tuple[TableColumn, ...]] = (
        NAME_COLUMN,
        TableColumn("Desired", type="integer", description="The total number of nodes that should be running the "
                    "daemon pod (including nodes correctly running the daemon pod)."),
        TableColumn("Current", type="integer", description="The number of nodes that are running at least 1 daemon "
                    "pod and are supposed to run the daemon pod."),
        TableColumn("Ready", type="integer", description="numberReady is the number of nodes that should be "
                    "running the daemon pod and have one or more of the daemon pod running with a Ready Condition."),
        TableColumn("Up-to-date", type="integer", description="The total number of nodes that are running updated "
                    "daemon pod"),
        TableColumn("Available", type="integer", description="The number of nodes that should be running the daemon "
                    "pod and have one or more of the daemon pod running and available (ready for at least "
                    "spec.minReadySeconds)"),
        TableColumn("Node Selector", description="NodeSelector is a selector which must be true for the pod to fit "
                    "on a node. Selector which must match a node's labels for the pod to be scheduled on that node."),
        AGE_COLUMN,
        CONTAINERS_COLUMN,
        IMAGES_COLUMN,
        SELECTOR_COLUMN,
    )

    def initial_status(self, obj: Object) -> dict[str, Any] | None:
        return {"currentNumberScheduled": 0, "numberMisscheduled": 0, "desiredNumberScheduled": 0, "numberReady": 0}

    def prepare_for_create(self, obj: Object) -> None:
        super().prepare_for_create(obj)
        meta.ensure_map(obj, "metadata", "annotations")[TEMPLATE_GENERATION] = "1"

    def prepare_for_update(self, obj: Object, old: Object) -> None:
        super().prepare_for_update(obj, old)
        generation = max(_template_generation(old), 1)
        if as_dict(obj.get("spec")).get("template") != as_dict(old.get("spec")).get("template"):
            generation += 1
        meta.ensure_map(obj, "metadata", "annotations")[TEMPLATE_GENERATION] = str(generation)

    def default(self, obj: Object) -> None:
        strategy = as_dict(as_dict(obj.get("spec")).get("updateStrategy"))
        if strategy.get("type") == "RollingUpdate":
            rolling = strategy.get("rollingUpdate")
            if not isinstance(rolling, dict):
                rolling = strategy["rollingUpdate"] = {}
            rolling.setdefault("maxUnavailable", 1)
            rolling.setdefault("maxSurge", 0)
        default_template(obj)

    def validate_spec(self, obj: Object) -> list[Cause]:
        spec = as_dict(obj.get("spec"))
        causes = validate_selector_and_template(spec, kind="daemonset", restart_policies=["Always"])
        for key in ("revisionHistoryLimit", "minReadySeconds"):
            causes += validate_non_negative(spec, key)
        strategy = as_dict(spec.get("updateStrategy"))
        stype = strategy.get("type")
        if stype not in UPDATE_STRATEGY_TYPES:
            return [*causes, not_supported("spec.updateStrategy.type", stype or "", UPDATE_STRATEGY_TYPES)]
        if stype == "RollingUpdate":
            base = "spec.updateStrategy.rollingUpdate"
            rolling = as_dict(strategy.get("rollingUpdate"))
            more, unavailable = _int_or_percent(rolling.get("maxUnavailable"), f"{base}.maxUnavailable")
            causes += more
            more, surge = _int_or_percent(rolling.get("maxSurge"), f"{base}.maxSurge")
            causes += more
            if unavailable == 0 and surge == 0:
                causes.append(invalid(f"{base}.maxUnavailable", rolling.get("maxUnavailable"),
                                      "may not be 0 when `maxSurge` is 0"))
        return causes

    def validate_spec_update(self, obj: Object, old: Object) -> list[Cause]:
        return validate_selector_unchanged(as_dict(obj.get("spec")).get("selector"),
                                           as_dict(old.get("spec")).get("selector"))

    def row_cells(self, obj: Object, now: float) -> list[Any]:
        spec, status = as_dict(obj.get("spec")), as_dict(obj.get("status"))
        node_selector = as_dict(as_dict(as_dict(spec.get("template")).get("spec")).get("nodeSelector"))
        return [as_int(status.get("desiredNumberScheduled")), as_int(status.get("currentNumberScheduled")),
                as_int(status.get("numberReady")), as_int(status.get("updatedNumberScheduled")),
                as_int(status.get("numberAvailable")), _node_selector_cell(node_selector),
                age_cell(obj, now), *template_cells(obj)]


def _node_selector_cell(selector: dict[str, Any]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(selector.items())) if selector else "<none>"

