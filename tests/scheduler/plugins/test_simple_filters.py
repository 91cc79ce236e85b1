"""NodeName, NodeUnschedulable, NodePorts, TaintToleration: table-driven cases of upstream semantics."""

from __future__ import annotations

from typing import Any

import pytest

from sampan.scheduler.framework.pod_info import PodInfo
from tests.scheduler.builders import World, node, pi, pod

TAINT_NS = {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}
TAINT_NE = {"key": "broken", "value": "", "effect": "NoExecute"}
TAINT_PREFER = {"key": "spot", "value": "yes", "effect": "PreferNoSchedule"}


@pytest.mark.parametrize(("node_name", "expected"), [
    ("", {"a": "SKIP", "b": "SKIP"}),
    ("a", {"a": None, "b": "node(s) didn't match the requested node name"}),
    ("zzz", {"a": "node(s) didn't match the requested node name", "b": "node(s) didn't match the requested node name"}),
])
def test_node_name(node_name: str, expected: dict[str, str | None]) -> None:
    w = World([node("a"), node("b")])
    assert w.run_filter("NodeName", pi("p", node_name=node_name)) == expected


@pytest.mark.parametrize(("tolerations", "unschedulable", "fits"), [
    (None, False, True),
    (None, True, False),
    ([{"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"}], True, True),
    ([{"operator": "Exists"}], True, True),
    ([{"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoExecute"}], True, False),
])
def test_node_unschedulable(tolerations: list[dict[str, str]] | None, unschedulable: bool, fits: bool) -> None:
    w = World([node("a", unschedulable=unschedulable)])
    result = w.run_filter("NodeUnschedulable", pi("p", tolerations=tolerations))
    assert result["a"] == (None if fits else "node(s) were unschedulable")


def _port_pod(name: str, port: int, *, ip: str = "", protocol: str = "TCP", on: str = "") -> dict[str, Any]:
    p = pod(name, node_name=on)
    entry: dict[str, Any] = {"containerPort": port, "hostPort": port, "protocol": protocol}
    if ip:
        entry["hostIP"] = ip
    p["spec"]["containers"][0]["ports"] = [entry]
    return p


@pytest.mark.parametrize(("existing", "incoming", "fits"), [
    (None, (8080, "", "TCP"), True),
    ((8080, "", "TCP"), (8080, "", "TCP"), False),
    ((8080, "", "TCP"), (8080, "", "UDP"), True),
    ((8080, "", "TCP"), (8081, "", "TCP"), True),
    ((8080, "127.0.0.1", "TCP"), (8080, "127.0.0.2", "TCP"), True),
    ((8080, "127.0.0.1", "TCP"), (8080, "", "TCP"), False),  # 0.0.0.0 conflicts with every address
    ((8080, "", "TCP"), (8080, "127.0.0.1", "TCP"), False),
])
def test_node_ports(existing: tuple[int, str, str] | None, incoming: tuple[int, str, str], fits: bool) -> None:
    pods = [_port_pod("old", existing[0], ip=existing[1], protocol=existing[2], on="a")] if existing else []
    w = World([node("a")], pods)
    port, ip, proto = incoming
    result = w.run_filter("NodePorts", PodInfo.parse(_port_pod("new", port, ip=ip, protocol=proto)))
    assert result["a"] == (None if fits else "node(s) didn't have free ports for the requested pod ports")


def test_node_ports_skips_pods_without_host_ports() -> None:
    w = World([node("a")])
    assert w.run_filter("NodePorts", pi("p"))["a"] == "SKIP"


@pytest.mark.parametrize(("taints", "tolerations", "expected"), [
    ([], None, None),
    ([TAINT_NS], None, "node(s) had untolerated taint {dedicated: gpu}"),
    ([TAINT_NE], None, "node(s) had untolerated taint {broken: }"),
    ([TAINT_PREFER], None, None),  # PreferNoSchedule never filters
    ([TAINT_NS], [{"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}], None),
    ([TAINT_NS], [{"key": "dedicated", "value": "gpu"}], None),  # empty effect matches all effects
    ([TAINT_NS], [{"key": "dedicated", "operator": "Equal", "value": "cpu"}],
     "node(s) had untolerated taint {dedicated: gpu}"),
    ([TAINT_NS], [{"key": "dedicated", "operator": "Exists"}], None),
    ([TAINT_NS], [{"operator": "Exists"}], None),  # empty key + Exists tolerates everything
    ([TAINT_NS], [{"key": "dedicated", "operator": "Exists", "effect": "NoExecute"}],
     "node(s) had untolerated taint {dedicated: gpu}"),
    ([TAINT_NS, TAINT_NE], [{"key": "dedicated", "operator": "Exists"}], "node(s) had untolerated taint {broken: }"),
])
def test_taint_toleration_filter(
    taints: list[dict[str, str]], tolerations: list[dict[str, str]] | None, expected: str | None
) -> None:
    w = World([node("a", taints=taints)])
    assert w.run_filter("TaintToleration", pi("p", tolerations=tolerations))["a"] == expected


def test_taint_toleration_score_prefers_fewer_intolerable_prefer_no_schedule_taints() -> None:
    two = [TAINT_PREFER, {"key": "old", "value": "1", "effect": "PreferNoSchedule"}]
    w = World([node("clean"), node("one", taints=[TAINT_PREFER]), node("two", taints=two)])
    assert w.run_score("TaintToleration", pi("p")) == {"clean": 100, "one": 50, "two": 0}
    tolerant = pi("q", tolerations=[{"key": "spot", "operator": "Exists", "effect": "PreferNoSchedule"}])
    assert w.run_score("TaintToleration", tolerant) == {"clean": 100, "one": 100, "two": 0}


def test_taint_toleration_score_skips_without_prefer_taints() -> None:
    w = World([node("a", taints=[TAINT_NS])])
    assert w.run_score("TaintToleration", pi("p")) is None
