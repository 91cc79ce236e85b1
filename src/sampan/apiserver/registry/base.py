"""The shared base of every built-in strategy: declarative defaults, metadata validation, status
handling, field-selector values and the Name/Age table columns.

A resource module subclasses :class:`BaseStrategy`, sets ``info`` and the class-level tables
(``defaults``, ``selectable_fields``, ``columns``) and overrides only the hooks it needs:
``default`` (defaults a table cannot express), ``validate_spec``, ``validate_spec_update``,
``row_cells``, ``initial_status``.

Invariants:
* ``validate_update`` is the *complete* check of an update (everything ``validate`` checks plus the
  immutable-field rules), so handlers call exactly one of ``validate`` / ``validate_update``.
* ``table_row`` returns exactly one cell per column of ``table_columns``, Name first.
* ``field_values`` always has ``metadata.name`` and, for namespaced kinds, ``metadata.namespace``.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping
from typing import Any, ClassVar

import orjson

from sampan.api import humanize, meta, validation
from sampan.api.errors import Cause
from sampan.api.jsoncopy import json_copy
from sampan.api.resources import ResourceInfo
from sampan.apiserver.registry.strategy import Object, TableColumn

log = logging.getLogger(__name__)

NAME_COLUMN = TableColumn(
    "Name", format="name",
    description="Name must be unique within a namespace. Is required when creating resources, although some "
    "resources may allow a client to request the generation of an appropriate name automatically. Name is "
    "primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: "
    "https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names",
)
AGE_COLUMN = TableColumn(
    "Age",
    description="CreationTimestamp is a timestamp representing the server time when this object was created. It "
    "is not guaranteed to be set in happens-before order across separate operations. Clients may not set this "
    "value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for "
    "lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata",
)

Default = tuple[str, Any]
"""A dotted path and the value it takes when absent (``("spec.restartPolicy", "Always")``)."""



def _same_json(a: Any, b: Any) -> bool:
    """Whether ``a`` and ``b`` encode to the same JSON bytes (False when either does not encode)."""
    try:
        return orjson.dumps(a) == orjson.dumps(b)
    except orjson.JSONEncodeError:
        return False

class BaseStrategy:
    """Sensible defaults for every :class:`~sampan.apiserver.registry.strategy.Strategy` method."""

    info: ClassVar[ResourceInfo]
    has_status: ClassVar[bool] = False
    defaults: ClassVar[tuple[Default, ...]] = ()
    """Applied in order on create and update; a value is deep-copied before use."""
    selectable_fields: ClassVar[tuple[tuple[str, str], ...]] = ()
    """(field-selector name, dotted path in the object) beyond metadata.name/namespace."""
    columns: ClassVar[tuple[TableColumn, ...]] = (NAME_COLUMN, AGE_COLUMN)
    tracks_generation: ClassVar[bool] = False
    """Whether ``metadata.generation`` exists for the kind (upstream: workloads and endpoint slices set
    it to 1 on create and bump it when ``spec_changed``; pods (before 1.33), services, nodes,
    namespaces, configmaps… carry none)."""

    def name_rule(self, name: str) -> list[str]:
        """The kind's name rule (upstream's ``ValidateXName``); DNS-1123 subdomain unless overridden."""
        return validation.dns1123_subdomain(name)

    # ---- create / update preparation -----------------------------------------------------------

    def prepare_for_create(self, obj: Object) -> None:
        if self.has_status:
            obj.pop("status", None)
            status = self.initial_status(obj)
            if status is not None:
                obj["status"] = status
        self.apply_defaults(obj)

    def prepare_for_update(self, obj: Object, old: Object) -> None:
        if self.has_status:
            if "status" in old:
                obj["status"] = json_copy(old["status"])
            else:
                obj.pop("status", None)
        self.apply_defaults(obj)

    def prepare_for_status_update(self, obj: Object, old: Object) -> None:
        """A write to the ``status`` subresource: keep ``old`` everywhere but ``status`` and, when the
        request carries them, ``metadata.labels``/``metadata.annotations``. The request's
        ``metadata.resourceVersion`` is kept (it is the precondition)."""
        new_meta = meta.metadata(obj)
        carried = {k: copy.deepcopy(new_meta[k]) for k in ("labels", "annotations", "resourceVersion")
                   if k in new_meta}
        status = obj.get("status")
        # ``obj`` is private (a decode of the stored object, patched, or a request body): a part that encodes
        # exactly as old's (same JSON types and key order, so ``True`` never stands for ``1``) is kept as it
        # is, and only the parts the request changed are copied from ``old``.
        kept = {k: obj[k] if k in obj and _same_json(obj[k], v) else None for k, v in old.items() if k != "status"}
        changed = {k: v for k, v in old.items() if k != "status" and kept[k] is None}
        obj.clear()
        if changed:
            kept.update(json_copy(changed))
        obj.update(kept)
        if status is not None:
            obj["status"] = status
        if carried:
            meta.ensure_map(obj, "metadata").update(carried)

    def initial_status(self, obj: Object) -> dict[str, Any] | None:
        """The status a new object starts with when ``has_status`` (None: no status)."""
        return None

    def apply_defaults(self, obj: Object) -> None:
        """The ``defaults`` table, then the ``default`` hook."""
        for path, value in self.defaults:
            meta.set_default(obj, path, copy.deepcopy(value))
        self.default(obj)

    def default(self, obj: Object) -> None:
        """Defaults a table cannot express (per list item, conditional)."""

    # ---- validation ----------------------------------------------------------------------------

    def validate(self, obj: Object) -> list[Cause]:
        causes = validation.validate_object_meta(obj, namespaced=self.info.namespaced, name_rule=self.name_rule)
        return causes + self.validate_spec(obj)

    def validate_create(self, obj: Object) -> list[Cause]:
        """Create-only rules on top of :meth:`validate` (upstream's ``Validate`` vs ``ValidateUpdate``)."""
        return self.validate(obj)

    def validate_update(self, obj: Object, old: Object) -> list[Cause]:
        causes = self.validate(obj)
        causes += validation.validate_object_meta_update(obj, old)
        return causes + self.validate_spec_update(obj, old)

    def validate_spec(self, obj: Object) -> list[Cause]:
        """The kind's own fields, on create and update."""
        return []

    def validate_spec_update(self, obj: Object, old: Object) -> list[Cause]:
        """Update-only rules (immutable fields)."""
        return []

    def spec_changed(self, obj: Object, old: Object) -> bool:
        return bool(obj.get("spec") != old.get("spec"))

    # ---- field selectors -----------------------------------------------------------------------

    def selectable_field_names(self) -> list[str]:
        names = ["metadata.name"]
        if self.info.namespaced:
            names.append("metadata.namespace")
        return names + [name for name, _ in self.selectable_fields]

    def field_values(self, obj: Object) -> Mapping[str, str]:
        values = {"metadata.name": meta.name(obj)}
        if self.info.namespaced:
            values["metadata.namespace"] = meta.namespace(obj)
        for name, path in self.selectable_fields:
            values[name] = field_string(meta.get_path(obj, path))
        return values

    # ---- tables --------------------------------------------------------------------------------

    def table_columns(self) -> list[TableColumn]:
        return list(self.columns)

    def table_row(self, obj: Object, now: float) -> list[Any]:
        return [meta.name(obj), *self.row_cells(obj, now)]

    def row_cells(self, obj: Object, now: float) -> list[Any]:
        """Cells after Name. The default suits the Name/Age columns."""
        return [age_cell(obj, now)]

    def row_conditions(self, obj: Object) -> list[dict[str, str]]:
        """A TableRow's ``conditions`` (upstream sets ``Completed`` on finished pods); usually none."""
        return []


def age_cell(obj: Object, now: float) -> str:
    """The Age column: the object's creation age as upstream prints it."""
    return humanize.age_since(meta.creation_timestamp(obj), now)


def field_string(value: Any) -> str:
    """A field value as field selectors compare it: bools ``true``/``false``, absent ``""``."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def as_int(value: Any, default: int = 0) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default
