"""core/v1 events (``kubectl get events``) and the table both event APIs share.

Validation is upstream's *legacy* event validation, which core/v1 keeps for compatibility: the
involved object's namespace must match the event's; events with ``eventTime`` (new-style) need
reportingComponent, reportingInstance, action and reason. Names are only checked to be safe path
segments (upstream skips object-meta validation for core/v1 events).
"""

from __future__ import annotations

from typing import Any, ClassVar

from sampan.api import humanize, meta, validation
from sampan.api.errors import Cause, invalid, required
from sampan.api.resources import ResourceInfo
from sampan.apiserver.registry.base import NAME_COLUMN, BaseStrategy, as_dict, as_int
from sampan.apiserver.registry.strategy import Object, TableColumn

REPORTING_INSTANCE_MAX = 128
ACTION_MAX = 128
REASON_MAX = 128
NOTE_MAX = 1024

EVENT_COLUMNS: tuple[TableColumn, ...] = (
    TableColumn("Last Seen", description="The time at which the most recent occurrence of this event was "
                "recorded."),
    TableColumn("Type", description="Type of this event (Normal, Warning), new types could be added in the "
                "future"),
    TableColumn("Reason", description="This should be a short, machine understandable string that gives the "
                "reason for the transition into the object's current status."),
    TableColumn("Object", description="The object that this event is about."),
    TableColumn("Subobject", priority=1, description="If referring to a piece of an object instead of an entire "
                "object, this string should contain a valid JSON/Go field access statement, such as "
                "desiredState.manifest.containers[2]."),
    TableColumn("Source", priority=1, description="The component reporting this event. Should be a short machine "
                "understandable string."),
    TableColumn("Message", description="A human-readable description of the status of this operation."),
    TableColumn("First Seen", priority=1, description="The time at which the event was first recorded. (Time of "
                "server receipt is in TypeMeta.)"),
    TableColumn("Count", priority=1, description="The number of times this event has occurred."),
    TableColumn("Name", priority=1, format="name", description=NAME_COLUMN.description),
)


class EventStrategy(BaseStrategy):
    info = ResourceInfo(
        group="", version="v1", resource="events", kind="Event", singular="event", namespaced=True,
        short_names=("ev",),
    )
    selectable_fields = (
        ("involvedObject.kind", "involvedObject.kind"),
        ("involvedObject.namespace", "involvedObject.namespace"),
        ("involvedObject.name", "involvedObject.name"),
        ("involvedObject.uid", "involvedObject.uid"),
        ("involvedObject.apiVersion", "involvedObject.apiVersion"),
        ("involvedObject.resourceVersion", "involvedObject.resourceVersion"),
        ("involvedObject.fieldPath", "involvedObject.fieldPath"),
        ("reason", "reason"),
        ("reportingComponent", "reportingComponent"),
        ("source", "source.component"),
        ("type", "type"),
    )
    columns: ClassVar[tuple[TableColumn, ...]] = EVENT_COLUMNS

    def name_rule(self, name: str) -> list[str]:
        return validation.path_segment(name)

    def validate_spec(self, obj: Object) -> list[Cause]:
        causes: list[Cause] = []
        involved = as_dict(obj.get("involvedObject"))
        ns, involved_ns = meta.namespace(obj), str(involved.get("namespace") or "")
        if not obj.get("eventTime"):
            if (not involved_ns and ns not in ("", "default")) or (involved_ns and ns != involved_ns):
                causes.append(invalid("involvedObject.namespace", involved_ns, "does not match event.namespace"))
            return causes
        if not involved_ns and ns not in ("default", "kube-system"):
            causes.append(invalid("involvedObject.namespace", involved_ns, "does not match event.namespace"))
        controller = obj.get("reportingComponent")
        if not controller:
            causes.append(required("reportingComponent"))
        else:
            causes += [invalid("reportingComponent", controller, m) for m in validation.qualified_name(str(controller))]
        causes += _required_limited(obj, "reportingInstance", REPORTING_INSTANCE_MAX)
        causes += _required_limited(obj, "action", ACTION_MAX)
        causes += _required_limited(obj, "reason", REASON_MAX)
        if len(str(obj.get("message") or "")) > NOTE_MAX:
            causes.append(invalid("message", "", f"can have at most {NOTE_MAX} characters"))
        return causes

    def spec_changed(self, obj: Object, old: Object) -> bool:
        return False

    def table_row(self, obj: Object, now: float) -> list[Any]:
        return event_row(obj, now)


def _required_limited(obj: Object, key: str, limit: int) -> list[Cause]:
    value = str(obj.get(key) or "")
    if not value:
        return [required(key)]
    if len(value) > limit:
        return [invalid(key, "", f"can have at most {limit} characters")]
    return []


def event_row(ev: dict[str, Any], now: float) -> list[Any]:
    """Upstream ``printEvent`` (wide) over a core-shaped event."""
    first = _since(ev.get("firstTimestamp"), now)
    if not ev.get("firstTimestamp"):
        first = _since(ev.get("eventTime"), now)
    last = _since(ev.get("lastTimestamp"), now) if ev.get("lastTimestamp") else first
    count = as_int(ev.get("count"))
    series = ev.get("series")
    if isinstance(series, dict):
        last = _since(series.get("lastObservedTime"), now)
        count = as_int(series.get("count"))
    elif count == 0:
        count = 1
    involved = as_dict(ev.get("involvedObject"))
    kind = str(involved.get("kind") or "").lower()
    target = f"{kind}/{involved['name']}" if involved.get("name") else kind
    source = as_dict(ev.get("source"))
    component = source.get("component") or ev.get("reportingComponent") or ""
    host = source.get("host") or ev.get("reportingInstance") or ""
    return [
        last, str(ev.get("type") or ""), str(ev.get("reason") or ""), target, str(involved.get("fieldPath") or ""),
        f"{component}, {host}" if host else str(component), str(ev.get("message") or "").strip(), first, count,
        meta.name(ev),
    ]


def _since(timestamp: Any, now: float) -> str:
    return humanize.age_since(timestamp if isinstance(timestamp, str) else None, now)
