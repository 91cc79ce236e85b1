"""The HPA controller: every ``sync_period`` (15 s) each HorizontalPodAutoscaler is reconciled.

``reconcile(key)``: read the target's ``scale`` subresource (any kind serving one: Deployments,
ReplicaSets, StatefulSets, custom resources), list its pods by ``status.selector``, compute a
recommendation per metric from the metrics APIs behind the aggregation layer (:mod:`.sources`:
Resource and ContainerResource from ``metrics.k8s.io``, Pods and Object from ``custom.metrics.k8s.io``,
External from ``external.metrics.k8s.io``; the calculations in :mod:`.replicas`; the largest wins),
stabilize and bound it (:mod:`.behavior`, min/max replicas), write the new ``spec.replicas`` to the
scale subresource with a ``SuccessfulRescale`` event, and write the HPA's status (current/desired
replicas, currentMetrics, lastScaleTime, the conditions
AbleToScale, ScalingActive and ScalingLimited with upstream's reasons).

A metric that cannot be read makes ScalingActive False with upstream's reason (``FailedGetPodsMetric``,
``FailedGetObjectMetric``, ``FailedGetExternalMetric``, ...) and a Warning event of that reason, unless
another metric is valid and does not scale down.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from sampan.api import errors
from sampan.api.selectors import LabelSelector
from sampan.client import EventHandlerFuncs, SharedIndexInformer
from sampan.client.cache import split_meta_namespace_key
from sampan.controllers.manager import ControllerContext
from sampan.controllers.podautoscaler import behavior
from sampan.controllers.podautoscaler.replicas import MetricsError
from sampan.controllers.podautoscaler.sources import MetricSources
from sampan.controllers.pods import format_time
from sampan.controllers.runner import Enqueuer, Result

log = logging.getLogger(__name__)

def _key(obj: Any) -> str:
    md = obj["metadata"]
    return f"{md.get('namespace', '')}/{md['name']}"


def _condition(kind: str, status: bool, reason: str, message: str, *, now: str,
               old: list[dict[str, Any]]) -> dict[str, Any]:
    value = "True" if status else "False"
    prev = next((c for c in old if c.get("type") == kind), None)
    when = prev.get("lastTransitionTime", now) if prev is not None and prev.get("status") == value else now
    return {"type": kind, "status": value, "lastTransitionTime": when, "reason": reason, "message": message}


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
        """The largest recommendation over the HPA's metrics, as upstream: a metric that cannot be read is
        skipped unless every metric failed, or the others would scale down (then the first error is raised,
        so a broken metric never shrinks the target)."""
        ns = hpa["metadata"]["namespace"]
        selector = str((scale.get("status") or {}).get("selector") or "")
        if not selector:
            raise MetricsError("InvalidSelector", "the target's scale has no selector (status.selector)")
        match = LabelSelector.parse(selector)
        pods = [p for p in self.pod_lister.namespaced(ns).list()
                if match.matches((p.get("metadata") or {}).get("labels") or {})]
        sources = MetricSources(self.ctx.client, namespace=ns, selector=selector, pods=pods, current=current,
                                status_replicas=int((scale.get("status") or {}).get("replicas") or 0),
                                tolerance=self.options.horizontal_pod_autoscaler_tolerance)
        specs = (hpa.get("spec") or {}).get("metrics") or [
            {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization",
                                                                         "averageUtilization": 80}}}]
        best: tuple[int, str] | None = None
        current_metrics: list[dict[str, Any]] = []
        first_error: MetricsError | None = None
        skipped: list[MetricsError] = []
        for m in specs:
            try:
                computed = await sources.compute(m)
            except MetricsError as err:
                first_error = first_error or err
                skipped.append(err)
                continue
            current_metrics.append(computed.status)
            if best is None or computed.replicas > best[0]:
                best = (computed.replicas, computed.text)
        if best is None or (first_error is not None and best[0] < current):
            assert first_error is not None
            raise first_error
        for failure in skipped:  # upstream records each metric it could not read, even when others decide
            self.recorder.event(hpa, "Warning", failure.reason, failure.message)
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
