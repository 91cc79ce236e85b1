"""Deletion semantics over real HTTP: graceful pod deletion, finalizers, propagation policies (the
garbage collector's ``orphan`` / ``foregroundDeletion`` finalizers), DeleteOptions in body or query,
preconditions, and deletecollection honouring all of it."""

from __future__ import annotations

import json
from typing import Any

from tests.apiserver.conftest import API

PODS = "/api/v1/namespaces/default/pods"
CMS = "/api/v1/namespaces/default/configmaps"
DEPLOYS = "/apis/apps/v1/namespaces/default/deployments"


def pod(name: str, *, node: str | None = None, grace: int | None = None,
        finalizers: list[str] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": "c", "image": "nginx"}]}
    if node:
        spec["nodeName"] = node
    if grace is not None:
        spec["terminationGracePeriodSeconds"] = grace
    md: dict[str, Any] = {"name": name, "labels": {"group": "g"}}
    if finalizers:
        md["finalizers"] = finalizers
    return {"apiVersion": "v1", "kind": "Pod", "metadata": md, "spec": spec}


async def make(api: API, path: str, body: dict[str, Any]) -> dict[str, Any]:
    r = await api.post(path, body)
    assert r.status == 201, r.body
    obj: dict[str, Any] = r.body
    return obj


async def test_unscheduled_pod_is_deleted_at_once(api: API) -> None:
    await make(api, PODS, pod("unsched"))
    r = await api.delete(f"{PODS}/unsched")
    assert r.status == 200
    assert r.body["kind"] == "Pod"
    assert (await api.get(f"{PODS}/unsched")).status == 404


async def test_scheduled_pod_deletion_is_graceful_until_grace_zero(api: API) -> None:
    await make(api, PODS, pod("grace", node="n1", grace=45))
    r = await api.delete(f"{PODS}/grace", {"propagationPolicy": "Background"})
    assert r.status == 200, r.body
    md = r.body["metadata"]
    assert md["deletionGracePeriodSeconds"] == 45
    assert md["deletionTimestamp"]
    got = await api.get(f"{PODS}/grace")
    assert got.status == 200
    assert got.body["metadata"]["deletionGracePeriodSeconds"] == 45
    # a longer grace changes nothing; a shorter one shortens
    r = await api.delete(f"{PODS}/grace", gracePeriodSeconds="60")
    assert r.body["metadata"]["deletionGracePeriodSeconds"] == 45
    r = await api.delete(f"{PODS}/grace", gracePeriodSeconds="10")
    assert r.body["metadata"]["deletionGracePeriodSeconds"] == 10
    assert (await api.get(f"{PODS}/grace")).status == 200
    # the kubelet confirms
    r = await api.delete(f"{PODS}/grace", gracePeriodSeconds="0")
    assert r.status == 200
    assert (await api.get(f"{PODS}/grace")).status == 404


async def test_default_grace_is_30_and_terminal_pods_go_at_once(api: API) -> None:
    await make(api, PODS, pod("dflt", node="n1"))
    r = await api.delete(f"{PODS}/dflt")
    assert r.body["metadata"]["deletionGracePeriodSeconds"] == 30
    await make(api, PODS, pod("done", node="n1"))
    st = await api.get(f"{PODS}/done")
    st.body["status"]["phase"] = "Succeeded"
    assert (await api.put(f"{PODS}/done/status", st.body)).status == 200
    await api.delete(f"{PODS}/done")
    assert (await api.get(f"{PODS}/done")).status == 404


async def test_finalizers_block_removal_until_the_last_is_cleared(api: API) -> None:
    r = await api.post(CMS, {"metadata": {"name": "fin", "finalizers": ["a/x", "a/y"]}})
    assert r.status == 201
    r = await api.delete(f"{CMS}/fin")
    assert r.status == 200
    assert r.body["metadata"]["deletionTimestamp"]
    assert r.body["metadata"]["deletionGracePeriodSeconds"] == 0
    obj = (await api.get(f"{CMS}/fin")).body
    obj["metadata"]["finalizers"] = ["a/y", "b/z", "b/a"]
    r = await api.put(f"{CMS}/fin", obj)  # no new finalizers once deleting, as upstream
    assert r.status == 422
    assert r.body["message"] == (
        'ConfigMap "fin" is invalid: metadata.finalizers: Forbidden: no new finalizers can be added if the object '
        'is being deleted, found new finalizers []string{"b/a", "b/z"}'), r.body
    obj["metadata"]["finalizers"] = ["a/y"]
    r = await api.put(f"{CMS}/fin", obj)
    assert r.status == 200
    assert (await api.get(f"{CMS}/fin")).status == 200
    r = await api.request("PATCH", f"{CMS}/fin", data=b'{"metadata":{"finalizers":null}}',
                          headers={"Content-Type": "application/merge-patch+json"})
    assert r.status == 200, r.body
    assert (await api.get(f"{CMS}/fin")).status == 404


async def test_graceful_pod_with_finalizer_stays_after_grace_zero(api: API) -> None:
    await make(api, PODS, pod("pf", node="n1", finalizers=["x/y"]))
    await api.delete(f"{PODS}/pf", gracePeriodSeconds="0")
    got = await api.get(f"{PODS}/pf")
    assert got.status == 200
    assert got.body["metadata"]["deletionGracePeriodSeconds"] == 0


async def test_propagation_policies_record_gc_finalizers(api: API) -> None:
    for name, policy, expected in (("orphan", "Orphan", ["orphan"]), ("fg", "Foreground", ["foregroundDeletion"])):
        await api.create_cm(name)
        r = await api.delete(f"{CMS}/{name}", {"propagationPolicy": policy})
        assert r.status == 200, r.body
        assert r.body["metadata"]["finalizers"] == expected
        assert r.body["metadata"]["deletionTimestamp"]
        assert (await api.get(f"{CMS}/{name}")).body["metadata"]["finalizers"] == expected
    await api.create_cm("bg")
    r = await api.delete(f"{CMS}/bg", propagationPolicy="Background")
    assert r.status == 200
    assert r.body["kind"] == "Status"
    assert (await api.get(f"{CMS}/bg")).status == 404


async def test_legacy_orphan_dependents(api: API) -> None:
    await api.create_cm("legacy")
    r = await api.delete(f"{CMS}/legacy", {"orphanDependents": True})
    assert r.body["metadata"]["finalizers"] == ["orphan"]
    await api.create_cm("both")
    r = await api.delete(f"{CMS}/both", {"orphanDependents": True, "propagationPolicy": "Orphan"})
    assert r.status == 422


async def test_bad_policy_is_422_and_preconditions_are_409(api: API) -> None:
    obj = await api.create_cm("pre")
    before = await api.snapshot()
    r = await api.delete(f"{CMS}/pre", propagationPolicy="Sometimes")
    assert r.status == 422
    r = await api.delete(f"{CMS}/pre", {"preconditions": {"uid": "wrong"}})
    assert r.status == 409
    assert r.body["message"].startswith("Precondition failed: UID in precondition: wrong")
    r = await api.delete(f"{CMS}/pre", {"preconditions": {"resourceVersion": "1"}})
    assert r.status == 409
    assert await api.snapshot() == before
    r = await api.delete(f"{CMS}/pre", {"preconditions": {"uid": obj["metadata"]["uid"],
                                                           "resourceVersion": obj["metadata"]["resourceVersion"]}})
    assert r.status == 200


async def test_put_with_other_uid_is_precondition_conflict(api: API) -> None:
    obj = await api.create_cm("uidput")
    obj["metadata"]["uid"] = "00000000-0000-0000-0000-000000000000"
    r = await api.put(f"{CMS}/uidput", obj)
    assert r.status == 409
    assert "Precondition failed: UID" in r.body["message"]


async def test_deletecollection_graceful_and_finalizers(api: API) -> None:
    await make(api, PODS, pod("dc1", node="n1"))
    await make(api, PODS, pod("dc2"))
    r = await api.delete(PODS, {"propagationPolicy": "Foreground"}, labelSelector="group=g")
    assert r.status == 200, r.body
    names = {i["metadata"]["name"] for i in r.body["items"]}
    assert names == {"dc1", "dc2"}
    left = (await api.get(PODS, labelSelector="group=g")).body["items"]
    assert {i["metadata"]["name"] for i in left} == {"dc1", "dc2"}  # both carry foregroundDeletion
    for i in left:
        assert i["metadata"]["finalizers"] == ["foregroundDeletion"]


async def test_delete_options_body_dry_run(api: API) -> None:
    await api.create_cm("drybody")
    before = await api.snapshot()
    r = await api.request("DELETE", f"{CMS}/drybody", data=json.dumps({"dryRun": ["All"]}).encode(),
                          headers={"Content-Type": "application/json"})
    assert r.status == 200
    assert await api.snapshot() == before


async def test_deployment_orphan_delete_keeps_object_with_finalizer(api: API) -> None:
    labels = {"app": "d"}
    dep = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
           "spec": {"selector": {"matchLabels": labels}, "template": {"metadata": {"labels": labels}, "spec": {
               "containers": [{"name": "c", "image": "nginx"}]}}}}
    await make(api, DEPLOYS, dep)
    r = await api.delete(f"{DEPLOYS}/d", {"propagationPolicy": "Orphan"})
    assert r.status == 200
    assert r.body["metadata"]["finalizers"] == ["orphan"]


async def test_clearing_finalizers_of_a_graceful_pod_waits_for_the_kubelet(api: API) -> None:
    await make(api, PODS, pod("gf", node="n1", finalizers=["x/y"]))
    await api.delete(f"{PODS}/gf")
    r = await api.request("PATCH", f"{PODS}/gf", data=b'{"metadata":{"finalizers":null}}',
                          headers={"Content-Type": "application/merge-patch+json"})
    assert r.status == 200, r.body
    assert (await api.get(f"{PODS}/gf")).status == 200  # grace 30 still running
    await api.delete(f"{PODS}/gf", gracePeriodSeconds="0")
    assert (await api.get(f"{PODS}/gf")).status == 404
