"""apiextensions.k8s.io/v1 customresourcedefinitions: cluster-scoped, ``status`` subresource.

The rules live in ``sampan.api.crd`` (pure functions over dicts): ``spec.apply_defaults`` (singular,
listKind, conversion None), ``validation.validate_crd``/``validate_crd_update`` (names, group,
versions with one storage version, structural schemas, subresources, printer columns, conversion
``None`` only) and ``naming.compute_status`` (``NamesAccepted``/``Established`` given the other CRDs).
This module adapts them to the :class:`Strategy` contract.

On create the status starts empty but for ``storedVersions`` (the storage version); whoever registers
the CRD's endpoints (the server) then writes :func:`compute_status` through the status subresource,
as upstream's naming and establishing controllers do. An update that changes the storage version
appends it to ``status.storedVersions``. The table is the default one upstream serves for CRDs:
Name and "Created At" (an RFC 3339 timestamp, not an age).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

from sampan.api import meta
from sampan.api.crd import naming
from sampan.api.crd import spec as crdspec
from sampan.api.crd.validation import validate_crd, validate_crd_update
from sampan.api.errors import Cause
from sampan.api.resources import ResourceInfo
from sampan.apiserver.registry.base import AGE_COLUMN, NAME_COLUMN, BaseStrategy, as_dict
from sampan.apiserver.registry.strategy import Object, TableColumn

CREATED_AT_COLUMN = TableColumn("Created At", type="date", description=AGE_COLUMN.description)


class CustomResourceDefinitionStrategy(BaseStrategy):
    info = ResourceInfo(
        group=crdspec.GROUP, version="v1", resource="customresourcedefinitions", kind=crdspec.KIND,
        singular="customresourcedefinition", namespaced=False, short_names=("crd", "crds"),
        categories=("api-extensions",), subresources=("status",),
    )
    has_status = True
    tracks_generation = True
    columns: ClassVar[tuple[TableColumn, ...]] = (NAME_COLUMN, CREATED_AT_COLUMN)

    def initial_status(self, obj: Object) -> dict[str, Any] | None:
        storage = crdspec.storage_version(obj)
        return {"conditions": [], "acceptedNames": {"plural": "", "kind": ""},
                "storedVersions": [storage] if storage else []}

    def default(self, obj: Object) -> None:
        crdspec.apply_defaults(obj)

    def prepare_for_update(self, obj: Object, old: Object) -> None:
        super().prepare_for_update(obj, old)
        storage = crdspec.storage_version(obj)
        status = obj.get("status")
        if storage and isinstance(status, dict):
            stored = status.get("storedVersions")
            if not isinstance(stored, list):
                stored = status["storedVersions"] = []
            if storage not in stored:
                status["storedVersions"] = [*stored, storage]

    def validate_spec(self, obj: Object) -> list[Cause]:
        return validate_crd(obj)

    def validate_spec_update(self, obj: Object, old: Object) -> list[Cause]:
        return validate_crd_update(obj, old)

    def row_cells(self, obj: Object, now: float) -> list[Any]:
        return [meta.creation_timestamp(obj)]


def compute_status(crd: Object, others: Iterable[Object], *, now: str) -> dict[str, Any]:
    """The status to write for ``crd`` given every CRD the server knows (see ``naming``)."""
    return naming.compute_status(crd, others, now=now)


def served_kinds(crds: Iterable[Object]) -> list[tuple[Object, str]]:
    """(crd, version) for every served version of every established CRD: what the server routes."""
    out: list[tuple[Object, str]] = []
    for crd in crds:
        if naming.is_established(crd) and not as_dict(crd.get("metadata")).get("deletionTimestamp"):
            out.extend((crd, v) for v in crdspec.served_versions(crd))
    return out
