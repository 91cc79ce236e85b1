"""Deployments, replicasets and jobs: defaults, selector/template rules, immutables, tables."""

from __future__ import annotations

import copy
from typing import Any

from sampan.apiserver.registry.deployments import DeploymentStrategy
from sampan.apiserver.registry.jobs import JobStrategy
from sampan.apiserver.registry.replicasets import ReplicaSetStrategy

NOW = 1_704_067_200.0 + 600


def workload(kind: str, **spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "selector": {"matchLabels": {"app": "web"}},
        "template": {"metadata": {"labels": {"app": "web"}},
                     "spec": {"containers": [{"name": "web", "image": "nginx:1"}]}},
    }
    base.update(spec)
    return {"apiVersion": "apps/v1", "kind": kind,
            "metadata": {"name": "w", "namespace": "default", "creationTimestamp": "2024-01-01T00:00:00Z"},
            "spec": base}


def described(strategy: Any, obj: dict[str, Any]) -> list[str]:
    return [c.describe() for c in strategy.validate(obj)]


def test_deployment_defaults_and_table() -> None:
    s = DeploymentStrategy()
    obj = workload("Deployment")
    s.prepare_for_create(obj)
    spec = obj["spec"]
    assert spec["replicas"] == 1
    assert spec["revisionHistoryLimit"] == 10
    assert spec["progressDeadlineSeconds"] == 600
    assert spec["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}
    assert spec["template"]["spec"]["restartPolicy"] == "Always"
    assert spec["template"]["spec"]["containers"][0]["imagePullPolicy"] == "IfNotPresent"
    assert "enableServiceLinks" not in spec["template"]["spec"]  # pod-only default, as upstream
    assert obj["status"] == {}
    assert described(s, obj) == []
    obj["status"] = {"readyReplicas": 1, "updatedReplicas": 1, "availableReplicas": 1}
    assert [c.name for c in s.table_columns()] == [
        "Name", "Ready", "Up-to-date", "Available", "Age", "Containers", "Images", "Selector"]
    assert s.table_row(obj, NOW) == ["w", "1/1", 1, 1, "10m", "web", "nginx:1", "app=web"]


def test_deployment_validation() -> None:
    s = DeploymentStrategy()
    obj = workload("Deployment", replicas=-1, strategy={"type": "RollingUpdate",
                                                         "rollingUpdate": {"maxUnavailable": 0, "maxSurge": "0%"}})
    obj["spec"]["template"]["metadata"]["labels"] = {"app": "other"}
    obj["spec"]["template"]["spec"]["restartPolicy"] = "Never"
    s.prepare_for_create(obj)
    got = described(s, obj)
    assert "spec.replicas: Invalid value: -1: must be greater than or equal to 0" in got
    assert ('spec.template.metadata.labels: Invalid value: map[string]string{"app":"other"}: `selector` does not '
            "match template `labels`") in got
    assert 'spec.template.spec.restartPolicy: Unsupported value: "Never": supported values: "Always"' in got
    assert "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: 0: may not be 0 when `maxSurge` is 0" in got

    missing = workload("Deployment")
    del missing["spec"]["selector"]
    s.prepare_for_create(missing)
    assert "spec.selector: Required value" in described(s, missing)

    empty = workload("Deployment", selector={})
    s.prepare_for_create(empty)
    assert any("empty selector is invalid for deployment" in d for d in described(s, empty))

    recreate = workload("Deployment", strategy={"type": "Recreate", "rollingUpdate": {}})
    s.prepare_for_create(recreate)
    assert any(d.startswith("spec.strategy.rollingUpdate: Forbidden") for d in described(s, recreate))

    percent = workload("Deployment", strategy={"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "x%"}})
    s.prepare_for_create(percent)
    assert any("a valid percent string" in d for d in described(s, percent))


def test_deployment_update() -> None:
    s = DeploymentStrategy()
    old = workload("Deployment")
    s.prepare_for_create(old)
    new = copy.deepcopy(old)
    new["spec"]["replicas"] = 3
    assert s.validate_update(new, old) == []
    assert s.spec_changed(new, old)
    moved = copy.deepcopy(old)
    moved["spec"]["selector"] = {"matchLabels": {"app": "web", "v": "2"}}
    moved["spec"]["template"]["metadata"]["labels"]["v"] = "2"
    assert [c.describe() for c in s.validate_update(moved, old)] == [
        'spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{"app":"web", "v":"2"}, '
        'MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable']  # upstream's Go rendering
    moved["spec"]["selector"] = {"matchExpressions": [{"key": "app", "operator": "In", "values": ["web"]}]}
    assert [c.describe() for c in s.validate_update(moved, old)] == [
        'spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), MatchExpressions:'
        '[]v1.LabelSelectorRequirement{v1.LabelSelectorRequirement{Key:"app", Operator:"In", Values:[]string{"web"}}}}'
        ': field is immutable']


def test_replicaset() -> None:
    s = ReplicaSetStrategy()
    obj = workload("ReplicaSet")
    s.prepare_for_create(obj)
    assert obj["spec"]["replicas"] == 1
    assert obj["status"] == {"replicas": 0}
    assert described(s, obj) == []
    obj["status"] = {"replicas": 2, "readyReplicas": 1}
    assert s.field_values(obj)["status.replicas"] == "2"
    assert [c.name for c in s.table_columns()] == [
        "Name", "Desired", "Current", "Ready", "Age", "Containers", "Images", "Selector"]
    assert s.table_row(obj, NOW) == ["w", 1, 2, 1, "10m", "web", "nginx:1", "app=web"]


def job(**spec: Any) -> dict[str, Any]:
    obj = workload("Job", **spec)
    obj["apiVersion"] = "batch/v1"
    del obj["spec"]["selector"]
    obj["spec"]["template"]["metadata"] = {}
    obj["spec"]["template"]["spec"]["restartPolicy"] = "Never"
    return obj


def test_job_defaults_and_selector() -> None:
    s = JobStrategy()
    obj = job()
    s.prepare_for_create(obj)
    spec = obj["spec"]
    assert (spec["completions"], spec["parallelism"], spec["backoffLimit"]) == (1, 1, 6)
    assert spec["completionMode"] == "NonIndexed"
    assert spec["suspend"] is False
    assert "selector" not in spec  # no uid yet
    obj["metadata"]["uid"] = "u-1"
    assert described(s, obj) == []  # validate generates the selector, as upstream
    assert spec["selector"] == {"matchLabels": {"batch.kubernetes.io/controller-uid": "u-1"}}
    labels = spec["template"]["metadata"]["labels"]
    assert labels["batch.kubernetes.io/job-name"] == "w"
    assert labels["controller-uid"] == "u-1"


def test_job_validation_and_update() -> None:
    s = JobStrategy()
    obj = job(parallelism=-1)
    obj["spec"]["template"]["spec"]["restartPolicy"] = "Always"
    obj["metadata"]["uid"] = "u"
    s.prepare_for_create(obj)
    got = described(s, obj)
    assert ('spec.template.spec.restartPolicy: Unsupported value: "Always": supported values: "OnFailure", '
            '"Never"') in got
    assert "spec.parallelism: Invalid value: -1: must be greater than or equal to 0" in got

    old = job()
    old["metadata"]["uid"] = "u"
    s.prepare_for_create(old)
    new = copy.deepcopy(old)
    new["spec"]["template"]["spec"]["containers"][0]["image"] = "other"
    assert [c.describe() for c in s.validate_update(new, old)] == [
        "spec.template: Invalid value: core.PodTemplateSpec{...}: field is immutable"]  # never a Python repr
    new["spec"]["completions"] = 5
    assert "spec.completions" in [c.field for c in s.validate_update(new, old)]


def test_job_table() -> None:
    s = JobStrategy()
    obj = job(parallelism=3, completions=None)
    obj["metadata"]["uid"] = "u"
    s.prepare_for_create(obj)
    del obj["spec"]["completions"]
    obj["status"] = {"succeeded": 1, "startTime": "2024-01-01T00:00:00Z", "completionTime": "2024-01-01T00:01:30Z",
                     "conditions": [{"type": "Complete", "status": "True"}]}
    assert [c.name for c in s.table_columns()] == [
        "Name", "Status", "Completions", "Duration", "Age", "Containers", "Images", "Selector"]
    row = s.table_row(obj, NOW)
    assert row[:5] == ["w", "Complete", "1/1 of 3", "90s", "10m"]
    assert row[7] == "batch.kubernetes.io/controller-uid=u"
    assert s.field_values(obj)["status.successful"] == "1"
    obj["status"] = {}
    assert s.table_row(obj, NOW)[1:4] == ["Running", "0/1 of 3", ""]
    for conditions, shown in ((["SuccessCriteriaMet"], "SuccessCriteriaMet"),
                              (["SuccessCriteriaMet", "FailureTarget"], "FailureTarget"),
                              (["SuccessCriteriaMet", "Complete"], "Complete")):
        obj["status"] = {"conditions": [{"type": t, "status": "True"} for t in conditions]}
        assert s.table_row(obj, NOW)[1] == shown
