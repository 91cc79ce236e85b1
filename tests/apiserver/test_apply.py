"""Server-side apply (``application/apply-patch+yaml``) over real HTTP: create, update, ownership,
conflicts between managers, ``force``, and the option checks."""

from __future__ import annotations

import json
from typing import Any

from tests.apiserver.conftest import API, Reply

DEPLOYS = "/apis/apps/v1/namespaces/default/deployments"
CMS = "/api/v1/namespaces/default/configmaps"
APPLY = "application/apply-patch+yaml"


async def apply(api: API, path: str, body: Any, **params: str) -> Reply:
    data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    return await api.request("PATCH", path, data=data, headers={"Content-Type": APPLY}, params=params or None)


def deployment(name: str, replicas: int, image: str = "nginx") -> dict[str, Any]:
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "c", "image": image}]}}}}


async def test_apply_creates_then_updates(api: API) -> None:
    r = await apply(api, f"{DEPLOYS}/ssa", deployment("ssa", 2), fieldManager="alice")
    assert r.status == 201, r.body
    assert r.body["spec"]["replicas"] == 2
    entries = r.body["metadata"]["managedFields"]
    assert [(e["manager"], e["operation"]) for e in entries] == [("alice", "Apply")]
    r = await apply(api, f"{DEPLOYS}/ssa", deployment("ssa", 3), fieldManager="alice")
    assert r.status == 200, r.body
    assert r.body["spec"]["replicas"] == 3
    assert r.body["metadata"]["generation"] == 2


async def test_apply_accepts_yaml(api: API) -> None:
    doc = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: y1\ndata:\n  k: v\n"
    r = await apply(api, f"{CMS}/y1", doc, fieldManager="yaml")
    assert r.status == 201, r.body
    assert r.body["data"] == {"k": "v"}


async def test_two_managers_conflict_and_force_takes_ownership(api: API) -> None:
    assert (await apply(api, f"{DEPLOYS}/c2", deployment("c2", 1), fieldManager="alice")).status == 201
    before = await api.snapshot()
    r = await apply(api, f"{DEPLOYS}/c2", deployment("c2", 5), fieldManager="bob")
    assert r.status == 409, r.body
    assert r.reason == "Conflict"
    assert r.body["message"] == 'Apply failed with 1 conflict: conflict with "alice": .spec.replicas'
    assert r.body["details"]["causes"][0] == {"reason": "FieldManagerConflict", "message": 'conflict with "alice"',
                                              "field": ".spec.replicas"}
    assert await api.snapshot() == before
    r = await apply(api, f"{DEPLOYS}/c2", deployment("c2", 5), fieldManager="bob", force="true")
    assert r.status == 200, r.body
    assert r.body["spec"]["replicas"] == 5
    owners = {e["manager"]: e["fieldsV1"] for e in r.body["metadata"]["managedFields"]}
    assert "f:replicas" in owners["bob"]["f:spec"]
    assert "f:replicas" not in owners["alice"].get("f:spec", {})


async def test_apply_removes_fields_the_manager_no_longer_applies(api: API) -> None:
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "rm"}, "data": {"a": "1", "b": "2"}}
    await apply(api, f"{CMS}/rm", cm, fieldManager="m")
    cm["data"] = {"a": "1"}
    r = await apply(api, f"{CMS}/rm", cm, fieldManager="m")
    assert r.body["data"] == {"a": "1"}


async def test_apply_without_field_manager_is_422(api: API) -> None:
    before = await api.snapshot()
    r = await apply(api, f"{CMS}/nofm", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "nofm"}})
    assert r.status == 422
    assert r.body["details"]["causes"][0]["field"] == "fieldManager"
    assert await api.snapshot() == before


async def test_apply_of_wrong_kind_or_name_is_400(api: API) -> None:
    r = await apply(api, f"{CMS}/wk", {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "wk"}},
                    fieldManager="m")
    assert r.status == 400
    assert "invalid object type" in r.body["message"]
    r = await apply(api, f"{CMS}/wk", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "other"}},
                    fieldManager="m")
    assert r.status == 400


async def test_apply_invalid_result_is_422_and_nothing_stored(api: API) -> None:
    before = await api.snapshot()
    r = await apply(api, f"{DEPLOYS}/bad", deployment("bad", -3), fieldManager="m")
    assert r.status == 422, r.body
    assert await api.snapshot() == before


async def test_update_after_apply_shares_ownership(api: API) -> None:
    await apply(api, f"{CMS}/mix", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "mix"},
                                    "data": {"a": "1"}}, fieldManager="applier")
    r = await api.request("PATCH", f"{CMS}/mix", data=b'{"data":{"a":"2"}}',
                          headers={"Content-Type": "application/merge-patch+json"}, params={"fieldManager": "editor"})
    assert r.status == 200
    r = await apply(api, f"{CMS}/mix", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "mix"},
                                        "data": {"a": "3"}}, fieldManager="applier")
    assert r.status == 409
    assert '"editor"' in r.body["message"]
