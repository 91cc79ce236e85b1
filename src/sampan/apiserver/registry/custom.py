"""Strategies for custom resources, made at runtime from a CRD and one of its versions.

:func:`custom_strategy` builds a :class:`CustomResourceStrategy` subclass per (CRD, version) so the
class-level tables of :class:`BaseStrategy` (``info``, ``columns``, ``selectable_fields``,
``has_status``) hold the CRD's values, and returns an instance:

* ``info`` from ``spec.names``/``spec.scope``; subresources ``status``/``scale`` as the version enables;
* writes (``prepare_for_create``/``_update``/``_status_update``): prune fields the structural schema
  does not specify, then apply its defaults (``sampan.api.structural``); with the status subresource
  a main-resource write keeps the stored status and a create drops it;
* ``validate``: object metadata (``sampan.api.validation``) + schema validation + CEL rules;
  ``validate_update`` adds immutable metadata and CEL transition rules (``oldSelf``);
* generation: bumped when anything but ``metadata`` (and ``status``, with the status subresource)
  changes, as upstream does for custom resources;
* field selectors: ``metadata.name``, ``metadata.namespace`` and the version's ``selectableFields``
  (named by their JSONPath without the leading dot);
* tables: Name, then ``additionalPrinterColumns`` evaluated with ``sampan.api.jsonpath`` (``date``
  cells rendered as ages, missing values as ``None``); with no printer columns, Name and Age.

Invariant: a strategy made from a CRD that passed ``validate_crd`` never raises on any object.
"""

from __future__ import annotations

import copy
import logging
from typing import Any, ClassVar

import orjson

from sampan.api import humanize, jsonpath, meta, structural, validation
from sampan.api.crd import spec as crdspec
from sampan.api.errors import Cause
from sampan.api.resources import ResourceInfo
from sampan.api.schema import TypeNode, type_for_custom_resource
from sampan.apiserver.registry.base import AGE_COLUMN, NAME_COLUMN, BaseStrategy
from sampan.apiserver.registry.strategy import Object, TableColumn

log = logging.getLogger(__name__)

DEFAULT_AGE_COLUMN = TableColumn("Age", type="date", description=AGE_COLUMN.description)
_NO_SCHEMA: dict[str, Any] = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}


class CustomResourceStrategy(BaseStrategy):
    """The rules of one served version of one CRD; subclasses are made by :func:`custom_strategy`."""

    schema: ClassVar[dict[str, Any]] = _NO_SCHEMA
    printer_paths: ClassVar[tuple[jsonpath.Path | None, ...]] = ()
    """One compiled JSONPath per column after Name (None: the default Age column)."""
    scale: ClassVar[dict[str, str] | None] = None
    """``specReplicasPath``/``statusReplicasPath``/``labelSelectorPath`` when ``scale`` is enabled."""
    tracks_generation: ClassVar[bool] = True
    deprecation_warning: ClassVar[str | None] = None
    """Sent as a ``Warning`` header with every response of a deprecated version (see
    :func:`sampan.api.crd.spec.deprecation_warning`)."""

    # ---- writes -------------------------------------------------------------------------------

    def apply_type(self) -> TypeNode:
        """The type server-side apply uses for this version's objects (built once per strategy)."""
        node = self.__dict__.get("_apply_type")
        if node is None:
            node = self.__dict__["_apply_type"] = type_for_custom_resource(self.schema)
        return node

    def apply_defaults(self, obj: Object) -> None:
        structural.prepare(obj, self.schema)

    def prepare_for_status_update(self, obj: Object, old: Object) -> None:
        super().prepare_for_status_update(obj, old)
        structural.prepare(obj, self.schema)

    def spec_changed(self, obj: Object, old: Object) -> bool:
        skipped = ("metadata", "status") if self.has_status else ("metadata",)
        return {k: v for k, v in obj.items() if k not in skipped} != {
            k: v for k, v in old.items() if k not in skipped}

    # ---- validation ---------------------------------------------------------------------------

    def validate(self, obj: Object) -> list[Cause]:
        causes = validation.validate_object_meta(obj, namespaced=self.info.namespaced, name_rule=self.name_rule)
        causes += self._identity(obj)
        return causes + structural.validate(obj, self.schema, earlier=causes)

    def validate_update(self, obj: Object, old: Object) -> list[Cause]:
        causes = validation.validate_object_meta(obj, namespaced=self.info.namespaced, name_rule=self.name_rule)
        if isinstance(obj.get("metadata"), dict):  # junk metadata is already reported above
            causes += validation.validate_object_meta_update(obj, old)
        causes += self._identity(obj)
        return causes + structural.validate(obj, self.schema, old, earlier=causes)

    def _identity(self, obj: Object) -> list[Cause]:
        causes: list[Cause] = []
        if obj.get("apiVersion") not in (None, self.info.group_version):
            causes.append(Cause("FieldValueInvalid", "apiVersion",
                                f'Invalid value: "{obj.get("apiVersion")}": must be {self.info.group_version}'))
        if obj.get("kind") not in (None, self.info.kind):
            causes.append(Cause("FieldValueInvalid", "kind",
                                f'Invalid value: "{obj.get("kind")}": must be {self.info.kind}'))
        return causes

    # ---- tables -------------------------------------------------------------------------------

    def row_cells(self, obj: Object, now: float) -> list[Any]:
        cells: list[Any] = []
        columns = self.table_columns()[1:]
        for column, path in zip(columns, self.printer_paths, strict=True):
            if path is None:
                cells.append(humanize.age_since(meta.creation_timestamp(obj), now))
                continue
            found = path.find(obj)
            cells.append(cell(column.type, found[0], now) if found else None)
        return cells


