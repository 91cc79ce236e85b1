"""The CronJob controller: create a Job for each time a CronJob's schedule fires (upstream's v2 controller).

``reconcile(key)``, level-based from the listers, in upstream's order:

1. reconcile ``status.active`` with the owned Jobs: drop references to Jobs that are gone (``MissingJob``)
   or finished (``SawCompletedJob``; a Complete one advances ``lastSuccessfulTime``); a running owned Job
   missing from it is not adopted (``UnexpectedJob``, as upstream: ``kubectl create job --from=cronjob``)
   unless the stored CronJob, read past the cache, lists it;
2. delete finished Jobs beyond ``successfulJobsHistoryLimit``/``failedJobsHistoryLimit`` (oldest first);
3. unless the CronJob is being deleted or ``suspend``ed: find the most recent fire time in the CronJob's
   ``timeZone`` since ``lastScheduleTime`` (or creation), bounded by ``startingDeadlineSeconds``; more
   than 100 missed times earn the ``TooManyMissedTimes`` warning and only the latest is started; a time
   older than the starting deadline is skipped (``MissSchedule``); ``concurrencyPolicy`` Forbid skips
   while a Job is active (``JobAlreadyActive``), Replace deletes the active Jobs first; the Job is named
   ``<cronjob>-<minutes since epoch>`` (so a retry never starts a run twice) and annotated with
   ``batch.kubernetes.io/cronjob-scheduled-timestamp``;
4. write status and requeue for the next fire time on the injected clock.
"""

from __future__ import annotations

import datetime as dt
import logging
import zoneinfo
from collections.abc import Sequence
from typing import Any

from sampan.api import cronschedule, errors
from sampan.client import EventHandlerFuncs, SharedIndexInformer
from sampan.client.cache import DeletedFinalStateUnknown, split_meta_namespace_key
from sampan.controllers.cronjob import jobs as cj
from sampan.controllers.cronjob.times import MAX_MISSED, most_recent, next_after
from sampan.controllers.manager import ControllerContext
from sampan.controllers.ownership import controller_ref
from sampan.controllers.pods import format_time, parse_time
from sampan.controllers.runner import Enqueuer, Result

log = logging.getLogger(__name__)
_NEXT_SLACK = 0.1
"""Seconds past a fire time the controller wakes (upstream's nextScheduleDelta)."""


def _key(obj: Any) -> str:
    md = obj["metadata"]
    return f"{md.get('namespace', '')}/{md['name']}"


