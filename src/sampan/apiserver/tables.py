"""Server-side response transforms: meta.k8s.io ``Table`` and ``PartialObjectMetadata(List)``.

``kubectl get`` asks for ``Accept: application/json;as=Table;v=v1;g=meta.k8s.io`` and prints exactly the
columns and cells the server sends (ages included, rendered here at ``now``). Informers that need only
metadata ask for ``as=PartialObjectMetadataList``. Both are built from the wire objects (dicts) plus
the resource's :class:`~sampan.apiserver.registry.strategy.Strategy` (columns and row cells).

Entry points for the REST handlers (the negotiated
:class:`~sampan.apiserver.negotiation.Representation` says which transform applies):

* :func:`render_object` — a single object (GET, and the body of create/update/delete responses);
* :func:`render_list` — a list object (``{"kind": "PodList", "metadata": {...}, "items": [...]}``);
* :class:`WatchRenderer` — per watch connection; transforms each event's object. With Tables the
  first event carries ``columnDefinitions`` and later ones do not, as upstream.
* :func:`to_table` — the Table builder itself.

Invariants: inputs are never mutated (rows embed copies where they change anything); every Table row
has exactly one cell per column definition; ``metadata.managedFields`` never appears in a Table.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sampan.api.errors import BadRequest
from sampan.apiserver.negotiation import Representation, Target
from sampan.apiserver.registry.strategy import Object, Strategy

log = logging.getLogger(__name__)


class IncludeObject(enum.Enum):
    """``includeObject`` query parameter of Table requests: what each row's ``object`` holds."""

    NONE = "None"
    METADATA = "Metadata"
    OBJECT = "Object"


def parse_include_object(value: str | None) -> IncludeObject:
    """The ``includeObject`` query value; absent or empty means ``Metadata`` (upstream's default).
    Raises BadRequest with upstream's wording for anything else."""
    if not value:
        return IncludeObject.METADATA
    try:
        return IncludeObject(value)
    except ValueError:
        raise BadRequest(f"unrecognized includeObject value: {value!r}".replace("'", '"')) from None


def partial_object_metadata(obj: Mapping[str, Any], *, meta_version: str = "v1") -> Object:
    """``obj`` reduced to a ``PartialObjectMetadata`` (its whole ``metadata``, nothing else)."""
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": f"meta.k8s.io/{meta_version}",
        "metadata": dict(obj.get("metadata") or {}),
    }


def partial_object_metadata_list(list_obj: Mapping[str, Any], *, meta_version: str = "v1") -> Object:
    """A list object reduced to ``PartialObjectMetadataList`` (list metadata kept, items reduced)."""
    return {
        "kind": "PartialObjectMetadataList",
        "apiVersion": f"meta.k8s.io/{meta_version}",
        "metadata": dict(list_obj.get("metadata") or {}),
        "items": [partial_object_metadata(i, meta_version=meta_version) for i in list_obj.get("items") or ()],
    }


def _without_managed_fields(obj: Mapping[str, Any]) -> Object:
    md = obj.get("metadata")
    if isinstance(md, Mapping) and "managedFields" in md:
        copy = dict(obj)
        copy["metadata"] = {k: v for k, v in md.items() if k != "managedFields"}
        return copy
    return dict(obj)


def _row_object(obj: Mapping[str, Any], include: IncludeObject, meta_version: str) -> Object | None:
    if include is IncludeObject.NONE:
        return None
    trimmed = _without_managed_fields(obj)
    if include is IncludeObject.OBJECT:
        return trimmed
    return partial_object_metadata(trimmed, meta_version=meta_version)


def table_row(
    strategy: Strategy, obj: Mapping[str, Any], *, now: float, include_object: IncludeObject, meta_version: str
) -> Object:
    """One ``TableRow``: the strategy's cells and the row object per ``include_object``."""
    cells = list(strategy.table_row(dict(obj), now))
    columns = len(strategy.table_columns())
    if len(cells) != columns:
        # A strategy bug must not break kubectl output: pad or cut, and say so once per call.
        log.warning("table row width mismatch resource=%s cells=%d columns=%d", strategy.info.resource,
                    len(cells), columns)
        cells = (cells + [""] * columns)[:columns]
    row: Object = {"cells": cells}
    row_obj = _row_object(obj, include_object, meta_version)
    if row_obj is not None:
        row["object"] = row_obj
    return row


def to_table(
    strategy: Strategy,
    objects: Iterable[Mapping[str, Any]],
    *,
    now: float,
    include_object: IncludeObject = IncludeObject.METADATA,
    meta_version: str = "v1",
    resource_version: str = "",
    continue_token: str = "",
    remaining_item_count: int | None = None,
    include_columns: bool = True,
) -> Object:
    """A meta.k8s.io Table of ``objects`` with the strategy's columns.

    ``now`` is epoch seconds (ages are rendered against it). ``resource_version``, ``continue_token``
    and ``remaining_item_count`` go to the Table's list metadata (empty ones are omitted).
    ``include_columns=False`` omits ``columnDefinitions`` (watch events after the first).
    """
    metadata: Object = {}
    if resource_version:
        metadata["resourceVersion"] = resource_version
    if continue_token:
        metadata["continue"] = continue_token
    if remaining_item_count is not None:
        metadata["remainingItemCount"] = remaining_item_count
    table: Object = {
        "kind": "Table",
        "apiVersion": f"meta.k8s.io/{meta_version}",
        "metadata": metadata,
        "columnDefinitions": [c.to_dict() for c in strategy.table_columns()] if include_columns else None,
        "rows": [
            table_row(strategy, o, now=now, include_object=include_object, meta_version=meta_version)
            for o in objects
        ],
    }
    return table


