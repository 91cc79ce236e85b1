"""The algorithm: adaptive sampling, round-robin start, PreFilter narrowing, nominated node first,
tie-breaking, and the failure message."""

from __future__ import annotations

import random

import pytest

from sampan.scheduler.algorithm import Algorithm, NoNodesAvailable, num_feasible_nodes_to_find
from sampan.scheduler.framework.config import Profile
from sampan.scheduler.framework.cycle_state import CycleState
from sampan.scheduler.framework.fit_error import FitError
from sampan.scheduler.framework.snapshot import Snapshot
from tests.scheduler.builders import World, node, pi, pod


@pytest.mark.parametrize(("pct", "nodes", "expected"), [
    (0, 50, 50),        # below 100 nodes: all
    (0, 100, 100),      # 50 - 0 = 50% of 100 = 50 -> at least 100
    (0, 1000, 420),     # 50 - 8 = 42%
    (0, 5000, 500),     # 50 - 40 = 10%
    (0, 6000, 300),     # 50 - 48 = 2% -> at least 5%
    (0, 100000, 5000),  # 5%
    (30, 1000, 300),
    (100, 5000, 5000),
    (1, 1000, 100),     # at least 100
])
def test_num_feasible_nodes_to_find(pct: int, nodes: int, expected: int) -> None:
    assert num_feasible_nodes_to_find(pct, nodes) == expected


def test_sampling_evaluates_a_prefix_and_rotates_the_start() -> None:
    w = World([node(f"n{i:03}") for i in range(200)], profile=Profile(percentage_of_nodes_to_score=50))
    algo = Algorithm(rng=random.Random(0))
    feasible, _, evaluated = algo.find_nodes_that_fit(w.fwk, CycleState(), pi("p"), w.snapshot)
    assert len(feasible) == 100
    assert evaluated == 100
    assert algo.next_start_node_index == 100
    feasible2, _, _ = algo.find_nodes_that_fit(w.fwk, CycleState(), pi("q"), w.snapshot)
    assert {n.name for n in feasible2}.isdisjoint(n.name for n in feasible)


def test_infeasible_nodes_are_skipped_until_enough_fit() -> None:
    nodes = [node(f"n{i:03}", cpu="1" if i % 2 else "8") for i in range(300)]
    w = World(nodes, profile=Profile(percentage_of_nodes_to_score=50))
    algo = Algorithm()
    feasible, diag, evaluated = algo.find_nodes_that_fit(w.fwk, CycleState(), pi("p", cpu="2"), w.snapshot)
    assert len(feasible) == 150
    assert all(n.allocatable.milli_cpu == 8000 for n in feasible)
    assert len(diag.node_to_status) == 149  # the scan stops at the 150th feasible node (index 298)
    assert evaluated == 299


def test_failure_message_as_upstream() -> None:
    taint = [{"key": "key", "value": "value", "effect": "NoSchedule"}]
    w = World([node("a", cpu="1"), node("b", taints=taint), node("c", taints=taint)])
    with pytest.raises(FitError) as info:
        Algorithm().schedule_pod(w.fwk, CycleState(), pi("p", cpu="2"), w.snapshot)
    assert info.value.message == (
        "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had untolerated taint {key: value}.")
    assert info.value.diagnosis.unschedulable_plugins == {"NodeResourcesFit", "TaintToleration"}


def test_prefilter_rejection_message_and_narrowing() -> None:
    w = World([node("a"), node("b")])
    fe = None
    try:
        Algorithm().schedule_pod(w.fwk, CycleState(), pi("p", node_name="zzz"), w.snapshot)
    except FitError as exc:
        fe = exc
    assert fe is not None
    assert fe.message == "0/2 nodes are available: 2 node(s) didn't satisfy plugin(s) [NodeName]."
    r = Algorithm().schedule_pod(w.fwk, CycleState(), pi("p", node_name="b"), w.snapshot)
    assert r.suggested_host == "b"
    assert r.evaluated_nodes == 1


def test_highest_score_wins_and_ties_are_random() -> None:
    w = World([node("big", cpu="16", memory="64Gi"), node("small", cpu="2", memory="4Gi")])
    r = Algorithm().schedule_pod(w.fwk, CycleState(), pi("p", cpu="1", memory="1Gi"), w.snapshot)
    assert r.suggested_host == "big"  # LeastAllocated
    w2 = World([node(f"n{i}") for i in range(4)])
    hosts = {Algorithm(rng=random.Random(seed)).schedule_pod(w2.fwk, CycleState(), pi("p"), w2.snapshot).suggested_host
             for seed in range(40)}
    assert hosts == {"n0", "n1", "n2", "n3"}


def test_nominated_node_is_tried_first() -> None:
    p = pod("p", cpu="1")
    p["status"]["nominatedNodeName"] = "n3"
    w = World([node(f"n{i}") for i in range(5)])
    from sampan.scheduler.framework.pod_info import PodInfo

    r = Algorithm().schedule_pod(w.fwk, CycleState(), PodInfo.parse(p), w.snapshot)
    assert r.suggested_host == "n3"
    assert r.evaluated_nodes == 1


def test_no_nodes() -> None:
    w = World([])
    with pytest.raises(NoNodesAvailable):
        Algorithm().schedule_pod(w.fwk, CycleState(), pi("p"), Snapshot())


@pytest.mark.parametrize("seed", range(5))
def test_chunked_batch_filter_equals_a_node_by_node_scan(seed: int) -> None:
    rng = random.Random(seed)
    taint = [{"key": "t", "value": "v", "effect": "NoSchedule"}]
    nodes = [node(f"n{i:03}", cpu=rng.choice(["1", "2", "4"]), taints=taint if rng.random() < 0.2 else None,
                  unschedulable=rng.random() < 0.1) for i in range(250)]
    pods = [pod(f"e{i}", node_name=f"n{rng.randrange(250):03}", cpu="500m") for i in range(300)]
    w = World(nodes, pods, profile=Profile(percentage_of_nodes_to_score=45))
    p = pi("p", cpu="1500m")
    algo = Algorithm()
    algo.next_start_node_index = rng.randrange(250)
    start = algo.next_start_node_index
    feasible, diag, evaluated = algo.find_nodes_that_fit(w.fwk, CycleState(), p, w.snapshot)
    # the reference: one node at a time, stop at the wanted count
    order = w.snapshot.node_infos[start:] + w.snapshot.node_infos[:start]
    want = num_feasible_nodes_to_find(45, 250)
    ref, statuses = [], {}
    state = CycleState()
    w.fwk.run_pre_filter_plugins(state, p, w.snapshot.node_infos)
    scanned = 0
    for n in order:
        scanned += 1
        st = w.fwk.run_filter_plugins(state, p, n)
        if st is None:
            ref.append(n.name)
            if len(ref) == want:
                break
        else:
            statuses[n.name] = (st.plugin, st.reasons)
    assert [n.name for n in feasible] == ref
    assert {k: (v.plugin, v.reasons) for k, v in diag.node_to_status.items()} == statuses
    assert evaluated == scanned
