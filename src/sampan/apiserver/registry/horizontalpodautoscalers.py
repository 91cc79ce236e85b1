"""autoscaling/v2 horizontalpodautoscalers: replica bounds and metric targets for a scalable resource.

This is the storage version; autoscaling/v1 (which kubectl 1.32's ``autoscale`` sends) is a converted view
of the same objects (``horizontalpodautoscalers_v1``). No controller acts on HPAs yet.

Defaults, as upstream's v2: ``minReplicas: 1``; no metrics means one Resource metric, cpu at 80%
average utilization; a given ``behavior`` gets upstream's scale-up/scale-down rules for the parts left
out (scale-down stabilization 300s). Validation: ``scaleTargetRef`` kind and name are required; ``minReplicas >= 1``;
``maxReplicas >= 1`` and ``>= minReplicas``; metric types and target types are upstream's enums; a
Utilization target is a positive ``averageUtilization``. Status is a subresource. Table: Name, Reference,
Targets, MinPods, MaxPods, Replicas, Age.
"""

from __future__ import annotations

import copy
from typing import Any, ClassVar, TypeGuard

from sampan.api.errors import Cause, invalid, not_supported, required
from sampan.api.resources import ResourceInfo
from sampan.apiserver.registry.base import AGE_COLUMN, NAME_COLUMN, BaseStrategy, age_cell, as_dict, as_int, as_list
from sampan.apiserver.registry.strategy import Object, TableColumn

METRIC_TYPES = ["ContainerResource", "External", "Object", "Pods", "Resource"]
TARGET_TYPES = ["AverageValue", "Utilization", "Value"]
_SOURCE_KEY = {"ContainerResource": "containerResource", "External": "external", "Object": "object",
               "Pods": "pods", "Resource": "resource"}