def cell(kind: str, value: Any, now: float) -> Any:
    """A printer-column cell as upstream's CRD table convertor renders it (None when unrenderable)."""
    if kind == "string":
        if isinstance(value, str):
            return value
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | float):
            return str(value)
        return orjson.dumps(value).decode()
    if kind == "integer":
        if isinstance(value, int | float) and not isinstance(value, bool):
            return int(value)
        return None
    if kind == "number":
        return value if isinstance(value, int | float) and not isinstance(value, bool) else None
    if kind == "boolean":
        return value if isinstance(value, bool) else None
    if kind == "date":
        if isinstance(value, str) and humanize.parse_rfc3339(value) is not None:
            return humanize.age_since(value, now)
        return None
    return None


def custom_strategy(crd: Object, version: str) -> CustomResourceStrategy:
    """The strategy serving ``version`` of ``crd`` (a validated CRD; ``version`` among its versions)."""
    names = crdspec.names(crd)
    sub = crdspec.subresources(crd, version)
    scale = sub.get("scale") if isinstance(sub.get("scale"), dict) else None
    info = ResourceInfo(
        group=crdspec.group(crd), version=version, resource=str(names.get("plural", "")),
        kind=str(names.get("kind", "")), singular=str(names.get("singular") or str(names.get("kind", "")).lower()),
        namespaced=crdspec.namespaced(crd), short_names=tuple(_strs(names.get("shortNames"))),
        categories=tuple(_strs(names.get("categories"))),
        subresources=tuple(s for s in ("scale", "status") if isinstance(sub.get(s), dict)),
        list_kind=str(names.get("listKind") or ""),
    )
    columns, paths = _columns(crdspec.printer_columns(crd, version))
    attrs: dict[str, Any] = {
        "info": info,
        "has_status": isinstance(sub.get("status"), dict),
        "schema": copy.deepcopy(crdspec.schema(crd, version) or _NO_SCHEMA),
        "columns": columns,
        "printer_paths": paths,
        "scale": {k: v for k, v in scale.items() if isinstance(v, str)} if scale else None,
        "selectable_fields": tuple((p.lstrip("."), p.lstrip(".")) for p in crdspec.selectable_fields(crd, version)),
        "deprecation_warning": crdspec.deprecation_warning(crd, version),
    }
    cls = type(f"{info.kind or 'Custom'}Strategy", (CustomResourceStrategy,), attrs)
    strategy: CustomResourceStrategy = cls()
    return strategy


def _columns(defs: list[dict[str, Any]]) -> tuple[tuple[TableColumn, ...], tuple[jsonpath.Path | None, ...]]:
    if not defs:
        return (NAME_COLUMN, DEFAULT_AGE_COLUMN), (None,)
    columns: list[TableColumn] = [NAME_COLUMN]
    paths: list[jsonpath.Path | None] = []
    for d in defs:
        try:
            path = jsonpath.compile_path(str(d.get("jsonPath", "")))
        except jsonpath.JSONPathError:
            log.warning("skipping printer column with a bad jsonPath column=%s", d.get("name"))
            continue
        priority = d.get("priority")
        columns.append(TableColumn(
            str(d.get("name", "")), type=str(d.get("type", "string")), format=str(d.get("format") or ""),
            description=str(d.get("description") or ""),
            priority=priority if isinstance(priority, int) and not isinstance(priority, bool) else 0,
        ))
        paths.append(path)
    return tuple(columns), tuple(paths)


def _strs(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []
