"""Which FlowSchema (and flow) upstream's bootstrap configuration gives each kind of request."""

from __future__ import annotations

import pytest

from sampan.apiserver.flowcontrol import bootstrap
from sampan.apiserver.flowcontrol.classify import Digest, classify, compile_schema, sort_schemas
from sampan.apiserver.metrics import request_info
from sampan.apiserver.userinfo import ANONYMOUS, UserInfo

AUTH = "system:authenticated"
ADMIN = UserInfo("admin", groups=("system:masters", AUTH))
NODE = UserInfo("system:node:n1", groups=("system:nodes", AUTH))
SCHEDULER = UserInfo("system:kube-scheduler", groups=(AUTH,))
KCM = UserInfo("system:kube-controller-manager", groups=(AUTH,))
ALICE = UserInfo("alice", groups=(AUTH,))
KS_SA = UserInfo("system:serviceaccount:kube-system:replicaset-controller",
                 groups=("system:serviceaccounts", "system:serviceaccounts:kube-system", AUTH))
EP_SA = UserInfo("system:serviceaccount:kube-system:endpoint-controller",
                 groups=("system:serviceaccounts", "system:serviceaccounts:kube-system", AUTH))
APP_SA = UserInfo("system:serviceaccount:shop:web", groups=("system:serviceaccounts", "system:serviceaccounts:shop",
                                                             AUTH))

SCHEMAS = sort_schemas(compile_schema(o) for o in bootstrap.mandatory_schemas() + bootstrap.suggested_schemas())

CASES = [
    # (user, method, path, expected schema, expected flow distinguisher)
    (ADMIN, "GET", "/api/v1/pods", "exempt", ""),
    (ADMIN, "GET", "/metrics", "exempt", ""),
    (ANONYMOUS, "GET", "/healthz", "probes", ""),
    (ALICE, "GET", "/readyz", "probes", ""),
    (ALICE, "GET", "/livez", "probes", ""),
    (ALICE, "POST", "/livez", "global-default", "alice"),
    (NODE, "PUT", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/n1", "system-node-high",
     "system:node:n1"),
    (NODE, "PATCH", "/api/v1/nodes/n1/status", "system-node-high", "system:node:n1"),
    (NODE, "GET", "/api/v1/nodes/n1", "system-node-high", "system:node:n1"),
    (NODE, "GET", "/api/v1/namespaces/default/pods", "system-nodes", "system:node:n1"),
    (NODE, "GET", "/version", "system-nodes", "system:node:n1"),
    (SCHEDULER, "PUT", "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/kube-scheduler",
     "system-leader-election", "system:kube-scheduler"),
    (SCHEDULER, "POST", "/api/v1/namespaces/shop/pods/web-1/binding", "kube-scheduler", "shop"),
    (SCHEDULER, "LIST", "/api/v1/pods", "kube-scheduler", ""),
    (KCM, "PUT", "/api/v1/namespaces/shop/endpoints/web", "endpoint-controller", "system:kube-controller-manager"),
    (KCM, "DELETE", "/api/v1/namespaces/shop/endpoints/web", "kube-controller-manager", "shop"),
    (KCM, "GET", "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/kcm", "system-leader-election",
     "system:kube-controller-manager"),
    (EP_SA, "PUT", "/api/v1/namespaces/shop/endpoints/web", "endpoint-controller",
     "system:serviceaccount:kube-system:endpoint-controller"),
    (KS_SA, "PUT", "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/x", "system-leader-election",
     "system:serviceaccount:kube-system:replicaset-controller"),
    (KS_SA, "PUT", "/api/v1/namespaces/kube-system/configmaps/lock", "workload-leader-election",
     "system:serviceaccount:kube-system:replicaset-controller"),
    (KS_SA, "GET", "/apis/apps/v1/namespaces/shop/replicasets", "kube-system-service-accounts", "shop"),
    (APP_SA, "GET", "/api/v1/namespaces/shop/configmaps", "service-accounts", "system:serviceaccount:shop:web"),
    (ALICE, "GET", "/api/v1/namespaces/shop/pods", "global-default", "alice"),
    (ALICE, "DELETE", "/api/v1/namespaces/shop", "global-default", "alice"),
    (ANONYMOUS, "GET", "/api/v1/pods", "global-default", "system:anonymous"),
]


@pytest.mark.parametrize(("user", "method", "path", "schema", "flow"), CASES,
                         ids=[f"{c[0].username}-{c[1]}-{c[2]}" for c in CASES])
def test_bootstrap_classification(user: UserInfo, method: str, path: str, schema: str, flow: str) -> None:
    method = "GET" if method == "LIST" else method
    d = Digest(user, request_info(method, path, {}), path)
    found = classify(SCHEMAS, d)
    assert found is not None
    assert (found.name, found.flow(d)) == (schema, flow)


def test_catch_all_only_without_global_default() -> None:
    without = [s for s in SCHEMAS if s.name != "global-default"]
    d = Digest(ALICE, request_info("GET", "/api/v1/pods", {}), "/api/v1/pods")
    found = classify(without, d)
    assert found is not None
    assert found.name == "catch-all"
    nobody = UserInfo("ghost")  # in no group at all: no schema matches
    assert classify(SCHEMAS, Digest(nobody, request_info("GET", "/api/v1/pods", {}), "/api/v1/pods")) is None


def test_custom_rules_namespaces_cluster_scope_and_url_prefixes() -> None:
    custom = compile_schema({
        "metadata": {"name": "custom", "uid": "u"},
        "spec": {"priorityLevelConfiguration": {"name": "tiny"}, "matchingPrecedence": 10,
                 "distinguisherMethod": {"type": "ByNamespace"},
                 "rules": [{"subjects": [{"kind": "Group", "group": {"name": "devs"}}],
                            "resourceRules": [{"verbs": ["list"], "apiGroups": ["apps"], "resources": ["deployments"],
                                               "namespaces": ["team-a"]}],
                            "nonResourceRules": [{"verbs": ["get"], "nonResourceURLs": ["/debug/*"]}]}]}})
    dev = UserInfo("bob", groups=("devs",))

    def match(user: UserInfo, method: str, path: str) -> bool:
        return custom.match(Digest(user, request_info(method, path, {}), path))

    assert match(dev, "GET", "/apis/apps/v1/namespaces/team-a/deployments")
    assert not match(dev, "GET", "/apis/apps/v1/namespaces/team-b/deployments")
    assert not match(dev, "GET", "/apis/apps/v1/deployments")  # cluster-wide: clusterScope is false
    assert not match(dev, "GET", "/apis/apps/v1/namespaces/team-a/deployments/x")  # a get, not a list
    assert match(dev, "GET", "/debug/pprof/heap")
    assert not match(dev, "GET", "/debugger")
    assert not match(ALICE, "GET", "/apis/apps/v1/namespaces/team-a/deployments")
    d = Digest(dev, request_info("GET", "/apis/apps/v1/namespaces/team-a/deployments", {}), "")
    assert custom.flow(d) == "team-a"