DEFAULT_CPU_METRIC = {"type": "Resource",
                      "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}
_SCALE_UP = {"stabilizationWindowSeconds": 0, "selectPolicy": "Max",
             "policies": [{"type": "Pods", "value": 4, "periodSeconds": 15},
                          {"type": "Percent", "value": 100, "periodSeconds": 15}]}
_SCALE_DOWN = {"stabilizationWindowSeconds": 300, "selectPolicy": "Max",
               "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}]}


class HorizontalPodAutoscalerStrategy(BaseStrategy):
    info = ResourceInfo(
        group="autoscaling", version="v2", resource="horizontalpodautoscalers", kind="HorizontalPodAutoscaler",
        singular="horizontalpodautoscaler", namespaced=True, short_names=("hpa",), categories=("all",),
        subresources=("status",),
    )
    has_status = True  # no generation: upstream sets it only behind the (off) HPAGeneration gate
    defaults = (("spec.minReplicas", 1),)
    columns: ClassVar[tuple[TableColumn, ...]] = (
        NAME_COLUMN,
        TableColumn("Reference", description="reference to scaled resource; horizontal pod autoscaler will learn "
                    "the current resource consumption and will set the desired number of pods by using its Scale "
                    "subresource."),
        TableColumn("Targets", description="metrics contains the specifications for which to use to calculate "
                    "the desired replica count."),
        TableColumn("MinPods", description="minReplicas is the lower limit for the number of replicas to which "
                    "the autoscaler can scale down."),
        TableColumn("MaxPods", type="integer", description="maxReplicas is the upper limit for the number of "
                    "replicas to which the autoscaler can scale up."),
        TableColumn("Replicas", type="integer", description="currentReplicas is current number of replicas of "
                    "pods managed by this autoscaler, as last seen by the autoscaler."),
        AGE_COLUMN,
    )

    def initial_status(self, obj: Object) -> dict[str, Any] | None:
        return {"desiredReplicas": 0}

    def default(self, obj: Object) -> None:
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return
        if not spec.get("metrics"):
            spec["metrics"] = [copy.deepcopy(DEFAULT_CPU_METRIC)]
        behavior = spec.get("behavior")
        if isinstance(behavior, dict):
            for key, rules in (("scaleUp", _SCALE_UP), ("scaleDown", _SCALE_DOWN)):
                current = behavior.get(key)
                if current is None:
                    behavior[key] = copy.deepcopy(rules)
                elif isinstance(current, dict):
                    for k, v in rules.items():
                        current.setdefault(k, copy.deepcopy(v))

    def validate_spec(self, obj: Object) -> list[Cause]:
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return [required("spec")] if spec is None else [invalid("spec", str(spec), "must be an object")]
        causes: list[Cause] = []
        ref = spec.get("scaleTargetRef")
        if not isinstance(ref, dict):
            causes.append(required("spec.scaleTargetRef"))
            ref = {}
        for key in ("kind", "name"):
            if not ref.get(key):
                causes.append(required(f"spec.scaleTargetRef.{key}"))
        low, high = spec.get("minReplicas"), spec.get("maxReplicas")
        if low is not None and (not _int(low) or low < 1):
            causes.append(invalid("spec.minReplicas", low, "must be greater than or equal to 1"))
        if not _int(high) or high < 1:
            causes.append(invalid("spec.maxReplicas", high if high is not None else 0, "must be greater than 0"))
        elif _int(low) and high < low:
            causes.append(invalid("spec.maxReplicas", high, "must be greater than or equal to `minReplicas`"))
        for i, metric in enumerate(as_list(spec.get("metrics"))):
            causes += _validate_metric(metric, f"spec.metrics[{i}]")
        return causes

    def row_cells(self, obj: Object, now: float) -> list[Any]:
        spec, status = as_dict(obj.get("spec")), as_dict(obj.get("status"))
        ref = as_dict(spec.get("scaleTargetRef"))
        low = spec.get("minReplicas")
        targets = format_targets(spec.get("metrics"), status.get("currentMetrics"))
        return [f"{ref.get('kind', '')}/{ref.get('name', '')}", targets,
                str(low) if low is not None else "<unset>", as_int(spec.get("maxReplicas")),
                as_int(status.get("currentReplicas")), age_cell(obj, now)]


def _int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _validate_metric(metric: Any, path: str) -> list[Cause]:
    if not isinstance(metric, dict):
        return [invalid(path, str(metric), "must be a metric spec object")]
    mtype = metric.get("type")
    if mtype not in METRIC_TYPES:
        return [not_supported(f"{path}.type", mtype or "", METRIC_TYPES)]
    key = _SOURCE_KEY[mtype]
    source = metric.get(key)
    if not isinstance(source, dict):
        return [required(f"{path}.{key}")]
    causes: list[Cause] = []
    if mtype in ("Resource", "ContainerResource") and not source.get("name"):
        causes.append(required(f"{path}.{key}.name"))
    target = source.get("target")
    if not isinstance(target, dict):
        return [*causes, required(f"{path}.{key}.target")]
    ttype = target.get("type")
    if ttype not in TARGET_TYPES:
        causes.append(not_supported(f"{path}.{key}.target.type", ttype or "", TARGET_TYPES))
    elif ttype == "Utilization":
        util = target.get("averageUtilization")
        if not _int(util) or util <= 0:
            causes.append(invalid(f"{path}.{key}.target.averageUtilization", util if util is not None else 0,
                                  "must be greater than 0"))
    return causes


def format_targets(metrics: Any, current_metrics: Any = None) -> str:
    """The Targets cell, as kubectl prints it: ``cpu: 120%/50%`` per metric, pairing ``spec.metrics[i]``
    with ``status.currentMetrics[i]`` of the same type (``<unknown>`` where there is none yet); Object and
    External average targets end in `` (avg)``; the first four metrics, then ``+ N more...``; ``<none>``
    without metrics."""
    statuses = as_list(current_metrics)
    shown: list[str] = []
    for i, metric in enumerate(as_list(metrics)):
        metric = as_dict(metric)
        mtype = str(metric.get("type"))
        key = _SOURCE_KEY.get(mtype, "")
        source = as_dict(metric.get(key))
        target = as_dict(source.get("target"))
        status = as_dict(statuses[i]) if i < len(statuses) else {}
        current = as_dict(as_dict(status.get(key)).get("current")) if status.get("type") == mtype else {}
        prefix = f"{source.get('name')}: " if mtype in ("Resource", "ContainerResource") else ""
        if not key:
            shown.append("<unknown type>")
        elif mtype in ("Resource", "ContainerResource") and target.get("averageValue") is None:
            now = current.get("averageUtilization")
            goal = target.get("averageUtilization")
            shown.append(f"{prefix}{'<unknown>' if now is None else f'{now}%'}/"
                         f"{'<auto>' if goal is None else f'{goal}%'}")
        elif target.get("averageValue") is not None:
            now = current.get("averageValue")
            avg = " (avg)" if mtype in ("Object", "External") else ""
            shown.append(f"{prefix}{'<unknown>' if now is None else now}/{target.get('averageValue')}{avg}")
        else:
            now = current.get("value")
            shown.append(f"{prefix}{'<unknown>' if now is None else now}/{target.get('value')}")
    if not shown:
        return "<none>"
    if len(shown) > 4:
        return ", ".join(shown[:4]) + f" + {len(shown) - 4} more..."
    return ", ".join(shown)
