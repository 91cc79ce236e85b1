"""NodeAffinity (nodeSelector, required terms with every operator, preferred terms) and ImageLocality."""

from __future__ import annotations

from typing import Any

import pytest

from sampan.scheduler.framework.cycle_state import CycleState
from sampan.scheduler.plugins.imagelocality import calculate_priority
from tests.scheduler.builders import World, node, pi

ERR = "node(s) didn't match Pod's node affinity/selector"
NODES = [
    node("a", labels={"zone": "z1", "disk": "ssd", "cores": "8"}),
    node("b", labels={"zone": "z2", "cores": "2"}),
    node("c", labels={"zone": "z3"}),
]


def required(*terms: dict[str, Any]) -> dict[str, Any]:
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": list(terms)}}}


def expr(key: str, op: str, *values: str) -> dict[str, Any]:
    e: dict[str, Any] = {"key": key, "operator": op}
    if values:
        e["values"] = list(values)
    return e


@pytest.mark.parametrize(("fields", "fit"), [
    ({"nodeSelector": {"zone": "z1"}}, {"a"}),
    ({"nodeSelector": {"zone": "z1", "disk": "hdd"}}, set()),
    ({"affinity": required({"matchExpressions": [expr("zone", "In", "z1", "z2")]})}, {"a", "b"}),
    ({"affinity": required({"matchExpressions": [expr("zone", "NotIn", "z1")]})}, {"b", "c"}),
    ({"affinity": required({"matchExpressions": [expr("disk", "Exists")]})}, {"a"}),
    ({"affinity": required({"matchExpressions": [expr("disk", "DoesNotExist")]})}, {"b", "c"}),
    ({"affinity": required({"matchExpressions": [expr("cores", "Gt", "4")]})}, {"a"}),
    ({"affinity": required({"matchExpressions": [expr("cores", "Lt", "4")]})}, {"b"}),
    # terms are ORed, expressions within a term ANDed
    ({"affinity": required({"matchExpressions": [expr("zone", "In", "z1"), expr("cores", "Lt", "4")]},
                           {"matchExpressions": [expr("zone", "In", "z3")]})}, {"c"}),
    ({"affinity": required({"matchFields": [expr("metadata.name", "In", "b")]})}, {"b"}),
    # an empty term matches nothing
    ({"affinity": required({})}, set()),
    # nodeSelector and affinity must both hold
    ({"nodeSelector": {"zone": "z2"}, "affinity": required({"matchExpressions": [expr("disk", "Exists")]})}, set()),
])
def test_required(fields: dict[str, Any], fit: set[str]) -> None:
    w = World(NODES)
    result = w.run_filter("NodeAffinity", pi("p", **fields))
    assert result == {n: (None if n in fit else ERR) for n in "abc"}


def test_prefilter_narrows_to_named_nodes_and_skips_plain_pods() -> None:
    w = World(NODES)
    plugin = w.plugin("NodeAffinity")
    p = pi("p", affinity=required({"matchFields": [expr("metadata.name", "In", "a", "c")]}))
    result, st = plugin.pre_filter(CycleState(), p, w.snapshot.node_infos)
    assert st is None
    assert result.node_names == frozenset({"a", "c"})
    assert w.run_filter("NodeAffinity", pi("q"))["a"] == "SKIP"


def test_bad_operator_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="operator: Unsupported value"):
        pi("p", affinity=required({"matchExpressions": [expr("zone", "Near", "x")]}))


def test_preferred_score_normalized() -> None:
    pref = {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 2, "preference": {"matchExpressions": [expr("zone", "In", "z1")]}},
        {"weight": 6, "preference": {"matchExpressions": [expr("cores", "Exists")]}},
    ]}}
    w = World(NODES)
    # raw: a=8, b=6, c=0 -> scaled to max 100
    assert w.run_score("NodeAffinity", pi("p", affinity=pref)) == {"a": 100, "b": 75, "c": 0}
    assert w.run_score("NodeAffinity", pi("q")) is None


MB = 1024 * 1024


@pytest.mark.parametrize(("total", "containers", "expected"), [
    (0, 1, 0),
    (23 * MB, 1, 0),
    (1000 * MB, 1, 100),
    (2000 * MB, 1, 100),
    ((23 + 488) * MB, 1, 49),  # integer division, as upstream
    ((23 + 489) * MB, 1, 50),
    (1000 * MB, 2, 49),
])
def test_image_priority(total: int, containers: int, expected: int) -> None:
    assert calculate_priority(total, containers) == expected


def test_image_locality_scales_by_spread() -> None:
    big = ("registry/big:1", 500 * MB)
    w = World([node("a", images=[big]), node("b"), node("c")])
    # one node of three holds it: 500MB * 1/3 = 166MB -> 100*(166-23)/(977) = 14
    scores = w.run_score("ImageLocality", pi("p", image="registry/big:1"))
    assert scores == {"a": 14, "b": 0, "c": 0}
    # untagged names are normalized to :latest on both sides
    w2 = World([node("a", images=[("nginx", 1000 * MB)])])
    assert w2.run_score("ImageLocality", pi("p", image="nginx:latest")) == {"a": 100}
    assert w.run_score("ImageLocality", pi("p", image="other:1")) is None
