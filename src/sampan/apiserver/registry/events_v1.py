"""events.k8s.io/v1 events: the structured event API (``regarding``, ``note``, ``series``,
``reportingController``). Strict validation as upstream applies to this API; the table is the same
as core events' (the row is computed over the core form of the object).

Stored as core/v1 Events (one key space, ``/registry/events/``): an event written through either API
is read through both, converted field by field as upstream's ``Convert_v1_Event_To_core_Event`` and
back: regarding <-> involvedObject, note <-> message, deprecatedSource <-> source,
reportingController <-> reportingComponent, deprecatedFirstTimestamp/LastTimestamp/Count <->
firstTimestamp/lastTimestamp/count; eventTime, series, action, related, type, reason and
reportingInstance keep their names. Field selectors name this API's fields and are translated
(``regarding.name`` -> ``involvedObject.name``…), as upstream's field label conversion does.
"""

from __future__ import annotations

from typing import Any, ClassVar

from sampan.api import humanize, validation
from sampan.api.errors import Cause, invalid, required
from sampan.api.resources import ResourceInfo
from sampan.apiserver.registry.base import BaseStrategy
from sampan.apiserver.registry.conversion import Converted
from sampan.apiserver.registry.events import (
    ACTION_MAX,
    EVENT_COLUMNS,
    NOTE_MAX,
    REASON_MAX,
    REPORTING_INSTANCE_MAX,
    event_row,
)
from sampan.apiserver.registry.strategy import Object, TableColumn

TYPES = ("Normal", "Warning")
IMMUTABLE = ("regarding", "reason", "type", "reportingController", "reportingInstance", "action", "eventTime",
             "deprecatedSource", "deprecatedFirstTimestamp", "deprecatedLastTimestamp", "deprecatedCount")
DEPRECATED_FIELDS = ("deprecatedFirstTimestamp", "deprecatedLastTimestamp", "deprecatedCount", "deprecatedSource")


