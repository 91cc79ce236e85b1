"""core/v1 podtemplates: a named pod template (``template``: metadata and a pod spec), validated and
defaulted as a workload's template is. Table as upstream: Name, Containers, Images, Pod Labels."""

from __future__ import annotations

from typing import Any, ClassVar

from sampan.api import validation
from sampan.api.errors import Cause, required
from sampan.api.podstatus import layout_containers
from sampan.api.resources import ResourceInfo
from sampan.api.selectors import format_labels
from sampan.apiserver.registry.base import NAME_COLUMN, BaseStrategy, as_dict
from sampan.apiserver.registry.pod_defaults import default_pod_template
from sampan.apiserver.registry.pod_validation import validate_pod_spec
from sampan.apiserver.registry.strategy import Object, TableColumn
from sampan.apiserver.registry.workloads import string_labels


class PodTemplateStrategy(BaseStrategy):
    info = ResourceInfo(
        group="", version="v1", resource="podtemplates", kind="PodTemplate", singular="podtemplate",
        namespaced=True,
    )
    columns: ClassVar[tuple[TableColumn, ...]] = (
        NAME_COLUMN,
        TableColumn("Containers", description="Names of each container in the template."),
        TableColumn("Images", description="Images referenced by each container in the template."),
        TableColumn("Pod Labels", description="The labels for the pod template."),
    )

    def default(self, obj: Object) -> None:
        if isinstance(obj.get("template"), dict):
            default_pod_template(obj, ("template",))

    def validate_spec(self, obj: Object) -> list[Cause]:
        template = obj.get("template")
        if not isinstance(template, dict):
            return [required("template.spec.containers")]
        tmeta = as_dict(template.get("metadata"))
        causes = validation.validate_labels(tmeta.get("labels"), "template.metadata.labels")
        causes += validation.validate_annotations(tmeta.get("annotations"), "template.metadata.annotations")
        return causes + validate_pod_spec(template.get("spec"), "template.spec")

    def row_cells(self, obj: Object, now: float) -> list[Any]:
        template = as_dict(obj.get("template"))
        names, images = layout_containers(as_dict(template.get("spec")).get("containers"))
        return [names, images, format_labels(string_labels(as_dict(template.get("metadata")).get("labels")))]
