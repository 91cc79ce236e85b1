"""Pods: defaults, validation with upstream paths, the update rule, field values and table rows."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from sampan.apiserver.registry.pod_defaults import default_image_pull_policy
from sampan.apiserver.registry.pods import PodStrategy

S = PodStrategy()
NOW = 1_704_067_200.0 + 3600  # 2024-01-01T01:00:00Z


def new_pod(**spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"containers": [{"name": "web", "image": "nginx:1.25"}]}
    base.update(spec)
    obj = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": "p", "namespace": "default", "creationTimestamp": "2024-01-01T00:00:00Z"},
           "spec": base, "status": {"phase": "Running", "podIP": "1.2.3.4"}}
    S.prepare_for_create(obj)
    return obj


def described(obj: dict[str, Any]) -> list[str]:
    return [c.describe() for c in S.validate(obj)]


def test_defaults() -> None:
    pod = new_pod()
    spec, c = pod["spec"], pod["spec"]["containers"][0]
    assert spec["restartPolicy"] == "Always"
    assert spec["dnsPolicy"] == "ClusterFirst"
    assert spec["terminationGracePeriodSeconds"] == 30
    assert spec["schedulerName"] == "default-scheduler"
    assert spec["enableServiceLinks"] is True
    assert c["terminationMessagePath"] == "/dev/termination-log"
    assert c["terminationMessagePolicy"] == "File"
    assert c["imagePullPolicy"] == "IfNotPresent"
    assert pod["status"] == {"phase": "Pending", "qosClass": "BestEffort"}  # client status dropped on create
    assert described(pod) == []


@pytest.mark.parametrize(
    ("image", "policy"),
    [("nginx", "Always"), ("nginx:latest", "Always"), ("nginx:1", "IfNotPresent"), ("reg:5000/nginx", "Always"),
     ("reg:5000/nginx:2", "IfNotPresent"), ("nginx@sha256:abc", "IfNotPresent")],
)
def test_image_pull_policy(image: str, policy: str) -> None:
    assert default_image_pull_policy(image) == policy


def test_container_defaults_deep() -> None:
    pod = new_pod(containers=[{
        "name": "c", "image": "x:1", "ports": [{"containerPort": 80}],
        "livenessProbe": {"httpGet": {"port": 80, "path": "/"}},
        "env": [{"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}],
        "resources": {"limits": {"cpu": "1"}},
    }], volumes=[{"name": "v"}, {"name": "cm", "configMap": {"name": "x"}}])
    c = pod["spec"]["containers"][0]
    assert c["ports"][0]["protocol"] == "TCP"
    assert c["livenessProbe"]["periodSeconds"] == 10
    assert c["livenessProbe"]["httpGet"]["scheme"] == "HTTP"
    assert c["env"][0]["valueFrom"]["fieldRef"]["apiVersion"] == "v1"
    assert c["resources"]["requests"] == {"cpu": "1"}
    assert pod["spec"]["volumes"][0] == {"name": "v", "emptyDir": {}}
    assert pod["spec"]["volumes"][1]["configMap"]["defaultMode"] == 420
    assert pod["status"]["qosClass"] == "Burstable"


def test_validation_messages() -> None:
    pod = new_pod(restartPolicy="Sometimes", containers=[
        {"name": "a", "image": ""},
        {"name": "a", "image": "x", "ports": [{"containerPort": 70000, "protocol": "HTTP", "name": "Bad--"}],
         "resources": {"requests": {"cpu": "2", "memory": "1x"}, "limits": {"cpu": "1", "gpu": "1"}},
         "volumeMounts": [{"name": "missing", "mountPath": "/x"}]},
        {"name": "Bad_Name", "image": "x"},
    ])
    got = described(pod)
    assert "spec.containers[0].image: Required value" in got
    assert 'spec.containers[1].name: Duplicate value: "a"' in got
    assert ("spec.containers[1].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, "
            "inclusive") in got
    assert ('spec.containers[1].ports[0].protocol: Unsupported value: "HTTP": supported values: "SCTP", "TCP", "UDP"'
            in got)
    assert any(g.startswith('spec.containers[1].ports[0].name: Invalid value: "Bad--"') for g in got)
    assert any(g.startswith('spec.containers[1].resources.requests[memory]: Invalid value: "1x": quantities must')
               for g in got)
    assert ('spec.containers[1].resources.limits[gpu]: Invalid value: "gpu": must be a standard resource for '
            "containers") in got
    assert ('spec.containers[1].resources.requests: Invalid value: "2": must be less than or equal to cpu limit of 1'
            in got)
    assert 'spec.containers[1].volumeMounts[0].name: Not found: "missing"' in got
    prefix = 'spec.containers[2].name: Invalid value: "Bad_Name": a lowercase RFC 1123 label'
    assert any(g.startswith(prefix) for g in got)
    assert 'spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"' in got


def test_containers_required() -> None:
    obj = {"metadata": {"name": "p", "namespace": "default"}, "spec": {}}
    S.prepare_for_create(obj)
    assert "spec.containers: Required value" in described(obj)
    obj = {"metadata": {"name": "p", "namespace": "default"}}
    S.prepare_for_create(obj)
    assert "spec: Required value" in described(obj)


def test_update_rules() -> None:
    old = new_pod(activeDeadlineSeconds=100, tolerations=[{"key": "a", "operator": "Exists"}])
    ok = copy.deepcopy(old)
    ok["spec"]["containers"][0]["image"] = "nginx:1.26"
    ok["spec"]["activeDeadlineSeconds"] = 50
    ok["spec"]["tolerations"].append({"key": "b", "operator": "Exists", "effect": "NoSchedule"})
    assert S.validate_update(ok, old) == []

    bad = copy.deepcopy(old)
    bad["spec"]["containers"][0]["name"] = "other"
    msgs = [c.describe() for c in S.validate_update(bad, old)]
    assert len(msgs) == 1
    assert msgs[0].startswith("spec: Forbidden: pod updates may not change fields other than")
    assert "spec.containers[0].name" in msgs[0]

    raised = copy.deepcopy(old)
    raised["spec"]["activeDeadlineSeconds"] = 200
    assert [c.field for c in S.validate_update(raised, old)] == ["spec.activeDeadlineSeconds"]

    removed = copy.deepcopy(old)
    removed["spec"]["tolerations"] = []
    assert [c.field for c in S.validate_update(removed, old)] == ["spec.tolerations"]

    renamed = copy.deepcopy(old)
    renamed["metadata"]["name"] = "q"
    assert [c.field for c in S.validate_update(renamed, old)] == ["metadata.name"]


def test_field_values() -> None:
    pod = new_pod(nodeName="n1")
    pod["status"] = {"phase": "Running", "podIPs": [{"ip": "10.0.0.1"}], "podIP": "10.0.0.1"}
    values = S.field_values(pod)
    assert values["spec.nodeName"] == "n1"
    assert values["spec.hostNetwork"] == "false"
    assert values["status.phase"] == "Running"
    assert values["status.podIP"] == "10.0.0.1"
    assert values["status.nominatedNodeName"] == ""
    assert values["spec.serviceAccountName"] == "default"


def test_table() -> None:
    assert [c.name for c in S.table_columns()] == [
        "Name", "Ready", "Status", "Restarts", "Age", "IP", "Node", "Nominated Node", "Readiness Gates"]
    assert [c.priority for c in S.table_columns()] == [0, 0, 0, 0, 0, 1, 1, 1, 1]
    pod = new_pod(nodeName="n1")
    pod["status"] = {"phase": "Running", "podIP": "10.0.0.1", "containerStatuses": [
        {"name": "web", "ready": True, "restartCount": 0, "state": {"running": {}}}]}
    assert S.table_row(pod, NOW) == ["p", "1/1", "Running", "0", "60m", "10.0.0.1", "n1", "<none>", "<none>"]
    assert S.row_conditions(pod) == []
    pod["status"]["phase"] = "Succeeded"
    assert S.row_conditions(pod)[0]["reason"] == "Succeeded"


def test_scheduling_gated_condition() -> None:
    pod = new_pod(schedulingGates=[{"name": "example.com/wait"}])
    assert pod["status"]["conditions"][0]["reason"] == "SchedulingGated"
    assert S.table_row(pod, NOW)[2] == "SchedulingGated"
    ungated = copy.deepcopy(pod)
    ungated["spec"]["schedulingGates"] = []
    assert S.validate_update(ungated, pod) == []
    regated = copy.deepcopy(ungated)
    regated["spec"]["schedulingGates"] = [{"name": "example.com/again"}]
    assert [c.field for c in S.validate_update(regated, ungated)] == ["spec.schedulingGates"]
