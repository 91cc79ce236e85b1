"""Matching pods per topology domain over every node of a snapshot, kept incrementally (PreScore's counts).

PreScore of a non-hostname ScheduleAnyway constraint needs, for each domain (value of the topology key) of
the feasible nodes, the number of pods matching the constraint's selector on *all* nodes of that domain.
Recounting that over all nodes for every pod costs a pass over 5,000 nodes per pod; but between two pods
of a Deployment only the node that got the last pod changed. :class:`DomainCounter` keeps, per (topology key,
namespace, selector, keys a node must carry), each node's contribution ``(generation, value, count)`` and
the totals per value, and brings them up to date from the snapshot's change log (``Snapshot.changed_since``):
a node whose generation moved is subtracted and added again. A node list rebuilt (``Snapshot.layout``), a
different snapshot, or an untracked one (``Snapshot.from_nodes``) starts the table over.

Exact only where ``node_included`` is True for every node, i.e. when ``policies_matter`` is False for the
pod and constraint (the caller checks): the totals do not depend on the pod being scheduled beyond its
namespace and the constraint's selector. Key ``None`` totals the nodes lacking the topology key.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

from sampan.scheduler.framework.node_info import NodeInfo
from sampan.scheduler.framework.pod_info import SpreadConstraint
from sampan.scheduler.framework.snapshot import Snapshot
from sampan.scheduler.plugins.podtopologyspread.common import MatchCounter

_EXCLUDED = "\x00excluded"
"""Value of a node lacking one of the required keys: it counts in no domain."""


@dataclass
class DomainTable:
    """Totals per domain value for one key; ``nodes`` holds each node's (generation, value, count)."""

    snapshot: Snapshot | None = None
    layout: int = -1
    generation: int = -1
    nodes: dict[str, tuple[int, str | None, int]] = field(default_factory=dict)
    totals: dict[str | None, int] = field(default_factory=dict)


class DomainCounter:
    """Per-domain totals, one :class:`DomainTable` per (key, namespace, selector text, required keys); at
    most ``max_tables`` tables (least recently used go first)."""

    def __init__(self, max_tables: int = 64) -> None:
        self._max = max_tables
        self._tables: OrderedDict[tuple[str, str, str, tuple[str, ...] | None], DomainTable] = OrderedDict()

    def totals(
        self, snapshot: Snapshot, c: SpreadConstraint, namespace: str, required: tuple[str, ...] | None,
        counter: MatchCounter,
    ) -> dict[str | None, int] | None:
        """Matching pods per value of ``c.topology_key`` over ``snapshot.node_infos`` (nodes lacking a key
        of ``required`` count nowhere; ``None``: nodes lacking the topology key). None when the snapshot is
        not tracked (the caller counts itself). The dict is the memo's own: read it, do not change it."""
        if not snapshot.tracked:
            return None
        key = (c.topology_key, namespace, str(c.selector) if not c.selector.empty else "", required)
        t = self._tables.get(key)
        if t is None:
            t = self._tables[key] = DomainTable()
            if len(self._tables) > self._max:
                self._tables.popitem(last=False)
        else:
            self._tables.move_to_end(key)
        mtable = counter.table(c, namespace)
        if t.snapshot is not snapshot or t.layout != snapshot.layout:
            t.snapshot, t.layout = snapshot, snapshot.layout
            t.nodes.clear()
            t.totals.clear()
            for ni in snapshot.node_infos:
                _add(t, ni, c, namespace, required, mtable)
        elif t.generation != snapshot.generation:
            for name in snapshot.changed_since(t.generation):
                node = snapshot.by_name.get(name)
                old = t.nodes.get(name)
                if node is None or (old is not None and old[0] == node.generation):
                    continue  # a NodeInfo without a node object (not in the list) or one already current
                if old is not None:
                    t.totals[old[1]] -= old[2]
                _add(t, node, c, namespace, required, mtable)
        t.generation = snapshot.generation
        return t.totals


def _add(t: DomainTable, node: NodeInfo, c: SpreadConstraint, namespace: str, required: tuple[str, ...] | None,
         mtable: dict[str, tuple[int, int]]) -> None:
    labels = node.labels
    if required is not None and not all(k in labels for k in required):
        value: str | None = _EXCLUDED
        n = 0
    else:
        value = labels.get(c.topology_key)
        n = MatchCounter.count(mtable, node, c, namespace)
    t.nodes[node.name] = (node.generation, value, n)
    t.totals[value] = t.totals.get(value, 0) + n
