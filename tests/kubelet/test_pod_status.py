"""The pure pod status computation."""

from __future__ import annotations

import dataclasses
from typing import Any

from sampan.api.podstatus import pod_summary
from sampan.kubelet.pod_status import PodRuntimeView, compute_pod_status
from sampan.kubelet.runtime.interface import ContainerState, ContainerStatus

T0 = 1_700_000_000.0


def rec(name: str, attempt: int, state: ContainerState, code: int = 0, reason: str = "") -> ContainerStatus:
    return ContainerStatus(id=f"{name}-{attempt}", sandbox_id="s", name=name, attempt=attempt, image="img",
                           state=state, created_at=T0, started_at=T0 + 1,
                           finished_at=T0 + 5 if state is ContainerState.EXITED else 0, exit_code=code,
                           reason=reason or ("" if state is not ContainerState.EXITED else
                                             "Completed" if code == 0 else "Error"))


def pod(**spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "p", "namespace": "ns"},
            "spec": {"containers": [{"name": "a", "image": "img"}, {"name": "b", "image": "img"}], **spec}}


def test_creating_then_running_with_transition_times() -> None:
    p = pod()
    st = compute_pod_status(p, PodRuntimeView(), now=T0)
    assert st["phase"] == "Pending"
    assert [c["state"]["waiting"]["reason"] for c in st["containerStatuses"]] == ["ContainerCreating"] * 2
    assert pod_summary({**p, "status": st}, T0)[:2] == ("0/2", "ContainerCreating")
    view = PodRuntimeView(containers={"a": [rec("a", 0, ContainerState.RUNNING)],
                                      "b": [rec("b", 0, ContainerState.RUNNING)]}, pod_ip="10.0.0.1")
    st2 = compute_pod_status({**p, "status": st}, view, now=T0 + 60)
    assert st2["phase"] == "Running"
    ready = next(c for c in st2["conditions"] if c["type"] == "Ready")
    sched = next(c for c in st2["conditions"] if c["type"] == "PodScheduled")
    assert ready["lastTransitionTime"] == "2023-11-14T22:14:20Z"  # changed at T0+60
    assert sched["lastTransitionTime"] == "2023-11-14T22:13:20Z"  # unchanged since T0
    assert pod_summary({**p, "status": st2}, T0 + 60)[:2] == ("2/2", "Running")


