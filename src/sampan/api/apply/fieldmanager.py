"""The field manager: ``metadata.managedFields`` bookkeeping around every write, as kube-apiserver does.

:func:`apply` serves ``PATCH`` with ``application/apply-patch+yaml``; :func:`update_managed_fields`
runs on every other write (create, PUT, JSON / merge / strategic-merge PATCH) so ownership follows
what each manager changed. Both are pure: they return a new object and never mutate their inputs.

Upstream layers reproduced, outermost first:

* apply only: the applied object's kind must match the live one, and it may not carry managedFields;
* last-applied (manager ``kubectl`` only): conflicts on values the object's client-side
  last-applied annotation already records are forgiven; the annotation follows the applied config;
* before-first-apply: the first apply to an object nobody tracks yet records everything it holds as
  owned by ``before-first-apply`` (an Update manager), so applying over it conflicts visibly;
  ordinary updates of an untracked object stay untracked, creates are always tracked;
* at most 10 Update managers; the oldest are folded into ``ancient-changes``;
* an entry's ``time`` changes only when its manager changed the object;
* ``apiVersion``, ``kind``, ``metadata``, and metadata's name, namespace, uid, resourceVersion,
  generation, creationTimestamp, selfLink, clusterName and managedFields are never owned.

A write's request may replace managedFields (any decodable non-empty list is taken as the new
baseline) or clear them (``[]`` or ``[{}]``); subresource writes always start from the live list.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sampan.api import errors
from sampan.api.apply import createmem, lastapplied, leafupdate, shapes, updater
from sampan.api.apply.conflicts import conflict_error
from sampan.api.apply.fieldset import EMPTY, FieldSet
from sampan.api.apply.managers import (
    APPLY,
    UPDATE,
    Identity,
    Managed,
    ManagedFieldsError,
    cap_update_managers,
    decode,
    encode,
    identity,
    is_reset,
)
from sampan.api.apply.merge import validate_config
from sampan.api.apply.path import Path, make_path
from sampan.api.apply.shapes import ShapeError, TypeRef
from sampan.api.apply.updater import Conflicts, ManagerSet
from sampan.api.apply.walk import MISSING
from sampan.api.apply.zero import zero_object
from sampan.api.humanize import format_rfc3339
from sampan.api.jsoncopy import json_copy
from sampan.api.schema import TypeNode

log = logging.getLogger(__name__)

BEFORE_FIRST_APPLY = "before-first-apply"
LEAF_FAST_PATH = True
"""Skip the ownership walk for an update of leaves its manager alone owns (:mod:`.leafupdate`; exact).
Tests turn it off for the reference."""
_CURRENT = Identity(manager="current-operation", operation=UPDATE)  # apiVersion "": no real Update has it
STRIPPED: FieldSet = frozenset(
    make_path(*p.split(".")) for p in (
        "apiVersion", "kind", "metadata", "metadata.name", "metadata.namespace", "metadata.creationTimestamp",
        "metadata.selfLink", "metadata.uid", "metadata.clusterName", "metadata.generation",
        "metadata.managedFields", "metadata.resourceVersion",
    )
)


def _timestamp(now: float | str | datetime) -> str:
    if isinstance(now, str):
        return now
    if isinstance(now, datetime):
        return format_rfc3339(now.timestamp())
    return format_rfc3339(now)


def _meta(obj: Any) -> dict[str, Any]:
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    return meta if isinstance(meta, dict) else {}


def _set_managed_fields(obj: dict[str, Any], entries: list[dict[str, Any]] | None) -> None:
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        if entries is None:
            return
        meta = obj["metadata"] = {}
    if entries is None:
        meta.pop("managedFields", None)
    else:
        meta["managedFields"] = entries


def _ignored(paths: Iterable[Path] | None) -> FieldSet:
    return frozenset(paths) if paths else EMPTY


def _gvk_string(api_version: str, kind: str) -> str:
    group, _, version = api_version.rpartition("/")
    return f"{group}/{version}, Kind={kind}"


def check_applied_kind(applied: dict[str, Any], *, api_version: str, kind: str) -> None:
    """Raise upstream's 400 when an apply configuration names another kind than the endpoint serves."""
    got_version, got_kind = applied.get("apiVersion"), applied.get("kind")
    if got_version != api_version or got_kind != kind:
        raise errors.BadRequest(f"invalid object type: {_gvk_string(str(got_version or ''), str(got_kind or ''))}")


