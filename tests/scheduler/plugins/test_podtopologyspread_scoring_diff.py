"""PodTopologySpread's PreScore/Score against the algorithm it replaced (kept here as the reference).

The reference counts matching pods over every node for every pod and scores node by node. The new
PreScore skips constraints no Score reads and reads the incrementally kept per-domain totals
(``domains.DomainCounter``) instead of the pass; ``node_scores`` scores a batch, ``normalize`` has a path
for no ignored node. Random clusters (zoned, unzoned, ``zone: ""``, partly racked, tainted, labelled), random pods and
constraints (system-default style, own, with inclusion policies that matter), and a cluster changing
between cycles (pods landing and leaving, nodes added, relabelled, removed, a snapshot replaced) must give
the same scores, normalized scores and read counts, cycle after cycle, with the memos kept across cycles.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from typing import Any

import pytest

from sampan.scheduler.cache import Cache
from sampan.scheduler.framework.interface import MAX_NODE_SCORE
from sampan.scheduler.framework.node_info import NodeInfo
from sampan.scheduler.framework.pod_info import PodInfo, SpreadConstraint
from sampan.scheduler.framework.snapshot import Snapshot
from sampan.scheduler.plugins.podtopologyspread.common import HOSTNAME_LABEL, MatchCounter, has_all_keys, node_included
from sampan.scheduler.plugins.podtopologyspread.domains import DomainCounter
from sampan.scheduler.plugins.podtopologyspread.scoring import (
    ScoreState,
    build_score_state,
    node_score,
    node_scores,
    normalize,
)
from tests.scheduler.builders import node as make_node
from tests.scheduler.builders import pod

ZONE = "topology.kubernetes.io/zone"
RACK = "rack"
APPS = ("web", "db", "cache")


def reference_state(
    pod: PodInfo, constraints: tuple[SpreadConstraint, ...], *, feasible: Sequence[NodeInfo],
    all_nodes: Sequence[NodeInfo], require_all_keys: bool,
) -> ScoreState:
    """The previous PreScore: one pass over every node for every non-hostname constraint, fresh counts."""
    counter = MatchCounter()
    ignored: set[str] = set()
    counts: list[dict[str, int]] = [{} for _ in constraints]
    read_empty = [False] * len(constraints)
    for node in feasible:
        if require_all_keys and not has_all_keys(node, constraints):
            ignored.add(node.name)
            continue
        for i, c in enumerate(constraints):
            if c.topology_key != HOSTNAME_LABEL:
                value = node.labels.get(c.topology_key)
                counts[i].setdefault("" if value is None else value, 0)
                read_empty[i] = read_empty[i] or value == ""
    sizes = [
        len(feasible) - len(ignored) if c.topology_key == HOSTNAME_LABEL else len(counts[i])
        for i, c in enumerate(constraints)
    ]
    tables = [counter.table(c, pod.namespace) for c in constraints]
    for node in all_nodes:
        if require_all_keys and not has_all_keys(node, constraints):
            continue
        for i, c in enumerate(constraints):
            if c.topology_key == HOSTNAME_LABEL:
                continue
            value = node.labels.get(c.topology_key)
            if value is None:
                if not read_empty[i]:
                    continue
                value = ""
            if value in counts[i] and node_included(c, pod, node):
                counts[i][value] += counter.count(tables[i], node, c, pod.namespace)
    return ScoreState(constraints, ignored, counts, [math.log(s + 2) for s in sizes], tables)


def reference_score(state: ScoreState, pod: PodInfo, node: NodeInfo) -> int:
    if node.name in state.ignored:
        return 0
    total = 0.0
    for i, c in enumerate(state.constraints):
        value = node.labels.get(c.topology_key)
        if value is None:
            continue
        if c.topology_key == HOSTNAME_LABEL:
            cnt = MatchCounter.count(state.tables[i], node, c, pod.namespace)
        else:
            cnt = state.counts[i].get(value, 0)
        total += cnt * state.weights[i] + (c.max_skew - 1)
    return round(total)


def reference_normalize(state: ScoreState, nodes: Sequence[NodeInfo], scores: list[int]) -> None:
    live = [s for n, s in zip(nodes, scores, strict=True) if n.name not in state.ignored]
    lo = min(live, default=0)
    hi = max(live, default=0)
    for i, n in enumerate(nodes):
        if n.name in state.ignored:
            scores[i] = 0
        elif hi == 0:
            scores[i] = MAX_NODE_SCORE
        else:
            scores[i] = MAX_NODE_SCORE * (hi + lo - scores[i]) // hi


def random_node(rng: random.Random, name: str) -> dict[str, Any]:
    labels: dict[str, str] = {}
    r = rng.random()
    if r < 0.6:
        labels[ZONE] = rng.choice(("z1", "z2", "z3"))
    elif r < 0.7:
        labels[ZONE] = ""
    if rng.random() < 0.5:
        labels[RACK] = rng.choice(("r1", "r2"))
    if rng.random() < 0.3:
        labels["disk"] = "ssd"
    taints = [{"key": "dedicated", "value": "x", "effect": "NoSchedule"}] if rng.random() < 0.2 else None
    n = make_node(name, labels=labels, taints=taints)
    if rng.random() < 0.05:
        del n["metadata"]["labels"][HOSTNAME_LABEL]  # scores 0 on a hostname constraint
    return n


def random_pod(rng: random.Random, name: str, on: str = "") -> dict[str, Any]:
    p = pod(name, ns=rng.choice(("default", "default", "other")), node_name=on,
            labels={"app": rng.choice(APPS), "tier": rng.choice(("a", "b"))})
    if on and rng.random() < 0.1:
        p["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return p


def random_incoming(rng: random.Random, i: int) -> tuple[PodInfo, tuple[SpreadConstraint, ...], bool]:
    """A pod to schedule, its ScheduleAnyway constraints and ``require_all_keys`` (False: system defaults)."""
    app = rng.choice(APPS)
    keys = [HOSTNAME_LABEL, ZONE] if rng.random() < 0.5 else rng.sample([HOSTNAME_LABEL, ZONE, RACK], rng.randint(1, 3))
    raw = []
    for k in keys:
        c: dict[str, Any] = {"maxSkew": rng.randint(1, 5), "topologyKey": k, "whenUnsatisfiable": "ScheduleAnyway",
                             "labelSelector": {"matchLabels": {"app": app}}}
        if rng.random() < 0.2:
            c["nodeTaintsPolicy"] = "Honor"
        if rng.random() < 0.2:
            c["nodeAffinityPolicy"] = "Ignore"
        raw.append(c)
    spec: dict[str, Any] = {"topologySpreadConstraints": raw}
    if rng.random() < 0.2:
        spec["nodeSelector"] = {"disk": "ssd"}
    p = PodInfo.parse(pod(f"in-{i}", ns=rng.choice(("default", "other")), labels={"app": app}, **spec))
    return p, p.spread_constraints, rng.random() < 0.5


def compare(p: PodInfo, constraints: tuple[SpreadConstraint, ...], require_all: bool, snap: Snapshot,
            feasible: list[NodeInfo], counter: MatchCounter, domains: DomainCounter) -> None:
    new = build_score_state(p, constraints, feasible=feasible, all_nodes=snap.node_infos, counter=counter,
                            require_all_keys=require_all, snapshot=snap, domains=domains)
    old = reference_state(p, constraints, feasible=feasible, all_nodes=snap.node_infos, require_all_keys=require_all)
    assert new.ignored == old.ignored
    assert new.weights == old.weights
    for n in feasible:  # every count a Score reads
        for i, c in enumerate(constraints):
            value = n.labels.get(c.topology_key)
            if c.topology_key != HOSTNAME_LABEL and value is not None and n.name not in old.ignored:
                assert new.counts[i][value] == old.counts[i][value], (c.topology_key, value)
    want = [reference_score(old, p, n) for n in feasible]
    assert [node_score(new, p, n) for n in feasible] == want
    got = node_scores(new, p, feasible)
    assert got == want
    normalize(new, feasible, got)
    reference_normalize(old, feasible, want)
    assert got == want


def mutate(rng: random.Random, cache: Cache, step: int, placed: list[str], names: list[str]) -> None:
    for _ in range(rng.randint(0, 4)):
        r = rng.random()
        if r < 0.45 and names:
            name = f"p-{step}-{rng.randrange(10**6)}"
            cache.add_pod(PodInfo.parse(random_pod(rng, name, rng.choice(names))))
            placed.append(name)
        elif r < 0.65 and placed:
            victim = placed.pop(rng.randrange(len(placed)))
            for ns in ("default", "other"):
                cache.remove_pod(f"uid-{ns}-{victim}")
        elif r < 0.8 and names:
            cache.update_node(random_node(rng, rng.choice(names)))  # relabel (maybe re-zone)
        elif r < 0.9:
            name = f"n-{step}-{rng.randrange(10**6)}"
            cache.add_node(random_node(rng, name))
            names.append(name)
        elif len(names) > 2:
            cache.remove_node(names.pop(rng.randrange(len(names))))


@pytest.mark.parametrize("seed", range(40))
def test_prescore_matches_the_full_pass(seed: int) -> None:
    rng = random.Random(seed)
    cache = Cache()
    names = [f"n{i}" for i in range(rng.randint(1, 30))]
    unzoned = rng.random() < 0.3  # like hollow nodes: no zone label anywhere
    for name in names:
        n = random_node(rng, name)
        if unzoned:
            n["metadata"]["labels"].pop(ZONE, None)
        cache.add_node(n)
    placed: list[str] = []
    for i in range(rng.randint(0, 80)):
        placed.append(f"e{i}")
        cache.add_pod(PodInfo.parse(random_pod(rng, f"e{i}", rng.choice(names))))
    snap = Snapshot()
    counter, domains = MatchCounter(), DomainCounter(max_tables=rng.choice((1, 64)))
    for step in range(25):
        cache.update_snapshot(snap)
        for k in range(rng.randint(1, 3)):
            p, constraints, require_all = random_incoming(rng, step * 10 + k)
            nodes = snap.node_infos
            feasible = [n for n in nodes if rng.random() < 0.6] if nodes else []
            compare(p, constraints, require_all, snap, feasible, counter, domains)
        mutate(rng, cache, step, placed, names)
        if rng.random() < 0.05:
            snap = Snapshot()  # a new snapshot object: the memo starts over


def test_untracked_snapshot_counts_with_the_pass() -> None:
    """A ``from_nodes`` snapshot (NodeInfos shared, no change log) is counted by the pass, not the memo."""
    rng = random.Random(7)
    infos = [NodeInfo(random_node(rng, f"n{i}")) for i in range(10)]
    for i in range(30):
        infos[i % 10].add_pod(PodInfo.parse(random_pod(rng, f"e{i}", f"n{i % 10}")))
    snap = Snapshot.from_nodes(infos)
    assert not snap.tracked
    counter, domains = MatchCounter(), DomainCounter()
    for k in range(20):
        p, constraints, require_all = random_incoming(rng, k)
        compare(p, constraints, require_all, snap, list(snap.node_infos), counter, domains)
        infos[k % 10].add_pod(PodInfo.parse(pod(f"late{k}", node_name=f"n{k % 10}", labels={"app": "web"})))
