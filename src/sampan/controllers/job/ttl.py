"""The TTL-after-finished controller: delete a finished Job ``ttlSecondsAfterFinished`` seconds after
it finished (its Complete or Failed condition's transition time; completionTime as a fallback).

Level-based: ``reconcile`` computes the expiry from the cached Job; before expiry it asks to be requeued
at the expiry; at expiry it re-reads the Job from the API (the cache may be stale: the TTL may have been
changed) and deletes it with the uid as a precondition, propagation ``Background`` (its pods are then
removed by the garbage collector through their owner references).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from sampan.api import errors
from sampan.client import EventHandlerFuncs, SharedIndexInformer
from sampan.client.cache import split_meta_namespace_key
from sampan.controllers.job.status import COMPLETE, FAILED, is_finished
from sampan.controllers.manager import ControllerContext
from sampan.controllers.pods import parse_time
from sampan.controllers.runner import Enqueuer, Result

log = logging.getLogger(__name__)


def expires_at(job: dict[str, Any]) -> float | None:
    """When ``job`` may be deleted; None when it has no TTL or has not finished."""
    ttl = (job.get("spec") or {}).get("ttlSecondsAfterFinished")
    if ttl is None or not is_finished(job):
        return None
    status = job.get("status") or {}
    finished = None
    for c in status.get("conditions") or []:
        if c.get("type") in (COMPLETE, FAILED) and c.get("status") == "True":
            finished = parse_time(c.get("lastTransitionTime"))
    if finished is None:
        finished = parse_time(status.get("completionTime"))
    if finished is None:
        return None
    return finished + int(ttl)


class TTLAfterFinishedController:
    name = "ttl-after-finished"

    def __init__(self, ctx: ControllerContext) -> None:
        self.ctx = ctx
        self.clock = ctx.clock
        self.informer = ctx.informers.informer("batch/v1", "jobs")
        self.lister = ctx.informers.lister("batch/v1", "jobs")

    def informers(self) -> Sequence[SharedIndexInformer]:
        return (self.informer,)

    def watch(self, queue: Enqueuer) -> None:
        def enqueue(job: Any) -> None:
            if (job.get("spec") or {}).get("ttlSecondsAfterFinished") is not None and is_finished(job):
                queue.add(f"{job['metadata'].get('namespace', '')}/{job['metadata']['name']}")

        self.informer.add_event_handler(EventHandlerFuncs(
            on_add_func=enqueue, on_update_func=lambda old, new: enqueue(new)))

    async def reconcile(self, key: str) -> Result | None:
        ns, name = split_meta_namespace_key(key)
        try:
            job = self.lister.namespaced(ns).get(name)
        except errors.NotFound:
            return None
        if job["metadata"].get("deletionTimestamp"):
            return None
        at = expires_at(job)
        if at is None:
            return None
        now = self.clock.wall()
        if at > now:
            return Result(requeue_after=at - now)
        jobs = await self.ctx.client.resource("batch/v1", "jobs")
        try:
            fresh = await jobs.get(name, namespace=ns)
        except errors.NotFound:
            return None
        at = expires_at(fresh)
        if at is None:
            return None
        if at > now:
            return Result(requeue_after=at - now)
        log.info("deleting expired job job=%s", key)
        try:
            await jobs.delete(name, namespace=ns, propagation_policy="Background", uid=fresh["metadata"]["uid"])
        except errors.NotFound:
            pass
        return None
