"""Escalation and bind checks on RBAC writes: a user who may create Roles and RoleBindings cannot grant
what they do not hold, unless they may ``escalate`` / ``bind``."""

from __future__ import annotations

from typing import Any

from tests.apiserver.authz.conftest import RBAC, Client, eventually, role_binding, user

ROLES = f"/apis/{RBAC}/v1/namespaces/default/roles"
BINDINGS = f"/apis/{RBAC}/v1/namespaces/default/rolebindings"


def role(name: str, *rules: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": f"{RBAC}/v1", "kind": "Role", "metadata": {"name": name, "namespace": "default"},
            "rules": list(rules)}


RBAC_WRITER = {"apiGroups": [RBAC], "resources": ["roles", "rolebindings"], "verbs": ["create", "update", "get"]}
READ_PODS = {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}
DELETE_SECRETS = {"apiGroups": [""], "resources": ["secrets"], "verbs": ["delete", "get"]}


async def _setup(admin: Client) -> Client:
    assert (await admin.post(ROLES, role("rbac-writer", RBAC_WRITER, READ_PODS))).status == 201
    assert (await admin.post(BINDINGS, role_binding("mallory", "default", "Role", "rbac-writer",
                                                    user("mallory")))).status == 201
    mallory = admin.as_user("mallory")

    async def bound() -> bool:
        return (await mallory.get("/api/v1/namespaces/default/pods")).status == 200

    assert await eventually(bound)
    return mallory


async def test_cannot_create_role_with_more_rights(admin: Client) -> None:
    mallory = await _setup(admin)
    r = await mallory.post(ROLES, role("sneaky", READ_PODS, DELETE_SECRETS))
    assert r.status == 403
    assert r.body["message"] == (
        'roles.rbac.authorization.k8s.io "sneaky" is forbidden: user "mallory" (groups=["system:authenticated"]) is '
        "attempting to grant RBAC permissions not currently held:\n"
        '{APIGroups:[""], Resources:["secrets"], Verbs:["delete" "get"]}')
    assert r.body["details"] == {"name": "sneaky", "group": RBAC, "kind": "roles"}
    assert (await mallory.post(ROLES, role("fine", {"apiGroups": [""], "resources": ["pods"],
                                                    "verbs": ["get"]}))).status == 201


async def test_cannot_bind_role_with_more_rights(admin: Client) -> None:
    mallory = await _setup(admin)
    r = await mallory.post(BINDINGS, role_binding("grab-admin", "default", "ClusterRole", "admin", user("mallory")))
    assert r.status == 403
    assert r.body["message"].startswith(
        'rolebindings.rbac.authorization.k8s.io "grab-admin" is forbidden: user "mallory" '
        '(groups=["system:authenticated"]) is attempting to grant RBAC permissions not currently held:\n')
    r = await mallory.post(BINDINGS, role_binding("ghost", "default", "Role", "missing", user("mallory")))
    assert r.status == 403
    assert r.body["message"].endswith('role.rbac.authorization.k8s.io "missing" not found')
    # a role whose rules mallory holds may be bound
    assert (await mallory.post(BINDINGS, role_binding("share", "default", "Role", "rbac-writer",
                                                      user("trent")))).status == 201


async def test_escalate_and_bind_verbs_lift_the_check(admin: Client) -> None:
    mallory = await _setup(admin)
    extra = role("escalator", {"apiGroups": [RBAC], "resources": ["roles"], "verbs": ["escalate"]},
                 {"apiGroups": [RBAC], "resources": ["clusterroles"], "verbs": ["bind"], "resourceNames": ["admin"]})
    assert (await admin.post(ROLES, extra)).status == 201
    assert (await admin.post(BINDINGS, role_binding("mallory-esc", "default", "Role", "escalator",
                                                    user("mallory")))).status == 201

    async def escalates() -> bool:
        r = await mallory.post(ROLES, role("sneaky", READ_PODS, DELETE_SECRETS))
        return r.status == 201

    assert await eventually(escalates)
    r = await mallory.post(BINDINGS, role_binding("grab-edit", "default", "ClusterRole", "edit", user("mallory")))
    assert r.status == 403  # bind only on admin
    assert (await mallory.post(BINDINGS, role_binding("grab-admin", "default", "ClusterRole", "admin",
                                                      user("mallory")))).status == 201


async def test_aggregation_rule_needs_cluster_admin(admin: Client) -> None:
    writer = {"apiVersion": f"{RBAC}/v1", "kind": "ClusterRole", "metadata": {"name": "cr-writer"},
              "rules": [{"apiGroups": [RBAC], "resources": ["clusterroles"], "verbs": ["create"]}]}
    assert (await admin.post(f"/apis/{RBAC}/v1/clusterroles", writer)).status == 201
    crb = {"apiVersion": f"{RBAC}/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "cr-writer"},
           "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": "cr-writer"}, "subjects": [user("oscar")]}
    assert (await admin.post(f"/apis/{RBAC}/v1/clusterrolebindings", crb)).status == 201
    oscar = admin.as_user("oscar")
    agg = {"apiVersion": f"{RBAC}/v1", "kind": "ClusterRole", "metadata": {"name": "gather"},
           "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"x": "y"}}]}}

    async def refused() -> Any:
        r = await oscar.post(f"/apis/{RBAC}/v1/clusterroles", agg)
        return r if r.status == 403 else None

    r = await eventually(refused)
    assert r.body["message"] == ('clusterroles.rbac.authorization.k8s.io "gather" is forbidden: must have '
                                 "cluster-admin privileges to use the aggregationRule")
