"""batch/v1 cronjobs: Jobs created on a cron schedule.

Defaults, as upstream: ``concurrencyPolicy: Allow``, ``suspend: false``, ``successfulJobsHistoryLimit: 3``,
``failedJobsHistoryLimit: 1`` and the pod defaults inside ``jobTemplate.spec.template``. Validation:
``schedule`` is required and parses as robfig/cron's standard syntax (:mod:`sampan.api.cronschedule`,
upstream's messages), may not carry ``TZ=``/``CRON_TZ=`` (use ``timeZone``, an IANA zone name);
``concurrencyPolicy`` is Allow/Forbid/Replace; deadlines and history limits are non-negative; the job
template is validated like a Job's (restartPolicy OnFailure or Never), with its field paths under
``spec.jobTemplate.spec``. Status is a subresource starting empty, written by the cronjob controller.
Table: Name, Schedule, Timezone, Suspend, Active, Last Schedule, Age, and wide Containers/Images/Selector.
"""

from __future__ import annotations

import zoneinfo
from typing import Any, ClassVar

from sampan.api import cronschedule, humanize, validation
from sampan.api.errors import Cause, invalid, not_supported, required
from sampan.api.podstatus import layout_containers
from sampan.api.resources import ResourceInfo
from sampan.api.selectors import format_label_selector
from sampan.apiserver.registry.base import AGE_COLUMN, NAME_COLUMN, BaseStrategy, age_cell, as_dict, as_list
from sampan.apiserver.registry.pod_defaults import default_pod_template
from sampan.apiserver.registry.strategy import Object, TableColumn
from sampan.apiserver.registry.workloads import (
    CONTAINERS_COLUMN,
    IMAGES_COLUMN,
    validate_non_negative,
    validate_selector_and_template,
)

CONCURRENCY_POLICIES = ["Allow", "Forbid", "Replace"]
_TEMPLATE_PREFIX = "spec.jobTemplate.spec."


def validate_schedule(schedule: Any, time_zone: Any) -> list[Cause]:
    """Upstream's ``validateScheduleFormat``/``validateTimeZone`` for ``spec.schedule``/``spec.timeZone``."""
    causes: list[Cause] = []
    if not schedule:
        causes.append(required("spec.schedule"))
    elif not isinstance(schedule, str):
        causes.append(invalid("spec.schedule", str(schedule), "must be a string"))
    else:
        try:
            cronschedule.parse(schedule)
        except ValueError as exc:
            causes.append(invalid("spec.schedule", schedule, str(exc)))
        if "TZ" in schedule:
            detail = ("cannot use both timeZone field and TZ or CRON_TZ in schedule" if time_zone is not None
                      else "cannot use TZ or CRON_TZ in schedule, use timeZone field instead")
            causes.append(invalid("spec.schedule", schedule, detail))
    if time_zone is not None:
        causes += _validate_time_zone(time_zone)
    return causes


