"""Jobs as a CronJob sees them: the Job built for one scheduled time, whether a Job finished, and which
finished Jobs the history limits let go. Pure functions over dicts."""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Mapping
from typing import Any

from sampan.controllers.ownership import new_controller_ref
from sampan.controllers.pods import parse_time

SCHEDULED_TIMESTAMP = "batch.kubernetes.io/cronjob-scheduled-timestamp"
"""Annotation on a Job: the time it was scheduled for, RFC 3339 in the CronJob's time zone."""


def job_name(cronjob_name: str, scheduled: dt.datetime) -> str:
    """``<cronjob>-<scheduled time in minutes since the epoch>``, upstream's deterministic name (so two
    controllers never start the same run twice)."""
    return f"{cronjob_name}-{int(scheduled.timestamp()) // 60}"


def rfc3339(t: dt.datetime) -> str:
    text = t.isoformat(timespec="seconds")
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def job_for(cronjob: Mapping[str, Any], scheduled: dt.datetime) -> dict[str, Any]:
    """The Job a CronJob creates for ``scheduled``: the template's labels, annotations (plus the scheduled
    timestamp) and spec, owned by the CronJob."""
    template = (cronjob.get("spec") or {}).get("jobTemplate") or {}
    tmeta = template.get("metadata") or {}
    md = cronjob["metadata"]
    annotations = dict(tmeta.get("annotations") or {})
    annotations[SCHEDULED_TIMESTAMP] = rfc3339(scheduled)
    meta: dict[str, Any] = {
        "name": job_name(md["name"], scheduled), "namespace": md.get("namespace", "default"),
        "annotations": annotations,
        "ownerReferences": [new_controller_ref(cronjob, api_version="batch/v1", kind="CronJob")],
    }
    if tmeta.get("labels"):
        meta["labels"] = dict(tmeta["labels"])
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": meta,
            "spec": copy.deepcopy(template.get("spec") or {})}


def finished(job: Mapping[str, Any]) -> str | None:
    """``Complete`` or ``Failed`` when the Job has that condition True; else None."""
    for c in (job.get("status") or {}).get("conditions") or []:
        if c.get("type") in ("Complete", "Failed") and c.get("status") == "True":
            return str(c["type"])
    return None


def reference(job: Mapping[str, Any]) -> dict[str, Any]:
    """The ObjectReference kept in ``status.active``."""
    md = job["metadata"]
    return {"kind": "Job", "namespace": md.get("namespace"), "name": md["name"], "uid": md.get("uid"),
            "apiVersion": "batch/v1", "resourceVersion": md.get("resourceVersion")}


def _start(job: Mapping[str, Any]) -> float:
    started = parse_time((job.get("status") or {}).get("startTime"))
    return started if started is not None else -1.0  # never started: oldest, as upstream sorts nil first


def beyond_history(jobs: list[dict[str, Any]], *, successful_limit: int | None,
                   failed_limit: int | None) -> list[dict[str, Any]]:
    """The finished Jobs to delete: the oldest (by start time) beyond each limit; None means unlimited."""
    doomed: list[dict[str, Any]] = []
    for kind, limit in (("Complete", successful_limit), ("Failed", failed_limit)):
        if limit is None:
            continue
        done = sorted((j for j in jobs if finished(j) == kind), key=_start)
        doomed += done[: max(0, len(done) - limit)]
    return doomed
