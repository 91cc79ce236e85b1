"""PodTopologySpread: skew, minDomains, inclusion policies, missing labels, and ScheduleAnyway scoring."""

from __future__ import annotations

from typing import Any

import pytest

from sampan.scheduler.framework.pod_info import PodInfo
from tests.scheduler.builders import World, node, pi, pod

ZONE = "topology.kubernetes.io/zone"
SKEW = "node(s) didn't match pod topology spread constraints"
NOLABEL = SKEW + " (missing required label)"


def constraint(max_skew: int = 1, *, key: str = ZONE, when: str = "DoNotSchedule", **extra: Any) -> dict[str, Any]:
    return {"maxSkew": max_skew, "topologyKey": key, "whenUnsatisfiable": when,
            "labelSelector": {"matchLabels": {"app": "web"}}, **extra}


def web(name: str, on: str, ns: str = "default") -> dict[str, Any]:
    return pod(name, node_name=on, labels={"app": "web"}, ns=ns)


NODES = [node("a1", labels={ZONE: "z1"}), node("a2", labels={ZONE: "z1"}), node("b1", labels={ZONE: "z2"}),
         node("x")]


@pytest.mark.parametrize(("existing", "c", "expected"), [
    # z1 has 1, z2 has 0: with maxSkew 1 a new pod may go to z2 only (z1 would make skew 2)
    ([web("w1", "a1")], constraint(1), {"a1": SKEW, "a2": SKEW, "b1": None, "x": NOLABEL}),
    ([web("w1", "a1")], constraint(2), {"a1": None, "a2": None, "b1": None, "x": NOLABEL}),
    # pods in other namespaces or not matching the selector are not counted
    ([web("w1", "a1", ns="other"), pod("db", node_name="a1", labels={"app": "db"})], constraint(1),
     {"a1": None, "a2": None, "b1": None, "x": NOLABEL}),
    # minDomains 3 with only 2 domains: the global minimum counts as 0
    ([web("w1", "a1"), web("w2", "b1")], constraint(1, minDomains=3),
     {"a1": SKEW, "a2": SKEW, "b1": SKEW, "x": NOLABEL}),
    ([web("w1", "a1"), web("w2", "b1")], constraint(1),
     {"a1": None, "a2": None, "b1": None, "x": NOLABEL}),
])
def test_filter(existing: list[dict[str, Any]], c: dict[str, Any], expected: dict[str, str | None]) -> None:
    w = World(NODES, existing)
    assert w.run_filter("PodTopologySpread", pi("p", labels={"app": "web"}, topologySpreadConstraints=[c])) == expected


def test_node_affinity_policy_decides_which_domains_count() -> None:
    # z2's only node is excluded by the pod's nodeSelector: with Honor, z2 is not a domain (min is z1's 1)
    nodes = [node("a1", labels={ZONE: "z1", "pool": "x"}), node("a2", labels={ZONE: "z1", "pool": "x"}),
             node("b1", labels={ZONE: "z2"})]
    w = World(nodes, [web("w1", "a1")])
    honor = pi("p", labels={"app": "web"}, nodeSelector={"pool": "x"}, topologySpreadConstraints=[constraint(1)])
    assert w.run_filter("PodTopologySpread", honor)["a2"] is None
    ignore = pi("p", labels={"app": "web"}, nodeSelector={"pool": "x"},
                topologySpreadConstraints=[constraint(1, nodeAffinityPolicy="Ignore")])
    assert w.run_filter("PodTopologySpread", ignore)["a2"] == SKEW


def test_node_taints_policy() -> None:
    nodes = [node("a1", labels={ZONE: "z1"}),
             node("b1", labels={ZONE: "z2"}, taints=[{"key": "k", "value": "v", "effect": "NoSchedule"}])]
    w = World(nodes, [web("w1", "a1")])
    ignore = pi("p", labels={"app": "web"}, topologySpreadConstraints=[constraint(1)])
    assert w.run_filter("PodTopologySpread", ignore)["a1"] == SKEW  # tainted z2 still counts (min 0)
    honor = pi("p", labels={"app": "web"}, topologySpreadConstraints=[constraint(1, nodeTaintsPolicy="Honor")])
    assert w.run_filter("PodTopologySpread", honor)["a1"] is None


def test_match_label_keys() -> None:
    w = World(NODES, [pod("old", node_name="a1", labels={"app": "web", "rev": "1"})])
    c = constraint(1, matchLabelKeys=["rev"])
    # the pod of revision 2 does not count the revision-1 pod: every zone is at 0
    assert w.run_filter("PodTopologySpread", pi("p", labels={"app": "web", "rev": "2"},
                                                topologySpreadConstraints=[c]))["a1"] is None
    assert w.run_filter("PodTopologySpread", pi("p", labels={"app": "web", "rev": "1"},
                                                topologySpreadConstraints=[c]))["a1"] == SKEW


