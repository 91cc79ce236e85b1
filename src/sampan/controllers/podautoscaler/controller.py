"""The HPA controller: every ``sync_period`` (15 s) each HorizontalPodAutoscaler is reconciled.

``reconcile(key)``: read the target's ``scale`` subresource (any kind serving one: Deployments,
ReplicaSets, StatefulSets, custom resources), list its pods by ``status.selector``, read their
PodMetrics from ``metrics.k8s.io`` (the aggregation layer), compute a recommendation per Resource
metric (:mod:`.replicas`; the largest wins), stabilize and bound it (:mod:`.behavior`, min/max
replicas), write the new ``spec.replicas`` to the scale subresource with a ``SuccessfulRescale`` event,
and write the HPA's status (current/desired replicas, currentMetrics, lastScaleTime, the conditions
AbleToScale, ScalingActive and ScalingLimited with upstream's reasons).

Only ``Resource`` metrics (cpu, memory; Utilization and AverageValue) are computed; other metric types
make ScalingActive False (``InvalidMetricSourceType``) and are written down in the README as missing.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from sampan.api import errors
from sampan.api.quantity import Quantity
from sampan.api.selectors import LabelSelector
from sampan.client import EventHandlerFuncs, SharedIndexInformer
from sampan.client.cache import split_meta_namespace_key
from sampan.controllers.manager import ControllerContext
from sampan.controllers.podautoscaler import behavior
from sampan.controllers.podautoscaler.replicas import MetricsError, Recommendation, calculate
from sampan.controllers.pods import format_time
from sampan.controllers.runner import Enqueuer, Result

log = logging.getLogger(__name__)

METRICS_PATH = "/apis/metrics.k8s.io/v1beta1/namespaces/{namespace}/pods"


def _key(obj: Any) -> str:
    md = obj["metadata"]
    return f"{md.get('namespace', '')}/{md['name']}"


def _condition(kind: str, status: bool, reason: str, message: str, *, now: str,
               old: list[dict[str, Any]]) -> dict[str, Any]:
    value = "True" if status else "False"
    prev = next((c for c in old if c.get("type") == kind), None)
    when = prev.get("lastTransitionTime", now) if prev is not None and prev.get("status") == value else now
    return {"type": kind, "status": value, "lastTransitionTime": when, "reason": reason, "message": message}


def _metric_text(resource: str, utilization: bool) -> str:
    return f"{resource} resource utilization (percentage of request)" if utilization else f"{resource} resource"


class HorizontalPodAutoscalerController:
    name = "horizontalpodautoscaling"

    def __init__(self, ctx: ControllerContext) -> None:
        self.ctx = ctx
        self.clock = ctx.clock
        self.options = ctx.options
        self.hpa_informer = ctx.informers.informer("autoscaling/v2", "horizontalpodautoscalers")
        self.hpa_lister = ctx.informers.lister("autoscaling/v2", "horizontalpodautoscalers")
        self.pod_informer = ctx.informers.informer("v1", "pods")
        self.pod_lister = ctx.informers.lister("v1", "pods")
        self.recorder = ctx.recorder("horizontal-pod-autoscaler")
        self.histories: dict[str, behavior.History] = {}

    def informers(self) -> Sequence[SharedIndexInformer]:
        return (self.hpa_informer, self.pod_informer)

    def watch(self, queue: Enqueuer) -> None:
        self.hpa_informer.add_event_handler(EventHandlerFuncs(
            on_add_func=lambda h: queue.add(_key(h)), on_update_func=lambda old, new: queue.add(_key(new)),
            on_delete_func=self._forget))

    def _forget(self, obj: Any) -> None:
        self.histories.pop(_key(getattr(obj, "obj", obj)), None)

    # ---- reconcile ----------------------------------------------------------------------------------------

    async def reconcile(self, key: str) -> Result | None:
        ns, name = split_meta_namespace_key(key)
        try:
            hpa = self.hpa_lister.namespaced(ns).get(name)
        except errors.NotFound:
            self.histories.pop(key, None)
            return None
        period = self.options.horizontal_pod_autoscaler_sync_period
        await self._reconcile(key, hpa)
        return Result(requeue_after=period)

    async def _reconcile(self, key: str, hpa: dict[str, Any]) -> None:
        ns = hpa["metadata"]["namespace"]
        spec = hpa.get("spec") or {}
        ref = spec.get("scaleTargetRef") or {}
        old_status = dict(hpa.get("status") or {})
        old_conds = list(old_status.get("conditions") or [])
        now_text = format_time(self.clock.wall())
        target = f"{ref.get('kind')}/{ref.get('name')}"
        try:
            scale_client = await self.ctx.client.resource(str(ref.get("apiVersion") or ""), str(ref.get("kind") or ""))
            scale = await scale_client.get(str(ref.get("name") or ""), namespace=ns, subresource="scale")
        except errors.APIError as err:
            self.recorder.event(hpa, "Warning", "FailedGetScale", str(err))
            await self._write_status(hpa, old_status, conditions=[
                _condition("AbleToScale", False, "FailedGetScale",
                           f"the HPA controller was unable to get the target's current scale: {err}",
                           now=now_text, old=old_conds)])
            return
        current = int((scale.get("spec") or {}).get("replicas") or 0)
        observed = int((scale.get("status") or {}).get("replicas") or 0)
        status: dict[str, Any] = {**old_status, "currentReplicas": observed}
        min_r, max_r = int(spec.get("minReplicas") or 1), int(spec.get("maxReplicas") or 1)
        able = _condition("AbleToScale", True, "SucceededGetScale",
                          "the HPA controller was able to get the target's current scale", now=now_text, old=old_conds)
        if current == 0 and min_r != 0:
            status.update(desiredReplicas=0)
            await self._write_status(hpa, status, conditions=[able, _condition(
                "ScalingActive", False, "ScalingDisabled", "scaling is disabled since the replica count of the "
                "target is zero", now=now_text, old=old_conds)])
            return
        try:
            recommendation, metric_text, current_metrics = await self._recommend(hpa, scale, current)
        except MetricsError as err:
            self.recorder.event(hpa, "Warning", err.reason, err.message)
            status["desiredReplicas"] = current
            await self._write_status(hpa, status, conditions=[able, _condition(
                "ScalingActive", False, err.reason, f"the HPA was unable to compute the replica count: {err.message}",
                now=now_text, old=old_conds)])
            return
        history = self.histories.setdefault(key, behavior.History())
        up, down = behavior.rules(spec.get("behavior"),
                                  default_down_window=self.options.horizontal_pod_autoscaler_downscale_stabilization)
        now = self.clock.wall()
        stabilized = behavior.stabilize(history, now=now, current=current, desired=recommendation, up=up, down=down)
        desired, limited = behavior.limit(history, now=now, current=current, desired=stabilized, min_replicas=min_r,
                                          max_replicas=max_r, up=up, down=down)
        if desired != current:
            reason = f"{metric_text} above target" if desired > current else "All metrics below target"
            scale = {**scale, "spec": {**(scale.get("spec") or {}), "replicas": desired}}
            try:
                await scale_client.update(scale, namespace=ns, subresource="scale")
            except errors.APIError as err:
                self.recorder.event(hpa, "Warning", "FailedRescale", f"New size: {desired}; reason: {reason}; "
                                    f"error: {err}")
                raise
            behavior.record_scale(history, now=now, change=desired - current)
            self.recorder.event(hpa, "Normal", "SuccessfulRescale", f"New size: {desired}; reason: {reason}")
            status["lastScaleTime"] = now_text
            log.info("hpa rescaled hpa=%s target=%s from=%d to=%d", key, target, current, desired)
        status.update(desiredReplicas=desired, currentMetrics=current_metrics)
        active = _condition("ScalingActive", True, "ValidMetricFound", "the HPA was able to successfully calculate "
                            f"a replica count from {metric_text}", now=now_text, old=old_conds)
        limit_cond = (_condition("ScalingLimited", True, limited, _limit_message(limited), now=now_text, old=old_conds)
                      if limited else _condition("ScalingLimited", False, "DesiredWithinRange",
                                                 "the desired count is within the acceptable range",
                                                 now=now_text, old=old_conds))
        if desired != current:
            able = {**able, "reason": "SucceededRescale", "message": "the HPA controller was able to update the "
                    f"target scale to {desired}"}
        await self._write_status(hpa, status, conditions=[able, active, limit_cond])

    async def _recommend(self, hpa: dict[str, Any], scale: dict[str, Any],
                         current: int) -> tuple[int, str, list[dict[str, Any]]]:
        ns = hpa["metadata"]["namespace"]
        selector = str((scale.get("status") or {}).get("selector") or "")
        if not selector:
            raise MetricsError("InvalidSelector", "the target's scale has no selector (status.selector)")
        match = LabelSelector.parse(selector)
        pods = [p for p in self.pod_lister.namespaced(ns).list()
                if match.matches((p.get("metadata") or {}).get("labels") or {})]
        try:
            listed = await self.ctx.client.rest.request("GET", METRICS_PATH.format(namespace=ns),
                                                        params={"labelSelector": selector})
        except errors.APIError as err:
            raise MetricsError("FailedGetResourceMetric", f"unable to get metrics for resource: unable to fetch "
                               f"metrics from resource metrics API: {err}") from None
        metrics = {m["metadata"]["name"]: m for m in (listed or {}).get("items") or []}
        best: tuple[int, str] | None = None
        current_metrics: list[dict[str, Any]] = []
        specs = (hpa.get("spec") or {}).get("metrics") or [
            {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization",
                                                                         "averageUtilization": 80}}}]
        for m in specs:
            if m.get("type") != "Resource":
                raise MetricsError("InvalidMetricSourceType", f"metric type {m.get('type')!r} is not supported "
                                   "by sampan's HPA controller yet (only Resource)")
            res = m.get("resource") or {}
            resource, tgt = str(res.get("name") or ""), res.get("target") or {}
            utilization = tgt.get("type") == "Utilization"
            target_avg = (float(Quantity.parse(tgt["averageValue"])) * (1000 if resource == "cpu" else 1)
                          if not utilization and tgt.get("averageValue") is not None else None)
            if not utilization and target_avg is None:
                raise MetricsError("InvalidMetricSourceType", f"the {resource} target has no averageValue")
            rec: Recommendation = calculate(
                current=current, pods=pods, metrics=metrics, resource=resource,
                target_utilization=int(tgt.get("averageUtilization") or 0) if utilization else None,
                target_average=target_avg, tolerance=self.options.horizontal_pod_autoscaler_tolerance)
            value = f"{int(rec.average_value)}m" if resource == "cpu" else str(int(rec.average_value))
            current_entry: dict[str, Any] = {"averageValue": value}
            if rec.utilization is not None:
                current_entry["averageUtilization"] = rec.utilization
            current_metrics.append({"type": "Resource", "resource": {"name": resource, "current": current_entry}})
            if best is None or rec.replicas > best[0]:
                best = (rec.replicas, _metric_text(resource, utilization))
        assert best is not None
        return best[0], best[1], current_metrics

    async def _write_status(self, hpa: dict[str, Any], status: dict[str, Any], *,
                            conditions: list[dict[str, Any]]) -> None:
        merged = {c["type"]: c for c in (hpa.get("status") or {}).get("conditions") or []}
        merged.update({c["type"]: c for c in conditions})
        status = {**status, "conditions": [merged[k] for k in ("AbleToScale", "ScalingActive", "ScalingLimited")
                                           if k in merged]}
        if status == (hpa.get("status") or {}):
            return
        client = await self.ctx.client.resource("autoscaling/v2", "horizontalpodautoscalers")
        await client.update_status({**hpa, "status": status})


def _limit_message(reason: str) -> str:
    return {
        "TooManyReplicas": "the desired replica count is more than the maximum replica count",
        "TooFewReplicas": "the desired replica count is less than the minimum replica count",
        "ScaleUpLimit": "the desired replica count is increasing faster than the maximum scale rate",
        "ScaleDownLimit": "the desired replica count is decreasing faster than the maximum scale rate",
        "ScaleUpDisabled": "scaling up is disabled by the HPA's behavior",
        "ScaleDownDisabled": "scaling down is disabled by the HPA's behavior",
    }.get(reason, reason)
