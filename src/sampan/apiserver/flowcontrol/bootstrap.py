"""Upstream's bootstrap configuration of API Priority and Fairness (flowcontrol.apiserver.k8s.io/v1).

The *mandatory* objects (PriorityLevels ``exempt`` and ``catch-all``, FlowSchemas ``exempt`` and
``catch-all``) always exist and their specs are always upstream's. The *suggested* objects (levels
``system``, ``node-high``, ``leader-election``, ``workload-high``, ``workload-low``, ``global-default``
and their eleven FlowSchemas) are created when missing and kept at upstream's spec while they carry
``apf.kubernetes.io/autoupdate-spec: "true"``. Values are those of kube-apiserver 1.29 and later (v1,
``nominalConcurrencyShares`` and ``lendablePercent`` on every level). Every builder returns a fresh dict.
"""

from __future__ import annotations

from typing import Any

GROUP_VERSION = "flowcontrol.apiserver.k8s.io/v1"
AUTO_UPDATE_ANNOTATION = "apf.kubernetes.io/autoupdate-spec"

EXEMPT = "exempt"
CATCH_ALL = "catch-all"

SYSTEM_MASTERS = "system:masters"
AUTHENTICATED = "system:authenticated"
UNAUTHENTICATED = "system:unauthenticated"
NODES = "system:nodes"
SERVICE_ACCOUNTS = "system:serviceaccounts"
KUBE_CONTROLLER_MANAGER = "system:kube-controller-manager"
KUBE_SCHEDULER = "system:kube-scheduler"

_ALL = ["*"]


def _level(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": GROUP_VERSION, "kind": "PriorityLevelConfiguration",
            "metadata": {"name": name, "annotations": {AUTO_UPDATE_ANNOTATION: "true"}}, "spec": spec}


def _queued(shares: int, lendable: int, *, queues: int, hand: int, limit: int = 50) -> dict[str, Any]:
    return {"type": "Limited", "limited": {
        "nominalConcurrencyShares": shares, "lendablePercent": lendable,
        "limitResponse": {"type": "Queue", "queuing": {"queues": queues, "handSize": hand, "queueLengthLimit": limit}},
    }}


def _groups(*names: str) -> list[dict[str, Any]]:
    return [{"kind": "Group", "group": {"name": n}} for n in names]


def _users(*names: str) -> list[dict[str, Any]]:
    return [{"kind": "User", "user": {"name": n}} for n in names]


def _kube_system_sas(*names: str) -> list[dict[str, Any]]:
    return [{"kind": "ServiceAccount", "serviceAccount": {"name": n, "namespace": "kube-system"}} for n in names]


def _resource_rule(verbs: list[str], groups: list[str], resources: list[str], namespaces: list[str],
                   cluster_scope: bool) -> dict[str, Any]:
    rule: dict[str, Any] = {"verbs": verbs, "apiGroups": groups, "resources": resources}
    if cluster_scope:
        rule["clusterScope"] = True
    if namespaces:
        rule["namespaces"] = namespaces
    return rule


_EVERYTHING = [_resource_rule(_ALL, _ALL, _ALL, _ALL, True)]
_ALL_NON_RESOURCE = [{"verbs": _ALL, "nonResourceURLs": _ALL}]
_GET_CREATE_UPDATE = ["get", "create", "update"]


