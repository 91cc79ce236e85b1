"""The Job controller: run pods until ``completions`` succeed (NonIndexed), every index 0..completions-1
succeeded (Indexed), or any succeeded with no completions set (work queue); fail the Job past
``backoffLimit`` failed pods, past ``activeDeadlineSeconds``, or on a ``FailJob`` pod failure policy rule.

``reconcile(key)``, level-based from the listers: claim pods; count succeeded/failed pods (counts never go
down); decide finished (Complete or Failed: active pods are deleted, conditions written); suspended
(active pods deleted, Suspended condition); else create or delete pods toward the wanted number of active
pods, waiting out the failure back-off (base * 2^(failures-1), capped) before creating replacements.
Expectations as in the ReplicaSet controller guard against a stale pod cache.

Limitation: without upstream's pod tracking finalizers, a failed pod deleted by someone else before the
controller counted it is not counted.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from sampan.api import errors
from sampan.api.omitempty import JOB_STATUS, drop_zero
from sampan.api.selectors import LabelSelector
from sampan.client import EventHandlerFuncs, SharedIndexInformer
from sampan.client.cache import DeletedFinalStateUnknown, split_meta_namespace_key
from sampan.controllers.expectations import UIDTrackingExpectations
from sampan.controllers.job import status as js
from sampan.controllers.job.pods import create_pods, wanted
from sampan.controllers.manager import ControllerContext
from sampan.controllers.owned_pod_events import OwnedPodEvents
from sampan.controllers.ownership import CONTROLLER_UID_INDEX, claim, controller_ref, controller_uid_index
from sampan.controllers.pods import format_time, is_active, is_ready, parse_time, phase
from sampan.controllers.runner import Enqueuer, Result

log = logging.getLogger(__name__)


def _key(obj: Any) -> str:
    md = obj["metadata"]
    return f"{md.get('namespace', '')}/{md['name']}"


def _finished_at(pod: dict[str, Any]) -> float | None:
    times = [parse_time(((cs.get("state") or {}).get("terminated") or {}).get("finishedAt"))
             for cs in (pod.get("status") or {}).get("containerStatuses") or []]
    known = [t for t in times if t is not None]
    return max(known) if known else None


class JobController:
    name = "job"

    def __init__(self, ctx: ControllerContext) -> None:
        self.ctx = ctx
        self.clock = ctx.clock
        self.job_informer = ctx.informers.informer("batch/v1", "jobs")
        self.pod_informer = ctx.informers.informer("v1", "pods", indexers={CONTROLLER_UID_INDEX: controller_uid_index})
        self.job_lister = ctx.informers.lister("batch/v1", "jobs")
        self.expectations = UIDTrackingExpectations(ttl=ctx.options.expectations_ttl, clock=ctx.clock)
        self.recorder = ctx.recorder("job-controller")
        self.backoff_base = ctx.options.job_backoff_base
        self.backoff_max = ctx.options.job_backoff_max
        self._queue: Enqueuer | None = None

    def informers(self) -> Sequence[SharedIndexInformer]:
        return (self.job_informer, self.pod_informer)

    # ---- handlers -----------------------------------------------------------------------------------------

    def watch(self, queue: Enqueuer) -> None:
        self._queue = queue

        def job_deleted(obj: Any) -> None:
            job = obj.obj if isinstance(obj, DeletedFinalStateUnknown) else obj
            self.expectations.delete_expectations(_key(job))

        self.job_informer.add_event_handler(EventHandlerFuncs(
            on_add_func=lambda j: queue.add(_key(j)), on_update_func=lambda old, new: queue.add(_key(new)),
            on_delete_func=job_deleted))
        self.pod_informer.add_event_handler(OwnedPodEvents(
            owner_key=self._owner_key, expectations=self.expectations, queue=lambda: self._queue).handlers())

    def _owner_key(self, pod: Any) -> str | None:
        ref = controller_ref(pod)
        if ref is None or ref.get("kind") != "Job":
            return None
        ns = pod["metadata"].get("namespace", "")
        try:
            job = self.job_lister.namespaced(ns).get(ref["name"])
        except errors.NotFound:
            return None
        return _key(job) if job["metadata"].get("uid") == ref.get("uid") else None

    # ---- reconcile ----------------------------------------------------------------------------------------

    async def reconcile(self, key: str) -> Result | None:
        ns, name = split_meta_namespace_key(key)
        try:
            job = self.job_lister.namespaced(ns).get(name)
        except errors.NotFound:
            self.expectations.delete_expectations(key)
            return None
        if js.is_finished(job):
            return None
        spec = job.get("spec") or {}
        try:
            selector = LabelSelector.from_dict(spec.get("selector"))
        except ValueError as e:
            log.warning("invalid selector job=%s error=%s", key, e)
            return None
        pods_client = await self.ctx.client.resource("v1", "pods")
        uid = job["metadata"].get("uid")
        candidates = [p for p in self.pod_informer.indexer.by_index(CONTROLLER_UID_INDEX, uid)]
        candidates += [p for p in self.pod_informer.indexer.by_index(CONTROLLER_UID_INDEX, "")
                       if p["metadata"].get("namespace") == ns]
        pods = await claim(pods_client, job, selector, candidates, api_version="batch/v1", kind="Job")
        now = self.clock.wall()
        old = dict(job.get("status") or {})
        status: dict[str, Any] = {k: v for k, v in old.items()}
        active = [p for p in pods if is_active(p)]
        succeeded_pods = [p for p in pods if phase(p) == "Succeeded"]
        failed_pods = [p for p in pods if phase(p) == "Failed"]
        fail_reason: tuple[str, str] | None = None
        counted_failures = []
        for p in failed_pods:
            action = js.failure_policy_action(job, p)
            if action == "FailJob" and fail_reason is None:
                fail_reason = ("PodFailurePolicy", f"Pod {p['metadata']['name']} failed with a FailJob rule")
            if action != "Ignore":
                counted_failures.append(p)
        indexed = spec.get("completionMode") == "Indexed"
        completions = spec.get("completions")
        done_indexes = js.parse_indexes(old.get("completedIndexes")) | {
            i for i in (js.pod_index(p) for p in succeeded_pods) if i is not None}
        status["succeeded"] = max(int(old.get("succeeded") or 0),
                                  len(done_indexes) if indexed else len(succeeded_pods))
        status["failed"] = max(int(old.get("failed") or 0), len(counted_failures))
        if indexed:
            status["completedIndexes"] = js.format_indexes(done_indexes)
        suspended = bool(spec.get("suspend"))
        if not suspended and not old.get("startTime"):
            status["startTime"] = format_time(now)
        start = parse_time(status.get("startTime"))
        deadline = spec.get("activeDeadlineSeconds")
        if fail_reason is None and status["failed"] > int(spec.get("backoffLimit", 6)):
            fail_reason = ("BackoffLimitExceeded", "Job has reached the specified backoff limit")
        if fail_reason is None and deadline is not None and start is not None and not suspended \
                and now - start >= int(deadline):
            fail_reason = ("DeadlineExceeded", "Job was active longer than specified deadline")
        complete = False
        if fail_reason is None:
            if completions is None:
                complete = status["succeeded"] > 0 and not active
            elif indexed:
                complete = all(i in done_indexes for i in range(int(completions)))
            else:
                complete = status["succeeded"] >= int(completions)
        requeue: float | None = None
        if fail_reason is not None or complete or suspended:
            await self._delete(job, key, active, pods_client)
            active = []
            if fail_reason is not None:
                js.set_condition(status, js.FAILED, "True", fail_reason[0], fail_reason[1], now)
                self.recorder.event(job, "Warning", fail_reason[0], fail_reason[1])
            elif complete:
                js.set_condition(status, js.COMPLETE, "True", "", "", now)
                status["completionTime"] = format_time(now)
                self.recorder.event(job, "Normal", "Completed", "Job completed")
            if suspended and fail_reason is None and not complete:
                js.set_condition(status, js.SUSPENDED, "True", "JobSuspended", "Job suspended", now)
        else:
            if js.condition_true(job, js.SUSPENDED):
                js.set_condition(status, js.SUSPENDED, "False", "JobResumed", "Job resumed", now)
            if self.expectations.satisfied(key):
                requeue = await self._manage(job, key, active, succeeded_pods, failed_pods, status, now, pods_client)
            if deadline is not None and start is not None:
                remaining = start + int(deadline) - now
                requeue = remaining if requeue is None else min(requeue, remaining)
        status["active"] = len(active)
        status["ready"] = sum(1 for p in active if is_ready(p))
        # as upstream's (JobPodReplacementPolicy, on by default since 1.29): pods being deleted that have not
        # finished, written even when 0 (a pointer there), and the always-present uncountedTerminatedPods
        status["terminating"] = sum(1 for p in pods if p["metadata"].get("deletionTimestamp")
                                    and phase(p) not in ("Succeeded", "Failed"))
        status.setdefault("uncountedTerminatedPods", {})
        status = drop_zero({k: v for k, v in status.items() if v is not None}, JOB_STATUS)
        if status != old:
            jobs = await self.ctx.client.resource("batch/v1", "jobs")
            await jobs.update_status({**job, "status": status})
        return Result(requeue_after=max(0.0, requeue)) if requeue is not None else None

    async def _manage(self, job: dict[str, Any], key: str, active: list[dict[str, Any]],
                      succeeded: list[dict[str, Any]], failed: list[dict[str, Any]], status: dict[str, Any],
                      now: float, pods_client: Any) -> float | None:
        """Create or delete pods; seconds to wait for the failure back-off (or None)."""
        spec = job.get("spec") or {}
        want, indexes = wanted(spec, active, succeeded, status)
        if len(active) > want:
            extra = sorted(active, key=lambda p: (is_ready(p), p["metadata"].get("creationTimestamp", "")))
            await self._delete(job, key, extra[: len(active) - want], pods_client)
            return None
        if len(active) == want:
            return None
        if failed:
            last = max((_finished_at(p) or now) for p in failed)
            delay = js.backoff_delay(int(status.get("failed") or 0), base=self.backoff_base, maximum=self.backoff_max)
            if last + delay > now:
                return last + delay - now
        count = want - len(active)
        self.expectations.expect_creations(key, count)
        created, error = await create_pods(job, pods_client, count, indexes)
        if error is not None:
            self.expectations.lower_expectations(key, add=count - created)
            self.recorder.event(job, "Warning", "FailedCreate", f"Error creating: {error}")
            raise error
        self.recorder.event(job, "Normal", "SuccessfulCreate", f"Created {created} pods")
        return None

    async def _delete(self, job: dict[str, Any], key: str, pods: list[dict[str, Any]], pods_client: Any) -> None:
        if not pods:
            return
        self.expectations.expect_deletions_of(key, [_key(p) for p in pods])
        for p in pods:
            try:
                await pods_client.delete(p["metadata"]["name"], namespace=p["metadata"]["namespace"])
            except errors.NotFound:
                self.expectations.deletion_observed_for(key, _key(p))
            except BaseException:
                self.expectations.deletion_observed_for(key, _key(p))
                raise
        self.recorder.event(job, "Normal", "SuccessfulDelete", f"Deleted {len(pods)} pods")