def _strip(fields: dict[Identity, ManagerSet], who: Identity) -> None:
    ms = fields.get(who)
    if ms is None:
        return
    remaining = ms.fields - STRIPPED
    if remaining:
        fields[who] = ManagerSet(remaining, ms.api_version, ms.applied)
    else:
        del fields[who]


def _update_chain(
    live: Any, new: Any, t: TypeRef, managed: Managed, who: Identity, *, api_version: str, ignored: FieldSet, now: str
) -> Managed:
    """One Update by ``who``: ownership of what changed, merged into its entry, time bumped if any."""
    fields = updater.update(live, new, t, managed.fields, _CURRENT, api_version=api_version, ignored=ignored)
    _strip(fields, _CURRENT)
    times = dict(managed.times)
    current = fields.pop(_CURRENT, None)
    if current is not None:
        previous = fields.get(who)
        union = current.fields | previous.fields if previous else current.fields
        fields[who] = ManagerSet(union, api_version, False)
        times[who] = now
    return cap_update_managers(Managed(fields, times))


def update_managed_fields(
    old: dict[str, Any] | None, new: dict[str, Any], *, manager: str, now: float | str | datetime,
    type_node: TypeNode | None, operation: str = UPDATE, subresource: str = "",
    ignored: Iterable[Path] | None = None, in_place: bool = False,
) -> dict[str, Any]:
    """``new`` with managedFields recording that ``manager`` made the write ``old`` -> ``new`` (``old``
    None for a create). ``ignored`` are the resource's reset fields (e.g. ``status``). Never raises for
    bad managedFields: a list that cannot be decoded falls back to the live one, and if ownership
    cannot be computed the live list is kept unchanged. A copy of ``new`` unless ``in_place`` (the
    caller owns ``new`` and drops it: ``new`` itself gets the managedFields and is returned)."""
    if operation != UPDATE:
        raise ValueError("update_managed_fields records Update operations; use apply() for Apply")
    t = shapes.root(type_node)
    result = new if in_place else json_copy(new)
    api_version = str(new.get("apiVersion") or (old or {}).get("apiVersion") or "")
    live_entries = _meta(old).get("managedFields")
    new_entries = _meta(new).get("managedFields")
    managed = _decode_or_empty(live_entries)
    if not subresource:
        if is_reset(new_entries):
            managed = Managed()
        elif new_entries != live_entries:  # equal lists decode alike (a renewal sends its entries back)
            try:
                requested = decode(new_entries)
            except ManagedFieldsError:
                requested = Managed()
            if requested.fields:
                managed = requested
    _set_managed_fields(result, None)
    creating = old is None or not _meta(old).get("uid")
    if not managed.fields and not creating:
        return result
    who = identity(manager, UPDATE, api_version, subresource)
    ignored_set, stamp = _ignored(ignored), _timestamp(now)
    try:
        if old is None and not managed.fields:  # a create from nothing: objects alike own alike (memo)
            start = managed
            managed = createmem.created(
                t, result, who, api_version=api_version, ignored=ignored_set, now=stamp,
                compute=lambda: _update_chain(zero_object(t, result), result, t, start, who,
                                              api_version=api_version, ignored=ignored_set, now=stamp))
        else:
            fast = None if old is None or not LEAF_FAST_PATH else leafupdate.owned_leaf_update(
                old, result, managed, who, stripped=STRIPPED, ignored=ignored_set, now=stamp)
            base = old if old is not None else zero_object(t, result)
            managed = fast if fast is not None else _update_chain(
                base, result, t, managed, who, api_version=api_version, ignored=ignored_set, now=stamp)
    except ShapeError as err:
        log.warning("managedFields not updated, kept the live ones manager=%s error=%s", manager, err)
        _set_managed_fields(result, copy.deepcopy(live_entries) if isinstance(live_entries, list) else None)
        return result
    _set_managed_fields(result, encode(managed))
    return result


