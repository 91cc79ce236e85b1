"""Cached objects and watch events, each encoded to JSON at most once.

A :class:`CachedObject` is read-only once built: handlers and watchers share it, nobody mutates ``obj``
(copy before changing it). A :class:`WatchEvent` memoizes the newline-terminated JSON line of each way
it can be delivered (ADDED / MODIFIED / DELETED, or DELETED-with-the-previous-state when an update
makes an object stop matching a watcher's selector), so every JSON watcher writes the same bytes; the
same holds for protobuf: an object's bare message is encoded at most once (shared by GETs, list items and
watch frames) and an event's length-prefixed frame once per variant.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from sampan.api import meta
from sampan.api.jsoncopy import json_copy
from sampan.apiserver import protobuf_bodies

if TYPE_CHECKING:
    from sampan.apiserver.cacher.views import View

FieldValues = Callable[[dict[str, Any]], Mapping[str, str]]

ADDED = "ADDED"
MODIFIED = "MODIFIED"
DELETED = "DELETED"
BOOKMARK = "BOOKMARK"
ERROR = "ERROR"
#: A DELETED sent because the object stopped matching: it carries the previous state at the new version.
DELETED_PREV = "DELETED_PREV"


def decode_stored(value: bytes, revision: int) -> dict[str, Any]:
    """An object read from the store, with ``metadata.resourceVersion`` set to ``revision``. Raises
    ValueError (orjson.JSONDecodeError included) for a value that is not a JSON object."""
    obj = orjson.loads(value)
    if not isinstance(obj, dict):
        raise ValueError("stored value is not a JSON object")
    md = obj.get("metadata")
    if not isinstance(md, dict):
        md = obj["metadata"] = {}
    md["resourceVersion"] = str(revision)
    return obj


def exact(data: bytes) -> bytes:
    """``data`` in a buffer of its own size. ``orjson.dumps`` returns bytes inside a growth buffer several
    times their length (8 KiB behind a 3 KiB pod); anything kept long (the cache, the memory store) must
    drop that slack, or it holds ~3x the memory it needs."""
    return memoryview(data).tobytes()


def encode_for_store(obj: Mapping[str, Any]) -> bytes:
    """The stored form of ``obj``: JSON without ``metadata.resourceVersion`` (the store's revision is
    the version). ``obj`` itself is not changed."""
    md = obj.get("metadata")
    if isinstance(md, dict) and "resourceVersion" in md:
        obj = {**obj, "metadata": {k: v for k, v in md.items() if k != "resourceVersion"}}
    return exact(orjson.dumps(obj))


class CachedObject:
    """One object version as the cache holds it. ``obj`` has ``metadata.resourceVersion == str(rv)``.

    Memory (issue 21): an object read from the store is kept *once*, as its JSON encoding (``raw``), with
    its labels and selectable fields memoized; ``obj`` decodes it on each use (a fresh dict, ~10 µs for a
    pod) instead of keeping a decoded dict alive beside the bytes — the decoded form of a pod costs about
    five times its JSON. Objects built from a dict (views, at_revision, deletecollection) keep the dict
    until :meth:`compact` is called. Read-only either way: never mutate what ``obj`` returns."""

    __slots__ = ("_fields", "_labels", "_message", "_obj", "_raw", "_views", "field_values_of", "key", "name",
                 "namespace", "rv")

    def __init__(self, key: str, namespace: str, name: str, rv: int, obj: dict[str, Any] | None,
                 field_values_of: FieldValues, *, _raw: bytes | None = None, _labels: dict[str, str] | None = None,
                 _fields: Mapping[str, str] | None = None) -> None:
        if obj is None and _raw is None:
            raise ValueError("a cached object needs its dict or its JSON")
        self.key = key
        self.namespace = namespace
        self.name = name
        self.rv = rv
        self._obj = obj
        self.field_values_of = field_values_of
        self._raw = _raw
        self._labels = _labels
        self._fields = _fields
        self._message: bytes | None = None
        self._views: dict[str, CachedObject] | None = None
        """This object as other served versions show it (``cacher.views``), built on first use."""

    @classmethod
    def from_store(cls, key: str, value: bytes, revision: int, field_values_of: FieldValues, *,
                   compact: bool = True) -> CachedObject:
        """The cache's form of a stored value: compacted (JSON, labels and fields only). Not ``compact``:
        the decoded dict is kept and labels, fields and JSON are only computed if asked for (a one-off
        read such as a GET, answered and dropped: its selectable fields are never needed)."""
        obj = decode_stored(value, revision)
        co = cls(key, meta.namespace(obj), meta.name(obj), revision, obj, field_values_of)
        if compact:
            co.compact()
        return co

    def compact(self) -> None:
        """Keep only the JSON (plus labels and fields): drop the decoded dict."""
        _ = self.raw, self.labels, self.fields
        self._obj = None

    def share_strings(self, table: dict[str, str]) -> None:
        """Make the label values, field values (but the name) and namespace the equal strings of ``table``
        (added when new): 150,000 pods hold a few hundred distinct ones (namespace, node, phase, scheduler,
        service account, label values), ~600 bytes a pod when each keeps its own. Values only change
        identity, never content."""
        self.namespace = table.setdefault(self.namespace, self.namespace)
        labels = self._labels
        if labels:
            for k, v in labels.items():
                labels[k] = table.setdefault(v, v)
        fields = self._fields
        if type(fields) is dict:
            for k, v in fields.items():
                if k != "metadata.name" and type(v) is str:
                    fields[k] = table.setdefault(v, v)

    @property
    def obj(self) -> dict[str, Any]:
        """The object as a dict (decoded from ``raw`` when compacted: a new dict on each call)."""
        if self._obj is not None:
            return self._obj
        assert self._raw is not None
        decoded: dict[str, Any] = orjson.loads(self._raw)
        return decoded

    @property
    def raw(self) -> bytes:
        """``obj`` as JSON, encoded on first use."""
        if self._raw is None:
            self._raw = exact(orjson.dumps(self._obj))
        return self._raw

    @property
    def message(self) -> bytes:
        """``obj``'s bare protobuf message (a list item, an envelope's raw), encoded on first use. Raises
        ``UnsupportedKind`` / ``UnencodableObject`` (nothing is memoized then)."""
        if self._message is None:
            self._message = protobuf_bodies.message_of(self.obj)
        return self._message

    @property
    def envelope(self) -> bytes:
        """``obj`` as a complete protobuf body (``k8s\\0`` + runtime.Unknown)."""
        return protobuf_bodies.wrap(str(self.obj.get("apiVersion") or ""), str(self.obj.get("kind") or ""),
                                    self.message)

    @property
    def labels(self) -> dict[str, str]:
        if self._labels is None:
            self._labels = meta.labels(self.obj)
        return self._labels

    @property
    def fields(self) -> Mapping[str, str]:
        if self._fields is None:
            try:
                self._fields = self.field_values_of(self.obj)
            except Exception:  # a strategy must not break the cache on an odd stored object
                self._fields = {"metadata.name": self.name, "metadata.namespace": self.namespace}
        return self._fields

    def at_revision(self, rv: int) -> CachedObject:
        """The same content with ``resourceVersion`` ``rv`` (a new read-only object)."""
        obj = self.obj if self._obj is None else dict(self.obj)
        obj["metadata"] = {**meta.metadata(self.obj), "resourceVersion": str(rv)}
        return CachedObject(self.key, self.namespace, self.name, rv, obj, self.field_values_of,
                            _labels=self._labels, _fields=self._fields)

    def mutable_copy(self) -> dict[str, Any]:
        """A deep copy of ``obj`` the caller may change (a compacted object's decode is one already)."""
        return self.obj if self._obj is None else json_copy(self._obj)


@dataclass(slots=True, eq=False)
class WatchEvent:
    """One change to one object. For DELETED, ``cur`` is the last state at the deletion's version."""

    type: str
    cur: CachedObject
    prev: CachedObject | None
    rv: int
    _lines: dict[str, bytes] = field(default_factory=dict)
    _frames: dict[str, bytes] | None = None
    _prev_at_rv: CachedObject | None = None

    def object_for(self, variant: str) -> CachedObject:
        """The object a delivery ``variant`` carries."""
        if variant == DELETED_PREV:
            if self._prev_at_rv is None:
                assert self.prev is not None
                self._prev_at_rv = self.prev.at_revision(self.rv)
            return self._prev_at_rv
        return self.cur

    def line(self, variant: str, view: View | None = None) -> bytes:
        """``{"type":…,"object":…}\\n`` for ``variant`` (as ``view`` shows the object), encoded once per
        event, variant and view."""
        memo = variant if view is None else f"{variant}@{view.name}"
        cached = self._lines.get(memo)
        if cached is None:
            wire_type = DELETED if variant == DELETED_PREV else variant
            obj = self.object_for(variant) if view is None else view.show(self.object_for(variant))
            cached = b'{"type":"' + wire_type.encode() + b'","object":' + obj.raw + b"}\n"
            self._lines[memo] = cached
        return cached

    def frame(self, variant: str, view: View | None = None) -> bytes:
        """The protobuf watch frame for ``variant`` (as ``view`` shows the object), encoded once per event,
        variant and view (raises like :attr:`CachedObject.message`)."""
        if self._frames is None:
            self._frames = {}
        memo = variant if view is None else f"{variant}@{view.name}"
        cached = self._frames.get(memo)
        if cached is None:
            wire_type = DELETED if variant == DELETED_PREV else variant
            obj = self.object_for(variant) if view is None else view.show(self.object_for(variant))
            cached = protobuf_bodies.watch_frame(wire_type, obj.envelope)
            self._frames[memo] = cached
        return cached


def encode_event(event_type: str, obj: Mapping[str, Any]) -> bytes:
    """A one-off watch line (bookmarks, errors, transformed objects)."""
    return orjson.dumps({"type": event_type, "object": obj}) + b"\n"
