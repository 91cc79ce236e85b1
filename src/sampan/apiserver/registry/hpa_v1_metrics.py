"""autoscaling/v1 <-> v2 metric specs and statuses, for the ``autoscaling.alpha.kubernetes.io/metrics``
and ``…/current-metrics`` annotations in which upstream's autoscaling/v1 carries every v2 metric that
v1's ``targetCPUUtilizationPercentage`` cannot express.

Table-driven: per metric type, (v1 field, v2 dotted path inside the metric source) pairs; a v1 spec's
target type is derived as upstream's conversion does (Utilization when a utilization is given, else
AverageValue; Value for Object/External metrics without an average). Pure functions over plain dicts;
junk (non-dict entries, unknown types) is skipped, never an error.
"""

from __future__ import annotations

import copy
from typing import Any

SOURCE_KEYS = {"Resource": "resource", "ContainerResource": "containerResource", "Pods": "pods",
               "Object": "object", "External": "external"}

SPEC_FIELDS: dict[str, tuple[tuple[str, str], ...]] = {
    "Resource": (("name", "name"), ("targetAverageUtilization", "target.averageUtilization"),
                 ("targetAverageValue", "target.averageValue")),
    "ContainerResource": (("name", "name"), ("container", "container"),
                          ("targetAverageUtilization", "target.averageUtilization"),
                          ("targetAverageValue", "target.averageValue")),
    "Pods": (("metricName", "metric.name"), ("selector", "metric.selector"),
             ("targetAverageValue", "target.averageValue")),
    "Object": (("target", "describedObject"), ("metricName", "metric.name"), ("selector", "metric.selector"),
               ("targetValue", "target.value"), ("averageValue", "target.averageValue")),
    "External": (("metricName", "metric.name"), ("metricSelector", "metric.selector"),
                 ("targetValue", "target.value"), ("targetAverageValue", "target.averageValue")),
}
STATUS_FIELDS: dict[str, tuple[tuple[str, str], ...]] = {
    "Resource": (("name", "name"), ("currentAverageUtilization", "current.averageUtilization"),
                 ("currentAverageValue", "current.averageValue")),
    "ContainerResource": (("name", "name"), ("container", "container"),
                          ("currentAverageUtilization", "current.averageUtilization"),
                          ("currentAverageValue", "current.averageValue")),
    "Pods": (("metricName", "metric.name"), ("selector", "metric.selector"),
             ("currentAverageValue", "current.averageValue")),
    "Object": (("target", "describedObject"), ("metricName", "metric.name"), ("selector", "metric.selector"),
               ("currentValue", "current.value"), ("averageValue", "current.averageValue")),
    "External": (("metricName", "metric.name"), ("metricSelector", "metric.selector"),
                 ("currentValue", "current.value"), ("currentAverageValue", "current.averageValue")),
}


def _get(obj: dict[str, Any], path: str) -> Any:
    cur: Any = obj
    for part in path.split("."):
        if not isinstance(cur, dict):
            return None
        cur = cur.get(part)
    return cur


def _set(obj: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    cur = obj
    for part in parents:
        cur = cur.setdefault(part, {})
    cur[last] = copy.deepcopy(value)


def _convert(metric: Any, table: dict[str, tuple[tuple[str, str], ...]], *, to_v2: bool) -> dict[str, Any] | None:
    if not isinstance(metric, dict) or metric.get("type") not in table:
        return None
    mtype = metric["type"]
    key = SOURCE_KEYS[mtype]
    source = metric.get(key)
    if not isinstance(source, dict):
        return None
    out: dict[str, Any] = {}
    for v1_field, v2_path in table[mtype]:
        src, dst = (v1_field, v2_path) if to_v2 else (v2_path, v1_field)
        value = _get(source, src)
        if value is not None:
            _set(out, dst, value)
    return {"type": mtype, key: out}


def spec_to_v1(metric: Any) -> dict[str, Any] | None:
    """A v2 MetricSpec in v1's shape (None for junk)."""
    return _convert(metric, SPEC_FIELDS, to_v2=False)


def spec_to_v2(metric: Any) -> dict[str, Any] | None:
    """A v1 MetricSpec in v2's shape, with the target type upstream derives (None for junk)."""
    out = _convert(metric, SPEC_FIELDS, to_v2=True)
    if out is None:
        return None
    mtype = out["type"]
    source = out[SOURCE_KEYS[mtype]]
    target = source.setdefault("target", {})
    if mtype in ("Resource", "ContainerResource"):
        target["type"] = "Utilization" if "averageUtilization" in target else "AverageValue"
    elif mtype == "Pods":
        target["type"] = "AverageValue"
    else:
        target["type"] = "AverageValue" if "averageValue" in target else "Value"
    return out


def status_to_v1(metric: Any) -> dict[str, Any] | None:
    """A v2 MetricStatus in v1's shape (None for junk)."""
    return _convert(metric, STATUS_FIELDS, to_v2=False)


def status_to_v2(metric: Any) -> dict[str, Any] | None:
    """A v1 MetricStatus in v2's shape (None for junk)."""
    return _convert(metric, STATUS_FIELDS, to_v2=True)


__all__ = ["spec_to_v1", "spec_to_v2", "status_to_v1", "status_to_v2"]