def _schema(name: str, level: str, precedence: int, distinguisher: str, *,
            subjects: list[dict[str, Any]], resource_rules: list[dict[str, Any]] | None = None,
            non_resource_rules: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    rule: dict[str, Any] = {"subjects": subjects}
    if resource_rules:
        rule["resourceRules"] = [dict(r) for r in resource_rules]
    if non_resource_rules:
        rule["nonResourceRules"] = [dict(r) for r in non_resource_rules]
    spec: dict[str, Any] = {"priorityLevelConfiguration": {"name": level}, "matchingPrecedence": precedence,
                            "rules": [rule]}
    if distinguisher:
        spec["distinguisherMethod"] = {"type": distinguisher}
    return {"apiVersion": GROUP_VERSION, "kind": "FlowSchema",
            "metadata": {"name": name, "annotations": {AUTO_UPDATE_ANNOTATION: "true"}}, "spec": spec}


def _everything(name: str, level: str, precedence: int, distinguisher: str,
                subjects: list[dict[str, Any]]) -> dict[str, Any]:
    return _schema(name, level, precedence, distinguisher, subjects=subjects, resource_rules=_EVERYTHING,
                   non_resource_rules=_ALL_NON_RESOURCE)


def mandatory_levels() -> list[dict[str, Any]]:
    return [
        _level(CATCH_ALL, {"type": "Limited", "limited": {"nominalConcurrencyShares": 5, "lendablePercent": 0,
                                                          "limitResponse": {"type": "Reject"}}}),
        _level(EXEMPT, {"type": "Exempt", "exempt": {"nominalConcurrencyShares": 0, "lendablePercent": 0}}),
    ]


def mandatory_schemas() -> list[dict[str, Any]]:
    return [
        _everything(EXEMPT, EXEMPT, 1, "", _groups(SYSTEM_MASTERS)),
        _everything(CATCH_ALL, CATCH_ALL, 10000, "ByUser", _groups(UNAUTHENTICATED, AUTHENTICATED)),
    ]


def suggested_levels() -> list[dict[str, Any]]:
    return [
        _level("system", _queued(30, 33, queues=64, hand=6)),
        _level("node-high", _queued(40, 25, queues=64, hand=6)),
        _level("leader-election", _queued(10, 0, queues=16, hand=4)),
        _level("workload-high", _queued(40, 50, queues=128, hand=6)),
        _level("workload-low", _queued(100, 90, queues=128, hand=6)),
        _level("global-default", _queued(20, 50, queues=128, hand=6)),
    ]


def suggested_schemas() -> list[dict[str, Any]]:
    leases = _resource_rule(_GET_CREATE_UPDATE, ["coordination.k8s.io"], ["leases"], _ALL, False)
    return [
        _schema("probes", EXEMPT, 2, "", subjects=_groups(UNAUTHENTICATED, AUTHENTICATED),
                non_resource_rules=[{"verbs": ["get"], "nonResourceURLs": ["/healthz", "/readyz", "/livez"]}]),
        _schema("system-leader-election", "leader-election", 100, "ByUser",
                subjects=_users(KUBE_CONTROLLER_MANAGER, KUBE_SCHEDULER) + _kube_system_sas("*"),
                resource_rules=[leases]),
        _schema("endpoint-controller", "workload-high", 150, "ByUser",
                subjects=_users(KUBE_CONTROLLER_MANAGER)
                + _kube_system_sas("endpoint-controller", "endpointslicemirroring-controller"),
                resource_rules=[_resource_rule(_GET_CREATE_UPDATE, [""], ["endpoints"], _ALL, False)]),
        _schema("workload-leader-election", "leader-election", 200, "ByUser", subjects=_kube_system_sas("*"),
                resource_rules=[_resource_rule(_GET_CREATE_UPDATE, [""], ["endpoints", "configmaps"], _ALL, False),
                                leases]),
        _schema("system-node-high", "node-high", 400, "ByUser", subjects=_groups(NODES),
                resource_rules=[_resource_rule(_ALL, [""], ["nodes", "nodes/status"], _ALL, True),
                                _resource_rule(_ALL, ["coordination.k8s.io"], ["leases"], _ALL, False)]),
        _everything("system-nodes", "system", 500, "ByUser", _groups(NODES)),
        _everything("kube-controller-manager", "workload-high", 800, "ByNamespace", _users(KUBE_CONTROLLER_MANAGER)),
        _everything("kube-scheduler", "workload-high", 800, "ByNamespace", _users(KUBE_SCHEDULER)),
        _everything("kube-system-service-accounts", "workload-high", 900, "ByNamespace", _kube_system_sas("*")),
        _everything("service-accounts", "workload-low", 9000, "ByUser", _groups(SERVICE_ACCOUNTS)),
        _everything("global-default", "global-default", 9900, "ByUser", _groups(UNAUTHENTICATED, AUTHENTICATED)),
    ]


MANDATORY_LEVEL_NAMES = frozenset(o["metadata"]["name"] for o in mandatory_levels())
MANDATORY_SCHEMA_NAMES = frozenset(o["metadata"]["name"] for o in mandatory_schemas())
