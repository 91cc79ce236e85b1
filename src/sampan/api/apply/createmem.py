"""Memo of a create's ownership: objects that differ only in name, uid and creation time own alike.

A create's managedFields come from walking the whole new object against its type's zero value (issue 21:
~12% of the API server's CPU per pod create). A ReplicaSet's pods, or a benchmark's, differ only in
``metadata.name``, ``metadata.uid`` and ``metadata.creationTimestamp`` — and the walk's result does not
depend on those three values: their own paths are stripped from every managedFields entry, and as
non-empty strings each one differs from the zero value whatever it says, so the walk takes the same
branches. The memo keys the computed :class:`Managed` by the object's JSON with those three values
blanked (plus the type, the manager identity, the apiVersion and the ignored paths) and hands out a
copy with the request's time.

Invariants: an entry is used only for a create from nothing (no live object, no managedFields sent) whose
three values are non-empty strings; the entry holds its type so a type that was replaced (a CRD's new
schema) can never match by a reused ``id``; the memo is bounded (oldest entries dropped first, objects
over 16 KiB of JSON never kept); a walk that raises is never stored.
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
_BLANKED = ("name", "uid", "creationTimestamp")

_Key = tuple[int, Identity, str, FieldSet, bytes]
_memo: dict[_Key, tuple[TypeRef, Managed, tuple[Identity, ...]]] = {}


def _key(t: TypeRef, new: Any, who: Identity, api_version: str, ignored: FieldSet) -> _Key | None:
    """The memo key of ``new``, or None when the memo must not be used for it."""
    md = new.get("metadata") if isinstance(new, dict) else None
    if not isinstance(md, dict) or "managedFields" in md:
        return None
    if not all(isinstance(md.get(k), str) and md[k] for k in _BLANKED):
        return None
    try:
        spelled = orjson.dumps({**new, "metadata": {**md, **dict.fromkeys(_BLANKED, "-")}})
    except (TypeError, orjson.JSONEncodeError):
        return None
    if len(spelled) > MAX_KEY_BYTES:
        return None
    return id(t), who, api_version, ignored, spelled


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
