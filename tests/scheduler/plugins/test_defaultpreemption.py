"""DefaultPreemption: victims of lower priority only, reprieve of the most important, node choice, and
upstream's messages."""

from __future__ import annotations

from typing import Any

from sampan.scheduler.algorithm import Algorithm
from sampan.scheduler.framework.cycle_state import CycleState
from sampan.scheduler.framework.fit_error import FitError
from sampan.scheduler.framework.pod_info import PodInfo
from sampan.scheduler.plugins.defaultpreemption import pick_one_node
from sampan.scheduler.plugins.defaultpreemption.preemption import Candidate
from tests.scheduler.builders import World, node, pi, pod


def run(w: World, p: PodInfo) -> tuple[Any, Any]:
    """Schedule ``p``; it must not fit; then run PostFilter as the scheduler does."""
    state = CycleState()
    try:
        Algorithm().schedule_pod(w.fwk, state, p, w.snapshot)
    except FitError as fe:
        return w.fwk.run_post_filter_plugins(state, p, fe.diagnosis.node_to_status)
    raise AssertionError("pod unexpectedly fits")


def test_evicts_the_fewest_lowest_priority_pods() -> None:
    w = World(
        [node("a", cpu="2"), node("b", cpu="2")],
        [pod("a-low", node_name="a", cpu="1", priority=1), pod("a-mid", node_name="a", cpu="1", priority=5),
         pod("b-low1", node_name="b", cpu="1", priority=1), pod("b-low2", node_name="b", cpu="1", priority=2)],
    )
    result, st = run(w, pi("p", cpu="1", priority=10))
    assert st.is_success()
    # a: victim a-low (prio 1); b: victim b-low1 (prio 1, b-low2 reprieved). Tie on highest victim priority
    # and on sums -> fewest victims tie -> the first candidate... both have one victim of priority 1.
    assert len(result.victims) == 1
    assert result.victims[0].priority == 1
    assert result.nominated_node_name in ("a", "b")


def test_prefers_node_whose_victims_have_lower_priority() -> None:
    w = World(
        [node("a", cpu="1"), node("b", cpu="1")],
        [pod("a1", node_name="a", cpu="1", priority=5), pod("b1", node_name="b", cpu="1", priority=3)],
    )
    result, st = run(w, pi("p", cpu="1", priority=10))
    assert st.is_success()
    assert result.nominated_node_name == "b"
    assert [v.name for v in result.victims] == ["b1"]


def test_reprieves_pods_that_can_stay() -> None:
    w = World([node("a", cpu="3")], [pod("small", node_name="a", cpu="1", priority=1),
                                     pod("big", node_name="a", cpu="2", priority=2)])
    result, st = run(w, pi("p", cpu="2", priority=10))
    assert st.is_success()
    # removing both frees 3; adding back the more important "big" (prio 2) leaves 1 free: no fit -> victim;
    # then "small" (1 cpu) fits alongside p -> reprieved
    assert [v.name for v in result.victims] == ["big"]


def test_no_victims_and_not_helpful_messages() -> None:
    taint = [{"key": "k", "value": "v", "effect": "NoSchedule"}]
    w = World([node("a", cpu="1"), node("b", cpu="1", taints=taint), node("c", cpu="1")],
              [pod("high", node_name="a", cpu="1", priority=100), pod("x", node_name="c", cpu="1", priority=100)])
    result, st = run(w, pi("p", cpu="1", priority=10))
    assert not st.is_success()
    assert result.nominated_node_name == ""
    assert st.message == ("preemption: 0/3 nodes are available: 1 Preemption is not helpful for scheduling, "
                          "2 No preemption victims found for incoming pod.")


def test_preemption_policy_never() -> None:
    w = World([node("a", cpu="1")], [pod("low", node_name="a", cpu="1", priority=1)])
    result, st = run(w, pi("p", cpu="1", priority=10, preemptionPolicy="Never"))
    assert result is None
    assert st.message == "preemption: not eligible due to preemptionPolicy=Never."


def test_pick_one_node_criteria() -> None:
    def c(name: str, *victims: tuple[int, str]) -> Candidate:
        vs = []
        for i, (prio, start) in enumerate(victims):
            p = pod(f"{name}{i}", priority=prio)
            p["status"]["startTime"] = start
            vs.append(PodInfo.parse(p))
        return Candidate(name, tuple(vs))

    t1, t2 = "2024-01-01T00:00:00Z", "2024-06-01T00:00:00Z"
    assert pick_one_node([c("a", (5, t1)), c("b", (3, t1), (3, t1))]).node_name == "b"  # lower top priority
    assert pick_one_node([c("a", (3, t1), (3, t1)), c("b", (3, t1), (1, t1))]).node_name == "b"  # lower sum
    assert pick_one_node([c("a", (3, t1), (-5, t1)), c("b", (3, t1))]).node_name == "b"  # sum is offset: fewer
    assert pick_one_node([c("a", (3, t1)), c("b", (3, t2))]).node_name == "b"  # latest start
    assert pick_one_node([]) is None
