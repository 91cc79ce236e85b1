"""Controller references: who owns an object, and adopting/releasing objects by label selector
(upstream's ``ControllerRefManager``).

Invariant kept: an object has at most one ownerReference with ``controller: true``. An owner adopts an
orphan that its selector matches (unless the owner is being deleted) and releases an owned object whose
labels no longer match. Writes go through PUT with the cached object's resourceVersion, so a stale cache
gives a Conflict and the runner retries.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from sampan.api import errors
from sampan.api.selectors import LabelSelector
from sampan.client import ResourceClient

log = logging.getLogger(__name__)


def controller_ref(obj: Mapping[str, Any]) -> dict[str, Any] | None:
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if isinstance(ref, dict) and ref.get("controller"):
            return ref
    return None


def new_controller_ref(owner: Mapping[str, Any], *, api_version: str, kind: str) -> dict[str, Any]:
    md = owner["metadata"]
    return {"apiVersion": api_version, "kind": kind, "name": md["name"], "uid": md["uid"], "controller": True,
            "blockOwnerDeletion": True}


def is_owned_by(obj: Mapping[str, Any], owner: Mapping[str, Any]) -> bool:
    ref = controller_ref(obj)
    return ref is not None and ref.get("uid") == owner["metadata"].get("uid")


async def claim(client: ResourceClient, owner: Mapping[str, Any], selector: LabelSelector,
                candidates: Iterable[dict[str, Any]], *, api_version: str, kind: str) -> list[dict[str, Any]]:
    """The candidates ``owner`` controls after adopting matching orphans and releasing owned objects that
    no longer match. Candidates owned by someone else are skipped."""
    owned: list[dict[str, Any]] = []
    deleting = bool(owner["metadata"].get("deletionTimestamp"))
    for obj in candidates:
        ref = controller_ref(obj)
        labels = (obj.get("metadata") or {}).get("labels") or {}
        matches = selector.matches(labels)
        if ref is not None:
            if ref.get("uid") != owner["metadata"].get("uid"):
                continue
            if matches or deleting:
                owned.append(obj)
                continue
            await _release(client, obj, owner)
            continue
        if not matches or deleting or (obj.get("metadata") or {}).get("deletionTimestamp"):
            continue
        adopted = await _adopt(client, obj, new_controller_ref(owner, api_version=api_version, kind=kind))
        if adopted is not None:
            owned.append(adopted)
    return owned


async def _adopt(client: ResourceClient, obj: dict[str, Any], ref: dict[str, Any]) -> dict[str, Any] | None:
    md = dict(obj["metadata"])
    md["ownerReferences"] = [*(md.get("ownerReferences") or []), ref]
    try:
        updated = await client.update({**obj, "metadata": md})
    except errors.NotFound:
        return None
    log.info("adopted object=%s/%s owner=%s", md.get("namespace"), md.get("name"), ref["name"])
    return updated


async def _release(client: ResourceClient, obj: dict[str, Any], owner: Mapping[str, Any]) -> None:
    md = dict(obj["metadata"])
    uid = owner["metadata"].get("uid")
    md["ownerReferences"] = [r for r in md.get("ownerReferences") or [] if r.get("uid") != uid]
    try:
        await client.update({**obj, "metadata": md})
    except errors.NotFound:
        return
    log.info("released object=%s/%s owner=%s", md.get("namespace"), md.get("name"), owner["metadata"]["name"])


CONTROLLER_UID_INDEX = "controller-uid"
"""Informer index: objects by the uid of their controller (orphans under "")."""


def controller_uid_index(obj: Any) -> list[str]:
    ref = controller_ref(obj)
    return [str(ref.get("uid") or "")] if ref is not None else [""]
