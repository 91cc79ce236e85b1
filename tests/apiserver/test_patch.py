"""PATCH over real HTTP: JSON, merge and strategic merge patches on objects and ``status``; bad patches
give the right Status and leave the store unchanged; managedFields follow every write."""

from __future__ import annotations

import json
from typing import Any

from tests.apiserver.conftest import API, Reply

CMS = "/api/v1/namespaces/default/configmaps"
PODS = "/api/v1/namespaces/default/pods"
DEPLOYS = "/apis/apps/v1/namespaces/default/deployments"
JSON_PATCH = "application/json-patch+json"
MERGE = "application/merge-patch+json"
SMP = "application/strategic-merge-patch+json"


async def patch(api: API, path: str, body: Any, ctype: str, **params: str) -> Reply:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return await api.request("PATCH", path, data=data, headers={"Content-Type": ctype}, params=params or None)


def pod(name: str, *containers: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": name}},
            "spec": {"containers": [{"name": c, "image": "nginx"} for c in containers]}}


def deployment(name: str, replicas: int = 1) -> dict[str, Any]:
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}}


async def test_merge_patch_changes_labels_and_bumps_version(api: API) -> None:
    created = await api.create_cm("m1", labels={"a": "1"})
    r = await patch(api, f"{CMS}/m1", {"metadata": {"labels": {"b": "2", "a": None}}, "data": {"k2": "v2"}}, MERGE)
    assert r.status == 200, r.body
    assert r.body["metadata"]["labels"] == {"b": "2"}
    assert r.body["data"] == {"k": "v", "k2": "v2"}
    assert int(r.body["metadata"]["resourceVersion"]) > int(created["metadata"]["resourceVersion"])
    got = await api.get(f"{CMS}/m1")
    assert got.body["data"] == {"k": "v", "k2": "v2"}


async def test_json_patch_and_failed_test_op_is_422_unchanged(api: API) -> None:
    await api.create_cm("j1")
    ok = await patch(api, f"{CMS}/j1", [{"op": "add", "path": "/data/x", "value": "1"},
                                         {"op": "test", "path": "/data/k", "value": "v"}], JSON_PATCH)
    assert ok.status == 200, ok.body
    assert ok.body["data"] == {"k": "v", "x": "1"}
    before = await api.snapshot()
    bad = await patch(api, f"{CMS}/j1", [{"op": "test", "path": "/data/k", "value": "nope"},
                                          {"op": "remove", "path": "/data/k"}], JSON_PATCH)
    assert bad.status == 422, bad.body
    assert bad.reason == "Invalid"
    # upstream's generic message, with the patch's own error as the one cause (users need the why)
    assert bad.body["message"] == "the server rejected our request due to an error in our request"
    assert bad.body["details"] == {"causes": [{
        "reason": "UnexpectedServerResponse",
        "message": "operation 0 (test /data/k): testing value /data/k failed: test failed"}]}
    assert await api.snapshot() == before


async def test_strategic_merge_patch_merges_containers_by_name(api: API) -> None:
    r = await api.post(PODS, pod("s1", "a", "b"))
    assert r.status == 201, r.body
    p = {"spec": {"containers": [{"name": "b", "image": "nginx:1.27"}]}}
    r = await patch(api, f"{PODS}/s1", p, SMP)
    assert r.status == 200, r.body
    images = [(c["name"], c["image"]) for c in r.body["spec"]["containers"]]
    assert images == [("a", "nginx"), ("b", "nginx:1.27")]
    # the same document as a merge patch replaces the whole list
    r = await patch(api, f"{PODS}/s1", {"metadata": {"labels": {"x": "y"}}}, MERGE)
    assert r.status == 200
    assert r.body["metadata"]["labels"] == {"app": "s1", "x": "y"}


async def test_patch_missing_object_is_404(api: API) -> None:
    for ctype, body in ((MERGE, {"data": {}}), (SMP, {"data": {}}), (JSON_PATCH, [])):
        r = await patch(api, f"{CMS}/ghost", body, ctype)
        assert r.status == 404, (ctype, r.body)
        assert r.body["message"] == 'configmaps "ghost" not found'


async def test_wrong_content_type_is_415_and_malformed_is_400(api: API) -> None:
    await api.create_cm("ct")
    before = await api.snapshot()
    r = await patch(api, f"{CMS}/ct", {"data": {}}, "application/json")
    assert r.status == 415
    assert r.reason == "UnsupportedMediaType"
    assert "application/strategic-merge-patch+json" in r.body["message"]
    r = await patch(api, f"{CMS}/ct", b"{not json", MERGE)
    assert r.status == 400
    r = await patch(api, f"{CMS}/ct", {"op": "add"}, JSON_PATCH)
    assert r.status == 400
    assert await api.snapshot() == before


