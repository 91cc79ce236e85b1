"""events.k8s.io/v1 events: the structured event API (``regarding``, ``note``, ``series``,
``reportingController``). Strict validation as upstream applies to this API; the table is the same
as core events' (the row is computed over a core-shaped view of the object).

sampan stores these apart from core/v1 events (no conversion between the two yet).
"""

from __future__ import annotations

from typing import Any, ClassVar

from sampan.api import humanize, validation
from sampan.api.errors import Cause, invalid, required
from sampan.api.resources import ResourceInfo
from sampan.apiserver.registry.base import BaseStrategy, as_dict
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
DEPRECATED_FIELDS = ("deprecatedFirstTimestamp", "deprecatedLastTimestamp", "deprecatedCount", "deprecatedSource")


class EventV1Strategy(BaseStrategy):
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
        return event_row(core_view(obj), now)


def core_view(ev: Object) -> dict[str, Any]:
    """An events.k8s.io/v1 event in core/v1 field names (upstream's conversion, for printing)."""
    source = as_dict(ev.get("deprecatedSource"))
    view: dict[str, Any] = {
        "metadata": ev.get("metadata"),
        "involvedObject": ev.get("regarding"),
        "reason": ev.get("reason"),
        "message": ev.get("note"),
        "type": ev.get("type"),
        "eventTime": ev.get("eventTime"),
        "firstTimestamp": ev.get("deprecatedFirstTimestamp"),
        "lastTimestamp": ev.get("deprecatedLastTimestamp"),
        "count": ev.get("deprecatedCount"),
        "source": source,
        "reportingComponent": ev.get("reportingController"),
        "reportingInstance": ev.get("reportingInstance"),
    }
    if isinstance(ev.get("series"), dict):
        view["series"] = ev["series"]
    return view