def render_object(
    rep: Representation,
    strategy: Strategy,
    obj: Mapping[str, Any],
    *,
    now: float,
    include_object: IncludeObject = IncludeObject.METADATA,
) -> Mapping[str, Any]:
    """The body for one object in representation ``rep`` (the object itself when no transform).
    Raises NotAcceptable when ``rep`` asks for a list transform."""
    rep.require_compatible(is_list=False)
    if rep.target is Target.OBJECT:
        return obj
    if rep.target is Target.PARTIAL_OBJECT_METADATA:
        return partial_object_metadata(obj, meta_version=rep.meta_version)
    rv = str((obj.get("metadata") or {}).get("resourceVersion") or "")
    return to_table(strategy, [obj], now=now, include_object=include_object, meta_version=rep.meta_version,
                    resource_version=rv)


def render_list(
    rep: Representation,
    strategy: Strategy,
    list_obj: Mapping[str, Any],
    *,
    now: float,
    include_object: IncludeObject = IncludeObject.METADATA,
) -> Mapping[str, Any]:
    """The body for a list object (``kind: XList`` with ``metadata`` and ``items``) in ``rep``.
    Raises NotAcceptable for ``PartialObjectMetadata`` (a list needs the ``…List`` form)."""
    rep.require_compatible(is_list=True)
    if rep.target is Target.OBJECT:
        return list_obj
    if rep.target is Target.PARTIAL_OBJECT_METADATA_LIST:
        return partial_object_metadata_list(list_obj, meta_version=rep.meta_version)
    md = list_obj.get("metadata") or {}
    remaining = md.get("remainingItemCount")
    return to_table(
        strategy,
        list_obj.get("items") or (),
        now=now,
        include_object=include_object,
        meta_version=rep.meta_version,
        resource_version=str(md.get("resourceVersion") or ""),
        continue_token=str(md.get("continue") or ""),
        remaining_item_count=int(remaining) if isinstance(remaining, int) else None,
    )


class WatchRenderer:
    """Transforms the objects of one watch stream's events.

    States: ``first`` (the next Table event carries columnDefinitions) -> ``rest``. ERROR events'
    objects (Status) are passed through untouched; BOOKMARK objects become an empty Table (or a
    PartialObjectMetadata) that keeps the bookmark's resourceVersion.
    """

    def __init__(
        self,
        rep: Representation,
        strategy: Strategy,
        *,
        include_object: IncludeObject = IncludeObject.METADATA,
    ) -> None:
        rep.require_compatible(is_list=True, is_watch=True)
        self.rep = rep
        self.strategy = strategy
        self.include_object = include_object
        self._first = True

    @property
    def passthrough(self) -> bool:
        """True when events go out unchanged (so the watch cache's shared encoded bytes can be used)."""
        return self.rep.target is Target.OBJECT

    def render(self, event_type: str, obj: Mapping[str, Any], *, now: float) -> Mapping[str, Any]:
        """The object to put in the event ``{"type": event_type, "object": ...}``."""
        if self.rep.target is Target.OBJECT or event_type == "ERROR":
            return obj
        if self.rep.target is Target.PARTIAL_OBJECT_METADATA:
            return partial_object_metadata(obj, meta_version=self.rep.meta_version)
        md = obj.get("metadata") or {}
        rv = str(md.get("resourceVersion") or "")
        if event_type == "BOOKMARK":
            return to_table(self.strategy, [], now=now, meta_version=self.rep.meta_version, resource_version=rv,
                            include_columns=False)
        include_columns = self._first
        self._first = False
        return to_table(self.strategy, [obj], now=now, include_object=self.include_object,
                        meta_version=self.rep.meta_version, resource_version=rv, include_columns=include_columns)

    def render_event(self, event_type: str, obj: Mapping[str, Any], *, now: float) -> Object:
        """The whole watch event dict."""
        return {"type": event_type, "object": self.render(event_type, obj, now=now)}


def render_any(
    rep: Representation,
    strategy: Strategy,
    body: Mapping[str, Any],
    *,
    now: float,
    include_object: IncludeObject = IncludeObject.METADATA,
) -> Mapping[str, Any]:
    """:func:`render_list` when ``body`` is a list (has ``items``), else :func:`render_object`; a Status
    body is returned as is."""
    if body.get("kind") == "Status":
        return body
    if isinstance(body.get("items"), Sequence):
        return render_list(rep, strategy, body, now=now, include_object=include_object)
    return render_object(rep, strategy, body, now=now, include_object=include_object)
