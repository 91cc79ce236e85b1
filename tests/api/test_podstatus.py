"""kubectl's pod READY/STATUS/RESTARTS cells and the QoS class."""

from __future__ import annotations

from typing import Any

import pytest

from sampan.api.podstatus import layout_containers, pod_summary, qos_class, readiness_gates

NOW = 1_000_000.0
FIVE_MIN_AGO = "1970-01-12T13:41:40Z"  # NOW - 300 s


def pod(*, containers: int = 1, init: list[dict[str, Any]] | None = None, statuses: list[dict[str, Any]] | None = None,
        init_statuses: list[dict[str, Any]] | None = None, phase: str = "Pending", **extra: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": f"c{i}", "image": "x"} for i in range(containers)]}
    if init is not None:
        spec["initContainers"] = init
    status: dict[str, Any] = {"phase": phase}
    if statuses is not None:
        status["containerStatuses"] = statuses
    if init_statuses is not None:
        status["initContainerStatuses"] = init_statuses
    status.update(extra.pop("status", {}))
    return {"metadata": {"name": "p", **extra.pop("metadata", {})}, "spec": spec, "status": status}


def waiting(reason: str, **kw: Any) -> dict[str, Any]:
    return {"name": "c0", "ready": False, "restartCount": 0, "state": {"waiting": {"reason": reason}}, **kw}


def running(ready: bool = True, name: str = "c0") -> dict[str, Any]:
    return {"name": name, "ready": ready, "restartCount": 0, "state": {"running": {}}}


def terminated(reason: str = "", code: int = 0, name: str = "c0", signal: int = 0) -> dict[str, Any]:
    term: dict[str, Any] = {"exitCode": code}
    if reason:
        term["reason"] = reason
    if signal:
        term["signal"] = signal
    return {"name": name, "ready": False, "restartCount": 0, "state": {"terminated": term}}


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        (pod(), ("0/1", "Pending", "0")),
        (pod(statuses=[waiting("ContainerCreating")]), ("0/1", "ContainerCreating", "0")),
        (pod(phase="Running", statuses=[running()]), ("1/1", "Running", "0")),
        (pod(phase="Running", statuses=[running(False)]), ("0/1", "Running", "0")),
        (pod(phase="Succeeded", statuses=[terminated("Completed")]), ("0/1", "Completed", "0")),
        (pod(phase="Failed", statuses=[terminated(code=3)]), ("0/1", "ExitCode:3", "0")),
        (pod(phase="Failed", statuses=[terminated(signal=9)]), ("0/1", "Signal:9", "0")),
        (pod(phase="Failed", status={"reason": "Evicted"}), ("0/1", "Evicted", "0")),
        (pod(init=[{"name": "i0"}], init_statuses=[{"name": "i0", "state": {"waiting": {"reason": "PodInitializing"}}}],
             statuses=[waiting("PodInitializing")]), ("0/1", "Init:0/1", "0")),
        (pod(init=[{"name": "i0"}, {"name": "i1"}],
             init_statuses=[terminated(code=0, name="i0"), {"name": "i1", "state": {"running": {}}}]),
         ("0/1", "Init:1/2", "0")),
        (pod(init=[{"name": "i0"}], init_statuses=[terminated(code=1, name="i0")]), ("0/1", "Init:ExitCode:1", "0")),
        (pod(init=[{"name": "i0"}], init_statuses=[{"name": "i0", "restartCount": 2,
                                                    "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]),
         ("0/1", "Init:CrashLoopBackOff", "2")),
        (pod(phase="Running", statuses=[running(), {**terminated("Completed", name="c1")}], containers=2,
             status={"conditions": [{"type": "Ready", "status": "False"}]}), ("1/2", "NotReady", "0")),
        (pod(phase="Running", statuses=[terminated("Completed", name="c1"), running()], containers=2,
             status={"conditions": [{"type": "Ready", "status": "True"}]}), ("1/2", "Running", "0")),
        (pod(phase="Running", statuses=[running()], metadata={"deletionTimestamp": "1970-01-01T00:00:00Z"}),
         ("1/1", "Terminating", "0")),
        (pod(phase="Running", statuses=[running()], metadata={"deletionTimestamp": "1970-01-01T00:00:00Z"},
             status={"reason": "NodeLost"}), ("1/1", "Unknown", "0")),
        (pod(phase="Succeeded", statuses=[terminated("Completed")],
             metadata={"deletionTimestamp": "1970-01-01T00:00:00Z"}), ("0/1", "Completed", "0")),
        (pod(status={"conditions": [{"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]}),
         ("0/1", "SchedulingGated", "0")),
        (pod(phase="Running", statuses=[waiting(
            "CrashLoopBackOff", restartCount=3,
            lastState={"terminated": {"exitCode": 1, "finishedAt": FIVE_MIN_AGO}})]),
         ("0/1", "CrashLoopBackOff", "3 (5m ago)")),
        (pod(phase="Running", init=[{"name": "side", "restartPolicy": "Always"}],
             init_statuses=[{"name": "side", "started": True, "ready": True, "restartCount": 1,
                             "state": {"running": {}}}], statuses=[running()]),
         ("2/2", "Running", "1")),
        ({"metadata": "junk", "spec": [], "status": 5}, ("0/0", "", "0")),
    ],
)
def test_pod_summary(obj: dict[str, Any], expected: tuple[str, str, str]) -> None:
    assert pod_summary(obj, NOW) == expected


def test_readiness_gates() -> None:
    p = {"spec": {"readinessGates": [{"conditionType": "a"}, {"conditionType": "b"}]},
         "status": {"conditions": [{"type": "a", "status": "True"}, {"type": "b", "status": "False"}]}}
    assert readiness_gates(p) == "1/2"
    assert readiness_gates({"spec": {}}) == "<none>"


@pytest.mark.parametrize(
    ("resources", "qos"),
    [
        ([{}], "BestEffort"),
        ([{"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "1", "memory": "1Gi"}}], "Guaranteed"),
        ([{"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "500m", "memory": "1Gi"}}], "Burstable"),
        ([{"requests": {"cpu": "100m"}}], "Burstable"),
        ([{"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "1", "memory": "1Gi"}}, {}], "Burstable"),
    ],
)
def test_qos(resources: list[dict[str, Any]], qos: str) -> None:
    spec = {"containers": [{"name": f"c{i}", "resources": r} for i, r in enumerate(resources)]}
    assert qos_class(spec) == qos


def test_layout_containers() -> None:
    assert layout_containers([{"name": "a", "image": "x"}, {"name": "b", "image": "y"}]) == ("a,b", "x,y")
