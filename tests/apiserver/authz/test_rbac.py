"""RBAC over HTTP: a user bound to ``view`` in one namespace, bindings taking effect at once, upstream's
403 messages, cluster scope and non-resource URLs, resourceNames and subresources."""

from __future__ import annotations

from typing import Any

from tests.apiserver.authz.conftest import RBAC, Client, eventually, role_binding, user


async def _bind_view(admin: Client, namespace: str = "default") -> None:
    r = await admin.post(f"/apis/{RBAC}/v1/namespaces/{namespace}/rolebindings",
                         role_binding("alice-view", namespace, "ClusterRole", "view", user("alice")))
    assert r.status == 201, r.body


async def _can_list(alice: Client, namespace: str = "default") -> bool:
    return (await alice.get(f"/api/v1/namespaces/{namespace}/pods")).status == 200


async def test_view_in_one_namespace(admin: Client) -> None:
    alice = admin.as_user("alice")
    r = await alice.get("/api/v1/namespaces/default/pods")
    assert r.status == 403
    assert r.body["message"] == ('pods is forbidden: User "alice" cannot list resource "pods" in API group "" in '
                                 'the namespace "default"')
    assert r.body["reason"] == "Forbidden"
    assert r.body["details"] == {"kind": "pods"}
    await _bind_view(admin)
    assert await eventually(lambda: _can_list(alice))
    assert (await alice.get("/api/v1/namespaces/default/configmaps/nope")).status == 404
    watch = await alice.get("/api/v1/namespaces/default/pods", params={"watch": "true", "timeoutSeconds": "1"})
    assert watch.status == 200
    cm: dict[str, Any] = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}
    r = await alice.post("/api/v1/namespaces/default/configmaps", cm)
    assert r.status == 403
    assert r.body["message"] == ('configmaps is forbidden: User "alice" cannot create resource "configmaps" in API '
                                 'group "" in the namespace "default"')
    r = await alice.get("/api/v1/namespaces/other/pods")
    assert r.status == 403
    r = await alice.get("/api/v1/pods")
    assert r.body["message"] == ('pods is forbidden: User "alice" cannot list resource "pods" in API group "" at '
                                 "the cluster scope")
    r = await alice.get("/apis/apps/v1/namespaces/default/deployments/web")
    assert r.status == 404  # allowed (view covers deployments), then not found
    r = await alice.get("/api/v1/namespaces/default/secrets/s")
    assert r.status == 403
    assert r.body["message"] == ('secrets "s" is forbidden: User "alice" cannot get resource "secrets" in API '
                                 'group "" in the namespace "default"')
    assert r.body["details"] == {"name": "s", "kind": "secrets"}


async def test_binding_removal_takes_effect(admin: Client) -> None:
    alice = admin.as_user("alice")
    await _bind_view(admin)
    assert await eventually(lambda: _can_list(alice))
    r = await admin.delete(f"/apis/{RBAC}/v1/namespaces/default/rolebindings/alice-view")
    assert r.status == 200

    async def refused() -> bool:
        return not await _can_list(alice)

    assert await eventually(refused)


async def test_discovery_and_non_resource_urls(admin: Client) -> None:
    bob = admin.as_user("bob")
    assert (await bob.get("/api")).status == 200  # system:discovery via system:authenticated
    assert (await bob.get("/apis/apps/v1")).status == 200
    assert (await bob.get("/healthz")).status == 200
    r = await bob.get("/metrics")
    assert r.status == 403
    assert r.body["message"] == 'forbidden: User "bob" cannot get path "/metrics"'
    anon = admin.as_user("system:anonymous")
    assert (await anon.get("/version")).status == 200
    assert (await anon.get("/api")).status == 403


async def test_resource_names_and_subresources(admin: Client) -> None:
    role = {"apiVersion": f"{RBAC}/v1", "kind": "Role", "metadata": {"name": "one-cm", "namespace": "default"},
            "rules": [{"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["allowed"],
                       "verbs": ["get", "update"]},
                      {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
                      {"apiGroups": ["*"], "resources": ["*/scale"], "verbs": ["get"]}]}
    assert (await admin.post(f"/apis/{RBAC}/v1/namespaces/default/roles", role)).status == 201
    assert (await admin.post(f"/apis/{RBAC}/v1/namespaces/default/rolebindings",
                             role_binding("carol", "default", "Role", "one-cm", user("carol")))).status == 201
    carol = admin.as_user("carol")

    async def ready() -> bool:
        return (await carol.get("/api/v1/namespaces/default/configmaps/allowed")).status == 404

    assert await eventually(ready)
    assert (await carol.get("/api/v1/namespaces/default/configmaps/other")).status == 403
    assert (await carol.get("/api/v1/namespaces/default/configmaps")).status == 403  # list names nothing
    r = await carol.get("/api/v1/namespaces/default/configmaps", params={"fieldSelector": "metadata.name=allowed"})
    assert r.status == 403  # the rule grants get, not list
    assert (await carol.get("/api/v1/namespaces/default/pods/p/log")).status == 404
    r = await carol.get("/api/v1/namespaces/default/pods/p")
    assert r.status == 403
    r = await carol.get("/apis/apps/v1/namespaces/default/deployments/d/scale")
    assert r.status == 404
    r = await carol.get("/api/v1/namespaces/default/pods/p/exec")
    assert r.body["message"] == ('pods "p" is forbidden: User "carol" cannot get resource "pods/exec" in API group '
                                 '"" in the namespace "default"')


async def test_missing_role_is_named_in_reason(admin: Client) -> None:
    r = await admin.post(f"/apis/{RBAC}/v1/namespaces/default/rolebindings",
                         role_binding("dangling", "default", "Role", "ghost", user("dave")))
    assert r.status == 201
    dave = admin.as_user("dave")

    async def reason() -> str:
        body = (await dave.get("/api/v1/namespaces/default/pods")).body
        return str(body["message"]) if body["message"].endswith("not found") else ""

    message = await eventually(reason)
    assert message.endswith(': RBAC: role.rbac.authorization.k8s.io "ghost" not found')


async def test_groups_and_service_accounts(admin: Client) -> None:
    crb = {"apiVersion": f"{RBAC}/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "ops-view"},
           "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": "view"},
           "subjects": [{"kind": "Group", "apiGroup": RBAC, "name": "ops"},
                        {"kind": "ServiceAccount", "name": "robot", "namespace": "other"}]}
    assert (await admin.post(f"/apis/{RBAC}/v1/clusterrolebindings", crb)).status == 201
    ops = admin.as_user("erin", "ops")
    robot = admin.as_user("system:serviceaccount:other:robot")
    assert await eventually(lambda: _can_list(ops, "other"))
    assert await _can_list(robot, "default")
    assert not await _can_list(admin.as_user("erin"), "default")