def _validate_time_zone(tz: Any) -> list[Cause]:
    if not isinstance(tz, str) or tz == "":
        return [invalid("spec.timeZone", str(tz), "timeZone must be nil or non-empty string")]
    if tz.lower() == "local":
        return [invalid("spec.timeZone", tz, "timeZone must be an explicit time zone as defined in "
                        "https://www.iana.org/time-zones")]
    try:
        zoneinfo.ZoneInfo(tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return [invalid("spec.timeZone", tz, f"unknown time zone {tz}")]
    return []


def _under_job_template(cause: Cause) -> Cause:
    field = cause.field
    if field.startswith("spec."):
        field = _TEMPLATE_PREFIX + field[len("spec."):]
    return Cause(cause.type, field, cause.message)


class CronJobStrategy(BaseStrategy):
    info = ResourceInfo(
        group="batch", version="v1", resource="cronjobs", kind="CronJob", singular="cronjob", namespaced=True,
        short_names=("cj",), categories=("all",), subresources=("status",),
    )
    has_status = True
    tracks_generation = True
    defaults = (
        ("spec.concurrencyPolicy", "Allow"),
        ("spec.suspend", False),
        ("spec.successfulJobsHistoryLimit", 3),
        ("spec.failedJobsHistoryLimit", 1),
    )
    columns: ClassVar[tuple[TableColumn, ...]] = (
        NAME_COLUMN,
        TableColumn("Schedule", description="The schedule in Cron format, see https://en.wikipedia.org/wiki/Cron."),
        TableColumn("Timezone", description="The time zone name for the given schedule, see "
                    "https://en.wikipedia.org/wiki/List_of_tz_database_time_zones."),
        TableColumn("Suspend", type="boolean", description="This flag tells the controller to suspend subsequent "
                    "executions, it does not apply to already started executions.  Defaults to false."),
        TableColumn("Active", type="integer", description="A list of pointers to currently running jobs."),
        TableColumn("Last Schedule", description="Information when was the last time the job was successfully "
                    "scheduled."),
        AGE_COLUMN,
        CONTAINERS_COLUMN,
        IMAGES_COLUMN,
        TableColumn("Selector", priority=1, description="A label query over pods that should match the pod "
                    "count. Normally, the system sets this field for you."),
    )

    def initial_status(self, obj: Object) -> dict[str, Any] | None:
        return {}

    def default(self, obj: Object) -> None:
        if isinstance(as_dict(obj.get("spec")).get("jobTemplate"), dict):
            default_pod_template(obj, ("spec", "jobTemplate", "spec", "template"))

    def validate_spec(self, obj: Object) -> list[Cause]:
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return [required("spec")] if spec is None else [invalid("spec", str(spec), "must be an object")]
        causes = validate_schedule(spec.get("schedule"), spec.get("timeZone"))
        policy = spec.get("concurrencyPolicy")
        if not policy:
            causes.append(required("spec.concurrencyPolicy"))
        elif policy not in CONCURRENCY_POLICIES:
            causes.append(not_supported("spec.concurrencyPolicy", policy, CONCURRENCY_POLICIES))
        for key in ("startingDeadlineSeconds", "successfulJobsHistoryLimit", "failedJobsHistoryLimit"):
            causes += validate_non_negative(spec, key)
        template = spec.get("jobTemplate")
        if not isinstance(template, dict):
            return [*causes, required("spec.jobTemplate")]
        tmeta = as_dict(template.get("metadata"))
        causes += validation.validate_labels(tmeta.get("labels"), "spec.jobTemplate.metadata.labels")
        causes += validation.validate_annotations(tmeta.get("annotations"), "spec.jobTemplate.metadata.annotations")
        job_spec = as_dict(template.get("spec"))
        job_causes = validate_selector_and_template(
            job_spec, kind="job", restart_policies=["OnFailure", "Never"],
            selector_required=job_spec.get("manualSelector") is True,
        )
        for key in ("parallelism", "completions", "backoffLimit"):
            job_causes += validate_non_negative(job_spec, key)
        return causes + [_under_job_template(c) for c in job_causes]

    def row_cells(self, obj: Object, now: float) -> list[Any]:
        spec, status = as_dict(obj.get("spec")), as_dict(obj.get("status"))
        suspend = spec.get("suspend")
        last = status.get("lastScheduleTime")
        job_spec = as_dict(as_dict(spec.get("jobTemplate")).get("spec"))
        names, images = layout_containers(as_dict(as_dict(job_spec.get("template")).get("spec")).get("containers"))
        return [
            str(spec.get("schedule") or ""),
            str(spec["timeZone"]) if spec.get("timeZone") is not None else "<none>",
            ("True" if suspend else "False") if isinstance(suspend, bool) else "<unset>",
            len(as_list(status.get("active"))),
            humanize.age_since(last, now) if last else "<none>",
            age_cell(obj, now),
            names, images, format_label_selector(job_spec.get("selector")),
        ]