class CronJobController:
    name = "cronjob"

    def __init__(self, ctx: ControllerContext) -> None:
        self.ctx = ctx
        self.clock = ctx.clock
        self.cronjob_informer = ctx.informers.informer("batch/v1", "cronjobs")
        self.job_informer = ctx.informers.informer("batch/v1", "jobs")
        self.cronjob_lister = ctx.informers.lister("batch/v1", "cronjobs")
        self.job_lister = ctx.informers.lister("batch/v1", "jobs")
        self.recorder = ctx.recorder("cronjob-controller")
        self._queue: Enqueuer | None = None

    def informers(self) -> Sequence[SharedIndexInformer]:
        return (self.cronjob_informer, self.job_informer)

    def watch(self, queue: Enqueuer) -> None:
        self._queue = queue
        self.cronjob_informer.add_event_handler(EventHandlerFuncs(
            on_add_func=lambda c: queue.add(_key(c)), on_update_func=lambda old, new: queue.add(_key(new))))
        self.job_informer.add_event_handler(EventHandlerFuncs(
            on_add_func=self._job_changed, on_update_func=lambda old, new: self._job_changed(new),
            on_delete_func=self._job_changed))

    def _job_changed(self, obj: Any) -> None:
        job = obj.obj if isinstance(obj, DeletedFinalStateUnknown) else obj
        ref = controller_ref(job)
        if ref is not None and ref.get("kind") == "CronJob" and self._queue is not None:
            self._queue.add(f"{job['metadata'].get('namespace', '')}/{ref['name']}")

    # ---- reconcile ----------------------------------------------------------------------------------------

    async def reconcile(self, key: str) -> Result | None:
        ns, name = split_meta_namespace_key(key)
        try:
            cronjob = self.cronjob_lister.namespaced(ns).get(name)
        except errors.NotFound:
            return None
        uid = cronjob["metadata"].get("uid")
        owned = [j for j in self.job_lister.namespaced(ns).list()
                 if (controller_ref(j) or {}).get("uid") == uid]
        old = dict(cronjob.get("status") or {})
        status = dict(old)
        await self._reconcile_active(cronjob, owned, status)
        await self._prune_history(cronjob, owned)
        requeue = await self._schedule(cronjob, status)
        status = {k: v for k, v in status.items() if v not in (None, [])}
        if status != {k: v for k, v in old.items() if v not in (None, [])}:
            client = await self.ctx.client.resource("batch/v1", "cronjobs")
            await client.update_status({**cronjob, "status": status})
        return Result(requeue_after=requeue) if requeue is not None else None

    async def _reconcile_active(self, cronjob: dict[str, Any], owned: list[dict[str, Any]],
                                status: dict[str, Any]) -> None:
        by_uid = {j["metadata"].get("uid"): j for j in owned}
        active: list[dict[str, Any]] = []
        for ref in status.get("active") or []:
            job = by_uid.get(ref.get("uid"))
            if job is None:
                self.recorder.event(cronjob, "Normal", "MissingJob", f"Active job went missing: {ref.get('name')}")
                continue
            if cj.finished(job) is None:
                active.append(ref)
        seen = {ref.get("uid") for ref in active}
        for job in owned:
            state = cj.finished(job)
            if state is None:
                if job["metadata"].get("uid") not in seen and not job["metadata"].get("deletionTimestamp"):
                    if await self._live_active_has(cronjob, job):  # our own write, not in the cache yet
                        active.append(cj.reference(job))
                    else:
                        self.recorder.event(cronjob, "Warning", "UnexpectedJob",
                                            f"Saw a job that the controller did not create or forgot: "
                                            f"{job['metadata']['name']}")
                continue
            was_active = any(r.get("uid") == job["metadata"].get("uid") for r in status.get("active") or [])
            if was_active:
                self.recorder.event(cronjob, "Normal", "SawCompletedJob",
                                    f"Saw completed job: {job['metadata']['name']}, status: {state}")
            done_at = parse_time((job.get("status") or {}).get("completionTime"))
            last = parse_time(status.get("lastSuccessfulTime"))
            if state == "Complete" and done_at is not None and (last is None or done_at > last):
                status["lastSuccessfulTime"] = format_time(done_at)
        status["active"] = active

    async def _live_active_has(self, cronjob: dict[str, Any], job: dict[str, Any]) -> bool:
        """Whether the stored CronJob (read from the API, as upstream, past a stale cache) lists ``job`` as active."""
        client = await self.ctx.client.resource("batch/v1", "cronjobs")
        md = cronjob["metadata"]
        try:
            live = await client.get(md["name"], namespace=md.get("namespace", ""))
        except errors.NotFound:
            return False
        uid = job["metadata"].get("uid")
        return any(ref.get("uid") == uid for ref in (live.get("status") or {}).get("active") or [])

    async def _prune_history(self, cronjob: dict[str, Any], owned: list[dict[str, Any]]) -> None:
        spec = cronjob.get("spec") or {}
        doomed = cj.beyond_history(owned, successful_limit=spec.get("successfulJobsHistoryLimit"),
                                   failed_limit=spec.get("failedJobsHistoryLimit"))
        if not doomed:
            return
        client = await self.ctx.client.resource("batch/v1", "jobs")
        for job in doomed:
            if job["metadata"].get("deletionTimestamp"):
                continue
            await self._delete_job(cronjob, job, client)

    async def _delete_job(self, cronjob: dict[str, Any], job: dict[str, Any], client: Any) -> None:
        try:
            await client.delete(job["metadata"]["name"], namespace=job["metadata"]["namespace"],
                                propagation_policy="Background")
        except errors.NotFound:
            return
        self.recorder.event(cronjob, "Normal", "SuccessfulDelete", f"Deleted job {job['metadata']['name']}")

    async def _schedule(self, cronjob: dict[str, Any], status: dict[str, Any]) -> float | None:
        """Start the Job due now, if any; seconds until the next fire time (None: never / not scheduling)."""
        spec = cronjob.get("spec") or {}
        md = cronjob["metadata"]
        if md.get("deletionTimestamp") or spec.get("suspend"):
            return None
        try:
            zone: dt.tzinfo = zoneinfo.ZoneInfo(spec["timeZone"]) if spec.get("timeZone") else dt.UTC
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as e:
            self.recorder.event(cronjob, "Warning", "UnknownTimeZone",
                                f"invalid timeZone: {spec.get('timeZone')!r}: {e}")
            return None
        try:
            sched = cronschedule.parse(str(spec.get("schedule") or ""))
        except ValueError as e:
            self.recorder.event(cronjob, "Warning", "UnparseableSchedule",
                                f"unparseable schedule: {spec.get('schedule')!r} : {e}")
            return None
        now_ts = self.clock.wall()
        now = dt.datetime.fromtimestamp(now_ts, zone)
        since = parse_time(status.get("lastScheduleTime")) or parse_time(md.get("creationTimestamp")) or now_ts
        deadline = spec.get("startingDeadlineSeconds")
        if deadline is not None:
            since = max(since, now_ts - int(deadline))
        scheduled, missed = most_recent(sched, dt.datetime.fromtimestamp(since, zone), now)
        if missed > MAX_MISSED:
            self.recorder.event(cronjob, "Warning", "TooManyMissedTimes",
                                f"too many missed start times: {missed}. Set or decrease "
                                ".spec.startingDeadlineSeconds or check clock skew")
        if scheduled is not None:
            await self._start(cronjob, status, scheduled, now_ts=now_ts)
        upcoming = next_after(sched, now)
        return None if upcoming is None else max(0.0, upcoming.timestamp() - now_ts) + _NEXT_SLACK

    async def _start(self, cronjob: dict[str, Any], status: dict[str, Any], scheduled: dt.datetime, *,
                     now_ts: float) -> None:
        spec = cronjob.get("spec") or {}
        deadline = spec.get("startingDeadlineSeconds")
        if deadline is not None and scheduled.timestamp() + int(deadline) < now_ts:
            self.recorder.event(cronjob, "Warning", "MissSchedule",
                                f"Missed scheduled time to start a job: {cj.rfc3339(scheduled)}")
            return
        body = cj.job_for(cronjob, scheduled)
        name = body["metadata"]["name"]
        if any(r.get("name") == name for r in status.get("active") or []) or \
                parse_time(status.get("lastScheduleTime")) == scheduled.timestamp():
            return
        active = list(status.get("active") or [])
        policy = spec.get("concurrencyPolicy") or "Allow"
        if policy == "Forbid" and active:
            self.recorder.event(cronjob, "Normal", "JobAlreadyActive",
                                "Not starting job because prior execution is running and concurrency policy is Forbid")
            return
        client = await self.ctx.client.resource("batch/v1", "jobs")
        if policy == "Replace" and active:
            ns = cronjob["metadata"].get("namespace", "")
            for ref in active:
                try:
                    job = self.job_lister.namespaced(ns).get(ref["name"])
                except errors.NotFound:
                    continue
                await self._delete_job(cronjob, job, client)
            active = []
        try:
            job = await client.create(body)
        except errors.AlreadyExists:
            # created by an earlier attempt whose status write was lost: record it as scheduled
            status["lastScheduleTime"] = format_time(scheduled.timestamp())
            return
        self.recorder.event(cronjob, "Normal", "SuccessfulCreate", f"Created job {name}")
        status["active"] = [*active, cj.reference(job)]
        status["lastScheduleTime"] = format_time(scheduled.timestamp())
