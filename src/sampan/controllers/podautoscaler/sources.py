"""One HPA metric spec -> a replica count and its ``status.currentMetrics`` entry, for every autoscaling/v2
metric type, reading the metrics APIs through the aggregation layer as upstream's REST metrics client does:

* ``Resource`` / ``ContainerResource``: ``metrics.k8s.io/v1beta1`` PodMetrics of the target's pods (the
  whole pod, or one container's usage and requests); Utilization or AverageValue targets.
* ``Pods``: ``custom.metrics.k8s.io/v1beta2`` ``namespaces/<ns>/pods/*/<metric>?labelSelector=<target's
  pods>&metricLabelSelector=<metric selector>``, one value per pod; an AverageValue target.
* ``Object``: ``custom.metrics.k8s.io/v1beta2`` ``namespaces/<ns>/<resource>[.<group>]/<name>/<metric>``,
  one value for the described object; a Value target (ratio times ready pods) or an AverageValue target
  (the value over the per-pod target).
* ``External``: ``external.metrics.k8s.io/v1beta1`` ``namespaces/<ns>/<metric>?labelSelector=<metric
  selector>``, the values summed; Value or AverageValue targets as for Object.

Values are handled in milli-units (upstream's ``MilliValue``). A metric that cannot be read raises
:class:`~sampan.controllers.podautoscaler.replicas.MetricsError` with upstream's reason
(``FailedGetResourceMetric``, ``FailedGetContainerResourceMetric``, ``FailedGetPodsMetric``,
``FailedGetObjectMetric``, ``FailedGetExternalMetric``) or ``InvalidMetricSourceType``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any
from urllib.parse import quote

from sampan.api import errors
from sampan.api.quantity import Quantity
from sampan.api.selectors import LabelSelector
from sampan.client import Client
from sampan.controllers.podautoscaler import replicas as calc

RESOURCE_METRICS = "/apis/metrics.k8s.io/v1beta1/namespaces/{namespace}/pods"
CUSTOM_METRICS = "/apis/custom.metrics.k8s.io/v1beta2"
EXTERNAL_METRICS = "/apis/external.metrics.k8s.io/v1beta1"


@dataclass(frozen=True, slots=True)
class Computed:
    replicas: int
    text: str
    """How upstream names the metric in the rescale reason ("pods metric x", "cpu resource ...")."""
    status: dict[str, Any]


def milli_quantity(milli: float) -> str:
    """A milli-value as upstream's ``NewMilliQuantity(v, DecimalSI)`` prints it (``1500m``, ``3``, ``2k``)."""
    return str(Quantity(Fraction(int(milli), 1000)))


def _milli(text: Any) -> float:
    return float(Quantity.parse(str(text)).milli_value())


def _target_milli(target: dict[str, Any], key: str, what: str) -> float:
    if target.get(key) is None:
        raise calc.MetricsError("InvalidMetricSourceType", f"the {what} target has no {key}")
    try:
        return _milli(target[key])
    except ValueError:
        raise calc.MetricsError("InvalidMetricSourceType", f"the {what} target's {key} is not a quantity") from None


def _selector_text(sel: Any) -> str:
    try:
        return str(LabelSelector.from_dict(sel))
    except ValueError as err:
        raise calc.MetricsError("InvalidMetricSourceType", f"invalid metric selector: {err}") from None


def _metric_id(metric: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"name": str(metric.get("name") or "")}
    if metric.get("selector") is not None:
        out["selector"] = metric["selector"]
    return out


