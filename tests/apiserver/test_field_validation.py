"""``fieldValidation`` Strict / Warn / Ignore: unknown fields (from the upstream schema) and duplicate
JSON fields give 400 (Strict) or ``Warning`` headers (Warn, the default); unknown fields are never
stored (upstream's decoder drops them)."""

from __future__ import annotations

from typing import Any

from tests.apiserver.conftest import API

PODS = "/api/v1/namespaces/default/pods"
CMS = "/api/v1/namespaces/default/configmaps"


def pod_with_unknown(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"bogus": 1, "containers": [{"name": "c", "image": "nginx", "imagePullPolice": "x"}]}}


async def test_strict_rejects_unknown_fields(api: API) -> None:
    before = await api.snapshot()
    r = await api.post(PODS, pod_with_unknown("strict"), fieldValidation="Strict")
    assert r.status == 400
    assert r.body["message"] == ('Pod in version "v1" cannot be handled as a Pod: strict decoding error: unknown '
                                 'field "spec.bogus", unknown field "spec.containers[0].imagePullPolice"')
    assert await api.snapshot() == before


async def test_warn_is_default_and_drops_unknown_fields(api: API) -> None:
    r = await api.post(PODS, pod_with_unknown("warn"))
    assert r.status == 201, r.body
    warnings = r.headers.getall("Warning")
    assert '299 - "unknown field \\"spec.bogus\\""' in warnings
    assert len(warnings) == 2
    assert "bogus" not in r.body["spec"]
    assert "bogus" not in (await api.get(f"{PODS}/warn")).body["spec"]


async def test_ignore_sends_no_warning(api: API) -> None:
    r = await api.post(PODS, pod_with_unknown("ign"), fieldValidation="Ignore")
    assert r.status == 201
    assert "Warning" not in r.headers
    assert "bogus" not in r.body["spec"]


async def test_duplicate_json_fields(api: API) -> None:
    raw = b'{"metadata":{"name":"dup","name":"dup"},"data":{"a":"1"}}'
    r = await api.request("POST", CMS, data=raw, headers={"Content-Type": "application/json"},
                          params={"fieldValidation": "Strict"})
    assert r.status == 400
    assert 'duplicate field "metadata.name"' in r.body["message"]
    r = await api.request("POST", CMS, data=raw, headers={"Content-Type": "application/json"})
    assert r.status == 201
    assert '299 - "duplicate field \\"metadata.name\\""' in r.headers.getall("Warning")


async def test_strict_patch_and_put(api: API) -> None:
    obj = await api.create_cm("sp")
    r = await api.request("PATCH", f"{CMS}/sp", data=b'{"dataa":{"x":"1"}}',
                          headers={"Content-Type": "application/merge-patch+json"},
                          params={"fieldValidation": "Strict"})
    assert r.status == 400
    assert 'unknown field "dataa"' in r.body["message"]
    obj["extra"] = True
    r = await api.put(f"{CMS}/sp", obj, fieldValidation="Strict")
    assert r.status == 400
    r = await api.put(f"{CMS}/sp", obj, fieldValidation="Nope")
    assert r.status == 400


async def test_duplicate_yaml_fields(api: API) -> None:
    raw = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ydup\ndata:\n  a: '1'\n  a: '2'\n"
    r = await api.request("POST", CMS, data=raw, headers={"Content-Type": "application/yaml"},
                          params={"fieldValidation": "Strict"})
    assert r.status == 400
    assert 'duplicate field "data.a"' in r.body["message"]
    r = await api.request("POST", CMS, data=raw, headers={"Content-Type": "application/yaml"})
    assert r.status == 201
    assert '299 - "duplicate field \\"data.a\\""' in r.headers.getall("Warning")
