"""Create, get, update, delete over real HTTP, with upstream's metadata and error semantics."""

from __future__ import annotations

import re

from tests.apiserver.conftest import API

CMS = "/api/v1/namespaces/default/configmaps"


async def test_create_sets_system_fields_and_get_returns_it(api: API) -> None:
    created = await api.create_cm("one", data={"a": "b"})
    md = created["metadata"]
    assert created["kind"] == "ConfigMap"
    assert created["apiVersion"] == "v1"
    assert md["namespace"] == "default"
    assert re.fullmatch(r"[0-9a-f-]{36}", md["uid"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", md["creationTimestamp"])
    assert int(md["resourceVersion"]) > 0
    got = await api.get(f"{CMS}/one")
    assert got.status == 200
    assert got.body == created
    cached = await api.get(f"{CMS}/one", resourceVersion="0")
    assert cached.body["data"] == {"a": "b"}


async def test_create_existing_name_is_409_already_exists(api: API) -> None:
    await api.create_cm("dup")
    before = await api.snapshot()
    r = await api.post(CMS, {"metadata": {"name": "dup"}, "data": {"x": "y"}})
    assert r.status == 409
    assert r.reason == "AlreadyExists"
    assert r.body["message"] == 'configmaps "dup" already exists'
    assert r.body["details"] == {"name": "dup", "kind": "configmaps"}
    assert await api.snapshot() == before


async def test_get_missing_is_404_status(api: API) -> None:
    r = await api.get(f"{CMS}/nope")
    assert r.status == 404
    assert r.body["kind"] == "Status"
    assert r.body["reason"] == "NotFound"
    assert r.body["message"] == 'configmaps "nope" not found'


async def test_generate_name_appends_five_random_characters(api: API) -> None:
    names = set()
    for _ in range(3):
        r = await api.post(CMS, {"metadata": {"generateName": "gen-"}})
        assert r.status == 201, r.body
        names.add(r.body["metadata"]["name"])
    assert len(names) == 3
    for n in names:
        assert re.fullmatch(r"gen-[bcdfghjklmnpqrstvwxz2456789]{5}", n)


async def test_update_with_stale_resource_version_is_409_conflict(api: API) -> None:
    obj = await api.create_cm("upd")
    obj["data"] = {"k": "v2"}
    r1 = await api.put(f"{CMS}/upd", obj)
    assert r1.status == 200, r1.body
    assert int(r1.body["metadata"]["resourceVersion"]) > int(obj["metadata"]["resourceVersion"])
    assert r1.body["metadata"]["uid"] == obj["metadata"]["uid"]
    before = await api.snapshot()
    obj["data"] = {"k": "v3"}  # still carries the old resourceVersion
    r2 = await api.put(f"{CMS}/upd", obj)
    assert r2.status == 409
    assert r2.reason == "Conflict"
    assert "the object has been modified" in r2.body["message"]
    assert await api.snapshot() == before


async def test_update_without_resource_version_is_unconditional(api: API) -> None:
    await api.create_cm("free")
    r = await api.put(f"{CMS}/free", {"metadata": {"name": "free"}, "data": {"z": "1"}})
    assert r.status == 200, r.body
    assert r.body["data"] == {"z": "1"}
    assert r.body["metadata"]["creationTimestamp"]


async def test_noop_update_keeps_resource_version(api: API) -> None:
    obj = await api.create_cm("same")
    r = await api.put(f"{CMS}/same", obj)
    assert r.status == 200
    assert r.body["metadata"]["resourceVersion"] == obj["metadata"]["resourceVersion"]


async def test_update_missing_is_404(api: API) -> None:
    r = await api.put(f"{CMS}/ghost", {"metadata": {"name": "ghost"}})
    assert r.status == 404


async def test_generation_bumps_on_spec_change_only(api: API) -> None:
    dep = {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "c", "image": "nginx"}]}}},
    }
    path = "/apis/apps/v1/namespaces/default/deployments"
    r = await api.post(path, dep)
    assert r.status == 201, r.body
    assert r.body["metadata"]["generation"] == 1
    obj = r.body
    obj["metadata"]["labels"] = {"x": "y"}
    r = await api.put(f"{path}/web", obj)
    assert r.status == 200, r.body
    assert r.body["metadata"]["generation"] == 1
    obj = r.body
    obj["spec"]["replicas"] = 3
    r = await api.put(f"{path}/web", obj)
    assert r.status == 200, r.body
    assert r.body["metadata"]["generation"] == 2


async def test_status_subresource_changes_only_status(api: API) -> None:
    path = "/apis/apps/v1/namespaces/default/deployments"
    dep = {"metadata": {"name": "st"},
           "spec": {"selector": {"matchLabels": {"a": "b"}},
                    "template": {"metadata": {"labels": {"a": "b"}},
                                 "spec": {"containers": [{"name": "c", "image": "i"}]}}}}
    created = (await api.post(path, dep)).body
    created["status"] = {"replicas": 7}
    created["spec"]["replicas"] = 9
    r = await api.put(f"{path}/st/status", created)
    assert r.status == 200, r.body
    assert r.body["status"]["replicas"] == 7
    assert r.body["spec"]["replicas"] != 9
    r = await api.get(f"{path}/st/status")
    assert r.status == 200
    assert r.body["status"]["replicas"] == 7


