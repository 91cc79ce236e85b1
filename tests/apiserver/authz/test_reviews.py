"""The authorization review APIs and the real kubectl: ``auth can-i`` (with ``--as``, ``--list``),
SubjectAccessReview, LocalSubjectAccessReview, SelfSubjectRulesReview."""

from __future__ import annotations

import asyncio
import os
import shutil

import pytest

from tests.apiserver.authz.conftest import RBAC, Client, eventually, role_binding, user
from tests.support.apiserver import InProcessAPIServer

AUTHZ = "/apis/authorization.k8s.io/v1"
pytestmark = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")


async def kubectl(server: InProcessAPIServer, *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        "kubectl", "--kubeconfig", str(server.kubeconfig), *args, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env={**os.environ, "KUBECTL_COMMAND_HEADERS": "false"})
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def _bind_view(admin: Client) -> None:
    r = await admin.post(f"/apis/{RBAC}/v1/namespaces/default/rolebindings",
                         role_binding("alice-view", "default", "ClusterRole", "view", user("alice")))
    assert r.status == 201, r.body

    async def bound() -> bool:
        return (await admin.as_user("alice").get("/api/v1/namespaces/default/pods")).status == 200

    assert await eventually(bound)


async def test_kubectl_can_i(rbac_server: InProcessAPIServer, admin: Client) -> None:
    assert (await kubectl(rbac_server, "auth", "can-i", "create", "pods"))[:2] == (0, "yes\n")
    assert (await kubectl(rbac_server, "auth", "can-i", "list", "pods", "--as", "alice"))[:2] == (1, "no\n")
    await _bind_view(admin)
    assert (await kubectl(rbac_server, "auth", "can-i", "list", "pods", "--as", "alice", "-n", "default"))[:2] == \
        (0, "yes\n")
    assert (await kubectl(rbac_server, "auth", "can-i", "watch", "deployments.apps", "--as", "alice", "-n",
                          "default"))[:2] == (0, "yes\n")
    assert (await kubectl(rbac_server, "auth", "can-i", "create", "pods", "--as", "alice", "-n", "default"))[:2] == \
        (1, "no\n")
    assert (await kubectl(rbac_server, "auth", "can-i", "list", "pods", "--as", "alice", "-n", "other"))[:2] == \
        (1, "no\n")
    assert (await kubectl(rbac_server, "auth", "can-i", "get", "/healthz", "--as", "alice"))[:2] == (0, "yes\n")
    assert (await kubectl(rbac_server, "auth", "can-i", "get", "/metrics", "--as", "alice"))[:2] == (1, "no\n")


async def test_kubectl_can_i_list_matches_rules(rbac_server: InProcessAPIServer, admin: Client) -> None:
    await _bind_view(admin)
    code, out, err = await kubectl(rbac_server, "auth", "can-i", "--list", "--as", "alice", "-n", "default")
    assert code == 0, err
    lines = {tuple(line.split()) for line in out.splitlines()[1:]}
    assert out.split()[:4] == ["Resources", "Non-Resource", "URLs", "Resource"]
    assert ("pods", "[]", "[]", "[get", "list", "watch]") in lines
    assert ("deployments.apps", "[]", "[]", "[get", "list", "watch]") in lines
    assert ("selfsubjectaccessreviews.authorization.k8s.io", "[]", "[]", "[create]") in lines
    assert ("[/healthz]", "[]", "[get]") in lines  # system:public-info-viewer / system:discovery
    assert not any(line[0] == "secrets" for line in lines)
    code, out, _ = await kubectl(rbac_server, "auth", "can-i", "--list", "--as", "alice", "-n", "other")
    assert "pods" not in out.split()
    code, out, _ = await kubectl(rbac_server, "auth", "can-i", "--list")
    assert ("*.*", "[]", "[]", "[*]") in {tuple(line.split()) for line in out.splitlines()[1:]}


async def test_subject_access_reviews(admin: Client) -> None:
    await _bind_view(admin)
    sar = {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
           "spec": {"user": "alice", "resourceAttributes": {"namespace": "default", "verb": "get",
                                                            "resource": "pods"}}}
    r = await admin.post(f"{AUTHZ}/subjectaccessreviews", sar)
    assert r.status == 201, r.body
    assert r.body["status"] == {
        "allowed": True,
        "reason": 'RBAC: allowed by RoleBinding "alice-view/default" of ClusterRole "view" to User "alice"'}
    sar["spec"]["resourceAttributes"]["verb"] = "delete"
    r = await admin.post(f"{AUTHZ}/subjectaccessreviews", sar)
    assert r.body["status"] == {"allowed": False}
    r = await admin.post(f"{AUTHZ}/subjectaccessreviews", {**sar, "spec": {"resourceAttributes": {"verb": "get"}}})
    assert r.status == 422
    assert r.body["details"]["causes"][0]["field"] == "spec.user"
    lsar = {"apiVersion": "authorization.k8s.io/v1", "kind": "LocalSubjectAccessReview",
            "spec": {"user": "alice", "resourceAttributes": {"namespace": "default", "verb": "list",
                                                             "resource": "configmaps"}}}
    r = await admin.post(f"{AUTHZ}/namespaces/default/localsubjectaccessreviews", lsar)
    assert r.status == 201, r.body
    assert r.body["status"]["allowed"] is True
    assert r.body["metadata"]["namespace"] == "default"
    r = await admin.post(f"{AUTHZ}/namespaces/other/localsubjectaccessreviews", lsar)
    assert r.status == 422
    # a user without rights may not ask about others, but may ask about itself
    bob = admin.as_user("bob")
    r = await bob.post(f"{AUTHZ}/subjectaccessreviews", sar)
    assert r.status == 403
    assert r.body["message"] == ('subjectaccessreviews.authorization.k8s.io is forbidden: User "bob" cannot create '
                                 'resource "subjectaccessreviews" in API group "authorization.k8s.io" at the cluster '
                                 "scope")
    ssar = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": {"namespace": "default", "verb": "get", "resource": "pods"}}}
    r = await bob.post(f"{AUTHZ}/selfsubjectaccessreviews", ssar)
    assert r.status == 201
    assert r.body["status"] == {"allowed": False}
    r = await admin.as_user("alice").post(f"{AUTHZ}/selfsubjectaccessreviews", ssar)
    assert r.body["status"]["allowed"] is True


async def test_self_subject_rules_review(admin: Client) -> None:
    await _bind_view(admin)
    ssrr = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectRulesReview",
            "spec": {"namespace": "default"}}
    r = await admin.as_user("alice").post(f"{AUTHZ}/selfsubjectrulesreviews", ssrr)
    assert r.status == 201, r.body
    status = r.body["status"]
    assert status["incomplete"] is False
    assert {"verbs": ["get", "list", "watch"], "apiGroups": [""], "resources": ["pods", "replicationcontrollers",
            "replicationcontrollers/scale", "persistentvolumeclaims", "persistentvolumeclaims/status", "configmaps",
            "endpoints", "services", "services/status", "pods/log", "pods/status", "replicationcontrollers/status",
            "serviceaccounts", "bindings", "events", "limitranges", "resourcequotas", "resourcequotas/status",
            "namespaces/status", "namespaces"]} in status["resourceRules"]
    node = admin.as_user("system:node:n1", "system:nodes")
    r = await node.post(f"{AUTHZ}/selfsubjectrulesreviews", ssrr)
    assert r.body["status"]["incomplete"] is True
    assert r.body["status"]["evaluationError"] == "node authorizer does not support user rule resolution"