def test_skips_without_constraints() -> None:
    w = World(NODES)
    assert w.run_filter("PodTopologySpread", pi("p"))["a1"] == "SKIP"
    assert w.run_score("PodTopologySpread", pi("p")) is None


def test_schedule_anyway_scores_emptier_domains_higher() -> None:
    w = World(NODES, [web("w1", "a1"), web("w2", "a2")])
    p = pi("p", labels={"app": "web"}, topologySpreadConstraints=[constraint(1, when="ScheduleAnyway")])
    scores = w.run_score("PodTopologySpread", p)
    assert scores is not None
    assert scores["x"] == 0  # lacks the key: ignored
    assert scores["b1"] == 100
    assert scores["a1"] == scores["a2"] < scores["b1"]


def test_hostname_spread_and_prefilter_extensions_keep_the_minimum_fresh() -> None:
    from sampan.scheduler.framework.cycle_state import CycleState

    nodes = [node("h1"), node("h2"), node("h3")]
    w = World(nodes, [web("w1", "h1"), web("w2", "h2")])
    c = constraint(1, key="kubernetes.io/hostname")
    p = pi("p", labels={"app": "web"}, topologySpreadConstraints=[c])
    assert w.run_filter("PodTopologySpread", p) == {"h1": SKEW, "h2": SKEW, "h3": None}
    plugin = w.plugin("PodTopologySpread")
    state = CycleState()
    plugin.pre_filter(state, p, w.snapshot.node_infos)
    assert plugin.filter(state, p, w.node("h1")) is not None
    # preemption's what-if: removing w1 from h1 makes h1 the emptiest domain
    victim = w.node("h1").pods[0]
    plugin.remove_pod(state, p, victim, w.node("h1"))
    assert plugin.filter(state, p, w.node("h1")) is None
    plugin.add_pod(state, p, victim, w.node("h1"))
    assert plugin.filter(state, p, w.node("h1")) is not None


def test_hostname_scores_follow_pods_landing_while_counts_are_memoized() -> None:
    """Score of a hostname constraint counts each node's matching pods through a per-node memo (valid
    while the node's generation holds): after pods land between two scheduling cycles, the same plugin
    must score exactly as a fresh one that never saw the earlier cycle."""
    nodes = [node("h1"), node("h2"), node("h3")]
    existing = [web("w1", "h1"), web("w2", "h1"), pod("db", node_name="h2", labels={"app": "db"})]
    c = constraint(3, key="kubernetes.io/hostname", when="ScheduleAnyway")
    p = pi("p", labels={"app": "web"}, topologySpreadConstraints=[c])
    w = World(nodes, existing)
    first = w.run_score("PodTopologySpread", p)
    assert first is not None
    assert first["h2"] == first["h3"] > first["h1"]  # the db pod does not match
    landed = [web("w3", "h2"), web("w4", "h2"), web("w5", "h2"), web("w6", "h3")]
    for q in landed:
        w.cache.add_pod(PodInfo.parse(q))
    w.cache.update_snapshot(w.snapshot)
    again = w.run_score("PodTopologySpread", p)
    assert again == World(nodes, existing + landed).run_score("PodTopologySpread", p)
    assert again is not None
    assert again["h3"] > again["h1"] > again["h2"]  # h2 now has 3 matching pods, h1 2, h3 1


@pytest.mark.parametrize("explicit_empty", [False, True])
def test_default_zone_constraint_counts_unzoned_nodes_only_where_a_score_reads_them(explicit_empty: bool) -> None:
    """Score reads the count of the "" zone only for a feasible node labelled ``zone: ""`` itself; nodes
    without the label never score on the zone, so their pods are left uncounted unless such a node exists
    (then they count in "", as upstream's topology pairs do)."""
    from sampan.scheduler.plugins.podtopologyspread.common import MatchCounter
    from sampan.scheduler.plugins.podtopologyspread.scoring import build_score_state, node_score

    nodes = [node("u1"), node("u2"), node("z1", labels={ZONE: "a"})]
    if explicit_empty:
        nodes.append(node("e1", labels={ZONE: ""}))
    w = World(nodes, [web("w1", "u1"), web("w2", "u2"), web("w3", "z1")])
    c = constraint(5, when="ScheduleAnyway")
    p = pi("p", labels={"app": "web"}, topologySpreadConstraints=[c])
    state = build_score_state(p, p.spread_constraints, feasible=w.snapshot.node_infos,
                              all_nodes=w.snapshot.node_infos, counter=MatchCounter(), require_all_keys=False)
    assert state.counts[0]["a"] == 1
    assert state.counts[0][""] == (2 if explicit_empty else 0)
    if explicit_empty:
        assert node_score(state, p, w.node("e1")) > node_score(state, p, w.node("z1"))
