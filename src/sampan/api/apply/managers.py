"""``metadata.managedFields`` on the wire: decoding entries into ownership, encoding it back.

Each entry is one manager identity — ``(manager, operation, apiVersion, subresource)``, where an
``Apply`` entry's identity leaves the apiVersion out so one applier keeps one entry across versions —
with its field set (``fieldsType: FieldsV1``) and the time it last changed the object. Entries are
written in upstream's order: ``Apply`` before ``Update``, then by time (entries without a time first),
manager, apiVersion, subresource; keys within an entry in upstream's order (manager, operation,
apiVersion, time, fieldsType, fieldsV1, subresource).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from sampan.api.apply.fieldset import FieldsError, FieldSet, from_fields_v1, to_fields_v1
from sampan.api.apply.path import go_json
from sampan.api.apply.updater import ManagerSet

APPLY = "Apply"
UPDATE = "Update"
ANCIENT_CHANGES = "ancient-changes"
MAX_UPDATE_MANAGERS = 10
#: Field sets remembered per direction (decoded fieldsV1 and encoded field sets); the memo is emptied when full.
MEMO_SIZE = 8192


class _FieldsMemo:
    """fieldsV1 <-> field set, each computed once per distinct value (issue 21: every write of a pod
    decodes and re-encodes all its managedFields entries, and most entries repeat: the same manager
    owning the same fields of the next write, or of the next pod from the same template).

    Both forms are immutable here: a field set is a frozenset, and an encoding is kept as JSON bytes and
    decoded into a fresh dict on each use, so callers may change what they get."""

    def __init__(self, size: int = MEMO_SIZE) -> None:
        self._size = size
        self._decoded: dict[bytes, FieldSet] = {}
        self._encoded: dict[FieldSet, bytes] = {}

    def decode(self, fields: Any) -> FieldSet:
        try:
            key = orjson.dumps(fields)
        except TypeError:
            return from_fields_v1(fields)
        found = self._decoded.get(key)
        if found is None:
            found = from_fields_v1(fields)  # raises FieldsError: nothing is remembered then
            if len(self._decoded) >= self._size:
                self._decoded.clear()
            self._decoded[key] = found
        return found

    def encode(self, s: FieldSet) -> dict[str, Any]:
        found = self._encoded.get(s)
        if found is None:
            found = orjson.dumps(to_fields_v1(s))
            if len(self._encoded) >= self._size:
                self._encoded.clear()
            self._encoded[s] = found
        out: dict[str, Any] = orjson.loads(found)
        return out


_memo = _FieldsMemo()


class ManagedFieldsError(ValueError):
    """A managedFields list that cannot be decoded (upstream's wording in the message)."""


@dataclass(frozen=True, slots=True, order=True)
class Identity:
    """A manager identity. ``api_version`` is ``""`` for ``Apply`` entries. Orders as upstream sorts
    identities (by their JSON spelling)."""

    sort_key: str = field(init=False, repr=False, compare=True)
    manager: str = field(compare=False)
    operation: str = field(compare=False)
    api_version: str = field(default="", compare=False)
    subresource: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        parts = [f'"manager":{go_json(self.manager)}', f'"operation":{go_json(self.operation)}']
        if self.api_version:
            parts.append(f'"apiVersion":{go_json(self.api_version)}')
        if self.subresource:
            parts.append(f'"subresource":{go_json(self.subresource)}')
        object.__setattr__(self, "sort_key", "{" + ",".join(parts) + "}")

    def describe(self) -> str:
        """The manager as upstream names it in conflict messages."""
        text = _go_quote(self.manager)
        if self.subresource:
            text += f" with subresource {_go_quote(self.subresource)}"
        if self.operation == UPDATE:
            text += f" using {self.api_version}"
        return text


def _go_quote(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)


def identity(manager: str, operation: str, api_version: str, subresource: str = "") -> Identity:
    """The (immutable) identity; the few distinct ones a server sees are built once each."""
    key = (manager, operation, api_version, subresource)
    found = _identities.get(key)
    if found is None:
        found = Identity(manager=manager or "unknown", operation=operation,
                         api_version="" if operation == APPLY else api_version, subresource=subresource)
        if len(_identities) >= 1024:  # bounded: managers are client-chosen strings
            _identities.clear()
        _identities[key] = found
    return found


_identities: dict[tuple[str, str, str, str], Identity] = {}


@dataclass(slots=True)
class Managed:
    """Decoded managedFields: ownership per identity and the time (RFC 3339) each entry carries."""

    fields: dict[Identity, ManagerSet] = field(default_factory=dict)
    times: dict[Identity, str | None] = field(default_factory=dict)

    def copy(self) -> Managed:
        return Managed(dict(self.fields), dict(self.times))


def is_reset(entries: Any) -> bool:
    """Whether a request's managedFields asks to clear them: ``[]`` or ``[{}]``."""
    return isinstance(entries, list) and (not entries or (len(entries) == 1 and entries[0] == {}))


def decode(entries: Any) -> Managed:
    """Decode a managedFields list (None or absent -> nothing). Raises :class:`ManagedFieldsError`."""
    managed = Managed()
    if entries is None:
        return managed
    if not isinstance(entries, list):
        raise ManagedFieldsError("managedFields must be a list")
    for i, entry in enumerate(entries):
        if not isinstance(entry, Mapping):
            raise ManagedFieldsError(f"managed fields entry {i} must be an object")
        operation = entry.get("operation")
        if operation not in (APPLY, UPDATE):
            raise ManagedFieldsError("operation must be `Apply` or `Update`")
        api_version = entry.get("apiVersion")
        if not isinstance(api_version, str) or not api_version:
            raise ManagedFieldsError("apiVersion must not be empty")
        fields_type = entry.get("fieldsType") or ""
        if fields_type != "FieldsV1":
            if not fields_type:
                raise ManagedFieldsError(f"missing fieldsType in managed fields entry {i}")
            raise ManagedFieldsError(f"invalid fieldsType {fields_type!r} in managed fields entry {i}")
        manager, subresource = entry.get("manager") or "", entry.get("subresource") or ""
        if not isinstance(manager, str) or not isinstance(subresource, str):
            raise ManagedFieldsError(f"manager and subresource of entry {i} must be strings")
        ident = identity(manager, operation, api_version, subresource) if manager else Identity(
            manager="", operation=operation, api_version="" if operation == APPLY else api_version,
            subresource=subresource)  # shared identities (an empty manager stays empty here)
        try:
            fields = _memo.decode(entry.get("fieldsV1"))
        except FieldsError as err:
            raise ManagedFieldsError(f"error decoding set of entry {i}: {err}") from err
        managed.fields[ident] = ManagerSet(fields, api_version, operation == APPLY)
        t = entry.get("time")
        managed.times[ident] = t if isinstance(t, str) else None
    return managed


def encode(managed: Managed) -> list[dict[str, Any]] | None:
    """The managedFields list for ``managed`` in upstream's order; ``None`` when nobody owns anything."""
    if not managed.fields:
        return None
    entries: list[dict[str, Any]] = []
    for ident, ms in managed.fields.items():
        entry: dict[str, Any] = {"manager": ident.manager, "operation": ident.operation,
                                 "apiVersion": ms.api_version}
        t = managed.times.get(ident)
        if t:
            entry["time"] = t
        entry["fieldsType"] = "FieldsV1"
        entry["fieldsV1"] = _memo.encode(ms.fields)
        if ident.subresource:
            entry["subresource"] = ident.subresource
        entries.append(entry)
    entries.sort(key=lambda e: (e["operation"], e.get("time") or "", e["manager"], e["apiVersion"],
                                e.get("subresource", "")))
    return entries


def cap_update_managers(managed: Managed, limit: int = MAX_UPDATE_MANAGERS) -> Managed:
    """Fold the oldest ``Update`` entries into one ``ancient-changes`` entry per apiVersion until at most
    ``limit`` remain (upstream's capManagersManager)."""
    updaters = [m for m, ms in managed.fields.items() if not ms.applied]
    if len(updaters) <= limit:
        return managed
    out = managed.copy()
    updaters.sort(key=lambda m: (managed.times.get(m) or "", m.sort_key))
    first_by_version: dict[str, Identity] = {}
    remaining = len(updaters)
    for m in updaters:
        if remaining <= limit:
            break
        ms = out.fields[m]
        bucket = identity(ANCIENT_CHANGES, UPDATE, ms.api_version)
        first = first_by_version.get(ms.api_version)
        if first is None:
            first_by_version[ms.api_version] = m
            continue
        if bucket not in out.fields:
            out.fields[bucket] = out.fields.pop(first)
            out.times.pop(first, None)
        out.fields[bucket] = ManagerSet(ms.fields | out.fields[bucket].fields, ms.api_version, ms.applied)
        del out.fields[m]
        out.times[bucket] = out.times.pop(m, None)
        remaining -= 1
    return out
