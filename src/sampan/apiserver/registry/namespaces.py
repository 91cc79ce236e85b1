"""core/v1 namespaces: cluster-scoped, DNS-1123 label names, ``status.phase`` Active on create, and the
``kubernetes`` finalizer in ``spec.finalizers`` (the namespace controller removes it after emptying
the namespace). ``spec.finalizers`` and ``status`` only change through subresources (finalize, status);
a status write defaults an empty phase to Active and must keep it Active (Terminating once deleted:
``registry.status_validation.namespace``).
"""

from __future__ import annotations

from typing import Any, ClassVar

from sampan.api import validation
from sampan.api.errors import Cause, invalid
from sampan.api.resources import ResourceInfo
from sampan.apiserver.registry.base import AGE_COLUMN, NAME_COLUMN, BaseStrategy, age_cell, as_dict, as_list
from sampan.apiserver.registry.strategy import Object, TableColumn

KUBERNETES_FINALIZER = "kubernetes"
NAME_LABEL = "kubernetes.io/metadata.name"


class NamespaceStrategy(BaseStrategy):
    info = ResourceInfo(
        group="", version="v1", resource="namespaces", kind="Namespace", singular="namespace",
        namespaced=False, short_names=("ns",),
        verbs=("create", "delete", "get", "list", "patch", "update", "watch"),
        subresources=("finalize", "status"),
    )
    has_status = True
    selectable_fields = (("status.phase", "status.phase"),)
    columns: ClassVar[tuple[TableColumn, ...]] = (
        NAME_COLUMN,
        TableColumn("Status", description="The status of the namespace"),
        AGE_COLUMN,
    )

    def name_rule(self, name: str) -> list[str]:
        return validation.dns1123_label(name)

    def initial_status(self, obj: Object) -> dict[str, Any] | None:
        return {"phase": "Active"}

    def prepare_for_create(self, obj: Object) -> None:
        super().prepare_for_create(obj)
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            spec = obj["spec"] = {}
        finalizers = as_list(spec.get("finalizers"))
        if KUBERNETES_FINALIZER not in finalizers:
            finalizers = [*finalizers, KUBERNETES_FINALIZER]
        spec["finalizers"] = finalizers

    def prepare_for_update(self, obj: Object, old: Object) -> None:
        super().prepare_for_update(obj, old)
        old_spec = as_dict(old.get("spec"))
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            spec = obj["spec"] = {}
        if "finalizers" in old_spec:
            spec["finalizers"] = list(old_spec["finalizers"])
        else:
            spec.pop("finalizers", None)

    def prepare_for_status_update(self, obj: Object, old: Object) -> None:
        super().prepare_for_status_update(obj, old)
        status = obj.get("status")
        if not isinstance(status, dict):
            status = obj["status"] = {}
        if status.get("phase") in (None, ""):  # upstream SetDefaults_NamespaceStatus
            status["phase"] = "Active"

    def default(self, obj: Object) -> None:
        # Upstream SetDefaults_Namespace: the immutable name label.
        name = obj.get("metadata", {}).get("name") if isinstance(obj.get("metadata"), dict) else None
        if isinstance(name, str) and name:
            labels = obj["metadata"].get("labels")
            if not isinstance(labels, dict):
                labels = obj["metadata"]["labels"] = {}
            labels[NAME_LABEL] = name

    def validate_spec(self, obj: Object) -> list[Cause]:
        spec = obj.get("spec")
        if spec is None:
            return []
        if not isinstance(spec, dict):
            return [invalid("spec", str(spec), "must be an object")]
        return validate_finalizer_names(spec.get("finalizers"), "spec.finalizers")

    def spec_changed(self, obj: Object, old: Object) -> bool:
        return False  # upstream never bumps a namespace's generation

    def row_cells(self, obj: Object, now: float) -> list[Any]:
        return [str(as_dict(obj.get("status")).get("phase") or ""), age_cell(obj, now)]


def validate_finalizer_names(finalizers: Any, path: str) -> list[Cause]:
    """Upstream ``validateFinalizerName`` over a list: qualified names, unprefixed only if standard."""
    if finalizers is None:
        return []
    if not isinstance(finalizers, list):
        return [invalid(path, str(finalizers), "must be a list of strings")]
    causes: list[Cause] = []
    for i, name in enumerate(finalizers):
        item = f"{path}[{i}]"
        if not isinstance(name, str):
            causes.append(invalid(item, name, "must be a string"))
            continue
        problems = validation.qualified_name(name)
        causes += [invalid(item, name, msg) for msg in problems]
        if not problems and "/" not in name and name != KUBERNETES_FINALIZER:
            causes.append(invalid(item, name, "name is neither a standard finalizer name nor is it fully qualified"))
    return causes
