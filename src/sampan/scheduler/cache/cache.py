"""Cache: what the scheduler believes is on each node, including pods it has chosen but not yet seen
bound (assumed pods).

The assumed-pod state machine (per pod uid)::

                 assume_pod                    add_pod (the informer sees it bound)
      (absent) ─────────────► Assumed ───────────────────────────────────────► Added
         ▲                     │   │                                           │  ▲
         │      forget_pod     │   │ finish_binding, then ttl passes            │  │ update_pod
         ├─────────────────────┘   │ without confirmation (cleanup_expired)     │  │
         │   (binding failed)      ▼                                            │──┘
         ├──────────────────── Expired                                          │
         │                                                                      │
         └──────────────────────────────── remove_pod ◄─────────────────────────┘
      (absent) ── add_pod ──► Added          (a pod bound by someone else)

Invariants: a pod is on exactly one NodeInfo iff its state is Assumed or Added; only Assumed pods
can be forgotten or expire, and an Assumed pod expires only after ``finish_binding`` (a binding still in
flight never expires). ``ttl`` (default 30 s) bounds how long a lost confirmation keeps resources
reserved. Mutated only from the scheduler's event loop, synchronously.

Snapshots: every change to a NodeInfo bumps its ``generation`` and moves its name to the end of
``_recent`` (names ordered by last change, so by generation). ``update_snapshot`` walks ``_recent`` from
the newest end and copies into the snapshot only the NodeInfos newer than the snapshot's generation:
O(changed nodes) per scheduling cycle, and the snapshot never shares a mutable NodeInfo with the cache.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sampan._lib.clock import Clock, RealClock
from sampan.scheduler.framework.node_info import NodeInfo
from sampan.scheduler.framework.pod_info import PodInfo
from sampan.scheduler.framework.snapshot import ZONE_LABEL, Snapshot

log = logging.getLogger(__name__)


class CacheError(Exception):
    """An operation that the state machine forbids (assuming a pod twice, forgetting an added pod…)."""


@dataclass(slots=True)
class _PodState:
    pod: PodInfo
    node_name: str
    assumed: bool
    binding_finished: bool = False
    deadline: float | None = None


def _has_affinity(pod: PodInfo) -> bool:
    return bool(pod.required_affinity or pod.required_anti_affinity or pod.preferred_affinity
                or pod.preferred_anti_affinity)


class Cache:
    def __init__(self, *, clock: Clock | None = None, ttl: float = 30.0) -> None:
        self._clock = clock or RealClock()
        self.ttl = ttl
        self._nodes: dict[str, NodeInfo] = {}
        self._pods: dict[str, _PodState] = {}
        self._nodes_dirty = True
        self._affinity_dirty = True
        self._affinity_changed: dict[str, NodeInfo] = {}
        self._images_dirty = True
        self._recent: dict[str, None] = {}
        self.namespace_labels: dict[str, dict[str, str]] = {}

    def _touched(self, name: str) -> None:
        """``name``'s NodeInfo just changed (its generation grew): it is now the newest in ``_recent``."""
        self._recent.pop(name, None)
        self._recent[name] = None

    def _drop(self, name: str) -> None:
        del self._nodes[name]
        self._recent.pop(name, None)

    # -- nodes -------------------------------------------------------------------------------
    def add_node(self, node: dict[str, Any]) -> NodeInfo:
        """Add or replace a node object (ValueError on malformed nodes)."""
        name = (node.get("metadata") or {}).get("name")
        ni = self._nodes.get(name) if isinstance(name, str) else None
        if ni is None:
            ni = NodeInfo(node)
            self._nodes[ni.name] = ni
            self._nodes_dirty = self._images_dirty = self._affinity_dirty = True
        else:
            old_zone = ni.labels.get(ZONE_LABEL)
            had_node = ni.node is not None
            old_images = ni.images
            ni.set_node(node)
            if not had_node or old_zone != ni.labels.get(ZONE_LABEL):
                self._nodes_dirty = self._affinity_dirty = True
            if old_images != ni.images or not had_node:
                self._images_dirty = True
        self._touched(ni.name)
        return ni

    update_node = add_node

    def remove_node(self, name: str) -> None:
        ni = self._nodes.get(name)
        if ni is None:
            return
        if ni.pods:
            ni.node = None  # pods still point here until their deletion arrives
            ni.mark_changed()
            self._touched(name)
        else:
            self._drop(name)
        self._nodes_dirty = self._images_dirty = self._affinity_dirty = True

    def node(self, name: str) -> NodeInfo | None:
        return self._nodes.get(name)

    @property
    def node_count(self) -> int:
        return sum(1 for n in self._nodes.values() if n.node is not None)

    # -- pods --------------------------------------------------------------------------------
    def _node_for(self, name: str) -> NodeInfo:
        ni = self._nodes.get(name)
        if ni is None:
            ni = NodeInfo(name=name)
            self._nodes[name] = ni
            self._touched(name)
        return ni

    def _place(self, pod: PodInfo, node_name: str) -> None:
        ni = self._node_for(node_name)
        ni.add_pod(pod)
        self._touched(node_name)
        if _has_affinity(pod):
            self._affinity_changed[node_name] = ni

    def _unplace(self, state: _PodState) -> None:
        ni = self._nodes.get(state.node_name)
        if ni is None:
            return
        if ni.remove_pod(state.pod.uid) is not None:
            self._touched(state.node_name)
        if _has_affinity(state.pod):
            self._affinity_changed[state.node_name] = ni
        if ni.node is None and not ni.pods:
            self._drop(state.node_name)
            self._nodes_dirty = True

    def assume_pod(self, pod: PodInfo, node_name: str) -> None:
        if pod.uid in self._pods:
            raise CacheError(f"pod {pod.key} is in the cache, so can't be assumed")
        self._pods[pod.uid] = _PodState(pod, node_name, assumed=True)
        self._place(pod, node_name)

    def finish_binding(self, uid: str) -> None:
        st = self._pods.get(uid)
        if st is not None and st.assumed:
            st.binding_finished = True
            st.deadline = self._clock.monotonic() + self.ttl

    def forget_pod(self, uid: str) -> None:
        st = self._pods.get(uid)
        if st is None:
            return
        if not st.assumed:
            raise CacheError(f"pod {st.pod.key} was added, only assumed pods can be forgotten")
        self._unplace(st)
        del self._pods[uid]

    def is_assumed(self, uid: str) -> bool:
        st = self._pods.get(uid)
        return st is not None and st.assumed

    def add_pod(self, pod: PodInfo) -> None:
        """A bound pod seen by the informer: confirms an assumed pod, or adds a new one."""
        if not pod.node_name:
            raise CacheError(f"pod {pod.key} has no spec.nodeName")
        st = self._pods.get(pod.uid)
        if st is not None and st.assumed:
            if st.node_name != pod.node_name:
                log.info("assumed pod bound elsewhere pod=%s assumed=%s actual=%s",
                         pod.key, st.node_name, pod.node_name)
            self._unplace(st)
            self._pods[pod.uid] = _PodState(pod, pod.node_name, assumed=False)
            self._place(pod, pod.node_name)
            return
        if st is not None:
            self.update_pod(pod)
            return
        self._pods[pod.uid] = _PodState(pod, pod.node_name, assumed=False)
        self._place(pod, pod.node_name)

    def update_pod(self, pod: PodInfo) -> None:
        st = self._pods.get(pod.uid)
        if st is None or st.assumed:
            self.add_pod(pod)
            return
        self._unplace(st)
        self._pods[pod.uid] = _PodState(pod, pod.node_name, assumed=False)
        self._place(pod, pod.node_name)

    def remove_pod(self, uid: str) -> None:
        st = self._pods.pop(uid, None)
        if st is not None:
            self._unplace(st)

    def get_pod(self, uid: str) -> PodInfo | None:
        st = self._pods.get(uid)
        return st.pod if st is not None else None

    def cleanup_expired(self) -> list[PodInfo]:
        """Drop assumed pods whose binding finished more than ``ttl`` ago; returns them."""
        now = self._clock.monotonic()
        gone = [st for st in self._pods.values()
                if st.assumed and st.binding_finished and st.deadline is not None and st.deadline <= now]
        for st in gone:
            log.warning("assumed pod expired pod=%s node=%s", st.pod.key, st.node_name)
            self._unplace(st)
            del self._pods[st.pod.uid]
        return [st.pod for st in gone]

    # -- snapshot ----------------------------------------------------------------------------
    def update_snapshot(self, snap: Snapshot) -> None:
        """Bring ``snap`` up to date: copy the NodeInfos changed since its ``generation`` into it (in
        place), then rebuild the node list / affinity subsets / image counts only if what they depend on
        moved. A fresh snapshot (generation 0) gets everything."""
        fresh = snap.generation == 0
        mine = snap.all_infos
        newest = snap.generation
        for name in reversed(self._recent):
            ni = self._nodes[name]
            if ni.generation <= snap.generation:
                break
            newest = max(newest, ni.generation)
            copy = mine.get(name)
            if copy is None:
                mine[name] = ni.clone()
            else:
                copy.copy_from(ni)
            snap.note_copied(name, ni.generation)
        snap.generation = newest
        snap.tracked = True
        if self._nodes_dirty or fresh:
            for name in [n for n in mine if n not in self._nodes]:
                del mine[name]
                snap.log.pop(name, None)
            snap.set_nodes(mine[name] for name in self._nodes)
            self._nodes_dirty = False
            self._affinity_dirty = True
        if self._affinity_dirty or fresh:
            snap.refresh_affinity()
            self._affinity_dirty = False
        elif self._affinity_changed:
            snap.refresh_affinity([mine[n] for n in self._affinity_changed if n in mine])
        self._affinity_changed.clear()
        if self._images_dirty or fresh:
            snap.refresh_images()
            self._images_dirty = False
        if snap.namespace_labels != self.namespace_labels:
            snap.namespace_labels = dict(self.namespace_labels)
