"""What the workload kinds (deployments, replicasets, jobs) share: the label selector that must match
the pod template's labels, template validation and defaults, replica counts, and the
Containers/Images/Selector table cells."""

from __future__ import annotations

from typing import Any

from sampan.api import validation
from sampan.api.errors import Cause, invalid, not_supported, required
from sampan.api.podstatus import layout_containers
from sampan.api.selectors import LabelSelector, format_label_selector
from sampan.apiserver.registry.base import as_dict
from sampan.apiserver.registry.pod_defaults import default_pod_template
from sampan.apiserver.registry.pod_validation import validate_pod_spec
from sampan.apiserver.registry.strategy import Object, TableColumn

CONTAINERS_COLUMN = TableColumn("Containers", priority=1, description="Names of each container in the template.")
IMAGES_COLUMN = TableColumn("Images", priority=1, description="Images referenced by each container in the template.")
SELECTOR_COLUMN = TableColumn(
    "Selector", priority=1,
    description="Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones "
    "affected by this deployment.",
)


def template_cells(obj: Object) -> list[str]:
    """Containers, Images and Selector cells (the wide columns)."""
    spec = as_dict(obj.get("spec"))
    names, images = layout_containers(as_dict(as_dict(spec.get("template")).get("spec")).get("containers"))
    return [names, images, format_label_selector(spec.get("selector"))]


def validate_selector_and_template(
    spec: dict[str, Any], *, kind: str, restart_policies: list[str], selector_required: bool = True
) -> list[Cause]:
    """Upstream's common workload checks: a non-empty valid selector matching the template's labels,
    a valid template whose restartPolicy is one of ``restart_policies``."""
    template = spec.get("template")
    if not isinstance(template, dict):
        return [required("spec.template")]
    tmeta = as_dict(template.get("metadata"))
    causes = validate_template_metadata(tmeta)
    sel = spec.get("selector")
    if sel is None:
        if selector_required:
            causes.append(required("spec.selector"))
    else:
        try:
            selector = LabelSelector.from_dict(sel)
        except ValueError as exc:
            causes.append(invalid("spec.selector", str(sel), str(exc)))
        else:
            if selector.empty:
                causes.append(invalid("spec.selector", "null", f"empty selector is invalid for {kind}"))
            elif not selector.matches(string_labels(tmeta.get("labels"))):
                shown = go_map(tmeta.get("labels"))
                causes.append(Cause("FieldValueInvalid", "spec.template.metadata.labels",
                                    f"Invalid value: {shown}: `selector` does not match template `labels`"))
    return causes + validate_template_spec(template, restart_policies=restart_policies)


def validate_template_metadata(tmeta: dict[str, Any]) -> list[Cause]:
    """The pod template's labels and annotations."""
    causes = validation.validate_labels(tmeta.get("labels"), "spec.template.metadata.labels")
    return causes + validation.validate_annotations(tmeta.get("annotations"), "spec.template.metadata.annotations")


def validate_template_spec(template: dict[str, Any], *, restart_policies: list[str]) -> list[Cause]:
    """The template's pod spec, whose restartPolicy must be one of ``restart_policies``."""
    tspec = template.get("spec")
    causes = validate_pod_spec(tspec, "spec.template.spec")
    policy = as_dict(tspec).get("restartPolicy")
    if policy and policy not in restart_policies:
        causes.append(not_supported("spec.template.spec.restartPolicy", policy, restart_policies))
    return causes


def string_labels(labels: Any) -> dict[str, str]:
    """The string-valued entries of a labels map (anything else matches nothing)."""
    return {k: v for k, v in as_dict(labels).items() if isinstance(v, str)}


def validate_non_negative(spec: dict[str, Any], key: str) -> list[Cause]:
    value = spec.get(key)
    if value is None:
        return []
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        return [invalid(f"spec.{key}", value, "must be greater than or equal to 0")]
    return []


def default_template(obj: Object) -> None:
    default_pod_template(obj)


def _go_strings(values: Any) -> str:
    if not isinstance(values, list):
        return "[]string(nil)"
    return "[]string{" + ", ".join(f'"{v}"' for v in values) + "}"


def go_label_selector(selector: Any) -> str:
    """Go's ``%#v`` of a ``metav1.LabelSelector``, as upstream's "field is immutable" message prints it."""
    sel = as_dict(selector)
    exprs = sel.get("matchExpressions")
    if isinstance(exprs, list):
        shown = ", ".join(
            f'v1.LabelSelectorRequirement{{Key:"{as_dict(e).get("key", "")}", '
            f'Operator:"{as_dict(e).get("operator", "")}", Values:{_go_strings(as_dict(e).get("values"))}}}'
            for e in exprs)
        expressions = "[]v1.LabelSelectorRequirement{" + shown + "}"
    else:
        expressions = "[]v1.LabelSelectorRequirement(nil)"
    return f"v1.LabelSelector{{MatchLabels:{go_map(sel.get('matchLabels'))}, MatchExpressions:{expressions}}}"


def validate_selector_unchanged(new: Any, old: Any) -> list[Cause]:
    """Upstream's ``ValidateImmutableField`` on ``spec.selector`` of the apps and batch workloads."""
    if new == old:
        return []
    shown = "null" if new is None else go_label_selector(new)
    return [Cause("FieldValueInvalid", "spec.selector", f"Invalid value: {shown}: {validation.FIELD_IMMUTABLE}")]


def go_map(labels: Any) -> str:
    """Go's ``%#v`` of a ``map[string]string``, as upstream's message prints the template labels."""
    if not isinstance(labels, dict):
        return "map[string]string(nil)"
    items = ", ".join(f'"{k}":"{labels[k]}"' for k in sorted(labels))
    return "map[string]string{" + items + "}"
