"""NodeInfo.memo: the per-node memo of NodeResourcesFit's verdict and score and BalancedAllocation's score
by pod shape never answers from a stale state. A differential test: random pods land on and leave random
nodes of a cache, the snapshot is refreshed as the scheduler does, and the memoized batch hooks must agree
with the plain per-node rules (no memo) on every node, cycle after cycle."""

from __future__ import annotations

import random

import pytest

from sampan.scheduler.framework.cycle_state import CycleState
from sampan.scheduler.framework.node_info import MEMO_LIMIT, MemoKeys, NodeInfo
from sampan.scheduler.framework.pod_info import PodInfo
from sampan.scheduler.plugins.noderesources.fit import fits_request
from tests.scheduler.builders import World, node, pi, pod

SHAPES = [("100m", "500Mi"), ("1", "1Gi"), ("2500m", "8Gi"), (None, None), ("100m", None)]


@pytest.mark.parametrize("seed", range(3))
def test_memoized_filter_and_scores_equal_the_plain_rules(seed: int) -> None:
    rng = random.Random(seed)
    nodes = [node(f"n{i:02}", cpu=rng.choice(["2", "4"]), memory=rng.choice(["4Gi", "16Gi"]),
                  pods=rng.choice(["3", "110"])) for i in range(40)]
    w = World(nodes)
    fit, balanced = w.plugin("NodeResourcesFit"), w.plugin("NodeResourcesBalancedAllocation")
    placed: list[PodInfo] = []
    for step in range(60):
        for _ in range(rng.randrange(4)):  # pods arrive and leave between cycles
            if placed and rng.random() < 0.3:
                gone = placed.pop(rng.randrange(len(placed)))
                w.cache.remove_pod(gone.uid)
            else:
                cpu, mem = rng.choice(SHAPES)
                where = f"n{rng.randrange(40):02}"
                p = PodInfo.parse(pod(f"e{step}-{len(placed)}", cpu=cpu, memory=mem, node_name=where))
                w.cache.add_pod(p)
                placed.append(p)
        w.cache.update_snapshot(w.snapshot)
        cpu, mem = rng.choice(SHAPES)
        p = pi(f"p{step}", cpu=cpu, memory=mem)
        state = CycleState()
        ns = w.snapshot.node_infos
        rejected = dict(fit.filter_nodes(state, p, ns))
        for i, n in enumerate(ns):
            want = fits_request(p.requests, n)
            got = rejected.get(i)
            assert (got is None) == (want is None), (step, n.name)
            if want is not None:
                assert got is not None
                assert (got.code, got.reasons) == (want.code, want.reasons)
        assert fit.score_nodes(state, p, ns) == [fit.score(state, p, n) for n in ns]
        assert balanced.score_nodes(state, p, ns) == [balanced.score(state, p, n) for n in ns]


def test_every_change_empties_the_memo_and_it_stays_bounded() -> None:
    info = NodeInfo(node("a"))
    keys = MemoKeys()
    k = keys.key(("100m", "500Mi"))
    assert keys.key(("100m", "500Mi")) == k
    assert keys.key(("1", "1Gi")) != k
    changes = [
        lambda: info.add_pod(pi("x", cpu="1", node_name="a")),
        lambda: info.remove_pod("uid-default-x"),
        lambda: info.set_node(node("a", cpu="8")),
        info.mark_changed,
        lambda: info.copy_from(NodeInfo(node("a", cpu="2"))),
    ]
    for change in changes:
        info.memo[k] = 1
        change()
        assert info.memo == {}
    for i in range(MEMO_LIMIT * 3):  # the plugins' rule: a full memo is emptied before the next entry
        if len(info.memo) >= MEMO_LIMIT:
            info.memo.clear()
        info.memo[i] = i
        assert len(info.memo) <= MEMO_LIMIT
    assert info.clone().memo == {}