async def test_delete_returns_status_and_object_is_gone(api: API) -> None:
    obj = await api.create_cm("bye")
    r = await api.delete(f"{CMS}/bye", {"propagationPolicy": "Background"})
    assert r.status == 200, r.body
    assert r.body["kind"] == "Status"
    assert r.body["status"] == "Success"
    assert r.body["details"]["uid"] == obj["metadata"]["uid"]
    assert (await api.get(f"{CMS}/bye")).status == 404
    assert (await api.delete(f"{CMS}/bye")).status == 404


async def test_delete_pod_returns_the_object(api: API) -> None:
    pod = {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
    assert (await api.post("/api/v1/namespaces/default/pods", pod)).status == 201
    r = await api.delete("/api/v1/namespaces/default/pods/p")
    assert r.status == 200
    assert r.body["kind"] == "Pod"
    assert r.body["metadata"]["name"] == "p"


async def test_delete_precondition_mismatch_is_409(api: API) -> None:
    await api.create_cm("pre")
    r = await api.delete(f"{CMS}/pre", {"preconditions": {"uid": "other"}})
    assert r.status == 409
    assert r.body["message"].startswith("Precondition failed: UID in precondition: other")
    assert (await api.get(f"{CMS}/pre")).status == 200


async def test_finalizers_delay_deletion_until_removed(api: API) -> None:
    r = await api.post(CMS, {"metadata": {"name": "fin", "finalizers": ["example.com/hold"]}})
    assert r.status == 201, r.body
    r = await api.delete(f"{CMS}/fin")
    assert r.status == 200
    assert r.body["metadata"]["deletionTimestamp"]
    held = (await api.get(f"{CMS}/fin")).body
    assert held["metadata"]["deletionTimestamp"]
    held["metadata"]["finalizers"] = []
    r = await api.put(f"{CMS}/fin", held)
    assert r.status == 200, r.body
    assert (await api.get(f"{CMS}/fin")).status == 404


async def test_dry_run_create_writes_nothing(api: API) -> None:
    before = await api.snapshot()
    r = await api.post(CMS, {"metadata": {"name": "dry"}}, dryRun="All")
    assert r.status == 201
    assert await api.snapshot() == before
    assert (await api.post(CMS, {"metadata": {"name": "dry"}}, dryRun="Some")).status == 400


async def test_namespaced_create_needs_an_existing_namespace(api: API) -> None:
    before = await api.snapshot()
    r = await api.post("/api/v1/namespaces/missing/configmaps", {"metadata": {"name": "x"}})
    assert r.status == 404
    assert r.body["message"] == 'namespaces "missing" not found'
    assert await api.snapshot() == before


async def test_terminating_namespace_refuses_new_content(api: API) -> None:
    assert (await api.post("/api/v1/namespaces", {"metadata": {"name": "doomed"}})).status == 201
    r = await api.delete("/api/v1/namespaces/doomed")
    assert r.status == 200
    assert r.body["status"]["phase"] == "Terminating"
    r = await api.post("/api/v1/namespaces/doomed/configmaps", {"metadata": {"name": "x"}})
    assert r.status == 403
    assert r.reason == "Forbidden"
    assert "because it is being terminated" in r.body["message"]


async def test_system_namespaces_exist_and_default_cannot_be_deleted(api: API) -> None:
    for ns in ("default", "kube-system", "kube-public", "kube-node-lease"):
        r = await api.get(f"/api/v1/namespaces/{ns}")
        assert r.status == 200
        assert r.body["status"]["phase"] == "Active"
    r = await api.delete("/api/v1/namespaces/default")
    assert r.status == 403


async def test_invalid_object_is_422_with_causes(api: API) -> None:
    before = await api.snapshot()
    r = await api.post(CMS, {"metadata": {"name": "Bad_Name"}})
    assert r.status == 422
    assert r.reason == "Invalid"
    assert r.body["details"]["kind"] == "ConfigMap"
    assert any(c["field"] == "metadata.name" for c in r.body["details"]["causes"])
    assert await api.snapshot() == before


async def test_body_and_url_must_agree(api: API) -> None:
    before = await api.snapshot()
    r = await api.post(CMS, {"metadata": {"name": "x", "namespace": "kube-system"}})
    assert r.status == 400
    assert "namespace" in r.body["message"]
    r = await api.post(CMS, {"apiVersion": "apps/v1", "kind": "ConfigMap", "metadata": {"name": "x"}})
    assert r.status == 400
    r = await api.post(CMS, {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x"}})
    assert r.status == 400
    assert "cannot be handled as a ConfigMap" in r.body["message"]
    await api.create_cm("named")
    r = await api.put(f"{CMS}/named", {"metadata": {"name": "other"}})
    assert r.status == 400
    r = await api.post(CMS, {"metadata": {"name": "x", "resourceVersion": "5"}})
    assert r.status == 400
    assert await api.snapshot() != before  # only the one create above
    assert (await api.get(f"{CMS}/x")).status == 404


async def test_unknown_resource_and_method(api: API) -> None:
    assert (await api.get("/api/v1/namespaces/default/widgets")).status == 404
    assert (await api.get("/apis/nope.example/v1/things")).status == 404
    r = await api.request("POST", f"{CMS}/x", {"metadata": {"name": "x"}})
    assert r.status == 405
    assert r.body["reason"] == "MethodNotAllowed"
    r = await api.request("DELETE", "/api/v1/namespaces")  # namespaces have no deletecollection
    assert r.status == 405


async def test_cluster_scoped_create_drops_namespace(api: API) -> None:
    r = await api.post("/api/v1/namespaces", {"metadata": {"name": "clean", "namespace": "ignored"}})
    assert r.status == 201, r.body
    assert "namespace" not in r.body["metadata"]
