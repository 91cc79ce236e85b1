"""Request bodies: JSON and YAML accepted; malformed (400), too large (413) and unknown media types (415) rejected,
always as a Status and never changing the store."""

from __future__ import annotations

import pytest

from tests.apiserver.conftest import API

CMS = "/api/v1/namespaces/default/configmaps"


async def test_yaml_body_creates(api: API) -> None:
    body = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-yaml\ndata:\n  day: 2024-01-01\n  n: '1'\n"
    r = await api.request("POST", CMS, data=body, headers={"Content-Type": "application/yaml"})
    assert r.status == 201, r.body
    assert r.body["data"] == {"day": "2024-01-01", "n": "1"}


@pytest.mark.parametrize(
    ("data", "ctype"),
    [
        (b"{not json", "application/json"),
        (b"[1, 2, 3]", "application/json"),
        (b'"a string"', "application/json"),
        (b"", "application/json"),
        (b"\xff\xfe\x00", "application/json"),
        (b"a: [unclosed", "application/yaml"),
        (b"- just\n- a list\n", "application/yaml"),
        (b"a: &x [1]\nb: *x\n", "application/yaml"),
        (b"{1: 2}", "application/yaml"),
        (b"[" * 5000 + b"]" * 5000, "application/json"),
        (b'{"metadata": "nope"}', "application/json"),
        (b'{"metadata": {"name": 5}}', "application/json"),
        (b'{"metadata": {"name": "x", "labels": {"a": 1}}}', "application/json"),
        (b'{"kind": 7}', "application/json"),
    ],
)
async def test_malformed_bodies_are_400_and_change_nothing(api: API, data: bytes, ctype: str) -> None:
    before = await api.snapshot()
    r = await api.request("POST", CMS, data=data, headers={"Content-Type": ctype})
    assert r.status == 400, r.body
    assert r.body["kind"] == "Status"
    assert r.body["reason"] == "BadRequest"
    assert await api.snapshot() == before


async def test_body_over_3_mib_is_413(api: API) -> None:
    before = await api.snapshot()
    big = b'{"metadata":{"name":"big"},"data":{"k":"' + b"x" * (3 * 1024 * 1024) + b'"}}'
    r = await api.request("POST", CMS, data=big, headers={"Content-Type": "application/json"})
    assert r.status == 413
    assert r.body["reason"] == "RequestEntityTooLarge"
    assert await api.snapshot() == before


async def test_value_over_store_limit_is_rejected_cleanly(api: API) -> None:
    before = await api.snapshot()
    big = b'{"metadata":{"name":"big"},"data":{"k":"' + b"x" * (2 * 1024 * 1024) + b'"}}'
    r = await api.request("POST", CMS, data=big, headers={"Content-Type": "application/json"})
    assert r.status in (413, 422)
    assert await api.snapshot() == before


async def test_malformed_protobuf_is_400_and_unknown_media_types_415(api: API) -> None:
    before = await api.snapshot()
    r = await api.request("POST", CMS, data=b"k8s\x00\n\x0c\n\x02v1", headers={
        "Content-Type": "application/vnd.kubernetes.protobuf"})
    assert r.status == 400  # truncated envelope (protobuf bodies themselves: test_protobuf.py)
    assert r.body["reason"] == "BadRequest"
    r = await api.request("PUT", f"{CMS}/x", data=b"k8s\x00", headers={"Content-Type": "text/plain"})
    assert r.status == 415
    assert await api.snapshot() == before


async def test_malformed_update_and_delete_bodies_change_nothing(api: API) -> None:
    await api.create_cm("keep")
    before = await api.snapshot()
    r = await api.request("PUT", f"{CMS}/keep", data=b"{bad", headers={"Content-Type": "application/json"})
    assert r.status == 400
    r = await api.request("DELETE", f"{CMS}/keep", data=b"{bad", headers={"Content-Type": "application/json"})
    assert r.status == 400
    r = await api.delete(f"{CMS}/keep", {"propagationPolicy": "Sideways"})
    assert r.status == 422
    r = await api.delete(f"{CMS}/keep", {"preconditions": "uid"})
    assert r.status == 400
    assert await api.snapshot() == before


@pytest.mark.parametrize(
    "query",
    [
        {"limit": "abc"},
        {"resourceVersion": "abc"},
        {"resourceVersion": "-1"},
        {"labelSelector": "a in (b"},
        {"labelSelector": "!!"},
        {"fieldSelector": "spec.nope=1"},
        {"fieldSelector": "metadata.name"},
        {"continue": "%%%not-a-token"},
        {"continue": "eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6MCwic3RhcnQiOiIifQ"},
        {"watch": "maybe"},
        {"limit": "1", "resourceVersion": "5",
         "continue": "eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6Mywic3RhcnQiOiJhXHUwMDAwIn0"},
    ],
)
async def test_bad_query_parameters_are_400(api: API, query: dict[str, str]) -> None:
    r = await api.get(CMS, **query)
    assert r.status == 400, r.body
    assert r.body["kind"] == "Status"


@pytest.mark.parametrize(
    "query",
    [
        {"resourceVersionMatch": "Exact"},
        {"resourceVersion": "1", "resourceVersionMatch": "Sometimes"},
        {"resourceVersion": "0", "resourceVersionMatch": "Exact"},
        {"sendInitialEvents": "true"},
        {"watch": "true", "sendInitialEvents": "true"},
        {"watch": "true", "resourceVersionMatch": "NotOlderThan"},
    ],
)
async def test_forbidden_option_combinations_are_422(api: API, query: dict[str, str]) -> None:
    r = await api.get(CMS, **query)
    assert r.status == 422, r.body
    assert r.body["details"]["kind"] == "ListOptions"
    assert r.body["details"]["group"] == "meta.k8s.io"


async def test_odd_paths_are_404_not_500(api: API) -> None:
    for path in ["/api/v1/namespaces/default/configmaps/a/b/c/d", "/api/v1/namespaces/default/configmaps/%2F",
                 "/api/v1/namespaces/default/configmaps/%2E%2E", "/api/v1/nodes/x/log", "/api/v2/pods",
                 "/apis/apps/v1/namespaces/default/deployments/x/scale"]:
        r = await api.get(path)
        assert r.status == 404, (path, r.body)
        assert r.body["kind"] == "Status"
