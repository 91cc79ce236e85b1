"""Strategies of resourcequotas, roles/clusterroles, (cluster)rolebindings, poddisruptionbudgets, cronjobs,
horizontalpodautoscalers and selfsubjectaccessreviews: defaults, upstream causes, tables; and the cron
schedule parser."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from sampan.api import cronschedule, protobuf
from sampan.apiserver.registry.cronjobs import CronJobStrategy
from sampan.apiserver.registry.horizontalpodautoscalers import HorizontalPodAutoscalerStrategy, format_targets
from sampan.apiserver.registry.poddisruptionbudgets import PodDisruptionBudgetStrategy
from sampan.apiserver.registry.resourcequotas import ResourceQuotaStrategy
from sampan.apiserver.registry.rolebindings import ClusterRoleBindingStrategy, RoleBindingStrategy
from sampan.apiserver.registry.roles import ClusterRoleStrategy, RoleStrategy
from sampan.apiserver.registry.selfsubjectaccessreviews import SelfSubjectAccessReviewStrategy

NOW = 1_700_000_000.0
MD = {"name": "x", "namespace": "ns", "creationTimestamp": "2023-11-14T22:00:00Z"}


def messages(causes: list[Any]) -> list[str]:
    return [f"{c.field}: {c.message}" for c in causes]


# ---- resource quotas -------------------------------------------------------------------------------

def test_quota_validation() -> None:
    s = ResourceQuotaStrategy()
    good = {"metadata": MD, "spec": {"hard": {"pods": "2", "requests.cpu": "500m", "count/deployments.apps": "3"},
                                     "scopes": ["NotBestEffort"]}}
    assert s.validate(good) == []
    bad = {"metadata": MD, "spec": {"hard": {"widgets": "1", "pods": "1.5", "memory": "-1", "cpu": "lots"},
                                    "scopes": ["Terminating", "NotTerminating", "Sometimes"]}}
    assert messages(s.validate(bad)) == [
        'spec.hard[widgets]: Invalid value: "widgets": must be a standard resource for quota',
        'spec.hard[pods]: Invalid value: "1.5": must be an integer',
        'spec.hard[memory]: Invalid value: "-1": must be greater than or equal to 0',
        'spec.hard[cpu]: Invalid value: "lots": must match the regex ^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$',
        'spec.scopes[2]: Unsupported value: "Sometimes": supported values: "BestEffort", '
        '"CrossNamespacePodAffinity", "NotBestEffort", "NotTerminating", "PriorityClass", "Terminating"',
        'spec.scopes: Invalid value: "NotTerminating, Sometimes, Terminating": conflicting scopes',
    ]


def test_quota_status_and_table() -> None:
    s = ResourceQuotaStrategy()
    obj: dict[str, Any] = {"metadata": dict(MD), "spec": {"hard": {"pods": "2"}}, "status": {"used": {"pods": "9"}}}
    s.prepare_for_create(obj)
    assert obj["status"] == {}
    obj["status"] = {"hard": {"pods": "2", "limits.cpu": "1"}, "used": {"pods": "1"}}
    assert s.table_row(obj, NOW) == ["x", "13m", "pods: 1/2", "limits.cpu: 0/1"]
    assert [c.name for c in s.table_columns()] == ["Name", "Age", "Request", "Limit"]


# ---- RBAC ------------------------------------------------------------------------------------------

def test_role_rules_validation() -> None:
    rules = [{"verbs": [], "apiGroups": [""], "resources": ["pods"]},
             {"verbs": ["get"], "nonResourceURLs": ["/healthz"]},
             {"verbs": ["get"], "resources": ["pods"]}]
    assert messages(RoleStrategy().validate({"metadata": MD, "rules": rules})) == [
        "rules[0].verbs: Required value: verbs must contain at least one value",
        'rules[1].nonResourceURLs: Invalid value: []string{"/healthz"}: namespaced rules cannot apply to '
        "non-resource URLs",
        "rules[2].apiGroups: Required value: resource rules must supply at least one api group",
    ]
    cluster = {"metadata": {"name": "a:b"}, "rules": rules[1:2]}
    assert ClusterRoleStrategy().validate(cluster) == []
    mixed = {"metadata": {"name": "c"}, "rules": [{"verbs": ["get"], "nonResourceURLs": ["/x"], "resources": ["p"]}]}
    assert "cannot apply to both regular resources and non-resource URLs" in messages(
        ClusterRoleStrategy().validate(mixed))[0]
    assert messages(ClusterRoleStrategy().validate({"metadata": {"name": "a/b"}})) == [
        'metadata.name: Invalid value: "a/b": may not contain \'/\'']


def test_role_table_prints_created_at() -> None:
    row = RoleStrategy().table_row({"metadata": MD}, NOW)
    assert row == ["x", "2023-11-14T22:00:00Z"]


def test_rolebinding_defaults_validation_and_table() -> None:
    s = RoleBindingStrategy()
    obj: dict[str, Any] = {"metadata": dict(MD), "roleRef": {"kind": "Role", "name": "r"},
                           "subjects": [{"kind": "User", "name": "alice"},
                                        {"kind": "ServiceAccount", "name": "sa", "namespace": "ns"},
                                        {"kind": "Group", "name": "devs"}]}
    s.prepare_for_create(obj)
    assert obj["roleRef"]["apiGroup"] == "rbac.authorization.k8s.io"
    assert obj["subjects"][0]["apiGroup"] == "rbac.authorization.k8s.io"
    assert "apiGroup" not in obj["subjects"][1]
    assert s.validate(obj) == []
    assert s.table_row(obj, NOW) == ["x", "Role/r", "13m", "alice", "devs", "ns/sa"]
    changed = copy.deepcopy(obj)
    changed["roleRef"]["name"] = "other"
    assert [c.field for c in s.validate_update(changed, obj)] == ["roleRef"]
    bad = {"metadata": MD, "roleRef": {"apiGroup": "x", "kind": "Thing"},
           "subjects": [{"kind": "Robot", "name": "r"}, {"kind": "ServiceAccount", "name": "sa", "apiGroup": "y"}]}
    assert messages(s.validate(bad)) == [
        'roleRef.apiGroup: Unsupported value: "x": supported values: "rbac.authorization.k8s.io"',
        'roleRef.kind: Unsupported value: "Thing": supported values: "Role", "ClusterRole"',
        "roleRef.name: Required value",
        'subjects[0].kind: Unsupported value: "Robot": supported values: "ServiceAccount", "User", "Group"',
        'subjects[1].apiGroup: Unsupported value: "y": supported values: ""',
    ]


def test_clusterrolebinding_needs_clusterrole_and_sa_namespace() -> None:
    obj = {"metadata": {"name": "b"}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                                  "name": "r"},
           "subjects": [{"kind": "ServiceAccount", "name": "sa"}]}
    assert messages(ClusterRoleBindingStrategy().validate(obj)) == [
        'roleRef.kind: Unsupported value: "Role": supported values: "ClusterRole"',
        "subjects[0].namespace: Required value",
    ]


# ---- pod disruption budgets ------------------------------------------------------------------------

@pytest.mark.parametrize(("spec", "expected"), [
    ({"minAvailable": 1, "selector": {"matchLabels": {"a": "b"}}}, []),
    ({"maxUnavailable": "25%"}, []),
    ({"minAvailable": 1, "maxUnavailable": 1}, ['spec: Invalid value: "": minAvailable and maxUnavailable '
                                                "cannot be both set"]),
    ({"minAvailable": -1}, ["spec.minAvailable: Invalid value: -1: must be greater than or equal to 0"]),
    ({"maxUnavailable": "101%"}, ['spec.maxUnavailable: Invalid value: "101%": must not be greater than 100%']),
    ({"unhealthyPodEvictionPolicy": "Sometimes"}, ['spec.unhealthyPodEvictionPolicy: Unsupported value: '
                                                   '"Sometimes": supported values: "AlwaysAllow", "IfHealthyBudget"']),
])
def test_pdb_validation(spec: dict[str, Any], expected: list[str]) -> None:
    assert messages(PodDisruptionBudgetStrategy().validate({"metadata": MD, "spec": spec})) == expected


def test_pdb_status_and_table() -> None:
    s = PodDisruptionBudgetStrategy()
    obj: dict[str, Any] = {"metadata": dict(MD), "spec": {"maxUnavailable": "50%"}, "status": {"expectedPods": 9}}
    s.prepare_for_create(obj)
    assert obj["status"] == {"disruptionsAllowed": 0, "currentHealthy": 0, "desiredHealthy": 0, "expectedPods": 0}
    assert s.table_row(obj, NOW) == ["x", "N/A", "50%", 0, "13m"]


# ---- cron jobs -------------------------------------------------------------------------------------

def cronjob(**spec: Any) -> dict[str, Any]:
    base = {"schedule": "0 * * * *", "concurrencyPolicy": "Allow", "jobTemplate": {"spec": {"template": {"spec": {
        "restartPolicy": "OnFailure", "containers": [{"name": "c", "image": "busybox"}]}}}}}
    base.update(spec)
    return {"metadata": dict(MD), "spec": base}


def test_cronjob_defaults_and_valid() -> None:
    s = CronJobStrategy()
    obj = cronjob()
    s.prepare_for_create(obj)
    spec = obj["spec"]
    assert (spec["concurrencyPolicy"], spec["suspend"], spec["successfulJobsHistoryLimit"],
            spec["failedJobsHistoryLimit"]) == ("Allow", False, 3, 1)
    pod = spec["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["dnsPolicy"] == "ClusterFirst"
    assert pod["containers"][0]["imagePullPolicy"] == "Always"
    assert obj["status"] == {}
    assert s.validate(obj) == []
    assert s.table_row(obj, NOW) == ["x", "0 * * * *", "<none>", "False", 0, "<none>", "13m", "c", "busybox",
                                     "<none>"]


def test_cronjob_causes() -> None:
    s = CronJobStrategy()

    def validate(obj: dict[str, Any]) -> list[Any]:
        s.prepare_for_create(obj)
        return s.validate(obj)

    assert messages(validate(cronjob(schedule="* * *"))) == [
        'spec.schedule: Invalid value: "* * *": expected exactly 5 fields, found 3: [* * *]']
    assert messages(validate(cronjob(schedule="CRON_TZ=UTC 0 * * * *"))) == [
        'spec.schedule: Invalid value: "CRON_TZ=UTC 0 * * * *": cannot use TZ or CRON_TZ in schedule, use '
        "timeZone field instead"]
    assert messages(validate(cronjob(timeZone="Mars/Olympus"))) == [
        'spec.timeZone: Invalid value: "Mars/Olympus": unknown time zone Mars/Olympus']
    assert validate(cronjob(timeZone="Europe/Paris", concurrencyPolicy="Forbid")) == []
    bad = cronjob(schedule="", concurrencyPolicy="Sometimes", startingDeadlineSeconds=-1)
    bad["spec"]["jobTemplate"]["spec"]["template"]["spec"]["restartPolicy"] = "Always"
    assert messages(validate(bad)) == [
        "spec.schedule: Required value",
        'spec.concurrencyPolicy: Unsupported value: "Sometimes": supported values: "Allow", "Forbid", "Replace"',
        "spec.startingDeadlineSeconds: Invalid value: -1: must be greater than or equal to 0",
        'spec.jobTemplate.spec.template.spec.restartPolicy: Unsupported value: "Always": supported values: '
        '"OnFailure", "Never"',
    ]


@pytest.mark.parametrize(("spec", "minutes", "dow"), [
    ("*/15 * * * *", {0, 15, 30, 45}, set(range(7))),
    ("5,10-12 * * * MON-WED", {5, 10, 11, 12}, {1, 2, 3}),
    ("30/10 * * * ?", {30, 40, 50}, set(range(7))),
    ("@weekly", {0}, {0}),
])
def test_cron_parse(spec: str, minutes: set[int], dow: set[int]) -> None:
    sched = cronschedule.parse(spec)
    assert sched.minutes == minutes
    assert sched.days_of_week == dow


@pytest.mark.parametrize(("spec", "error"), [
    ("", "empty spec string"),
    ("* * * * 7", "end of range (7) above maximum (6): 7"),
    ("* * 0 * *", "beginning of range (0) below minimum (1): 0"),
    ("5-1 * * * *", "beginning of range (5) beyond end of range (1): 5-1"),
    ("*/0 * * * *", "step of range should be a positive number: */0"),
    ("1/2/3 * * * *", "too many slashes: 1/2/3"),
    ("x * * * *", 'failed to parse int from x: strconv.Atoi: parsing "x": invalid syntax'),
    ("@fortnightly", "unrecognized descriptor: @fortnightly"),
])
def test_cron_errors(spec: str, error: str) -> None:
    with pytest.raises(ValueError, match=None) as info:
        cronschedule.parse(spec)
    assert str(info.value) == error


def test_cron_every() -> None:
    assert cronschedule.parse("@every 1h30m").every == "1h30m"
    with pytest.raises(ValueError, match="failed to parse duration"):
        cronschedule.parse("@every soon")


# ---- horizontal pod autoscalers --------------------------------------------------------------------

def test_hpa_defaults() -> None:
    s = HorizontalPodAutoscalerStrategy()
    obj: dict[str, Any] = {"metadata": dict(MD), "spec": {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}, "maxReplicas": 3,
        "behavior": {"scaleUp": {"stabilizationWindowSeconds": 60}}}}
    s.prepare_for_create(obj)
    spec = obj["spec"]
    assert spec["minReplicas"] == 1
    assert spec["metrics"] == [{"type": "Resource", "resource": {
        "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}]
    assert spec["behavior"]["scaleUp"]["stabilizationWindowSeconds"] == 60
    assert spec["behavior"]["scaleUp"]["selectPolicy"] == "Max"
    assert spec["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 300
    assert obj["status"] == {"desiredReplicas": 0}
    assert s.validate(obj) == []
    assert s.table_row(obj, NOW) == ["x", "Deployment/web", "cpu: <unknown>/80%", "1", 3, 0, "13m"]


def test_hpa_causes() -> None:
    obj = {"metadata": MD, "spec": {"scaleTargetRef": {"kind": "Deployment"}, "minReplicas": 0, "maxReplicas": 0,
                                    "metrics": [{"type": "Resource", "resource": {
                                        "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 0}}},
                                        {"type": "Magic"}]}}
    assert messages(HorizontalPodAutoscalerStrategy().validate(obj)) == [
        "spec.scaleTargetRef.name: Required value",
        "spec.minReplicas: Invalid value: 0: must be greater than or equal to 1",
        "spec.maxReplicas: Invalid value: 0: must be greater than 0",
        "spec.metrics[0].resource.target.averageUtilization: Invalid value: 0: must be greater than 0",
        'spec.metrics[1].type: Unsupported value: "Magic": supported values: "ContainerResource", "External", '
        '"Object", "Pods", "Resource"',
    ]
    low = {"metadata": MD, "spec": {"scaleTargetRef": {"kind": "D", "name": "n"}, "minReplicas": 5, "maxReplicas": 2}}
    assert messages(HorizontalPodAutoscalerStrategy().validate(low)) == [
        "spec.maxReplicas: Invalid value: 2: must be greater than or equal to `minReplicas`"]


def test_hpa_targets_cell() -> None:
    assert format_targets(None) == "<none>"
    metrics = [{"type": "Pods", "pods": {"target": {"type": "AverageValue", "averageValue": "1k"}}}] * 5
    assert format_targets(metrics) == ", ".join(["<unknown>/1k"] * 4) + " + 1 more..."


def test_hpa_targets_cell_pairs_each_metric_with_its_current_value() -> None:
    metrics = [
        {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}},
        {"type": "Resource", "resource": {"name": "memory", "target": {"type": "AverageValue", "averageValue": "1Gi"}}},
        {"type": "Object", "object": {"target": {"type": "AverageValue", "averageValue": "10"}}},
        {"type": "External", "external": {"target": {"type": "Value", "value": "3"}}},
    ]
    current = [
        {"type": "Resource",
         "resource": {"name": "cpu", "current": {"averageUtilization": 120, "averageValue": "120m"}}},
        {"type": "Resource", "resource": {"name": "memory", "current": {"averageValue": "600Mi"}}},
        {"type": "Object", "object": {"current": {"averageValue": "7"}}},
    ]
    assert format_targets(metrics, current) == "cpu: 120%/50%, memory: 600Mi/1Gi, 7/10 (avg), <unknown>/3"
    # a status of another type at that index is not this metric's
    assert format_targets(metrics[:1], [current[2]]) == "cpu: <unknown>/50%"


# ---- self subject access reviews -------------------------------------------------------------------

def test_ssar_validation() -> None:
    s = SelfSubjectAccessReviewStrategy()
    assert s.info.verbs == ("create",)
    ok = {"metadata": {"creationTimestamp": None}, "spec": {"resourceAttributes": {"verb": "get"}}}
    assert s.validate(ok) == []
    assert messages(s.validate({"spec": {}})) == [
        "spec.resourceAttributes: Required value: exactly one of nonResourceAttributes or resourceAttributes "
        "must be specified"]
    both = {"metadata": {"name": "x"}, "spec": {"resourceAttributes": {"verb": "get"},
                                                "nonResourceAttributes": {"path": "/"}}}
    assert [c.field for c in s.validate(both)] == ["metadata", "spec.nonResourceAttributes"]


# ---- protobuf: every kind these strategies serve survives JSON -> protobuf -> JSON ----------------

def _served_objects() -> list[tuple[Any, dict[str, Any]]]:
    rbac = "rbac.authorization.k8s.io/v1"
    ref = {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"}
    subjects = [{"kind": "User", "name": "alice"}, {"kind": "ServiceAccount", "name": "sa", "namespace": "ns"}]
    rules = [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"], "resourceNames": ["a"]}]
    cj = cronjob(timeZone="Europe/Paris", startingDeadlineSeconds=30, suspend=True)
    cj["spec"]["jobTemplate"]["metadata"] = {"labels": {"a": "b"}}
    cj["spec"]["jobTemplate"]["spec"]["backoffLimit"] = 2
    return [
        (ResourceQuotaStrategy(), {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": dict(MD),
                                   "spec": {"hard": {"pods": "2", "limits.memory": "1Gi"}, "scopes": ["BestEffort"]}}),
        (RoleStrategy(), {"apiVersion": rbac, "kind": "Role", "metadata": dict(MD), "rules": rules}),
        (ClusterRoleStrategy(), {"apiVersion": rbac, "kind": "ClusterRole", "metadata": {"name": "c"},
                                 "rules": [{"nonResourceURLs": ["/healthz"], "verbs": ["get"]}],
                                 "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"x": "y"}}]}}),
        (RoleBindingStrategy(), {"apiVersion": rbac, "kind": "RoleBinding", "metadata": dict(MD), "roleRef": ref,
                                 "subjects": subjects}),
        (ClusterRoleBindingStrategy(), {"apiVersion": rbac, "kind": "ClusterRoleBinding", "metadata": {"name": "b"},
                                        "roleRef": ref, "subjects": subjects}),
        (PodDisruptionBudgetStrategy(), {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
                                         "metadata": dict(MD), "spec": {"minAvailable": "50%", "selector": {
                                             "matchLabels": {"app": "x"}}}}),
        (CronJobStrategy(), {"apiVersion": "batch/v1", "kind": "CronJob", **cj}),
        (HorizontalPodAutoscalerStrategy(), {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
                                             "metadata": dict(MD), "spec": {
                                                 "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                                                                    "name": "web"},
                                                 "maxReplicas": 4, "behavior": {"scaleDown": {
                                                     "policies": [{"type": "Pods", "value": 1,
                                                                   "periodSeconds": 60}]}}}}),
    ]


@pytest.mark.parametrize(("strategy", "obj"), _served_objects(), ids=[o["kind"] for _, o in _served_objects()])
def test_served_objects_round_trip_protobuf(strategy: Any, obj: dict[str, Any]) -> None:
    obj = copy.deepcopy(obj)
    obj["metadata"]["uid"] = "0b4a1c9e-7d8f-4e0a-9c3b-5a6d7e8f9a0b"
    strategy.prepare_for_create(obj)
    assert strategy.validate(obj) == []
    encoded = protobuf.encode(obj)
    decoded = protobuf.decode(encoded)
    assert protobuf.encode(decoded) == encoded
    for key in obj:
        if key not in ("metadata", "status"):
            assert _subset(obj[key], decoded[key]), key
    assert strategy.table_row(decoded, NOW)[0] == obj["metadata"]["name"]


def _subset(small: Any, big: Any) -> bool:
    """Every value of ``small`` is in ``big`` (which may carry Go's zero values besides)."""
    if isinstance(small, dict):
        return isinstance(big, dict) and all(_subset(v, big.get(k)) for k, v in small.items())
    if isinstance(small, list):
        return isinstance(big, list) and len(small) == len(big) and all(map(_subset, small, big))
    return bool(small == big)
