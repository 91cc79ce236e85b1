"""The ownership graph: one node per object uid, edges owner → dependents.

A node is *observed* when an informer delivered its object, and *virtual* when only some dependent's
ownerReference names it (it may not exist: the collector verifies it through the API). Invariants, kept
by the synchronous mutators below (called from informer handlers; no await inside, so the asyncio loop
never sees a half-applied change):

* ``b in nodes[a].dependents`` iff ``nodes[b]`` has an owner reference to uid ``a``;
* every uid an owner reference names has a node (virtual if never observed);
* a virtual node with no dependents is dropped.

Each mutator returns the keys the collector must look at (``delete:<uid>`` for attempt-to-delete,
``orphan:<uid>`` for attempt-to-orphan), so handlers only enqueue.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sampan.api.resources import ResourceInfo

ORPHAN_FINALIZER = "orphan"
FOREGROUND_FINALIZER = "foregroundDeletion"


def delete_key(uid: str) -> str:
    return f"delete:{uid}"


def orphan_key(uid: str) -> str:
    return f"orphan:{uid}"


@dataclass
class Node:
    uid: str
    api_version: str
    kind: str
    namespace: str
    name: str
    info: ResourceInfo | None = None
    """The resource, known for observed nodes (virtual ones are resolved from apiVersion/kind)."""
    owners: list[dict[str, Any]] = field(default_factory=list)
    dependents: set[str] = field(default_factory=set)
    observed: bool = False
    being_deleted: bool = False
    deleting_dependents: bool = False
    """Being deleted with the ``foregroundDeletion`` finalizer: waits for blocking dependents."""
    orphan_pending: bool = False


def _owner_refs(obj: Mapping[str, Any]) -> list[dict[str, Any]]:
    refs = (obj.get("metadata") or {}).get("ownerReferences") or []
    return [dict(r) for r in refs if isinstance(r, dict) and r.get("uid")]


def _ref_matches(ref: Mapping[str, Any], owner: Node, namespace: str) -> bool:
    """Whether an owner reference agrees with the owner as observed (upstream's
    ``ownerReferenceMatchesCoordinates`` plus the namespace rule). Only then may a new edge skip the
    attempt-to-delete check: a reference naming a real uid under another name, kind, group or namespace
    is dangling and must be verified through the API (virtual owners are always verified)."""
    if not owner.observed:
        return True  # a virtual owner is verified by its own delete key
    if owner.namespace and owner.namespace != namespace:
        return False  # a namespaced owner in another namespace (cluster-scoped owners fit any dependent)
    return (str(ref.get("name") or "") == owner.name and str(ref.get("kind") or "") == owner.kind
            and str(ref.get("apiVersion") or "").rpartition("/")[0] == owner.api_version.rpartition("/")[0])


class Graph:
    """The uid → :class:`Node` map and its edges (see the module docstring)."""

    def __init__(self) -> None:
        self.nodes: dict[str, Node] = {}

    def get(self, uid: str) -> Node | None:
        return self.nodes.get(uid)

    def upsert(self, obj: Mapping[str, Any], info: ResourceInfo) -> set[str]:
        md = obj.get("metadata") or {}
        uid = str(md.get("uid") or "")
        if not uid:
            return set()
        keys: set[str] = set()
        node = self.nodes.get(uid)
        if node is None:
            node = self.nodes[uid] = Node(uid, info.group_version, info.kind, str(md.get("namespace") or ""),
                                          str(md.get("name") or ""))
        elif not node.observed:
            keys.add(delete_key(uid))  # a virtual node turned out to exist: re-check its dependents' fate
        node.info = info
        node.observed = True
        node.namespace, node.name = str(md.get("namespace") or ""), str(md.get("name") or "")
        finalizers = md.get("finalizers") or []
        node.being_deleted = bool(md.get("deletionTimestamp"))
        was_foreground = node.deleting_dependents
        node.deleting_dependents = node.being_deleted and FOREGROUND_FINALIZER in finalizers
        node.orphan_pending = node.being_deleted and ORPHAN_FINALIZER in finalizers
        new_owners = _owner_refs(obj)
        old_uids = {r["uid"] for r in node.owners}
        new_uids = {r["uid"] for r in new_owners}
        for gone in old_uids - new_uids:
            keys |= self._unlink(gone, uid)
        for ref in new_owners:
            if ref["uid"] in old_uids:
                continue
            owner = self.nodes.get(ref["uid"])
            if owner is None:
                owner = self.nodes[ref["uid"]] = Node(ref["uid"], str(ref.get("apiVersion") or ""),
                                                      str(ref.get("kind") or ""), node.namespace,
                                                      str(ref.get("name") or ""))
                keys.add(delete_key(ref["uid"]))  # verify the virtual owner exists
            owner.dependents.add(uid)
            if not owner.observed or owner.being_deleted or not _ref_matches(ref, owner, node.namespace):
                keys.add(delete_key(uid))
        node.owners = new_owners
        if node.orphan_pending:
            keys.add(orphan_key(uid))
        if node.deleting_dependents:
            keys.add(delete_key(uid))
            if not was_foreground:
                keys |= {delete_key(d) for d in node.dependents}
        for ref in node.owners:  # an owner waiting in foreground re-checks when a dependent changes
            owner = self.nodes.get(ref["uid"])
            if owner is not None and owner.deleting_dependents:
                keys.add(delete_key(owner.uid))
        return keys

    def remove(self, obj: Mapping[str, Any]) -> set[str]:
        uid = str((obj.get("metadata") or {}).get("uid") or "")
        node = self.nodes.get(uid)
        return self.remove_uid(uid) if node is not None else set()

    def remove_uid(self, uid: str) -> set[str]:
        """Forget ``uid`` (deleted, or a virtual node found absent): its dependents must be re-checked."""
        node = self.nodes.pop(uid, None)
        if node is None:
            return set()
        keys = {delete_key(d) for d in node.dependents}
        for ref in node.owners:
            keys |= self._unlink(ref["uid"], uid)
        if node.dependents:  # dependents still point at this uid: keep an absent (virtual) placeholder
            self.nodes[uid] = Node(uid, node.api_version, node.kind, node.namespace, node.name, info=node.info,
                                   dependents=set(node.dependents))
        return keys

    def _unlink(self, owner_uid: str, dependent_uid: str) -> set[str]:
        owner = self.nodes.get(owner_uid)
        if owner is None:
            return set()
        owner.dependents.discard(dependent_uid)
        keys: set[str] = set()
        if owner.deleting_dependents:
            keys.add(delete_key(owner_uid))
        if not owner.observed and not owner.dependents:
            del self.nodes[owner_uid]
        return keys
