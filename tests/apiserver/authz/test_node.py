"""The Node authorizer and NodeRestriction: a kubelet reads only what pods bound to it use and writes only
its own Node, Lease and pods' status."""

from __future__ import annotations

from typing import Any

from tests.apiserver.authz.conftest import Client, eventually


def _node(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}}


def _pod(name: str, node: str, secret: str, configmap: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
            "spec": {"nodeName": node, "containers": [{
                "name": "c", "image": "busybox",
                "env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": configmap, "key": "k"}}}]}],
                "volumes": [{"name": "s", "secret": {"secretName": secret}}]}}


async def _setup(admin: Client) -> None:
    for n in ("n1", "n2"):
        assert (await admin.post("/api/v1/nodes", _node(n))).status == 201
    for kind, plural in (("Secret", "secrets"), ("ConfigMap", "configmaps")):
        for name in ("one", "two"):
            obj = {"apiVersion": "v1", "kind": kind, "metadata": {"name": name}}
            assert (await admin.post(f"/api/v1/namespaces/default/{plural}", obj)).status == 201
    assert (await admin.post("/api/v1/namespaces/default/pods", _pod("p1", "n1", "one", "one"))).status == 201
    assert (await admin.post("/api/v1/namespaces/default/pods", _pod("p2", "n2", "two", "two"))).status == 201


def _kubelet(admin: Client, node: str) -> Client:
    return admin.as_user(f"system:node:{node}", "system:nodes")


async def test_kubelet_reads_only_its_pods_objects(admin: Client) -> None:
    await _setup(admin)
    n1 = _kubelet(admin, "n1")

    async def reads_own() -> bool:
        return (await n1.get("/api/v1/namespaces/default/secrets/one")).status == 200

    assert await eventually(reads_own)
    assert (await n1.get("/api/v1/namespaces/default/configmaps/one")).status == 200
    r = await n1.get("/api/v1/namespaces/default/secrets",
                     params={"fieldSelector": "metadata.name=one", "watch": "true", "timeoutSeconds": "1"})
    assert r.status == 200  # a single-object watch, as kubelets make
    r = await n1.get("/api/v1/namespaces/default/secrets/two")
    assert r.status == 403
    assert r.body["message"] == ('secrets "two" is forbidden: User "system:node:n1" cannot get resource "secrets" in '
                                 "API group \"\" in the namespace \"default\": no relationship found between node "
                                 "'n1' and this object")
    r = await n1.get("/api/v1/namespaces/default/secrets")
    assert r.status == 403  # no listing every secret
    assert (await n1.get("/api/v1/namespaces/default/configmaps/two")).status == 403
    # a pod moving off the node takes the access with it
    assert (await admin.delete("/api/v1/namespaces/default/pods/p1", params={"gracePeriodSeconds": "0"})).status == 200

    async def revoked() -> bool:
        return (await n1.get("/api/v1/namespaces/default/secrets/one")).status == 403

    assert await eventually(revoked)


async def test_kubelet_writes_only_its_own(admin: Client) -> None:
    await _setup(admin)
    n1 = _kubelet(admin, "n1")
    node = (await n1.get("/api/v1/nodes/n1")).body
    node["metadata"]["labels"] = {"ok": "yes"}
    assert (await n1.put("/api/v1/nodes/n1", node)).status == 200
    other = (await n1.get("/api/v1/nodes/n2")).body
    other["metadata"]["labels"] = {"taken": "yes"}
    r = await n1.put("/api/v1/nodes/n2", other)
    assert r.status == 403
    assert r.body["message"] == 'nodes "n2" is forbidden: node "n1" is not allowed to modify node "n2"'
    # pod status: own pods only
    p1 = (await n1.get("/api/v1/namespaces/default/pods/p1")).body
    p1["status"] = {"phase": "Running"}
    assert (await n1.put("/api/v1/namespaces/default/pods/p1/status", p1)).status == 200
    p2 = (await n1.get("/api/v1/namespaces/default/pods/p2")).body
    p2["status"] = {"phase": "Running"}
    r = await n1.put("/api/v1/namespaces/default/pods/p2/status", p2)
    assert r.status == 403
    assert r.body["message"] == ('pods "p2" is forbidden: node "n1" can only update pod status for pods with '
                                 "spec.nodeName set to itself")
    assert (await n1.delete("/api/v1/namespaces/default/pods/p2")).status == 403
    # a regular pod may not be created, a mirror pod of another node neither
    r = await n1.post("/api/v1/namespaces/default/pods", _pod("p3", "n1", "one", "one"))
    assert r.status == 403
    mirror = {"apiVersion": "v1", "kind": "Pod",
              "metadata": {"name": "m", "namespace": "default", "annotations": {"kubernetes.io/config.mirror": "x"}},
              "spec": {"nodeName": "n2", "containers": [{"name": "c", "image": "busybox"}]}}
    r = await n1.post("/api/v1/namespaces/default/pods", mirror)
    assert r.status == 403
    mirror["spec"]["nodeName"] = "n1"
    assert (await n1.post("/api/v1/namespaces/default/pods", mirror)).status == 201
    # leases: its own only
    lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
             "metadata": {"name": "n1", "namespace": "kube-node-lease"}, "spec": {"holderIdentity": "n1"}}
    path = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases"
    assert (await n1.post(path, lease)).status == 201
    lease["metadata"]["name"] = "n2"
    r = await n1.post(path, lease)
    assert r.status == 403
    assert (await n1.get(f"{path}/n2")).status == 403
    # what is not a node's business at all
    assert (await n1.get("/apis/apps/v1/deployments")).status == 403
    r = await admin.as_user("system:node:n1").get("/api/v1/namespaces/default/secrets/one")
    assert r.status == 403  # not in system:nodes: not a kubelet


async def test_kubelet_lists_and_deletes_persistentvolumes_for_local_path_reclaim(admin: Client) -> None:
    """The kubelet's local-path reclaimer lists volumes every few seconds and deletes its node's released
    ones: released volumes are bound to no pod, so only the ``system:sampan:local-path-provisioner`` role
    (bound to ``system:nodes``) lets it (regression: ``cannot list persistentvolumes`` every 5 s)."""
    pv = {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "released"},
          "spec": {"capacity": {"storage": "1Mi"}, "accessModes": ["ReadWriteOnce"],
                   "hostPath": {"path": "/tmp/sampan-nowhere"}}}
    assert (await admin.post("/api/v1/persistentvolumes", pv)).status == 201
    n1 = _kubelet(admin, "n1")
    r = await n1.get("/api/v1/persistentvolumes")
    assert r.status == 200, r.body
    assert [v["metadata"]["name"] for v in r.body["items"]] == ["released"]
    r = await n1.post("/api/v1/persistentvolumes", {**pv, "metadata": {"name": "made-by-a-node"}})
    assert r.status == 403  # reading and deleting only: a node creates no volume
    assert (await n1.delete("/api/v1/persistentvolumes/released")).status == 200
    assert (await n1.get("/api/v1/namespaces/default/secrets")).status == 403  # nothing else widened
