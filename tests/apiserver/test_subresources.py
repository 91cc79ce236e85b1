"""The ``scale`` subresource (autoscaling/v1 Scale) of deployments and replicasets, and
``pods/eviction`` (policy/v1 Eviction: a graceful delete when no PodDisruptionBudget covers the pod)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.apiserver.conftest import API

APPS = "/apis/apps/v1/namespaces/default"
PODS = "/api/v1/namespaces/default/pods"


def workload(kind: str, name: str, replicas: int = 1) -> dict[str, Any]:
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}}


@pytest.mark.parametrize(("resource", "kind"), [("deployments", "Deployment"), ("replicasets", "ReplicaSet")])
async def test_scale_get_put_patch(api: API, resource: str, kind: str) -> None:
    r = await api.post(f"{APPS}/{resource}", workload(kind, "w", 2))
    assert r.status == 201, r.body
    r = await api.get(f"{APPS}/{resource}/w/scale")
    assert r.status == 200, r.body
    scale = r.body
    assert (scale["kind"], scale["apiVersion"]) == ("Scale", "autoscaling/v1")
    assert scale["spec"] == {"replicas": 2}
    assert scale["status"]["selector"] == "app=w"
    assert scale["metadata"]["name"] == "w"
    scale["spec"]["replicas"] = 4
    r = await api.put(f"{APPS}/{resource}/w/scale", scale)
    assert r.status == 200, r.body
    assert r.body["spec"]["replicas"] == 4
    obj = (await api.get(f"{APPS}/{resource}/w")).body
    assert obj["spec"]["replicas"] == 4
    assert obj["metadata"]["generation"] == 2
    r = await api.request("PATCH", f"{APPS}/{resource}/w/scale", data=b'{"spec":{"replicas":3}}',
                          headers={"Content-Type": "application/merge-patch+json"})
    assert r.status == 200, r.body
    assert r.body["kind"] == "Scale"
    assert (await api.get(f"{APPS}/{resource}/w")).body["spec"]["replicas"] == 3
    # stale precondition, negative replicas
    before = await api.snapshot()
    scale["spec"]["replicas"] = 9
    assert (await api.put(f"{APPS}/{resource}/w/scale", scale)).status == 409
    r = await api.request("PATCH", f"{APPS}/{resource}/w/scale", data=b'{"spec":{"replicas":-1}}',
                          headers={"Content-Type": "application/merge-patch+json"})
    assert r.status == 422
    assert await api.snapshot() == before


async def test_scale_of_missing_object_and_other_resources(api: API) -> None:
    assert (await api.get(f"{APPS}/deployments/none/scale")).status == 404
    assert (await api.get(f"{PODS}/x/scale")).status == 404


def pod(name: str, node: str | None) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": "c", "image": "nginx"}]}
    if node:
        spec["nodeName"] = node
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}


async def test_eviction_is_a_graceful_delete(api: API) -> None:
    assert (await api.post(PODS, pod("ev", "n1"))).status == 201
    eviction = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "ev", "namespace": "default"}}
    r = await api.post(f"{PODS}/ev/eviction", eviction)
    assert r.status == 201, r.body
    assert r.body["status"] == "Success"
    got = await api.get(f"{PODS}/ev")
    assert got.body["metadata"]["deletionGracePeriodSeconds"] == 30
    assert (await api.post(f"{PODS}/ev2/eviction", {**eviction, "metadata": {"name": "ev2"}})).status == 404
    await api.post(PODS, pod("ev3", None))
    r = await api.post(f"{PODS}/ev3/eviction", {**eviction, "metadata": {"name": "ev3"},
                                                "deleteOptions": {"gracePeriodSeconds": 0}})
    assert r.status == 201
    assert (await api.get(f"{PODS}/ev3")).status == 404


async def test_eviction_with_wrong_name_is_400(api: API) -> None:
    await api.post(PODS, pod("evn", "n1"))
    r = await api.request("POST", f"{PODS}/evn/eviction",
                          data=json.dumps({"apiVersion": "policy/v1", "kind": "Eviction",
                                           "metadata": {"name": "other"}}).encode(),
                          headers={"Content-Type": "application/json"})
    assert r.status == 400


async def test_pod_default_tolerations_are_added(api: API) -> None:
    r = await api.post(PODS, pod("tol", None))
    tols = r.body["spec"]["tolerations"]
    assert {(t["key"], t["effect"], t["tolerationSeconds"]) for t in tols} == {
        ("node.kubernetes.io/not-ready", "NoExecute", 300), ("node.kubernetes.io/unreachable", "NoExecute", 300)}
    own = pod("tol2", None)
    own["spec"]["tolerations"] = [{"key": "node.kubernetes.io/not-ready", "operator": "Exists",
                                   "effect": "NoExecute", "tolerationSeconds": 5}]
    r = await api.post(PODS, own)
    tols = r.body["spec"]["tolerations"]
    assert len(tols) == 2
    assert tols[0]["tolerationSeconds"] == 5
    assert tols[1]["key"] == "node.kubernetes.io/unreachable"
