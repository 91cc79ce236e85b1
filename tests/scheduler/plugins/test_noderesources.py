"""NodeResourcesFit and NodeResourcesBalancedAllocation."""

from __future__ import annotations

import pytest

from sampan.scheduler.framework.config import Profile
from sampan.scheduler.framework.cycle_state import CycleState
from sampan.scheduler.framework.status import Code
from tests.scheduler.builders import World, node, pi, pod


@pytest.mark.parametrize(("requests", "existing", "expected"), [
    ({"cpu": "1", "memory": "1Gi"}, [], None),
    ({"cpu": "3"}, [{"cpu": "2"}], "Insufficient cpu"),
    ({"cpu": "2"}, [{"cpu": "2"}], None),  # exactly full fits
    ({"memory": "2Gi"}, [{"memory": "3Gi"}], "Insufficient memory"),
    ({"cpu": "3", "memory": "3Gi"}, [{"cpu": "2", "memory": "2Gi"}], "Insufficient cpu, Insufficient memory"),
    ({"ephemeral-storage": "2Gi"}, [], "Insufficient ephemeral-storage"),
    ({"example.com/gpu": "1"}, [], "Insufficient example.com/gpu"),
    ({}, [{}, {}], "Too many pods"),
    ({"cpu": "100m"}, [{}, {}], "Too many pods"),
])
def test_fit_filter(requests: dict[str, str], existing: list[dict[str, str]], expected: str | None) -> None:
    n = node("a", cpu="4", memory="4Gi", pods="2" if len(existing) == 2 else "110",
             extra={"ephemeral-storage": "1Gi"})
    pods = [pod(f"e{i}", node_name="a", cpu=r.get("cpu"), memory=r.get("memory")) for i, r in enumerate(existing)]
    w = World([n], pods)
    cpu, mem = requests.pop("cpu", None), requests.pop("memory", None)
    assert w.run_filter("NodeResourcesFit", pi("p", cpu=cpu, memory=mem, extra_requests=requests))["a"] == expected


def test_fit_code_unresolvable_only_when_request_exceeds_whole_node() -> None:
    w = World([node("a", cpu="4")], [pod("e", node_name="a", cpu="3")])
    fit = w.plugin("NodeResourcesFit")
    n = w.node("a")
    assert fit.filter(CycleState(), pi("p", cpu="2"), n).code == Code.UNSCHEDULABLE
    assert fit.filter(CycleState(), pi("p", cpu="5"), n).code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE


def test_fit_ignored_resources() -> None:
    profile = Profile(plugin_args={"NodeResourcesFit": {"ignoredResources": ["example.com/gpu"],
                                                        "ignoredResourceGroups": ["vendor.io"]}})
    w = World([node("a")], profile=profile)
    p = pi("p", extra_requests={"example.com/gpu": "1", "vendor.io/fpga": "2"})
    assert w.run_filter("NodeResourcesFit", p)["a"] is None


def test_init_containers_and_sidecars_count() -> None:
    p = pod("p", cpu="1")
    p["spec"]["initContainers"] = [
        {"name": "init", "image": "x", "resources": {"requests": {"cpu": "3"}}},
        {"name": "side", "image": "x", "restartPolicy": "Always", "resources": {"requests": {"cpu": "500m"}}},
    ]
    from sampan.scheduler.framework.pod_info import PodInfo

    info = PodInfo.parse(p)
    assert info.requests.milli_cpu == 3000  # max(3 init, 1 + 0.5 sidecar)
    p["spec"]["overhead"] = {"cpu": "250m"}
    assert PodInfo.parse(p).requests.milli_cpu == 3250


def test_least_allocated_score() -> None:
    # node a: 4 cpu, 8Gi; pod asks 1 cpu 2Gi -> cpu (4-1)/4=75, mem (8-2)/8=75 -> 75
    # node b: 2 cpu, 8Gi -> cpu (2-1)/2=50, mem 75 -> 62
    w = World([node("a", cpu="4", memory="8Gi"), node("b", cpu="2", memory="8Gi")])
    assert w.run_score("NodeResourcesFit", pi("p", cpu="1", memory="2Gi")) == {"a": 75, "b": 62}


def test_least_allocated_uses_non_zero_defaults() -> None:
    # no requests: 100m cpu and 200Mi count for scoring. 1000m node: (1000-100)*100/1000 = 90
    w = World([node("a", cpu="1", memory="2000Mi")])
    assert w.run_score("NodeResourcesFit", pi("p")) == {"a": (90 + 90) // 2}


def test_most_allocated_score() -> None:
    profile = Profile(plugin_args={"NodeResourcesFit": {"scoringStrategy": {"type": "MostAllocated"}}})
    w = World([node("a", cpu="4", memory="8Gi"), node("b", cpu="2", memory="8Gi")],
              [pod("e", node_name="a", cpu="1", memory="2Gi")], profile=profile)
    # a: cpu (1+1)/4 = 50, mem (2+2)/8 = 50 -> 50; b: cpu 1/2 = 50, mem 2/8 = 25 -> 37
    assert w.run_score("NodeResourcesFit", pi("p", cpu="1", memory="2Gi")) == {"a": 50, "b": 37}


def test_weighted_resources_including_extended() -> None:
    args = {"scoringStrategy": {"type": "LeastAllocated", "resources": [
        {"name": "cpu", "weight": 1}, {"name": "example.com/gpu", "weight": 3}]}}
    w = World([node("a", extra={"example.com/gpu": "4"})], profile=Profile(plugin_args={"NodeResourcesFit": args}))
    # cpu: (4000-1000)/4000 = 75; gpu (4-1)/4 = 75 -> 75. Without a gpu request the gpu drops out.
    assert w.run_score("NodeResourcesFit", pi("p", cpu="1", extra_requests={"example.com/gpu": "1"})) == {"a": 75}
    assert w.run_score("NodeResourcesFit", pi("p", cpu="2")) == {"a": 50}


def test_bad_scoring_strategy_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"scoringStrategy\.type: Unsupported value"):
        World([node("a")], profile=Profile(plugin_args={"NodeResourcesFit": {"scoringStrategy": {"type": "Nope"}}}))


@pytest.mark.parametrize(("cpu", "memory", "expected"), [
    ("2", "4Gi", 100),   # 50% cpu, 50% mem: perfectly balanced
    ("4", None, 50),     # 100% cpu, 0% mem: std |1-0|/2 = 0.5
    ("1", "4Gi", 87),    # 25% vs 50%: std 0.125 -> int(87.5)
    ("8", "4Gi", 75),    # fractions are capped at 1: |1-0.5|/2 = 0.25
])
def test_balanced_allocation(cpu: str, memory: str | None, expected: int) -> None:
    w = World([node("a", cpu="4", memory="8Gi")])
    assert w.run_score("NodeResourcesBalancedAllocation", pi("p", cpu=cpu, memory=memory)) == {"a": expected}


def test_balanced_allocation_counts_existing_pods_and_skips_best_effort() -> None:
    w = World([node("a", cpu="4", memory="8Gi"), node("b", cpu="4", memory="8Gi")],
              [pod("e", node_name="a", cpu="2")])
    # a: cpu (2+1)/4=.75, mem 2/8=.25 -> 1-.25=75 ; b: .25 vs .25 -> 100
    assert w.run_score("NodeResourcesBalancedAllocation", pi("p", cpu="1", memory="2Gi")) == {"a": 75, "b": 100}
    assert w.run_score("NodeResourcesBalancedAllocation", pi("p")) is None
