"""NodeInfo: one node and what the scheduler believes runs on it (bound and assumed pods).

Invariants (kept by ``add_pod``/``remove_pod``, the only mutators besides ``set_node``):
``requested`` is the sum of ``pod.requests`` over ``pods`` (``allowed_pods`` counts the pods);
``non_zero_cpu/memory`` the sum of the pods' scoring requests; ``used_ports`` counts every host port of
``pods``; ``pods_with_affinity`` ⊆ ``pods`` holds the pods with any pod (anti-)affinity term and
``pods_with_required_anti_affinity`` those with a required anti-affinity term. ``generation`` grows on
every change, so a snapshot can tell what moved. A NodeInfo may exist without ``node`` (pods arrived
before their node): such a NodeInfo is never offered to plugins.

``memo`` holds per-node results of pure functions of the NodeInfo's current state (a plugin's Filter
verdict or Score for one pod *shape*, e.g. NodeResourcesFit's score for 100m/500Mi), keyed by ints from
:func:`memo_key`. It is emptied on every change (every generation bump), so an entry is never stale: at
5,000 nodes the sampled window (10%) comes round every ten pods and only the few nodes that took a pod
meanwhile are computed again. It holds at most ``MEMO_LIMIT`` entries.
"""

from __future__ import annotations

import itertools
from collections import Counter
from typing import Any

from sampan.scheduler.framework.pod_info import PodInfo, normalized_image
from sampan.scheduler.framework.resources import Resource, resource_list
from sampan.scheduler.framework.taints import PREFER_NO_SCHEDULE, Taint, parse_taints

_generations = itertools.count(1)
_memo_keys = itertools.count(1)
MEMO_LIMIT = 32
"""Most entries one NodeInfo's ``memo`` holds; a full memo is emptied before the next entry."""


def next_generation() -> int:
    return next(_generations)


def memo_key() -> int:
    """A key no other caller gets: one per (plugin, question, pod shape), see :class:`MemoKeys`."""
    return next(_memo_keys)


class MemoKeys:
    """A plugin's memo keys by pod shape (any hashable describing what its per-node answer depends on
    besides the node). Bounded: past ``limit`` shapes the table starts again (old keys are simply never
    asked for again, and their entries leave the memos with the next node change)."""

    __slots__ = ("_keys", "_limit")

    def __init__(self, limit: int = 1024) -> None:
        self._keys: dict[object, int] = {}
        self._limit = limit

    def key(self, shape: object) -> int:
        k = self._keys.get(shape)
        if k is None:
            if len(self._keys) >= self._limit:
                self._keys.clear()
            k = self._keys[shape] = memo_key()
        return k


