"""core/v1 pods: defaults, validation, the (mostly immutable) spec on update, status on create
(``Pending`` plus the QoS class), upstream's selectable fields and the ``kubectl get pods`` table.

Update rule (upstream ``ValidatePodUpdate``, simplified): the spec may change only in
``containers[*].image``, ``initContainers[*].image``, ``activeDeadlineSeconds`` (set, or lowered;
never raised or removed once set), ``tolerations`` (additions only), ``schedulingGates`` (removals
only) and ``terminationGracePeriodSeconds`` (only from a negative value to 1). Anything else is a
``spec: Forbidden`` cause naming the first differing field.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, ClassVar

from sampan.api import podstatus, validation
from sampan.api.errors import Cause, forbidden, invalid
from sampan.api.jsoncopy import json_copy
from sampan.api.resources import ResourceInfo
from sampan.apiserver.registry import pod_ephemeral
from sampan.apiserver.registry.base import AGE_COLUMN, NAME_COLUMN, BaseStrategy, age_cell, as_dict, as_list
from sampan.apiserver.registry.pod_defaults import default_pod_spec
from sampan.apiserver.registry.pod_validation import validate_pod_spec
from sampan.apiserver.registry.strategy import Object, TableColumn

POD_UPDATE_FORBIDDEN = (
    "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,"
    "`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),"
    "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)"
)

SUCCEEDED_CONDITIONS = [
    {"type": "Completed", "status": "True", "reason": "Succeeded", "message": "The pod has completed successfully."}
]
FAILED_CONDITIONS = [{"type": "Completed", "status": "True", "reason": "Failed", "message": "The pod failed."}]


class PodStrategy(BaseStrategy):
    info = ResourceInfo(
        group="", version="v1", resource="pods", kind="Pod", singular="pod", namespaced=True,
        short_names=("po",), categories=("all",),
        subresources=("attach", "binding", "ephemeralcontainers", "eviction", "exec", "log", "portforward",
                      "proxy", "status"),
    )
    has_status = True
    selectable_fields = (
        ("spec.nodeName", "spec.nodeName"),
        ("spec.restartPolicy", "spec.restartPolicy"),
        ("spec.schedulerName", "spec.schedulerName"),
        ("spec.serviceAccountName", "spec.serviceAccountName"),
        ("spec.hostNetwork", "spec.hostNetwork"),
        ("status.phase", "status.phase"),
        ("status.podIP", "status.podIP"),
        ("status.nominatedNodeName", "status.nominatedNodeName"),
    )
    columns: ClassVar[tuple[TableColumn, ...]] = (
        NAME_COLUMN,
        TableColumn("Ready", description="The aggregate readiness state of this pod for accepting traffic."),
        TableColumn("Status", description="The aggregate status of the containers in this pod."),
        TableColumn(
            "Restarts",
            description="The number of times the containers in this pod have been restarted and when the last "
            "container in this pod has restarted.",
        ),
        AGE_COLUMN,
        TableColumn("IP", priority=1, description="podIP address allocated to the pod. Routable at least within "
                    "the cluster. Empty if not yet allocated."),
        TableColumn("Node", priority=1, description="NodeName indicates in which node this pod is scheduled. If "
                    "empty, this pod is a candidate for scheduling by the scheduler defined in schedulerName."),
        TableColumn("Nominated Node", priority=1, description="nominatedNodeName is set only when this pod "
                    "preempts other pods on the node, but it cannot be scheduled right away as preemption victims "
                    "receive their graceful termination periods."),
        TableColumn("Readiness Gates", priority=1, description="If specified, all readiness gates will be "
                    "evaluated for pod readiness."),
    )

    def initial_status(self, obj: Object) -> dict[str, Any] | None:
        return {"phase": "Pending"}

    def prepare_for_create(self, obj: Object) -> None:
        super().prepare_for_create(obj)
        spec = obj.get("spec")
        if isinstance(spec, dict):
            obj["status"]["qosClass"] = podstatus.qos_class(spec)
            if as_list(spec.get("schedulingGates")):
                # Upstream applySchedulingGatedCondition.
                obj["status"]["conditions"] = [{
                    "type": "PodScheduled", "status": "False", "reason": "SchedulingGated",
                    "message": "Scheduling is blocked due to non-empty scheduling gates", "lastProbeTime": None,
                    "lastTransitionTime": None,
                }]

    def default(self, obj: Object) -> None:
        spec = obj.get("spec")
        if isinstance(spec, dict):
            default_pod_spec(spec, for_pod=True)

    def validate_spec(self, obj: Object) -> list[Cause]:
        return validate_pod_spec(obj.get("spec"), "spec")

    def validate_create(self, obj: Object) -> list[Cause]:
        """Upstream's ``ValidatePodCreate``: ephemeral containers come only through their subresource, and a
        pod bound at create may not carry scheduling gates."""
        causes = self.validate(obj)
        spec = as_dict(obj.get("spec"))
        if as_list(spec.get("ephemeralContainers")):
            causes.append(forbidden("spec.ephemeralContainers", "cannot be set on create"))
        if spec.get("nodeName") and as_list(spec.get("schedulingGates")):
            causes.append(forbidden("spec.nodeName", "cannot be set until all schedulingGates have been cleared"))
        return causes

    def validate_spec_update(self, obj: Object, old: Object) -> list[Cause]:
        return validate_pod_spec_update(as_dict(obj.get("spec")), as_dict(old.get("spec")))

    def prepare_for_ephemeralcontainers_update(self, obj: Object, old: Object) -> None:
        pod_ephemeral.prepare_update(obj, old)

    def validate_subresource_update(self, subresource: str | None, obj: Object, old: Object) -> list[Cause]:
        """Per write path: ``ephemeralcontainers`` has its own rules (:mod:`.pod_ephemeral`); ``status`` checks
        metadata here (and the status in ``status_validation``) but not the spec, as upstream's
        ``ValidatePodStatusUpdate``: a status write keeps the stored spec (``prepare_for_status_update``), which
        was validated when it was written, so the kubelet's status writes skip the spec's validation."""
        if subresource == "status" and obj.get("spec") == old.get("spec"):
            return (validation.validate_object_meta(obj, namespaced=True, name_rule=self.name_rule)
                    + validation.validate_object_meta_update(obj, old))
        if subresource == "ephemeralcontainers":
            causes = self.validate(obj) + validation.validate_object_meta_update(obj, old)
            return causes + pod_ephemeral.validate_update(obj, old)
        return self.validate_update(obj, old)

    def field_values(self, obj: Object) -> Mapping[str, str]:
        values = dict(super().field_values(obj))
        values["spec.hostNetwork"] = "true" if as_dict(obj.get("spec")).get("hostNetwork") is True else "false"
        values["status.podIP"] = podstatus.pod_ip(obj)
        return values

    def row_cells(self, obj: Object, now: float) -> list[Any]:
        ready, status, restarts = podstatus.pod_summary(obj, now)
        spec, st = as_dict(obj.get("spec")), as_dict(obj.get("status"))
        return [
            ready, status, restarts, age_cell(obj, now),
            podstatus.pod_ip(obj) or "<none>",
            spec.get("nodeName") or "<none>",
            st.get("nominatedNodeName") or "<none>",
            podstatus.readiness_gates(obj),
        ]

    def row_conditions(self, obj: Object) -> list[dict[str, str]]:
        phase = as_dict(obj.get("status")).get("phase")
        if phase == "Succeeded":
            return copy.deepcopy(SUCCEEDED_CONDITIONS)
        if phase == "Failed":
            return copy.deepcopy(FAILED_CONDITIONS)
        return []


def validate_pod_spec_update(new: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
    """The update rule in the module docstring."""
    causes: list[Cause] = []
    old_deadline, new_deadline = old.get("activeDeadlineSeconds"), new.get("activeDeadlineSeconds")
    raised = isinstance(new_deadline, int) and isinstance(old_deadline, int) and new_deadline > old_deadline
    if old_deadline is not None and (new_deadline is None or raised):
        shown = new_deadline if new_deadline is not None else "null"
        causes.append(invalid("spec.activeDeadlineSeconds", shown, "must be less than or equal to previous value"))
    new_tols = as_list(new.get("tolerations"))
    if any(t not in new_tols for t in as_list(old.get("tolerations"))):
        causes.append(forbidden("spec.tolerations", "existing toleration can not be modified except its "
                                "tolerationSeconds"))
    old_gates = as_list(old.get("schedulingGates"))
    if any(g not in old_gates for g in as_list(new.get("schedulingGates"))):
        causes.append(forbidden("spec.schedulingGates", "only deletion is allowed, but found new scheduling gate"))

    # Mask the mutable parts, then any difference left is forbidden.
    masked_new, masked_old = json_copy(new), json_copy(old)
    for field in ("containers", "initContainers"):
        olds = as_list(old.get(field))
        for i, c in enumerate(as_list(masked_new.get(field))):
            if isinstance(c, dict) and i < len(olds) and isinstance(olds[i], dict):
                c["image"] = olds[i].get("image")
    for key in ("activeDeadlineSeconds", "tolerations", "schedulingGates"):
        masked_new.pop(key, None)
        masked_old.pop(key, None)
    old_grace = old.get("terminationGracePeriodSeconds")
    if isinstance(old_grace, int) and old_grace < 0 and new.get("terminationGracePeriodSeconds") == 1:
        masked_new["terminationGracePeriodSeconds"] = old_grace
    if masked_new != masked_old:
        where = _first_difference(masked_new, masked_old, "spec")
        causes.append(forbidden("spec", f"{POD_UPDATE_FORBIDDEN} (first change at {where})"))
    return causes


def _first_difference(new: Any, old: Any, path: str) -> str:
    if isinstance(new, dict) and isinstance(old, dict):
        for key in sorted(set(new) | set(old)):
            if new.get(key) != old.get(key):
                return _first_difference(new.get(key), old.get(key), f"{path}.{key}")
    if isinstance(new, list) and isinstance(old, list) and len(new) == len(old):
        for i, (a, b) in enumerate(zip(new, old, strict=True)):
            if a != b:
                return _first_difference(a, b, f"{path}[{i}]")
    return path