@dataclass
class MetricSources:
    """Reads metrics for one HPA sync (resource metrics are fetched once and shared by its specs)."""

    client: Client
    namespace: str
    selector: str
    pods: list[dict[str, Any]]
    current: int
    """The target's ``spec.replicas``."""
    status_replicas: int
    """The target's ``status.replicas`` (upstream's per-pod Object/External targets divide by it)."""
    tolerance: float
    _pod_metrics: dict[str, dict[str, Any]] | None = field(default=None, init=False)

    async def compute(self, spec: dict[str, Any]) -> Computed:
        kind = spec.get("type")
        if kind == "Resource":
            return await self._resource(spec.get("resource") or {}, container=None)
        if kind == "ContainerResource":
            return await self._resource(spec.get("containerResource") or {},
                                        container=str((spec.get("containerResource") or {}).get("container") or ""))
        if kind == "Pods":
            return await self._pods(spec.get("pods") or {})
        if kind == "Object":
            return await self._object(spec.get("object") or {})
        if kind == "External":
            return await self._external(spec.get("external") or {})
        raise calc.MetricsError("InvalidMetricSourceType", f"unknown metric source type {kind!r}")

    async def _get(self, path: str, params: dict[str, str], *, reason: str, what: str) -> dict[str, Any]:
        try:
            got = await self.client.rest.request("GET", path, params=params or None)
        except errors.APIError as err:
            raise calc.MetricsError(reason, f"{what}: {err}") from None
        return got if isinstance(got, dict) else {}

    # -- Resource / ContainerResource ------------------------------------------------------------------
    async def _resource(self, source: dict[str, Any], *, container: str | None) -> Computed:
        reason = "FailedGetContainerResourceMetric" if container is not None else "FailedGetResourceMetric"
        resource, target = str(source.get("name") or ""), source.get("target") or {}
        utilization = target.get("type") == "Utilization"
        target_avg = None
        if not utilization:
            target_avg = _target_milli(target, "averageValue", resource)
            if resource != "cpu":
                target_avg /= 1000  # memory is compared in bytes
        if self._pod_metrics is None:
            listed = await self._get(RESOURCE_METRICS.format(namespace=self.namespace),
                                     {"labelSelector": self.selector}, reason=reason,
                                     what="unable to get metrics for resource "
                                          f"{resource}: unable to fetch metrics from resource metrics API")
            self._pod_metrics = {m["metadata"]["name"]: m for m in listed.get("items") or []}
        rec = calc.calculate(current=self.current, pods=self.pods, metrics=self._pod_metrics, resource=resource,
                             target_utilization=int(target.get("averageUtilization") or 0) if utilization else None,
                             target_average=target_avg, tolerance=self.tolerance, container=container, reason=reason)
        value = f"{int(rec.average_value)}m" if resource == "cpu" else str(int(rec.average_value))
        current: dict[str, Any] = {"averageValue": value}
        if rec.utilization is not None:
            current["averageUtilization"] = rec.utilization
        if container is None:
            text = (f"{resource} resource utilization (percentage of request)" if utilization
                    else f"{resource} resource")
            return Computed(rec.replicas, text, {"type": "Resource", "resource": {"name": resource,
                                                                                   "current": current}})
        text = (f"{resource} container resource utilization (percentage of request)" if utilization
                else f"{resource} container resource")
        return Computed(rec.replicas, text, {"type": "ContainerResource", "containerResource": {
            "name": resource, "container": container, "current": current}})

    # -- Pods ------------------------------------------------------------------------------------------------
    async def _pods(self, source: dict[str, Any]) -> Computed:
        metric = source.get("metric") or {}
        name = str(metric.get("name") or "")
        target = _target_milli(source.get("target") or {}, "averageValue", f"pods metric {name}")
        params = {"labelSelector": self.selector}
        if metric.get("selector") is not None:
            params["metricLabelSelector"] = _selector_text(metric["selector"])
        listed = await self._get(f"{CUSTOM_METRICS}/namespaces/{self.namespace}/pods/*/{quote(name, safe='')}",
                                 params, reason="FailedGetPodsMetric",
                                 what=f"unable to get metric {name}: unable to fetch metrics from custom metrics API")
        values: dict[str, float] = {}
        for item in listed.get("items") or []:
            described = item.get("describedObject") or {}
            try:
                values[str(described.get("name"))] = _milli(item.get("value"))
            except ValueError:
                continue
        rec = calc.calculate_plain(current=self.current, pods=self.pods, values=values, target_average=target,
                                   tolerance=self.tolerance)
        return Computed(rec.replicas, f"pods metric {name}", {"type": "Pods", "pods": {
            "metric": _metric_id(metric), "current": {"averageValue": milli_quantity(rec.average_value)}}})

    # -- Object ------------------------------------------------------------------------------------------
    async def _object(self, source: dict[str, Any]) -> Computed:
        metric, described = source.get("metric") or {}, source.get("describedObject") or {}
        name = str(metric.get("name") or "")
        target = source.get("target") or {}
        kind, api_version = str(described.get("kind") or ""), str(described.get("apiVersion") or "v1")
        reason = "FailedGetObjectMetric"
        try:
            info = await self.client.discovery.resolve(api_version, kind)
        except (errors.APIError, LookupError, ValueError) as err:
            raise calc.MetricsError(reason, f"unable to get metric {name}: {kind} on {self.namespace} "
                                    f"{described.get('name')}/unable to fetch metrics from custom metrics API: "
                                    f"{err}") from None
        resource = f"{info.resource}.{info.group}" if info.group else info.resource
        params = {}
        if metric.get("selector") is not None:
            params["metricLabelSelector"] = _selector_text(metric["selector"])
        path = (f"{CUSTOM_METRICS}/namespaces/{self.namespace}/{resource}/{quote(str(described.get('name') or ''))}"
                f"/{quote(name, safe='')}")
        listed = await self._get(path, params, reason=reason,
                                 what=f"unable to get metric {name}: {kind} on {self.namespace} "
                                      f"{described.get('name')}/unable to fetch metrics from custom metrics API")
        items = listed.get("items") or []
        if len(items) != 1:
            raise calc.MetricsError(reason, f"unable to get metric {name}: the custom metrics API server returned "
                                    f"{len(items)} results when we asked for exactly one")
        usage = _milli(items[0].get("value"))
        text = f"{kind} metric {name}"
        status: dict[str, Any] = {"describedObject": described, "metric": _metric_id(metric)}
        if target.get("type") == "AverageValue":
            per_pod = _target_milli(target, "averageValue", text)
            replicas = calc.replicas_for_total(current=self.status_replicas, total=usage, target_average=per_pod,
                                               tolerance=self.tolerance)
            status["current"] = {"averageValue": milli_quantity(usage / max(1, self.status_replicas))}
        else:
            value = _target_milli(target, "value", text)
            replicas = calc.replicas_for_ratio(current=self.current, ratio=usage / value,
                                               ready_pods=calc.ready_pod_count(self.pods), tolerance=self.tolerance)
            status["current"] = {"value": milli_quantity(usage)}
        return Computed(replicas, text, {"type": "Object", "object": status})

    # -- External ------------------------------------------------------------------------------------------
    async def _external(self, source: dict[str, Any]) -> Computed:
        metric, target = source.get("metric") or {}, source.get("target") or {}
        name = str(metric.get("name") or "")
        params = {}
        if metric.get("selector") is not None:
            params["labelSelector"] = _selector_text(metric["selector"])
        listed = await self._get(f"{EXTERNAL_METRICS}/namespaces/{self.namespace}/{quote(name, safe='')}", params,
                                 reason="FailedGetExternalMetric",
                                 what=f"unable to get external metric {self.namespace}/{name}/"
                                      f"{metric.get('selector')}: unable to fetch metrics from external metrics API")
        items = listed.get("items") or []
        if not items:
            raise calc.MetricsError("FailedGetExternalMetric", f"unable to get external metric {self.namespace}/"
                                    f"{name}/{metric.get('selector')}: no metrics returned from external metrics API")
        usage = sum(_milli(i.get("value")) for i in items)
        text = f"external metric {name}({metric.get('selector')})"
        if target.get("type") == "AverageValue":
            per_pod = _target_milli(target, "averageValue", text)
            replicas = calc.replicas_for_total(current=self.status_replicas, total=usage, target_average=per_pod,
                                               tolerance=self.tolerance)
            current = {"averageValue": milli_quantity(-(-usage // max(1, self.status_replicas)))}
        else:
            value = _target_milli(target, "value", text)
            replicas = calc.replicas_for_ratio(current=self.current, ratio=usage / value,
                                               ready_pods=calc.ready_pod_count(self.pods), tolerance=self.tolerance)
            current = {"value": milli_quantity(usage)}
        return Computed(replicas, text, {"type": "External", "external": {"metric": _metric_id(metric),
                                                                           "current": current}})