def test_crash_loop_counts_as_stopped_and_keeps_running_phase() -> None:
    view = PodRuntimeView(
        containers={"a": [rec("a", 3, ContainerState.EXITED, 1), rec("a", 2, ContainerState.EXITED, 1)],
                    "b": [rec("b", 0, ContainerState.RUNNING)]},
        waiting={"a": ("CrashLoopBackOff", "back-off 40s restarting failed container=a pod=p_ns(u)")},
    )
    st = compute_pod_status(pod(), view, now=T0)
    a = st["containerStatuses"][0]
    assert a["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    assert a["lastState"]["terminated"]["containerID"] == "sampan://a-3"  # a record naming no runtime
    assert a["restartCount"] == 3
    assert st["phase"] == "Running"
    assert pod_summary({**pod(), "status": st}, T0)[1] == "CrashLoopBackOff"


def test_container_id_scheme_is_the_runtime_name() -> None:
    running = dataclasses.replace(rec("a", 1, ContainerState.RUNNING), runtime_name="containerd")
    exited = dataclasses.replace(rec("a", 0, ContainerState.EXITED, 1), runtime_name="containerd")
    st = compute_pod_status(pod(), PodRuntimeView(containers={"a": [running, exited]}), now=T0)
    a = st["containerStatuses"][0]
    assert a["containerID"] == f"containerd://{running.id}"
    assert a["lastState"]["terminated"]["containerID"] == f"containerd://{exited.id}"


def test_terminal_phases() -> None:
    done = {"a": [rec("a", 0, ContainerState.EXITED, 0)], "b": [rec("b", 0, ContainerState.EXITED, 0)]}
    assert compute_pod_status(pod(restartPolicy="Never"), PodRuntimeView(containers=done), now=T0)["phase"] == \
        "Succeeded"
    failed = {**done, "b": [rec("b", 0, ContainerState.EXITED, 137, "OOMKilled")]}
    st = compute_pod_status(pod(restartPolicy="Never"), PodRuntimeView(containers=failed), now=T0)
    assert st["phase"] == "Failed"
    assert st["containerStatuses"][1]["state"]["terminated"]["reason"] == "OOMKilled"
    assert compute_pod_status(pod(restartPolicy="OnFailure"), PodRuntimeView(containers=failed), now=T0)["phase"] \
        == "Running"
    assert compute_pod_status(pod(), PodRuntimeView(containers=done), now=T0)["phase"] == "Running"  # Always


def test_init_failure_with_never_fails_the_pod() -> None:
    p = pod(restartPolicy="Never", initContainers=[{"name": "i", "image": "x"}])
    st = compute_pod_status(p, PodRuntimeView(containers={"i": [rec("i", 0, ContainerState.EXITED, 2)]}), now=T0)
    assert st["phase"] == "Failed"
    assert st["containerStatuses"][0]["state"]["waiting"]["reason"] == "PodInitializing"
    p2 = pod(initContainers=[{"name": "i", "image": "x"}])
    st2 = compute_pod_status(p2, PodRuntimeView(containers={"i": [rec("i", 0, ContainerState.EXITED, 2)]}), now=T0)
    assert st2["phase"] == "Pending"
    assert pod_summary({**p2, "status": st2}, T0)[1] == "Init:Error"


def test_init_container_is_ready_only_once_it_succeeded() -> None:
    p = pod(initContainers=[{"name": "i", "image": "x"}, {"name": "side", "image": "x", "restartPolicy": "Always"}])
    running = {"i": [rec("i", 0, ContainerState.RUNNING)], "side": [rec("side", 0, ContainerState.RUNNING)]}
    st = compute_pod_status(p, PodRuntimeView(containers=running), now=T0)
    assert [c["ready"] for c in st["initContainerStatuses"]] == [False, True]  # a sidecar is ready when running
    done = {**running, "i": [rec("i", 0, ContainerState.EXITED, 0)]}
    st = compute_pod_status(p, PodRuntimeView(containers=done), now=T0)
    assert [c["ready"] for c in st["initContainerStatuses"]] == [True, True]
    failed = {**running, "i": [rec("i", 0, ContainerState.EXITED, 1)]}
    assert compute_pod_status(p, PodRuntimeView(containers=failed), now=T0)["initContainerStatuses"][0]["ready"] \
        is False


def test_readiness_startup_and_gates() -> None:
    p = pod(readinessGates=[{"conditionType": "example.com/lb"}])
    p["spec"]["containers"][0]["readinessProbe"] = {"exec": {"command": ["true"]}}
    running = {"a": [rec("a", 0, ContainerState.RUNNING)], "b": [rec("b", 0, ContainerState.RUNNING)]}
    st = compute_pod_status(p, PodRuntimeView(containers=running, started={"b-0": False}), now=T0)
    a, b = st["containerStatuses"]
    assert (a["ready"], b["ready"], b["started"]) == (False, False, False)  # no readiness verdict yet; not started
    st = compute_pod_status(p, PodRuntimeView(containers=running, ready={"a-0": True}), now=T0)
    conds = {c["type"]: c["status"] for c in st["conditions"]}
    assert (conds["ContainersReady"], conds["Ready"]) == ("True", "False")  # the gate is not met
    p["status"] = {"conditions": [{"type": "example.com/lb", "status": "True"}]}
    st = compute_pod_status(p, PodRuntimeView(containers=running, ready={"a-0": True}), now=T0)
    assert {c["type"]: c["status"] for c in st["conditions"]}["Ready"] == "True"
    assert any(c["type"] == "example.com/lb" for c in st["conditions"])  # foreign conditions are kept


def test_qos_class_computed_once_then_kept_from_the_previous_status(monkeypatch) -> None:
    """As upstream's GetPodQOS: the persisted class wins; the spec is parsed only for a status without one.
    Differential: for each spec shape, the kept class equals the computed one."""
    import sampan.kubelet.pod_status as ps
    from sampan.api.podstatus import qos_class

    shapes = [{}, {"requests": {"cpu": "10m"}},
              {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "1Gi"}},
              {"limits": {"cpu": "500m", "memory": "64Mi"}}]
    calls = []

    def counting(spec: Any) -> str:
        calls.append(1)
        return qos_class(spec)

    monkeypatch.setattr(ps, "qos_class", counting)
    view = PodRuntimeView(containers={"a": [rec("a", 0, ContainerState.RUNNING)]})
    for resources in shapes:
        p = {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "a", "image": "img",
                                                                 "resources": resources}]}}
        calls.clear()
        first = compute_pod_status(p, view, now=T0)
        assert first["qosClass"] == qos_class(p["spec"])
        again = compute_pod_status({**p, "status": first}, view, now=T0 + 60)
        assert again == first
        assert len(calls) == 1
    persisted = {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "a", "image": "img"}]},
                 "status": {"qosClass": "Guaranteed"}}
    assert compute_pod_status(persisted, view, now=T0)["qosClass"] == "Guaranteed"