def _decode_or_empty(entries: Any) -> Managed:
    try:
        return decode(entries)
    except ManagedFieldsError:
        return Managed()


def apply(
    live: dict[str, Any] | None, applied: dict[str, Any], *, manager: str, force: bool,
    type_node: TypeNode | None, now: float | str | datetime, subresource: str = "",
    ignored: Iterable[Path] | None = None,
) -> dict[str, Any]:
    """The object after server-side applying ``applied`` as ``manager`` (``live`` None: create).

    Raises ``errors.Conflict`` (409, upstream message and ``FieldManagerConflict`` causes) when other
    managers own fields the configuration changes and ``force`` is false; ``errors.BadRequest`` for a
    configuration of another kind or one carrying managedFields; ``errors.InternalError`` (upstream's
    500) for a configuration whose keyed lists have duplicate or key-less items, or a live object whose
    managedFields cannot be decoded. If nothing changes, the result equals ``live``.
    """
    if not isinstance(applied, dict):
        raise errors.BadRequest("apply configuration must be an object")
    if _meta(applied).get("managedFields") is not None:
        raise errors.BadRequest("metadata.managedFields must be nil")
    api_version = str(applied.get("apiVersion") or "")
    if not api_version or not applied.get("kind"):
        check_applied_kind(applied, api_version="?", kind="?")
    if live is not None and (live.get("apiVersion"), live.get("kind")) != (applied.get("apiVersion"),
                                                                         applied.get("kind")):
        check_applied_kind(applied, api_version=str(live.get("apiVersion")), kind=str(live.get("kind")))
    t = shapes.root(type_node)
    try:
        validate_config(applied, t)
    except ShapeError as err:
        meta = _meta(applied)
        gvk = _gvk_string(api_version, str(applied.get("kind") or ""))
        where = f"{meta.get('namespace') or ''}/{meta.get('name') or ''}; {gvk}"
        raise errors.InternalError(f"failed to create typed patch object ({where}): {err}") from None
    try:
        managed = decode(_meta(live).get("managedFields"))
    except ManagedFieldsError as err:
        raise errors.InternalError(f"failed to decode managed fields: {err}") from None
    base = copy.deepcopy(live) if live is not None else {}
    stamp = _timestamp(now)
    ignored_set = _ignored(ignored)

    def once(forced: bool) -> dict[str, Any]:
        return _apply_once(base, applied, t, managed, identity(manager, APPLY, api_version, subresource),
                           api_version=api_version, force=forced, ignored=ignored_set, now=stamp)

    try:
        result = once(force)
    except Conflicts as c:
        if manager != lastapplied.KUBECTL:
            raise conflict_error(c.conflicts) from None
        allowed = lastapplied.allowed_conflicts(live, t, api_version=api_version)
        remaining = c.conflicts
        if allowed is not None:
            remaining = {m: s - allowed for m, s in c.conflicts.items() if s - allowed}
        if remaining:
            raise conflict_error(remaining) from None
        result = once(True)
    if manager == lastapplied.KUBECTL:
        lastapplied.record(result, applied)
    return result


def _apply_once(
    live: dict[str, Any], applied: dict[str, Any], t: TypeRef, managed: Managed, who: Identity, *,
    api_version: str, force: bool, ignored: FieldSet, now: str,
) -> dict[str, Any]:
    if not managed.fields:
        first = identity(BEFORE_FIRST_APPLY, UPDATE, api_version, who.subresource)
        managed = _update_chain(zero_object(t, live), live, t, managed, first, api_version=api_version,
                                ignored=ignored, now=now)
    try:
        obj, fields = updater.apply(live, applied, t, managed.fields, who, api_version=api_version, force=force,
                                    ignored=ignored)
    except ShapeError as err:
        raise errors.InternalError(f"failed to apply: {err}") from None
    _strip(fields, who)
    times = dict(managed.times)
    if obj is MISSING:
        obj = copy.deepcopy(live)
    else:
        times[who] = now
    _set_managed_fields(obj, encode(Managed(fields, times)))
    return obj
