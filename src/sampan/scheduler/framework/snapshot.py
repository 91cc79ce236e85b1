"""Snapshot: the cluster as plugins see it during one scheduling cycle.

``node_infos`` lists every NodeInfo that has a node object, interleaved by zone (label
``topology.kubernetes.io/zone``) like upstream's node tree, so that sampling a prefix of the list visits
every zone. ``have_pods_with_affinity`` / ``have_pods_with_required_anti_affinity`` are the subsets with
such pods; ``image_num_nodes`` counts the nodes holding each image.

A snapshot refreshed by ``Cache.update_snapshot`` owns its NodeInfos: copies of the cache's, kept in
``all_infos`` by name (nodeless ones included). ``generation`` is the newest cache NodeInfo generation it
has copied; a refresh copies only the NodeInfos changed since (upstream's UpdateSnapshot), in place, so
the lists above stay valid. Between two refreshes nothing changes it, so a scheduling cycle may yield to
the event loop (informer events mutate the cache meanwhile) and still see one consistent cluster.
``from_nodes`` (tests, preemption-free tools) shares the NodeInfos it is given.

Change log, for memos that follow the cluster incrementally (PodTopologySpread's per-domain counts):
``layout`` grows whenever ``set_nodes`` rebuilds the node list (a node added, removed or re-zoned);
``tracked`` is True once ``Cache.update_snapshot`` has filled it, and then ``changed_since(g)`` yields
the name of every NodeInfo copied at a refresh after the one that set ``generation`` to ``g`` (each name
once, whatever its number of changes). Invariant: a memo synced at ``(layout, generation)`` that applies
``changed_since(generation)`` is exact for the current snapshot as long as ``layout`` is unchanged.
``from_nodes`` snapshots are not tracked (their NodeInfos may change behind their back).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator

from sampan.scheduler.framework.node_info import NodeInfo

ZONE_LABEL = "topology.kubernetes.io/zone"
REGION_LABEL = "topology.kubernetes.io/region"


class Snapshot:
    __slots__ = (
        "_affinity", "_affinity_list", "_anti", "_anti_list", "all_infos", "by_name", "generation", "image_num_nodes",
        "layout", "log", "namespace_labels", "node_infos", "tracked",
    )

    def __init__(self) -> None:
        self.node_infos: list[NodeInfo] = []
        self.by_name: dict[str, NodeInfo] = {}
        self._affinity: dict[str, NodeInfo] = {}
        self._anti: dict[str, NodeInfo] = {}
        self._affinity_list: list[NodeInfo] | None = None
        self._anti_list: list[NodeInfo] | None = None
        self.image_num_nodes: Counter[str] = Counter()
        self.namespace_labels: dict[str, dict[str, str]] = {}
        self.all_infos: dict[str, NodeInfo] = {}
        self.generation = 0
        self.layout = 0
        self.tracked = False
        self.log: dict[str, int] = {}
        """NodeInfo name -> generation at which it was last copied, oldest refresh first."""

    @classmethod
    def from_nodes(cls, infos: Iterable[NodeInfo], *, namespace_labels: dict[str, dict[str, str]] | None = None
                   ) -> Snapshot:
        s = cls()
        s.set_nodes(infos)
        s.refresh_affinity()
        s.refresh_images()
        s.namespace_labels = namespace_labels or {}
        return s

    def note_copied(self, name: str, generation: int) -> None:
        """``name``'s NodeInfo was copied at ``generation`` by the refresh under way (moves it to the end)."""
        self.log.pop(name, None)
        self.log[name] = generation

    def changed_since(self, generation: int) -> Iterator[str]:
        """Names of the NodeInfos copied by refreshes after the one that left ``generation`` (see the module
        docstring): every entry of a later refresh has a generation above it, every earlier one not."""
        for name in reversed(self.log):
            if self.log[name] <= generation:
                return
            yield name

    def get(self, name: str) -> NodeInfo | None:
        return self.by_name.get(name)

    def __len__(self) -> int:
        return len(self.node_infos)

    def set_nodes(self, infos: Iterable[NodeInfo]) -> None:
        """Rebuild the node list (zone-interleaved) from the NodeInfos that have a node."""
        zones: dict[str, list[NodeInfo]] = {}
        for ni in infos:
            if ni.node is None:
                continue
            zone = ni.labels.get(REGION_LABEL, "") + ":\x00:" + ni.labels.get(ZONE_LABEL, "")
            zones.setdefault(zone, []).append(ni)
        ordered: list[NodeInfo] = []
        lists = list(zones.values())
        for i in range(max((len(v) for v in lists), default=0)):
            ordered.extend(v[i] for v in lists if i < len(v))
        self.node_infos = ordered
        self.by_name = {ni.name: ni for ni in ordered}
        self.layout += 1

    @property
    def have_pods_with_affinity(self) -> list[NodeInfo]:
        if self._affinity_list is None:
            self._affinity_list = list(self._affinity.values())
        return self._affinity_list

    @property
    def have_pods_with_required_anti_affinity(self) -> list[NodeInfo]:
        if self._anti_list is None:
            self._anti_list = list(self._anti.values())
        return self._anti_list

    def refresh_affinity(self, changed: Iterable[NodeInfo] | None = None) -> None:
        """Recompute the affinity subsets: for every node, or only for the ``changed`` ones."""
        if changed is None:
            self._affinity = {ni.name: ni for ni in self.node_infos if ni.pods_with_affinity}
            self._anti = {ni.name: ni for ni in self.node_infos if ni.pods_with_required_anti_affinity}
        else:
            for ni in changed:
                for table, has in ((self._affinity, ni.pods_with_affinity),
                                   (self._anti, ni.pods_with_required_anti_affinity)):
                    if has and ni.node is not None and self.by_name.get(ni.name) is ni:
                        table[ni.name] = ni
                    else:
                        table.pop(ni.name, None)
        self._affinity_list = self._anti_list = None

    def refresh_images(self) -> None:
        c: Counter[str] = Counter()
        for ni in self.node_infos:
            c.update(ni.images.keys())
        self.image_num_nodes = c