async def test_patch_producing_invalid_object_is_422_and_store_unchanged(api: API) -> None:
    await api.post(DEPLOYS, deployment("inv"))
    before = await api.snapshot()
    r = await patch(api, f"{DEPLOYS}/inv", {"spec": {"replicas": -1}}, MERGE)
    assert r.status == 422, r.body
    assert r.reason == "Invalid"
    assert any(c["field"] == "spec.replicas" for c in r.body["details"]["causes"])
    r = await patch(api, f"{CMS}/inv", {"metadata": {"name": "other"}}, MERGE)
    assert r.status in (400, 404)
    assert await api.snapshot() == before


async def test_patch_with_stale_resource_version_is_409(api: API) -> None:
    created = await api.create_cm("rv")
    await patch(api, f"{CMS}/rv", {"data": {"a": "b"}}, MERGE)
    before = await api.snapshot()
    stale = created["metadata"]["resourceVersion"]
    r = await patch(api, f"{CMS}/rv", {"metadata": {"resourceVersion": stale}, "data": {"c": "d"}}, MERGE)
    assert r.status == 409
    assert r.reason == "Conflict"
    r = await patch(api, f"{CMS}/rv", {"metadata": {"uid": "not-the-uid"}, "data": {"c": "d"}}, MERGE)
    assert r.status == 409
    assert "Precondition failed: UID" in r.body["message"]
    assert await api.snapshot() == before


async def test_status_patch_changes_only_status(api: API) -> None:
    await api.post(PODS, pod("st", "c"))
    p = {"status": {"phase": "Running"}, "spec": {"nodeName": "sneaky"}}
    r = await patch(api, f"{PODS}/st/status", p, MERGE)
    assert r.status == 200, r.body
    assert r.body["status"]["phase"] == "Running"
    assert "nodeName" not in r.body["spec"]
    # and the main resource cannot change status
    r = await patch(api, f"{PODS}/st", {"status": {"phase": "Failed"}}, MERGE)
    assert r.status == 200
    assert r.body["status"]["phase"] == "Running"


async def test_generation_bumps_on_spec_patch_only(api: API) -> None:
    r = await api.post(DEPLOYS, deployment("gen"))
    assert r.body["metadata"]["generation"] == 1
    r = await patch(api, f"{DEPLOYS}/gen", {"metadata": {"labels": {"x": "1"}}}, MERGE)
    assert r.body["metadata"]["generation"] == 1
    r = await patch(api, f"{DEPLOYS}/gen", {"spec": {"replicas": 4}}, SMP)
    assert r.body["metadata"]["generation"] == 2


async def test_no_op_patch_keeps_resource_version(api: API) -> None:
    created = await api.create_cm("noop", labels={"a": "1"})
    r = await patch(api, f"{CMS}/noop", {"metadata": {"labels": {"a": "1"}}}, MERGE)
    assert r.status == 200
    assert r.body["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]


async def test_managed_fields_record_each_manager(api: API) -> None:
    r = await api.post(CMS, {"metadata": {"name": "mf"}, "data": {"a": "1"}}, fieldManager="creator")
    assert r.status == 201
    entries = r.body["metadata"]["managedFields"]
    assert [(e["manager"], e["operation"]) for e in entries] == [("creator", "Update")]
    assert "f:a" in entries[0]["fieldsV1"]["f:data"]
    r = await patch(api, f"{CMS}/mf", {"data": {"b": "2"}}, MERGE, fieldManager="patcher")
    managers = {e["manager"]: e for e in r.body["metadata"]["managedFields"]}
    assert set(managers) == {"creator", "patcher"}
    assert set(managers["patcher"]["fieldsV1"]["f:data"]) == {"f:b"}
    # a Table never shows managedFields
    t = await api.request("GET", f"{CMS}/mf", headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"})
    assert "managedFields" not in json.dumps(t.body)


async def test_default_field_manager_is_the_user_agent_product(api: API) -> None:
    r = await api.request("POST", CMS, {"metadata": {"name": "ua"}, "data": {"a": "b"}},
                          headers={"User-Agent": "my-tool/1.2 (linux)"})
    assert r.status == 201
    assert r.body["metadata"]["managedFields"][0]["manager"] == "my-tool"


async def test_force_on_non_apply_patch_is_422(api: API) -> None:
    await api.create_cm("force")
    r = await patch(api, f"{CMS}/force", {"data": {}}, MERGE, force="true")
    assert r.status == 422
    assert r.body["details"]["kind"] == "PatchOptions"
