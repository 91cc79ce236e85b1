"""storage.k8s.io/v1 volumeattachments (cluster-scoped): the intent to attach a volume to a node, for a CSI
attacher to carry out (none is bundled with sampan).

Validation, as ``ValidateVolumeAttachment`` plus the v1 checks: the name is a DNS subdomain; ``attacher``
is a required CSI driver name; the source names exactly one of ``persistentVolumeName`` (non-empty, a PV
name) and ``inlineVolumeSpec`` (whose contents sampan does not check); ``nodeName`` is a node name;
``status.attachmentMetadata`` stays under 256 KiB and error messages under 1024 bytes. The spec is
immutable (``spec: Invalid value: …: field is immutable``). Status is a subresource starting at
``{attached: false}``. Table: Name, Attacher, PV, Node, Attached, Age.
"""

from __future__ import annotations

import functools
from typing import Any

from sampan.api import validation
from sampan.api.errors import Cause, forbidden, invalid, required, too_long
from sampan.api.resources import ResourceInfo
from sampan.apiserver.registry.base import AGE_COLUMN, NAME_COLUMN, BaseStrategy, age_cell, as_dict
from sampan.apiserver.registry.columns import doc_column
from sampan.apiserver.registry.csidrivers import validate_csi_driver_name
from sampan.apiserver.registry.strategy import Object, TableColumn

MAX_METADATA_SIZE = 256 * 1024
MAX_ERROR_MESSAGE = 1024
EXACTLY_ONE = "must specify exactly one of inlineVolumeSpec and persistentVolumeName"
_SPEC, _STATUS = "io.k8s.api.storage.v1.VolumeAttachmentSpec", "io.k8s.api.storage.v1.VolumeAttachmentStatus"


@functools.cache
def _columns() -> tuple[TableColumn, ...]:
    return (
        NAME_COLUMN,
        doc_column("Attacher", _SPEC, "attacher", format="name"),
        doc_column("PV", "io.k8s.api.storage.v1.VolumeAttachmentSource", "persistentVolumeName"),
        doc_column("Node", _SPEC, "nodeName"),
        doc_column("Attached", _STATUS, "attached", type="boolean"),
        AGE_COLUMN,
    )


class VolumeAttachmentStrategy(BaseStrategy):
    info = ResourceInfo(
        group="storage.k8s.io", version="v1", resource="volumeattachments", kind="VolumeAttachment",
        singular="volumeattachment", namespaced=False, subresources=("status",),
    )
    has_status = True

    def initial_status(self, obj: Object) -> dict[str, Any] | None:
        return {"attached": False}

    def validate_spec(self, obj: Object) -> list[Cause]:
        spec = as_dict(obj.get("spec"))
        attacher = spec.get("attacher")
        causes = [] if attacher else [required("spec.attacher")]
        causes += _validate_source(as_dict(spec.get("source")))
        node = spec.get("nodeName")
        causes += validation.validate_name(node if node is not None else "", "spec.nodeName",
                                           validation.dns1123_subdomain)
        causes += _validate_status(as_dict(obj.get("status")))
        causes += validate_csi_driver_name(attacher if attacher is not None else "", "spec.attacher")
        pv = as_dict(spec.get("source")).get("persistentVolumeName")
        if pv:
            causes += validation.validate_name(pv, "spec.source.persistentVolumeName", validation.dns1123_subdomain)
        return causes

    def validate_spec_update(self, obj: Object, old: Object) -> list[Cause]:
        if obj.get("spec") == old.get("spec"):
            return []
        return [invalid("spec", str(obj.get("spec")), validation.FIELD_IMMUTABLE)]

    def spec_changed(self, obj: Object, old: Object) -> bool:
        return False

    def table_columns(self) -> list[TableColumn]:
        return list(_columns())

    def row_cells(self, obj: Object, now: float) -> list[Any]:
        spec, status = as_dict(obj.get("spec")), as_dict(obj.get("status"))
        pv = as_dict(spec.get("source")).get("persistentVolumeName")
        return [str(spec.get("attacher") or ""), pv if isinstance(pv, str) else "", str(spec.get("nodeName") or ""),
                status.get("attached") is True, age_cell(obj, now)]


def _validate_source(source: dict[str, Any]) -> list[Cause]:
    inline, pv = source.get("inlineVolumeSpec"), source.get("persistentVolumeName")
    if inline is None and pv is None:
        return [Cause("FieldValueRequired", "spec.source", f"Required value: {EXACTLY_ONE}")]
    if inline is not None and pv is not None:
        return [forbidden("spec.source", EXACTLY_ONE)]
    if pv is not None and not pv:
        return [Cause("FieldValueRequired", "spec.source.persistentVolumeName",
                      "Required value: must specify non empty persistentVolumeName")]
    return []


def _validate_status(status: dict[str, Any]) -> list[Cause]:
    causes: list[Cause] = []
    metadata = as_dict(status.get("attachmentMetadata"))
    if sum(len(str(k)) + len(str(v)) for k, v in metadata.items()) > MAX_METADATA_SIZE:
        causes.append(too_long("status.attachmentMetadata", MAX_METADATA_SIZE))
    for key in ("attachError", "detachError"):
        error = as_dict(status.get(key))
        message = error.get("message")
        if isinstance(message, str) and len(message) > MAX_ERROR_MESSAGE:
            causes.append(too_long(f"status.{key}.message", MAX_METADATA_SIZE))
        code = error.get("errorCode")
        if isinstance(code, int) and not isinstance(code, bool) and code < 0:
            causes.append(invalid(f"status.{key}.errorCode", code, "must be between 0 and 2147483647, inclusive"))
    return causes
