"""``dryRun=All`` on every mutating verb: the full pipeline runs (defaults, admission, validation), the
answer is what would be stored, and the store does not change."""

from __future__ import annotations

import json
from typing import Any

from tests.apiserver.conftest import API

CMS = "/api/v1/namespaces/default/configmaps"
PODS = "/api/v1/namespaces/default/pods"
DEPLOYS = "/apis/apps/v1/namespaces/default/deployments"
DRY = {"dryRun": "All"}


def deployment(name: str, replicas: int) -> dict[str, Any]:
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}}


async def test_dry_run_create_runs_admission_and_stores_nothing(api: API) -> None:
    before = await api.snapshot()
    body = {"metadata": {"name": "dry"}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}
    r = await api.post(PODS, body, **DRY)
    assert r.status == 201, r.body
    assert len(r.body["spec"]["tolerations"]) == 2
    assert r.body["metadata"]["managedFields"]
    r = await api.post(DEPLOYS, deployment("dry", -1), **DRY)
    assert r.status == 422
    assert await api.snapshot() == before


async def test_dry_run_update_patch_apply_scale_delete(api: API) -> None:
    obj = await api.create_cm("d1")
    await api.post(DEPLOYS, deployment("dd", 1))
    before = await api.snapshot()
    obj["data"] = {"k": "changed"}
    r = await api.put(f"{CMS}/d1", obj, **DRY)
    assert r.status == 200
    assert r.body["data"] == {"k": "changed"}
    for ctype, body in (("application/merge-patch+json", b'{"data":{"x":"1"}}'),
                        ("application/json-patch+json", b'[{"op":"add","path":"/data/y","value":"2"}]'),
                        ("application/strategic-merge-patch+json", b'{"data":{"z":"3"}}')):
        r = await api.request("PATCH", f"{CMS}/d1", data=body, headers={"Content-Type": ctype}, params=DRY)
        assert r.status == 200, r.body
    apply_body = json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "new"}}).encode()
    r = await api.request("PATCH", f"{CMS}/new", data=apply_body,
                          headers={"Content-Type": "application/apply-patch+yaml"},
                          params={**DRY, "fieldManager": "m"})
    assert r.status == 201, r.body
    r = await api.request("PATCH", f"{DEPLOYS}/dd/scale", data=b'{"spec":{"replicas":7}}',
                          headers={"Content-Type": "application/merge-patch+json"}, params=DRY)
    assert r.status == 200
    assert r.body["spec"]["replicas"] == 7
    r = await api.delete(f"{CMS}/d1", **DRY)
    assert r.status == 200
    r = await api.delete(CMS, **DRY)
    assert r.status == 200
    assert r.body["items"]
    r = await api.delete(f"{DEPLOYS}/dd", {"propagationPolicy": "Foreground"}, **DRY)
    assert r.body["metadata"]["finalizers"] == ["foregroundDeletion"]
    assert await api.snapshot() == before


async def test_bad_dry_run_value_is_400(api: API) -> None:
    r = await api.post(CMS, {"metadata": {"name": "x"}}, dryRun="Some")
    assert r.status == 400
    assert 'Invalid dryRun value: "Some"' in r.body["message"]
