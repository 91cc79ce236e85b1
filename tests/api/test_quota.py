"""sampan.api.quota: what objects cost a quota, which quotas they fall under, and resource-list math."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from sampan.api.quantity import Quantity
from sampan.api.quota import resourcelist as rl
from sampan.api.quota.evaluators import (
    PodEvaluator,
    count_name,
    evaluator_for,
    parse_count_name,
    resources_measured,
)
from sampan.api.quota.scopes import matches

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


def pod(**spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "p", "namespace": "ns"},
            "spec": {"containers": [{"name": "c", "image": "x"}], **spec}}


def container(name: str, requests: dict[str, str] | None = None, limits: dict[str, str] | None = None,
              **extra: Any) -> dict[str, Any]:
    return {"name": name, "image": "x", "resources": {"requests": requests or {}, "limits": limits or {}}, **extra}


def wire(values: dict[str, Quantity]) -> dict[str, str]:
    return rl.to_wire(values)


def test_count_names() -> None:
    assert count_name("apps", "deployments") == "count/deployments.apps"
    assert count_name("", "pods") == "count/pods"
    assert parse_count_name("count/deployments.apps") == ("apps", "deployments")
    assert parse_count_name("count/widgets.example.com") == ("example.com", "widgets")
    assert parse_count_name("count/") is None
    assert parse_count_name("pods") is None


def test_pod_usage_counts_effective_requests_and_limits() -> None:
    p = pod(containers=[container("a", {"cpu": "100m", "memory": "64Mi"}, {"cpu": "200m"}),
                        container("b", {"cpu": "300m", "hugepages-2Mi": "4Mi", "example.com/gpu": "1"})],
            initContainers=[container("init", {"cpu": "1"})])
    usage = wire(PodEvaluator().usage(p, now=NOW))
    assert usage == {
        "count/pods": "1", "pods": "1", "cpu": "1", "requests.cpu": "1", "limits.cpu": "200m",
        "memory": "64Mi", "requests.memory": "64Mi", "hugepages-2Mi": "4Mi", "requests.hugepages-2Mi": "4Mi",
        "requests.example.com/gpu": "1"}


@pytest.mark.parametrize(("status", "metadata", "compute"), [
    ({"phase": "Succeeded"}, {}, False),
    ({"phase": "Failed"}, {}, False),
    ({"phase": "Running"}, {"deletionTimestamp": "2026-01-01T11:00:00Z", "deletionGracePeriodSeconds": 30}, False),
    ({"phase": "Running"}, {"deletionTimestamp": "2026-01-01T11:59:50Z", "deletionGracePeriodSeconds": 30}, True),
    ({"phase": "Running"}, {}, True),
])
def test_finished_pods_cost_only_their_count(status: dict[str, Any], metadata: dict[str, Any], compute: bool) -> None:
    p = pod(containers=[container("a", {"cpu": "1"})])
    p["status"] = status
    p["metadata"].update(metadata)
    usage = PodEvaluator().usage(p, now=NOW)
    assert ("pods" in usage) is compute
    assert usage["count/pods"] == Quantity(1)


def test_must_specify_lists_each_resource_and_container() -> None:
    p = pod(containers=[container("a", {"cpu": "1"}), container("b")],
            initContainers=[container("i", {"cpu": "1", "memory": "1Mi"})])
    message = PodEvaluator().constraints(["requests.cpu", "limits.memory", "pods", "requests.storage"], p)
    assert message == "must specify limits.memory for: a,b,i; requests.cpu for: b"
    assert PodEvaluator().constraints(["pods", "count/pods"], p) is None


def test_services_and_claims() -> None:
    svc = {"spec": {"type": "LoadBalancer", "ports": [{"port": 1}, {"port": 2}]}}
    assert wire(evaluator_for("", "services").usage(svc, now=NOW)) == {
        "services": "1", "count/services": "1", "services.nodeports": "2", "services.loadbalancers": "1"}
    svc["spec"]["allocateLoadBalancerNodePorts"] = False
    assert "services.nodeports" not in evaluator_for("", "services").usage(svc, now=NOW)
    pvc = {"metadata": {}, "spec": {"storageClassName": "gold", "resources": {"requests": {"storage": "5Gi"}}}}
    assert wire(evaluator_for("", "persistentvolumeclaims").usage(pvc, now=NOW)) == {
        "persistentvolumeclaims": "1", "count/persistentvolumeclaims": "1", "requests.storage": "5Gi",
        "gold.storageclass.storage.k8s.io/requests.storage": "5Gi",
        "gold.storageclass.storage.k8s.io/persistentvolumeclaims": "1"}
    assert evaluator_for("", "persistentvolumeclaims").tracks("gold.storageclass.storage.k8s.io/requests.storage")


def test_handles_follow_upstream_operations() -> None:
    assert evaluator_for("", "pods").handles("CREATE")
    assert not evaluator_for("", "pods").handles("UPDATE")
    assert evaluator_for("", "services").handles("UPDATE")
    assert not evaluator_for("apps", "deployments").handles("UPDATE")


def test_resources_measured() -> None:
    assert resources_measured(["pods", "count/deployments.apps", "configmaps", "services.nodeports"]) == [
        ("", "configmaps"), ("", "pods"), ("", "services"), ("apps", "deployments")]


def quota(hard: dict[str, str], **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "q"}, "spec": {"hard": hard, **spec}, "status": {"hard": hard}}


def test_scopes() -> None:
    pods = evaluator_for("", "pods")
    best_effort, burstable = pod(), pod(containers=[container("a", {"cpu": "1"})])
    assert matches(quota({"pods": "1"}, scopes=["BestEffort"]), pods, best_effort)
    assert not matches(quota({"pods": "1"}, scopes=["BestEffort"]), pods, burstable)
    assert matches(quota({"pods": "1"}, scopes=["NotBestEffort", "NotTerminating"]), pods, burstable)
    terminating = pod(activeDeadlineSeconds=10)
    assert matches(quota({"pods": "1"}, scopes=["Terminating"]), pods, terminating)
    assert not matches(quota({"pods": "1"}, scopes=["NotTerminating"]), pods, terminating)

    def prio(op: str, *values: str) -> dict[str, Any]:
        expr = {"scopeName": "PriorityClass", "operator": op, "values": list(values)}
        return quota({"pods": "9"}, scopeSelector={"matchExpressions": [expr]})

    high, none = pod(priorityClassName="high"), pod()
    assert matches(prio("In", "high"), pods, high)
    assert not matches(prio("In", "high"), pods, none)
    assert matches(prio("NotIn", "high"), pods, none)
    assert matches(prio("Exists"), pods, high)
    assert not matches(prio("Exists"), pods, none)
    assert not matches(prio("DoesNotExist"), pods, none)  # the label always exists, as upstream
    cross = pod(affinity={"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"topologyKey": "k", "namespaces": ["other"]}]}})
    assert matches(quota({"pods": "9"}, scopes=["CrossNamespacePodAffinity"]), pods, cross)
    assert not matches(quota({"pods": "9"}, scopes=["CrossNamespacePodAffinity"]), pods, none)
    # scopes only ever match pods; unscoped quotas match any resource they name
    assert not matches(quota({"count/configmaps": "9"}, scopes=["BestEffort"]), evaluator_for("", "configmaps"), {})
    assert matches(quota({"count/configmaps": "9"}), evaluator_for("", "configmaps"), {})
    # admission uses status.hard: a quota the controller has not seen yet matches nothing
    unseen = quota({"pods": "1"})
    del unseen["status"]
    assert not matches(unseen, pods, best_effort)


def test_resource_list_math() -> None:
    a = rl.parse({"pods": "0", "cpu": "500m", "bad": "x"})
    assert wire(a) == {"cpu": "500m", "pods": "0"}
    assert wire(rl.add(a, rl.parse({"pods": "1", "memory": "1Gi"}))) == {"cpu": "500m", "memory": "1Gi", "pods": "1"}
    assert wire(rl.add(rl.parse({"memory": "0"}), rl.parse({"memory": "512Mi"}))) == {"memory": "512Mi"}
    assert wire(rl.subtract_non_negative(rl.parse({"cpu": "1"}), rl.parse({"cpu": "2", "pods": "1"}))) == {
        "cpu": "0", "pods": "0"}
    assert rl.exceeded(rl.parse({"cpu": "2", "pods": "1", "x": "5"}), rl.parse({"cpu": "1", "pods": "1"})) == ["cpu"]
    assert rl.pretty(rl.parse({"requests.cpu": "500m", "pods": "1"})) == "pods=1,requests.cpu=500m"
    assert rl.negative(rl.parse({"cpu": "-1", "pods": "1"})) == ["cpu"]
