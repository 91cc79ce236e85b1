"""Impersonation on a server with an authentication chain (default modes Node,RBAC): every requested
user, group, uid and extra is checked with the ``impersonate`` verb; refusals are upstream's 403, groups
without a user upstream's 500; the request then runs as the impersonated user."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from tests.apiserver.authz.conftest import RBAC, Client, SecureServer, eventually, user

ROLE = {"apiVersion": f"{RBAC}/v1", "kind": "ClusterRole", "metadata": {"name": "impersonate-bob"},
        "rules": [{"apiGroups": [""], "resources": ["users"], "verbs": ["impersonate"], "resourceNames": ["bob"]},
                  {"apiGroups": [""], "resources": ["groups"], "verbs": ["impersonate"],
                   "resourceNames": ["devs"]},
                  {"apiGroups": ["authentication.k8s.io"], "resources": ["userextras/scopes"],
                   "verbs": ["impersonate"]}]}
BINDING = {"apiVersion": f"{RBAC}/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "impersonate-bob"},
           "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": "impersonate-bob"},
           "subjects": [user("alice")]}
RULES_REVIEW = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectRulesReview",
                "spec": {"namespace": "default"}}


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


async def _alice(secure_server: SecureServer, session: aiohttp.ClientSession) -> Client:
    root = secure_server.client(session, "root|system:masters")
    assert (await root.post(f"/apis/{RBAC}/v1/clusterroles", ROLE)).status == 201
    assert (await root.post(f"/apis/{RBAC}/v1/clusterrolebindings", BINDING)).status == 201
    alice = secure_server.client(session, "alice")

    async def may() -> bool:
        r = await alice.request("GET", "/api", headers=[("Impersonate-User", "bob")])
        return r.status == 200

    assert await eventually(may)
    return alice


async def test_impersonation_allowed_and_refused(secure_server: SecureServer,
                                                 session: aiohttp.ClientSession) -> None:
    alice = await _alice(secure_server, session)
    r = await alice.request("GET", "/api/v1/namespaces", headers=[("Impersonate-User", "bob")])
    assert r.status == 403  # now bob, who may not list namespaces
    assert r.body["message"] == ('namespaces is forbidden: User "bob" cannot list resource "namespaces" in API '
                                 'group "" at the cluster scope')
    r = await alice.request("GET", "/api", headers=[("Impersonate-User", "carol")])
    assert r.status == 403
    assert r.body["message"] == ('users "carol" is forbidden: User "alice" cannot impersonate resource "users" in '
                                 'API group "" at the cluster scope')
    r = await alice.request("GET", "/api", headers=[("Impersonate-User", "bob"), ("Impersonate-Group", "admins")])
    assert r.status == 403
    assert r.body["message"].startswith('groups "admins" is forbidden: User "alice" cannot impersonate')
    r = await alice.request("GET", "/api", headers=[("Impersonate-User", "bob"), ("Impersonate-Uid", "42")])
    assert r.status == 403
    assert r.body["message"] == ('uids.authentication.k8s.io "42" is forbidden: User "alice" cannot impersonate '
                                 'resource "uids" in API group "authentication.k8s.io" at the cluster scope')
    r = await alice.request("GET", "/api", headers=[("Impersonate-User", "system:serviceaccount:default:robot")])
    assert r.status == 403
    assert r.body["message"].startswith('serviceaccounts "robot" is forbidden: User "alice" cannot impersonate '
                                        'resource "serviceaccounts" in API group "" in the namespace "default"')
    r = await alice.request("POST", "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews", RULES_REVIEW,
                            headers=[("Impersonate-User", "bob"), ("Impersonate-Group", "devs"),
                                     ("Impersonate-Extra-Scopes", "read")])
    assert r.status == 201, r.body


async def test_malformed_impersonation(secure_server: SecureServer, session: aiohttp.ClientSession) -> None:
    root = secure_server.client(session, "root|system:masters")
    r = await root.request("GET", "/api/v1/namespaces", headers=[("Impersonate-Group", "devs")])
    assert r.status == 500
    assert "requested [{Group  devs}] without impersonating a user" in r.body


async def test_secure_defaults(secure_server: SecureServer, session: aiohttp.ClientSession) -> None:
    anonymous = Client(session, secure_server.url)
    assert (await anonymous.get("/version")).status == 200
    assert (await anonymous.get("/healthz")).status == 200
    r = await anonymous.get("/api")
    assert r.status == 403
    assert r.body["message"] == 'forbidden: User "system:anonymous" cannot get path "/api"'
    bob = secure_server.client(session, "bob")
    assert (await bob.get("/apis")).status == 200
    r = await bob.get("/api/v1/namespaces/default/pods")
    assert r.status == 403
    root = secure_server.client(session, "root|system:masters")
    assert (await root.get("/api/v1/namespaces/default/pods")).status == 200
    kubeadm_admin = secure_server.client(session, "kubeadm-admin|kubeadm:cluster-admins")
    assert (await kubeadm_admin.get("/api/v1/namespaces/default/secrets")).status == 200