class NodeInfo:
    __slots__ = (
        "allocatable", "generation", "images", "labels", "memo", "name", "node", "non_zero_cpu", "non_zero_memory",
        "pods", "pods_with_affinity", "pods_with_required_anti_affinity", "prefer_no_schedule_taints", "requested",
        "taints", "unschedulable", "used_ports",
    )

    def __init__(self, node: dict[str, Any] | None = None, *, name: str = "") -> None:
        self.node: dict[str, Any] | None = None
        self.name = name
        self.labels: dict[str, str] = {}
        self.allocatable = Resource()
        self.taints: tuple[Taint, ...] = ()
        self.prefer_no_schedule_taints: tuple[Taint, ...] = ()
        self.unschedulable = False
        self.images: dict[str, int] = {}
        self.requested = Resource()
        self.non_zero_cpu = 0
        self.non_zero_memory = 0
        self.pods: list[PodInfo] = []
        self.pods_with_affinity: list[PodInfo] = []
        self.pods_with_required_anti_affinity: list[PodInfo] = []
        self.used_ports: Counter[tuple[str, str, int]] = Counter()
        self.generation = next_generation()
        self.memo: dict[int, object] = {}
        if node is not None:
            self.set_node(node)

    def set_node(self, node: dict[str, Any]) -> None:
        """Take the node's labels, allocatable, taints and images. Raises ValueError on bad fields."""
        meta = node.get("metadata") or {}
        spec = node.get("spec") or {}
        status = node.get("status") or {}
        name = meta.get("name")
        if not isinstance(name, str) or not name:
            raise ValueError("node metadata.name: Required value")
        allocatable = resource_list(status.get("allocatable") or status.get("capacity"), where="status.allocatable")
        taints = parse_taints(spec.get("taints"))
        images: dict[str, int] = {}
        for img in status.get("images") or []:
            size = int(img.get("sizeBytes") or 0) if isinstance(img, dict) else 0
            for n in (img.get("names") or []) if isinstance(img, dict) else []:
                images[normalized_image(n)] = size
        self.node = node
        self.name = name
        self.labels = dict(meta.get("labels") or {})
        self.allocatable = allocatable
        self.taints = taints
        self.prefer_no_schedule_taints = tuple(t for t in taints if t.effect == PREFER_NO_SCHEDULE)
        self.unschedulable = bool(spec.get("unschedulable"))
        self.images = images
        self.generation = next_generation()
        self.memo = {}

    def add_pod(self, pod: PodInfo) -> None:
        self.pods.append(pod)
        if pod.required_affinity or pod.required_anti_affinity or pod.preferred_affinity or pod.preferred_anti_affinity:
            self.pods_with_affinity.append(pod)
        if pod.required_anti_affinity:
            self.pods_with_required_anti_affinity.append(pod)
        self.requested.add(pod.requests)
        self.non_zero_cpu += pod.non_zero_cpu
        self.non_zero_memory += pod.non_zero_memory
        for hp in pod.host_ports:
            self.used_ports[(hp.ip, hp.protocol, hp.port)] += 1
        self.generation = next_generation()
        self.memo = {}

    def remove_pod(self, uid: str) -> PodInfo | None:
        """Remove the pod with this uid; returns it, or None when it is not here."""
        at = next((i for i, q in enumerate(self.pods) if q.uid == uid), None)
        if at is None:
            return None
        p = self.pods.pop(at)
        self.pods_with_affinity = [q for q in self.pods_with_affinity if q.uid != uid]
        self.pods_with_required_anti_affinity = [q for q in self.pods_with_required_anti_affinity if q.uid != uid]
        self.requested.sub(p.requests)
        self.non_zero_cpu -= p.non_zero_cpu
        self.non_zero_memory -= p.non_zero_memory
        for hp in p.host_ports:
            k = (hp.ip, hp.protocol, hp.port)
            self.used_ports[k] -= 1
            if self.used_ports[k] <= 0:
                del self.used_ports[k]
        self.generation = next_generation()
        self.memo = {}
        return p

    def port_conflict(self, ip: str, protocol: str, port: int) -> bool:
        """Whether a host port is taken: 0.0.0.0 conflicts with every address on the same protocol/port."""
        used = self.used_ports
        if not used:
            return False
        if ip == "0.0.0.0":
            return any(k[1] == protocol and k[2] == port for k in used)
        return (ip, protocol, port) in used or ("0.0.0.0", protocol, port) in used

    def clone(self) -> NodeInfo:
        """A copy whose pod list and counters can change without touching this one (preemption dry runs,
        the scheduling cycle's snapshot)."""
        c = NodeInfo.__new__(NodeInfo)
        c.copy_from(self)
        return c

    def copy_from(self, src: NodeInfo) -> None:
        """Become a copy of ``src`` in place (same generation; the node object, labels, allocatable, taints
        and images are shared: ``set_node`` replaces them, never mutates them)."""
        self.node = src.node
        self.name = src.name
        self.labels = src.labels
        self.allocatable = src.allocatable
        self.taints = src.taints
        self.prefer_no_schedule_taints = src.prefer_no_schedule_taints
        self.unschedulable = src.unschedulable
        self.images = src.images
        self.requested = src.requested.clone()
        self.non_zero_cpu = src.non_zero_cpu
        self.non_zero_memory = src.non_zero_memory
        self.pods = list(src.pods)
        self.pods_with_affinity = list(src.pods_with_affinity)
        self.pods_with_required_anti_affinity = list(src.pods_with_required_anti_affinity)
        self.used_ports = Counter(src.used_ports)
        self.generation = src.generation
        self.memo = {}

    def mark_changed(self) -> None:
        """Bump the generation for a change made from outside (the node object went away)."""
        self.generation = next_generation()
        self.memo = {}

    def __repr__(self) -> str:
        return f"NodeInfo({self.name}, pods={len(self.pods)})"