class EventV1Strategy(Converted, BaseStrategy):
    info = ResourceInfo(
        group="events.k8s.io", version="v1", resource="events", kind="Event", singular="event", namespaced=True,
        short_names=("ev",),
    )
    selectable_fields = (
        ("regarding.kind", "regarding.kind"),
        ("regarding.namespace", "regarding.namespace"),
        ("regarding.name", "regarding.name"),
        ("regarding.uid", "regarding.uid"),
        ("regarding.apiVersion", "regarding.apiVersion"),
        ("regarding.resourceVersion", "regarding.resourceVersion"),
        ("regarding.fieldPath", "regarding.fieldPath"),
        ("reason", "reason"),
        ("reportingController", "reportingController"),
        ("source", "deprecatedSource.component"),
        ("type", "type"),
    )
    columns: ClassVar[tuple[TableColumn, ...]] = EVENT_COLUMNS
    storage_gv = ("", "v1")
    field_labels: ClassVar[dict[str, str]] = {
        **{f"regarding.{k}": f"involvedObject.{k}"
           for k in ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath")},
        "reportingController": "reportingComponent",
    }

    def to_storage(self, obj: Object) -> Object:
        return to_core(obj)

    def from_storage(self, obj: Object) -> Object:
        return from_core(obj)

    def validate_update(self, obj: Object, old: Object) -> list[Cause]:
        """Upstream's update rules for this API: metadata, the immutable fields (what the event is about,
        reason, type, the deprecated core fields), series and note limits — not the create rules, so an
        event written through core/v1 (no eventTime, deprecated fields set) can still be updated here."""
        causes = validation.validate_object_meta(obj, namespaced=True, name_rule=self.name_rule)
        causes += validation.validate_object_meta_update(obj, old)
        for key in IMMUTABLE:
            if obj.get(key) != old.get(key):
                causes.append(invalid(key, "", "field is immutable"))
        causes += [c for c in self.validate_spec(obj)
                   if c.field.startswith("series") or c.field == "note"]
        return causes

    def validate_spec(self, obj: Object) -> list[Cause]:
        causes: list[Cause] = []
        if not obj.get("eventTime"):
            causes.append(required("eventTime"))
        elif humanize.parse_rfc3339(obj.get("eventTime")) is None:
            causes.append(invalid("eventTime", str(obj.get("eventTime")), "must be an RFC 3339 timestamp"))
        if obj.get("type") not in TYPES:
            causes.append(invalid("type", "", f"has invalid value: {obj.get('type') or ''}"))
        controller = obj.get("reportingController")
        if not controller:
            causes.append(required("reportingController"))
        else:
            causes += [invalid("reportingController", controller, m)
                       for m in validation.qualified_name(str(controller))]
        for key, limit in (("reportingInstance", REPORTING_INSTANCE_MAX), ("action", ACTION_MAX),
                           ("reason", REASON_MAX)):
            value = str(obj.get(key) or "")
            if not value:
                causes.append(required(key))
            elif len(value) > limit:
                causes.append(invalid(key, "", f"can have at most {limit} characters"))
        if len(str(obj.get("note") or "")) > NOTE_MAX:
            causes.append(invalid("note", "", f"can have at most {NOTE_MAX} characters"))
        for key in DEPRECATED_FIELDS:
            if obj.get(key):
                causes.append(invalid(key, "", "needs to be unset"))
        series = obj.get("series")
        if isinstance(series, dict):
            count = series.get("count")
            if not isinstance(count, int) or count < 2:
                causes.append(invalid("series.count", "", "should be at least 2"))
            if not series.get("lastObservedTime"):
                causes.append(required("series.lastObservedTime"))
        return causes

    def field_values(self, obj: Object) -> dict[str, str]:
        values = dict(super().field_values(obj))
        if not values["source"]:
            values["source"] = str(obj.get("reportingController") or "")
        return values

    def spec_changed(self, obj: Object, old: Object) -> bool:
        return False

    def table_row(self, obj: Object, now: float) -> list[Any]:
        return event_row(to_core(obj), now)


RENAMED = (("regarding", "involvedObject"), ("note", "message"), ("deprecatedSource", "source"),
           ("reportingController", "reportingComponent"), ("deprecatedFirstTimestamp", "firstTimestamp"),
           ("deprecatedLastTimestamp", "lastTimestamp"), ("deprecatedCount", "count"))
"""(events.k8s.io/v1 field, core/v1 field) pairs of upstream's conversion."""
SAME = ("eventTime", "series", "action", "related", "type", "reason", "reportingInstance")


def to_core(ev: Object) -> dict[str, Any]:
    """An events.k8s.io/v1 event in its core/v1 form (a new dict; nested values are shared)."""
    out: dict[str, Any] = {"kind": "Event", "apiVersion": "v1", "metadata": _metadata(ev)}
    for new, old in RENAMED:
        if ev.get(new) is not None:
            out[old] = ev[new]
    for key in SAME:
        if ev.get(key) is not None:
            out[key] = ev[key]
    # fields core/v1 always carries (upstream: non-omitempty structs and strings)
    out.setdefault("involvedObject", {})
    out.setdefault("source", {})
    out.setdefault("reportingComponent", "")
    out.setdefault("reportingInstance", "")
    return out


def from_core(ev: Object) -> dict[str, Any]:
    """A core/v1 event in its events.k8s.io/v1 form (a new dict; nested values are shared)."""
    out: dict[str, Any] = {"kind": "Event", "apiVersion": "events.k8s.io/v1", "metadata": _metadata(ev)}
    for new, old in RENAMED:
        value = ev.get(old)
        if value is None or (new == "deprecatedSource" and not value) or value == "" or value == 0:
            continue  # upstream's omitempty
        out[new] = value
    for key in SAME:
        if ev.get(key) is not None and ev.get(key) != "":
            out[key] = ev[key]
    out.setdefault("regarding", {})
    return out


def _metadata(ev: Object) -> dict[str, Any]:
    md = ev.get("metadata")
    return dict(md) if isinstance(md, dict) else {}
