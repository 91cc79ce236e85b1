"""batch/v1 jobs: defaults (parallelism, completions, backoffLimit 6, completionMode NonIndexed,
suspend false, podReplacementPolicy), the generated selector and template labels from the job's uid
(unless ``manualSelector``), restartPolicy OnFailure/Never, immutable selector/completions/template,
``status.successful`` as a field selector and the ``kubectl get jobs`` table.

The selector is generated as soon as the object has a uid (in ``prepare_for_create`` when the
handler set the uid first, else in ``validate``, where upstream does it too).
"""

from __future__ import annotations

from typing import Any, ClassVar

from sampan.api import humanize, meta, validation
from sampan.api.errors import Cause, invalid, not_supported
from sampan.api.resources import ResourceInfo
from sampan.apiserver.registry.base import AGE_COLUMN, NAME_COLUMN, BaseStrategy, age_cell, as_dict, as_int, as_list
from sampan.apiserver.registry.strategy import Object, TableColumn
from sampan.apiserver.registry.workloads import (
    CONTAINERS_COLUMN,
    IMAGES_COLUMN,
    default_template,
    template_cells,
    validate_non_negative,
    validate_selector_and_template,
    validate_selector_unchanged,
)

CONTROLLER_UID_LABEL = "batch.kubernetes.io/controller-uid"
JOB_NAME_LABEL = "batch.kubernetes.io/job-name"
LEGACY_CONTROLLER_UID_LABEL = "controller-uid"
LEGACY_JOB_NAME_LABEL = "job-name"


class JobStrategy(BaseStrategy):
    info = ResourceInfo(
        group="batch", version="v1", resource="jobs", kind="Job", singular="job", namespaced=True,
        categories=("all",), subresources=("status",),
    )
    has_status = True
    tracks_generation = True
    defaults = (
        ("spec.backoffLimit", 6),
        ("spec.completionMode", "NonIndexed"),
        ("spec.suspend", False),
    )
    selectable_fields = (("status.successful", "status.succeeded"),)
    columns: ClassVar[tuple[TableColumn, ...]] = (
        NAME_COLUMN,
        TableColumn("Status", description="Status of the job."),
        TableColumn("Completions", description="The number of pods which reached phase Succeeded. The value "
                    "increases monotonically for a given spec."),
        TableColumn("Duration", description="Time required to complete the job."),
        AGE_COLUMN,
        CONTAINERS_COLUMN,
        IMAGES_COLUMN,
        TableColumn("Selector", priority=1, description="A label query over pods that should match the pod count."),
    )

    def initial_status(self, obj: Object) -> dict[str, Any] | None:
        return {}

    def default(self, obj: Object) -> None:
        spec = meta.ensure_map(obj, "spec")
        if spec.get("completions") is None and spec.get("parallelism") is None:
            spec["completions"] = 1
            spec["parallelism"] = 1
        elif spec.get("parallelism") is None:
            spec["parallelism"] = 1
        tspec = as_dict(as_dict(spec.get("template")).get("spec"))
        if tspec.get("podFailurePolicy") is None and spec.get("podReplacementPolicy") is None:
            spec["podReplacementPolicy"] = "TerminatingOrFailed"
        default_template(obj)
        generate_selector(obj)

    def validate(self, obj: Object) -> list[Cause]:
        generate_selector(obj)
        return super().validate(obj)

    def validate_spec(self, obj: Object) -> list[Cause]:
        spec = as_dict(obj.get("spec"))
        causes = validate_selector_and_template(
            spec, kind="job", restart_policies=["OnFailure", "Never"],
            selector_required=spec.get("manualSelector") is True,
        )
        for key in ("parallelism", "completions", "backoffLimit"):
            causes += validate_non_negative(spec, key)
        deadline = spec.get("activeDeadlineSeconds")
        if deadline is not None and (not isinstance(deadline, int) or deadline <= 0):
            causes.append(invalid("spec.activeDeadlineSeconds", deadline, "must be greater than 0"))
        mode = spec.get("completionMode")
        if mode not in (None, "NonIndexed", "Indexed"):
            causes.append(not_supported("spec.completionMode", mode, ["NonIndexed", "Indexed"]))
        if mode == "Indexed" and spec.get("completions") is None:
            causes.append(Cause("FieldValueRequired", "spec.completions",
                                "Required value: when completion mode is Indexed"))
        return causes

    def validate_spec_update(self, obj: Object, old: Object) -> list[Cause]:
        new_spec, old_spec = as_dict(obj.get("spec")), as_dict(old.get("spec"))
        causes = validate_selector_unchanged(new_spec.get("selector"), old_spec.get("selector"))
        causes += validation.validate_immutable(new_spec.get("completionMode"), old_spec.get("completionMode"),
                                                "spec.completionMode")
        if new_spec.get("completionMode") != "Indexed":
            causes += validation.validate_immutable(new_spec.get("completions"), old_spec.get("completions"),
                                                    "spec.completions")
        # The template may change only while the job is suspended (upstream: scheduling directives).
        if not (old_spec.get("suspend") is True and new_spec.get("suspend") is True):
            causes += validation.validate_immutable(new_spec.get("template"), old_spec.get("template"),
                                                    "spec.template", go_type="core.PodTemplateSpec")
        return causes

    def field_values(self, obj: Object) -> dict[str, str]:
        values = dict(super().field_values(obj))
        values["status.successful"] = str(as_int(as_dict(obj.get("status")).get("succeeded")))
        return values

    def row_cells(self, obj: Object, now: float) -> list[Any]:
        return [job_status(obj), completions(obj), duration(obj, now), age_cell(obj, now), *template_cells(obj)]


