"""Memo of a create's ownership: objects alike in structure own alike.

A create's managedFields come from walking the whole new object against its type's zero value (issue 21:
~12% of the API server's CPU per pod create). The walk compares each value with the zero object, which
holds no scalars (only the structs, lists and maps a typed Go value always has): a string found outside
every list is owned wherever it is, whatever it says — a non-empty string takes the same branches as any
other, since shapes depend on a value's type and never on its text. Strings inside lists are different:
an associative list's key values (a container's ``name``) and a set list's items are spelled in the
paths. So the memo keys the computed :class:`Managed` by the object's JSON with every non-empty string
outside the lists replaced by one placeholder (plus the type, the manager identity, the apiVersion and
the ignored paths), and hands out a copy with the request's time. Pods of one template (differing in
name, uid, creation time) share an entry; so do the Events of one kind (differing in the object they
are about, the message and the times).

Invariants: an entry is used only for a create from nothing (no live object, no managedFields sent) whose
``metadata.name``, ``uid`` and ``creationTimestamp`` are non-empty strings; empty strings, numbers, booleans,
nulls, map keys and everything inside a list are kept as they are in the key; the entry holds its type so a
type that was replaced (a CRD's new schema) can never match by a reused ``id``; the memo is bounded (oldest
entries dropped first, objects over 16 KiB of JSON never kept); a walk that raises is never stored.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from sampan.api.apply.fieldset import FieldSet
from sampan.api.apply.managers import Identity, Managed
from sampan.api.apply.shapes import TypeRef

LIMIT = 256
"""Entries kept (a key is an object's JSON: a few KiB for a pod)."""
MAX_KEY_BYTES = 16 * 1024
"""Larger objects (a big ConfigMap) are walked every time: the memo stays under LIMIT x this (4 MiB)."""
_SET_ON_CREATE = ("name", "uid", "creationTimestamp")

_Key = tuple[int, Identity, str, FieldSet, bytes]
_memo: dict[_Key, tuple[TypeRef, Managed, tuple[Identity, ...]]] = {}


def _key(t: TypeRef, new: Any, who: Identity, api_version: str, ignored: FieldSet) -> _Key | None:
    """The memo key of ``new``, or None when the memo must not be used for it."""
    md = new.get("metadata") if isinstance(new, dict) else None
    if not isinstance(md, dict) or "managedFields" in md:
        return None
    if not all(isinstance(md.get(k), str) and md[k] for k in _SET_ON_CREATE):
        return None
    try:
        spelled = orjson.dumps(_blanked(new))
    except (TypeError, orjson.JSONEncodeError):
        return None
    if len(spelled) > MAX_KEY_BYTES:
        return None
    return id(t), who, api_version, ignored, spelled


def _blanked(value: Any) -> Any:
    """``value`` with every non-empty string outside the lists replaced by ``"-"`` (lists kept whole)."""
    if isinstance(value, str):
        return "-" if value else value
    if isinstance(value, dict):
        return {k: _blanked(v) for k, v in value.items()}
    return value


def created(t: TypeRef, new: Any, who: Identity, *, api_version: str, ignored: FieldSet, now: str,
            compute: Callable[[], Managed]) -> Managed:
    """``compute()`` (the ownership of creating ``new``), or its memoized equal with ``now`` as the time
    of every entry that ``compute`` stamped."""
    key = _key(t, new, who, api_version, ignored)
    if key is None:
        return compute()
    hit = _memo.get(key)
    if hit is not None and hit[0] is t:
        _, managed, stamped = hit
        return Managed(dict(managed.fields), {**managed.times, **dict.fromkeys(stamped, now)})
    managed = compute()
    stamped = tuple(who for who, time in managed.times.items() if time == now)
    if len(_memo) >= LIMIT:
        _memo.pop(next(iter(_memo)), None)
    _memo[key] = (t, Managed(dict(managed.fields), dict(managed.times)), stamped)
    return managed


def clear() -> None:
    """Forget every entry (tests)."""
    _memo.clear()
