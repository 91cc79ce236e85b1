"""autoscaling/v1 horizontalpodautoscalers: a view of the autoscaling/v2 objects (one storage,
``/registry/horizontalpodautoscalers/``), so kubectl 1.32's ``autoscale`` (which posts v1) works.

Conversion, as upstream's autoscaling/v1 conversion:
* ``spec.targetCPUUtilizationPercentage`` <-> a ``Resource`` metric for ``cpu`` with a ``Utilization``
  target; a v1 object without it is stored without metrics and then gets v2's default (cpu at 80%), so
  it reads back as 80 — as upstream, whose storage decoding applies v2's defaults;
* ``status.currentCPUUtilizationPercentage`` <-> a ``Resource`` cpu current metric;
* everything else travels in upstream's ``autoscaling.alpha.kubernetes.io/*`` annotations of the v1 form
  (JSON), so a v1 read-modify-write keeps it: ``metrics`` / ``current-metrics`` (the other metrics, in
  v1's MetricSpec/MetricStatus shapes, ``hpa_v1_metrics``), ``behavior`` and ``conditions``. As
  upstream, v1 -> v2 puts the annotated metrics first and the cpu one last.

Defaults, validation and the table are v2's, applied to the converted object (upstream validates the
internal, v2-shaped, object: error paths name ``spec.metrics[0]…``).
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from typing import Any, ClassVar

import orjson

from sampan.api.errors import Cause
from sampan.api.resources import ResourceInfo
from sampan.apiserver.registry import hpa_v1_metrics
from sampan.apiserver.registry.base import BaseStrategy, as_dict, as_list
from sampan.apiserver.registry.conversion import Converted
from sampan.apiserver.registry.horizontalpodautoscalers import HorizontalPodAutoscalerStrategy
from sampan.apiserver.registry.strategy import Object, TableColumn

log = logging.getLogger(__name__)

METRICS_ANNOTATION = "autoscaling.alpha.kubernetes.io/metrics"
CURRENT_METRICS_ANNOTATION = "autoscaling.alpha.kubernetes.io/current-metrics"
BEHAVIOR_ANNOTATION = "autoscaling.alpha.kubernetes.io/behavior"
CONDITIONS_ANNOTATION = "autoscaling.alpha.kubernetes.io/conditions"
_V2 = HorizontalPodAutoscalerStrategy()


class HorizontalPodAutoscalerV1Strategy(Converted, BaseStrategy):
    info = ResourceInfo(
        group="autoscaling", version="v1", resource="horizontalpodautoscalers", kind="HorizontalPodAutoscaler",
        singular="horizontalpodautoscaler", namespaced=True, short_names=("hpa",), categories=("all",),
        subresources=("status",),
    )
    has_status = True
    defaults = (("spec.minReplicas", 1),)
    columns: ClassVar[tuple[TableColumn, ...]] = _V2.columns
    storage_gv = ("autoscaling", "v2")

    def to_storage(self, obj: Object) -> Object:
        return to_v2(obj)

    def from_storage(self, obj: Object) -> Object:
        return from_v2(obj)

    def initial_status(self, obj: Object) -> dict[str, Any] | None:
        return {"currentReplicas": 0, "desiredReplicas": 0}

    def validate(self, obj: Object) -> list[Cause]:
        return _V2.validate(to_v2(obj))

    def validate_update(self, obj: Object, old: Object) -> list[Cause]:
        return _V2.validate_update(to_v2(obj), to_v2(old))

    def row_cells(self, obj: Object, now: float) -> list[Any]:
        return _V2.row_cells(to_v2(obj), now)


def _cpu_utilization(metric: Any, field: str) -> int | None:
    """The cpu averageUtilization of a v2 Resource metric (``field``: target or current), else None."""
    metric = as_dict(metric)
    source = as_dict(metric.get("resource"))
    if metric.get("type") != "Resource" or source.get("name") != "cpu":
        return None
    value = as_dict(source.get(field))
    if field == "target" and value.get("type") != "Utilization":
        return None
    util = value.get("averageUtilization")
    return util if isinstance(util, int) and not isinstance(util, bool) else None


def _annotations(obj: Object) -> dict[str, Any]:
    return as_dict(as_dict(obj.get("metadata")).get("annotations"))


def from_v2(hpa: Object) -> dict[str, Any]:
    """An autoscaling/v2 HPA in its autoscaling/v1 form (a new dict)."""
    spec, status = as_dict(hpa.get("spec")), as_dict(hpa.get("status"))
    md = copy.deepcopy(as_dict(hpa.get("metadata")))
    annotations = dict(as_dict(md.get("annotations")))
    out_spec: dict[str, Any] = {k: copy.deepcopy(spec[k]) for k in ("scaleTargetRef", "minReplicas", "maxReplicas")
                                if k in spec}
    others: list[dict[str, Any]] = []
    for metric in as_list(spec.get("metrics")):
        util = _cpu_utilization(metric, "target")
        if util is None or "targetCPUUtilizationPercentage" in out_spec:
            others += [m for m in [hpa_v1_metrics.spec_to_v1(metric)] if m is not None]
        else:
            out_spec["targetCPUUtilizationPercentage"] = util
    if others:
        annotations[METRICS_ANNOTATION] = orjson.dumps(others).decode()
    if spec.get("behavior") is not None:
        annotations[BEHAVIOR_ANNOTATION] = orjson.dumps(spec["behavior"]).decode()
    out_status: dict[str, Any] = {k: copy.deepcopy(status[k]) for k in ("observedGeneration", "lastScaleTime")
                                  if k in status}
    out_status["currentReplicas"] = status.get("currentReplicas", 0)
    out_status["desiredReplicas"] = status.get("desiredReplicas", 0)
    current: list[dict[str, Any]] = []
    for metric in as_list(status.get("currentMetrics")):
        util = _cpu_utilization(metric, "current")
        if util is None or "currentCPUUtilizationPercentage" in out_status:
            current += [m for m in [hpa_v1_metrics.status_to_v1(metric)] if m is not None]
        else:
            out_status["currentCPUUtilizationPercentage"] = util
    if current:
        annotations[CURRENT_METRICS_ANNOTATION] = orjson.dumps(current).decode()
    if status.get("conditions"):
        annotations[CONDITIONS_ANNOTATION] = orjson.dumps(status["conditions"]).decode()
    if annotations:
        md["annotations"] = annotations
    out: dict[str, Any] = {"kind": "HorizontalPodAutoscaler", "apiVersion": "autoscaling/v1", "metadata": md,
                           "spec": out_spec}
    if "status" in hpa:
        out["status"] = out_status
    return out


def to_v2(hpa: Object) -> dict[str, Any]:
    """An autoscaling/v1 HPA in its autoscaling/v2 form (a new dict), with v2's defaults applied."""
    spec, status = as_dict(hpa.get("spec")), as_dict(hpa.get("status"))
    md = copy.deepcopy(as_dict(hpa.get("metadata")))
    annotations = dict(as_dict(md.get("annotations")))
    metrics = _json_list(annotations.pop(METRICS_ANNOTATION, None), hpa_v1_metrics.spec_to_v2)
    current_metrics = _json_list(annotations.pop(CURRENT_METRICS_ANNOTATION, None), hpa_v1_metrics.status_to_v2)
    behavior = _json_annotation(annotations.pop(BEHAVIOR_ANNOTATION, None))
    conditions = _json_annotation(annotations.pop(CONDITIONS_ANNOTATION, None))
    if annotations:
        md["annotations"] = annotations
    else:
        md.pop("annotations", None)
    out_spec: dict[str, Any] = {k: copy.deepcopy(spec[k]) for k in ("scaleTargetRef", "minReplicas", "maxReplicas")
                                if k in spec}
    target = spec.get("targetCPUUtilizationPercentage")
    if target is not None:
        metrics.append({"type": "Resource", "resource": {
            "name": "cpu", "target": {"type": "Utilization", "averageUtilization": target}}})
    if metrics:
        out_spec["metrics"] = metrics
    if isinstance(behavior, dict):
        out_spec["behavior"] = behavior
    out: dict[str, Any] = {"kind": "HorizontalPodAutoscaler", "apiVersion": "autoscaling/v2", "metadata": md,
                           "spec": out_spec if isinstance(hpa.get("spec"), dict) else hpa.get("spec")}
    if "status" in hpa:
        out_status: dict[str, Any] = {k: copy.deepcopy(status[k])
                                      for k in ("observedGeneration", "lastScaleTime", "currentReplicas",
                                                "desiredReplicas") if k in status}
        cpu_now = status.get("currentCPUUtilizationPercentage")
        if cpu_now is not None:
            current_metrics.append({"type": "Resource", "resource": {
                "name": "cpu", "current": {"averageUtilization": cpu_now}}})
        if current_metrics:
            out_status["currentMetrics"] = current_metrics
        if isinstance(conditions, list):
            out_status["conditions"] = conditions
        out["status"] = out_status
    _V2.default(out)
    return out


def _json_list(value: Any, convert: Callable[[Any], dict[str, Any] | None]) -> list[dict[str, Any]]:
    """The converted entries of an annotation holding a JSON list (junk entries skipped)."""
    items = _json_annotation(value)
    if not isinstance(items, list):
        return []
    return [m for m in (convert(i) for i in items) if m is not None]


def _json_annotation(value: Any) -> Any:
    if not isinstance(value, str):
        return None
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        log.info("ignoring an unreadable %s annotation", value[:40])
        return None