def generate_selector(obj: Object) -> None:
    """Upstream ``generateSelector``: label the template and select on the job's uid (no-op without a
    uid or with ``manualSelector: true``)."""
    spec = as_dict(obj.get("spec"))
    uid = meta.uid(obj)
    if not uid or spec.get("manualSelector") is True or not isinstance(spec.get("template"), dict):
        return
    tmeta = meta.ensure_map(spec["template"], "metadata")
    labels = tmeta.get("labels")
    if not isinstance(labels, dict):
        labels = tmeta["labels"] = {}
    labels.setdefault(CONTROLLER_UID_LABEL, uid)
    labels.setdefault(JOB_NAME_LABEL, meta.name(obj))
    labels.setdefault(LEGACY_CONTROLLER_UID_LABEL, uid)
    labels.setdefault(LEGACY_JOB_NAME_LABEL, meta.name(obj))
    if spec.get("selector") is None:
        spec["selector"] = {"matchLabels": {CONTROLLER_UID_LABEL: uid}}


def _condition(obj: Object, ctype: str) -> bool:
    for cond in as_list(as_dict(obj.get("status")).get("conditions")):
        if as_dict(cond).get("type") == ctype:
            return as_dict(cond).get("status") == "True"
    return False


def job_status(obj: Object) -> str:
    if _condition(obj, "Complete"):
        return "Complete"
    if _condition(obj, "Failed"):
        return "Failed"
    if meta.deletion_timestamp(obj):
        return "Terminating"
    if _condition(obj, "Suspended"):
        return "Suspended"
    if _condition(obj, "FailureTarget"):
        return "FailureTarget"
    if _condition(obj, "SuccessCriteriaMet"):  # upstream 1.31+: a success policy was met, pods finishing
        return "SuccessCriteriaMet"
    return "Running"


def completions(obj: Object) -> str:
    spec, status = as_dict(obj.get("spec")), as_dict(obj.get("status"))
    succeeded = as_int(status.get("succeeded"))
    if spec.get("completions") is not None:
        return f"{succeeded}/{as_int(spec.get('completions'))}"
    parallelism = as_int(spec.get("parallelism"))
    return f"{succeeded}/1 of {parallelism}" if parallelism > 1 else f"{succeeded}/1"


def duration(obj: Object, now: float) -> str:
    status = as_dict(obj.get("status"))
    start = humanize.parse_rfc3339(status.get("startTime"))
    if start is None:
        return ""
    end = humanize.parse_rfc3339(status.get("completionTime"))
    return humanize.age((end if end is not None else now) - start)
