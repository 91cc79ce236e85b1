"""core/v1 replicationcontrollers (``rc``): the ReplicaSet's predecessor, with a plain label map as
selector.

Defaults, as upstream's ``SetDefaults_ReplicationController``: an empty selector and empty object
labels take the template's labels; ``spec.replicas`` defaults to 1; the template gets the pod
defaults. Validation, as ``ValidateReplicationController``: ``minReadySeconds`` and ``replicas`` are
non-negative, the selector is required and non-empty (it may change on update, unlike a ReplicaSet's),
the template is required, its labels must match the selector (``selector does not match labels in
spec.template``), its restartPolicy is ``Always`` and it may not set ``activeDeadlineSeconds``.
Status and scale are subresources (status counts checked as upstream's
``ValidateReplicationControllerStatus``); generation is tracked; ``status.replicas`` is a field selector.
The controller-manager's ``replicationcontroller`` controller runs the ReplicaSet logic on them.
"""

from __future__ import annotations

import copy
import functools
from typing import Any

from sampan.api.errors import Cause, forbidden, invalid, required
from sampan.api.podstatus import layout_containers
from sampan.api.resources import ResourceInfo
from sampan.api.selectors import format_labels
from sampan.apiserver.registry.base import AGE_COLUMN, NAME_COLUMN, BaseStrategy, age_cell, as_dict, as_int
from sampan.apiserver.registry.columns import doc_column
from sampan.apiserver.registry.strategy import Object, TableColumn
from sampan.apiserver.registry.workloads import (
    CONTAINERS_COLUMN,
    IMAGES_COLUMN,
    default_template,
    go_map,
    string_labels,
    validate_non_negative,
    validate_template_metadata,
    validate_template_spec,
)

_SPEC = "io.k8s.api.core.v1.ReplicationControllerSpec"
_STATUS = "io.k8s.api.core.v1.ReplicationControllerStatus"
_STATUS_COUNTS = ("replicas", "fullyLabeledReplicas", "readyReplicas", "availableReplicas", "observedGeneration")


@functools.cache
def _columns() -> tuple[TableColumn, ...]:
    return (
        NAME_COLUMN,
        doc_column("Desired", _SPEC, "replicas", type="integer"),
        doc_column("Current", _STATUS, "replicas", type="integer"),
        doc_column("Ready", _STATUS, "readyReplicas", type="integer"),
        AGE_COLUMN,
        CONTAINERS_COLUMN,
        IMAGES_COLUMN,
        doc_column("Selector", _SPEC, "selector", priority=1),
    )


def validate_status(status: dict[str, Any]) -> list[Cause]:
    """Upstream ``ValidateReplicationControllerStatus``: non-negative counts, none above ``replicas``,
    available not above ready. (A create resets the status and a main-resource update keeps the stored
    one, so this only ever judges what a ``/status`` write brings.)"""
    counts = {key: as_int(status.get(key)) for key in _STATUS_COUNTS}
    causes = [invalid(f"status.{key}", value, "must be greater than or equal to 0")
              for key, value in counts.items() if value < 0]
    for key in ("fullyLabeledReplicas", "readyReplicas", "availableReplicas"):
        if counts[key] > counts["replicas"]:
            causes.append(invalid(f"status.{key}", counts[key], "cannot be greater than status.replicas"))
    if counts["availableReplicas"] > counts["readyReplicas"]:
        causes.append(invalid("status.availableReplicas", counts["availableReplicas"],
                              "cannot be greater than readyReplicas"))
    return causes


class ReplicationControllerStrategy(BaseStrategy):
    info = ResourceInfo(
        group="", version="v1", resource="replicationcontrollers", kind="ReplicationController",
        singular="replicationcontroller", namespaced=True, short_names=("rc",), categories=("all",),
        subresources=("scale", "status"),
    )
    has_status = True
    tracks_generation = True
    selectable_fields = (("status.replicas", "status.replicas"),)

    def initial_status(self, obj: Object) -> dict[str, Any] | None:
        return {"replicas": 0}

    def default(self, obj: Object) -> None:
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return
        template = spec.get("template")
        labels = as_dict(template.get("metadata")).get("labels") if isinstance(template, dict) else None
        if isinstance(labels, dict) and labels:
            if not spec.get("selector"):
                spec["selector"] = copy.deepcopy(labels)
            md = obj.get("metadata")
            if isinstance(md, dict) and not md.get("labels"):
                md["labels"] = copy.deepcopy(labels)
        if spec.get("replicas") is None:
            spec["replicas"] = 1
        if isinstance(template, dict):
            default_template(obj)

    def validate_spec(self, obj: Object) -> list[Cause]:
        spec = as_dict(obj.get("spec"))
        causes = validate_non_negative(spec, "minReadySeconds")
        selector = spec.get("selector")
        if not selector:
            causes.append(required("spec.selector"))
        causes += validate_non_negative(spec, "replicas")
        template = spec.get("template")
        if not isinstance(template, dict):
            return [*causes, required("spec.template")]
        tmeta = as_dict(template.get("metadata"))
        wanted = string_labels(selector)
        have = string_labels(tmeta.get("labels"))
        if wanted and any(have.get(k) != v for k, v in wanted.items()):
            causes.append(Cause("FieldValueInvalid", "spec.template.metadata.labels",
                                f"Invalid value: {go_map(tmeta.get('labels'))}: selector does not match labels "
                                "in spec.template"))
        causes += validate_template_metadata(tmeta)
        causes += validate_template_spec(template, restart_policies=["Always"])
        if as_dict(template.get("spec")).get("activeDeadlineSeconds") is not None:
            causes.append(forbidden("spec.template.spec.activeDeadlineSeconds",
                                    "activeDeadlineSeconds in ReplicationController is not Supported"))
        return causes + validate_status(as_dict(obj.get("status")))

    def field_values(self, obj: Object) -> dict[str, str]:
        values = dict(super().field_values(obj))
        values["status.replicas"] = str(as_int(as_dict(obj.get("status")).get("replicas")))
        return values

    def table_columns(self) -> list[TableColumn]:
        return list(_columns())

    def row_cells(self, obj: Object, now: float) -> list[Any]:
        spec, status = as_dict(obj.get("spec")), as_dict(obj.get("status"))
        containers = as_dict(as_dict(spec.get("template")).get("spec")).get("containers")
        names, images = layout_containers(containers)
        return [as_int(spec.get("replicas")), as_int(status.get("replicas")), as_int(status.get("readyReplicas")),
                age_cell(obj, now), names, images, format_labels(string_labels(spec.get("selector")))]
