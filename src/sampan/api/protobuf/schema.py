"""The message schemas, compiled from the generated table in :mod:`.schema_table`.

Table format (plain data, generated from upstream's ``generated.proto`` and Go struct tags):

* ``MESSAGES[name] = (message_flags, fields)``; ``name`` is ``<package>.<Message>`` such as
  ``core/v1.Pod`` or ``meta/v1.ObjectMeta``. ``message_flags`` is ``"wrapper"`` for upstream's
  ``+protobuf.nullable`` slice types (``ExtraValue``, ``Verbs``): a message with one repeated field
  ``items`` on the wire, a bare JSON array in JSON.
* each field is ``(number, json_name, label, type, go_flags)``: ``label`` is ``opt``, ``rep`` or
  ``map`` (``map<string, type>``); ``type`` is a scalar (``string``, ``bool``, ``int32``, ``int64``,
  ``bytes``) or a message name; ``go_flags`` holds ``o`` (``omitempty``), ``p`` (Go pointer: present on
  the wire iff set), ``n`` (nil-able: pointer, slice or map, JSON ``null`` when unset and not
  omitempty) and ``i`` (embedded inline: the message's JSON fields are merged into the parent's).
* ``KINDS["<apiVersion> <kind>"] = name`` for every type that embeds TypeMeta.

Invariant: fields of a :class:`Message` are sorted by number (Go writes them in that order).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import wire
from .schema_table import KINDS, MESSAGES

SCALARS = frozenset({"string", "bool", "int32", "int64", "bytes", "double", "float", "uint32", "uint64"})
_SCALAR_WIRE = {
    "string": wire.BYTES, "bytes": wire.BYTES, "bool": wire.VARINT, "int32": wire.VARINT,
    "int64": wire.VARINT, "uint32": wire.VARINT, "uint64": wire.VARINT, "double": wire.FIXED64,
    "float": wire.FIXED32,
}
META_KIND_VERSION = "meta.k8s.io/v1"
"""Meta kinds (Status, DeleteOptions, WatchEvent...) are accepted under any apiVersion, as upstream
registers them into every group version (a Status always says ``apiVersion: v1``)."""


@dataclass(slots=True)
class Field:
    number: int
    json: str
    label: str
    type: str
    omitempty: bool
    pointer: bool
    nilable: bool
    inline: bool
    wire_type: int
    tag: bytes
    is_string: bool = False
    message: Message | None = None
    """The referenced message (resolved after every message is built); None for scalars."""


@dataclass(slots=True)
class Message:
    name: str
    wrapper: bool
    fields: tuple[Field, ...]
    by_number: dict[int, Field] = field(default_factory=dict)
    shown_when_absent: tuple[Field, ...] = ()
    """Fields Go's JSON writer shows even when unset: inline and non-pointer structs, and every field
    without ``omitempty``."""


def _build() -> dict[str, Message]:
    messages: dict[str, Message] = {}
    for name, (flags, rows) in MESSAGES.items():
        fields = []
        for number, json_name, label, type_name, go in rows:
            scalar = type_name in SCALARS
            wire_type = wire.BYTES if label == "map" or not scalar else _SCALAR_WIRE[type_name]
            fields.append(Field(
                number=number, json=json_name, label=label, type=type_name, omitempty="o" in go,
                pointer="p" in go, nilable="n" in go, inline="i" in go, wire_type=wire_type,
                tag=wire.tag_bytes(number, wire_type), is_string=type_name == "string" and label != "map",
            ))
        msg = Message(name=name, wrapper=flags == "wrapper", fields=tuple(sorted(fields, key=lambda f: f.number)))
        msg.by_number = {f.number: f for f in msg.fields}
        msg.shown_when_absent = tuple(
            f for f in msg.fields
            if f.inline or not f.omitempty or (f.label == "opt" and f.type not in SCALARS and not f.pointer)
        )
        messages[name] = msg
    for msg in messages.values():
        for f in msg.fields:
            if f.type not in SCALARS:
                f.message = messages[f.type]
    return messages


SCHEMA: dict[str, Message] = _build()
_META_KINDS: dict[str, str] = {
    key.split(" ", 1)[1]: name for key, name in KINDS.items() if key.startswith(META_KIND_VERSION + " ")
}


def message_for(api_version: str, kind: str) -> Message | None:
    """The top-level message of ``kind`` in ``api_version``, or None when protobuf can't carry it."""
    name = KINDS.get(f"{api_version} {kind}") or _META_KINDS.get(kind)
    return SCHEMA[name] if name else None
