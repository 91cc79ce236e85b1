"""PodInfo / NodeInfo parsing and bookkeeping; clear errors on malformed objects."""

from __future__ import annotations

import pytest

from sampan.scheduler.framework.fit_error import Diagnosis, fit_message
from sampan.scheduler.framework.node_info import NodeInfo
from sampan.scheduler.framework.pod_info import PodInfo
from sampan.scheduler.framework.status import Code, Status
from tests.scheduler.builders import node, pi, pod


def test_pod_info_parses_requests_limits_and_defaults() -> None:
    p = pod("p", cpu="250m", memory="1Gi", priority=7)
    p["spec"]["containers"].append({"name": "lim", "image": "x", "resources": {"limits": {"cpu": "1"}}})
    info = PodInfo.parse(p)
    assert info.requests.milli_cpu == 1250  # limits stand in for missing requests
    assert info.requests.memory == 2**30
    assert info.non_zero_memory == 2**30 + 200 * 2**20  # second container has no memory request
    assert info.priority == 7
    assert info.scheduler_name == "default-scheduler"
    assert info.key == "default/p"


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda p: p["spec"]["containers"][0]["resources"]["requests"].update(cpu="lots"), "spec.containers[0]"),
    (lambda p: p["spec"].update(priority="high"), "spec.priority"),
    (lambda p: p["spec"].update(tolerations=[{"operator": "Maybe"}]), "spec.tolerations[0].operator"),
    (lambda p: p["spec"].update(topologySpreadConstraints=[{"maxSkew": 0, "topologyKey": "z",
                                                            "whenUnsatisfiable": "DoNotSchedule"}]),
     "maxSkew"),
    (lambda p: p["spec"].update(affinity={"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {}}]}}), "topologyKey: Required value"),
])
def test_malformed_pods_raise_value_error_naming_the_field(mutate: object, message: str) -> None:
    p = pod("p", cpu="1")
    mutate(p)  # type: ignore[operator]
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        PodInfo.parse(p)


def test_node_info_add_remove_keeps_sums() -> None:
    info = NodeInfo(node("a", cpu="4"))
    p1, p2 = pi("p1", cpu="1", host_ports=[80]), pi("p2", cpu="2")
    info.add_pod(p1)
    info.add_pod(p2)
    assert info.requested.milli_cpu == 3000
    assert info.requested.allowed_pods == 2
    assert info.port_conflict("0.0.0.0", "TCP", 80)
    assert info.remove_pod(p1.uid) is p1
    assert info.requested.milli_cpu == 2000
    assert not info.used_ports
    assert info.remove_pod("nope") is None
    c = info.clone()
    c.add_pod(p1)
    assert info.requested.milli_cpu == 2000
    assert c.requested.milli_cpu == 3000


def test_node_requires_a_name() -> None:
    with pytest.raises(ValueError, match=r"metadata\.name"):
        NodeInfo({"metadata": {}, "status": {}})


def test_fit_message_matches_upstream_format() -> None:
    d = Diagnosis(node_to_status={
        "a": Status(Code.UNSCHEDULABLE, "Insufficient cpu"),
        "b": Status(Code.UNSCHEDULABLE_AND_UNRESOLVABLE, "node(s) had untolerated taint {key: value}"),
        "c": Status(Code.UNSCHEDULABLE_AND_UNRESOLVABLE, "node(s) had untolerated taint {key: value}"),
    })
    assert fit_message(3, d) == (
        "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had untolerated taint {key: value}.")
    d.post_filter_msg = "preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
    # upstream appends " %v." to a message that already ends with "." — the double period is faithful
    assert fit_message(3, d).endswith("{key: value}. preemption: 0/3 nodes are available: 3 Preemption is not "
                                      "helpful for scheduling..")
    assert fit_message(2, Diagnosis(pre_filter_msg="boom")) == "0/2 nodes are available: boom."
