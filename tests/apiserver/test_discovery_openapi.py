"""/openapi/v3: index, per-group-version documents from upstream's 1.32 schemas, caching headers."""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator
from typing import Any, ClassVar

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from sampan.api.resources import ResourceInfo
from sampan.apiserver import openapi
from sampan.apiserver.openapi import schemas
from sampan.apiserver.registry.base import BaseStrategy
from sampan.apiserver.registry.catalog import Catalog


class _Widgets(BaseStrategy):
    """A kind upstream has no schema for."""

    info: ClassVar[ResourceInfo] = ResourceInfo(
        group="example.com", version="v1", resource="widgets", kind="Widget", singular="widget", namespaced=True,
    )


@pytest.fixture
async def client() -> AsyncIterator[TestClient[Any, Any]]:
    app = web.Application()
    openapi.register(app, Catalog([*Catalog.builtin().strategies(), _Widgets()]))
    async with TestClient(TestServer(app, host="127.0.0.1"), auto_decompress=True) as c:
        yield c


async def fetch(client: TestClient[Any, Any], url: str) -> dict[str, Any]:
    resp = await client.get(url, headers={"Accept": "application/json"})
    assert resp.status == 200, await resp.text()
    return orjson.loads(await resp.read())


def test_schemas_are_converted_to_openapi3() -> None:
    defs = schemas.definitions()
    pod = defs["io.k8s.api.core.v1.Pod"]
    assert pod["type"] == "object"
    assert "enum" not in pod["properties"]["apiVersion"]
    assert pod["properties"]["spec"] == {
        "allOf": [{"$ref": "#/components/schemas/io.k8s.api.core.v1.PodSpec"}],
        "description": pod["properties"]["spec"]["description"],
    }
    containers = defs["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"]
    assert containers["x-kubernetes-patch-merge-key"] == "name"
    assert containers["x-kubernetes-list-map-keys"] == ["name"]
    assert defs["io.k8s.apimachinery.pkg.util.intstr.IntOrString"]["format"] == "int-or-string"
    assert schemas.schema_name("apps", "v1", "Deployment") == "io.k8s.api.apps.v1.Deployment"
    assert schemas.schema_name("example.com", "v1", "Widget") is None


def test_no_dangling_references() -> None:
    deployments = Catalog.builtin().lookup("apps", "v1", "deployments")
    assert deployments is not None
    doc = openapi.build_document("apps", "v1", [deployments.info])
    names = set(doc["components"]["schemas"])
    for ref in schemas.refs_in(doc):
        assert ref in names, ref
    assert "io.k8s.api.autoscaling.v1.Scale" in names
    assert "io.k8s.api.core.v1.PodTemplateSpec" in names


async def test_index_and_documents(client: TestClient[Any, Any]) -> None:
    index = await fetch(client, "/openapi/v3?timeout=32s")
    expected = {f"apis/{g}/{v}" if g else f"api/{v}" for g, vs in Catalog.builtin().groups() for v in vs}
    assert set(index["paths"]) == expected | {"apis/example.com/v1"}
    url = index["paths"]["api/v1"]["serverRelativeURL"]
    assert url.startswith("/openapi/v3/api/v1?hash=")
    doc = await fetch(client, url + "&timeout=32s")
    assert doc["openapi"].startswith("3.")
    assert "/api/v1/namespaces/{namespace}/configmaps/{name}" in doc["paths"]
    assert "io.k8s.api.core.v1.ConfigMap" in doc["components"]["schemas"]


async def test_every_patch_operation_supports_field_validation(client: TestClient[Any, Any]) -> None:
    """What kubectl's query-param verifier checks before sending fieldValidation=Strict."""
    index = await fetch(client, "/openapi/v3")
    for gv, entry in index["paths"].items():
        doc = await fetch(client, entry["serverRelativeURL"])
        patches = [item["patch"] for item in doc["paths"].values() if "patch" in item]
        # reviews are create-only, as upstream
        assert patches or gv in ("apis/authorization.k8s.io/v1", "apis/authentication.k8s.io/v1",
                                 "apis/authentication.k8s.io/v1beta1", "apis/authentication.k8s.io/v1alpha1")
        for op in patches:
            assert op["x-kubernetes-group-version-kind"]["kind"]
            names = {(p["name"], p["in"]) for p in op["parameters"]}
            assert ("fieldValidation", "query") in names


async def test_document_operations(client: TestClient[Any, Any]) -> None:
    index = await fetch(client, "/openapi/v3")
    doc = await fetch(client, index["paths"]["apis/apps/v1"]["serverRelativeURL"])
    item = doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]
    assert item["patch"]["operationId"] == "patchAppsV1NamespacedDeployment"
    assert item["patch"]["x-kubernetes-group-version-kind"] == {"group": "apps", "version": "v1",
                                                                "kind": "Deployment"}
    assert "application/strategic-merge-patch+json" in item["patch"]["requestBody"]["content"]
    scale = doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"]
    assert scale["put"]["x-kubernetes-group-version-kind"]["kind"] == "Scale"
    coll = doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments"]
    assert coll["get"]["x-kubernetes-action"] == "list"
    assert coll["post"]["operationId"] == "createAppsV1NamespacedDeployment"
    assert "/apis/apps/v1/deployments" in doc["paths"]
    widgets = await fetch(client, index["paths"]["apis/example.com/v1"]["serverRelativeURL"])
    widget_schema = widgets["components"]["schemas"]["io.sampan.apis.example.com.v1.Widget"]
    assert widget_schema["x-kubernetes-preserve-unknown-fields"] is True


async def test_caching_headers_and_stale_hash(client: TestClient[Any, Any]) -> None:
    index = await fetch(client, "/openapi/v3")
    url = index["paths"]["api/v1"]["serverRelativeURL"]
    current = await client.get(url)
    assert current.headers["Cache-Control"] == "public, immutable"
    etag = current.headers["ETag"]
    assert (await client.get(url, headers={"If-None-Match": etag})).status == 304
    unhashed = await client.get("/openapi/v3/api/v1")
    assert unhashed.headers["Cache-Control"] == "no-cache, private"
    stale = await client.get("/openapi/v3/api/v1?hash=OLD", allow_redirects=False)
    assert stale.status == 301
    assert stale.headers["Location"] == url


async def test_gzip_when_accepted(client: TestClient[Any, Any]) -> None:
    resp = await client.get("/openapi/v3/api/v1", headers={"Accept-Encoding": "gzip"}, auto_decompress=False)
    assert resp.headers["Content-Encoding"] == "gzip"
    assert orjson.loads(gzip.decompress(await resp.read()))["openapi"].startswith("3.")


async def test_unknown_document_is_404_status(client: TestClient[Any, Any]) -> None:
    resp = await client.get("/openapi/v3/apis/nope/v1")
    assert resp.status == 404
    body = await resp.json()
    assert body["kind"] == "Status"
    assert (await client.get("/openapi/v3", headers={"Accept": "application/vnd.kubernetes.protobuf"})).status == 406


def _fields(buf: bytes) -> list[tuple[int, int | bytes]]:
    """Decode one protobuf message level: (field number, int or bytes) in order."""
    out: list[tuple[int, int | bytes]] = []
    i = 0

    def varint() -> int:
        nonlocal i
        shift = value = 0
        while True:
            b = buf[i]
            i += 1
            value |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return value

    while i < len(buf):
        key = varint()
        num, wire = key >> 3, key & 7
        if wire == 0:
            out.append((num, varint()))
        elif wire == 2:
            n = varint()
            out.append((num, buf[i:i + n]))
            i += n
        else:
            raise AssertionError(f"unexpected wire type {wire}")
    return out


def _one(buf: bytes, num: int) -> bytes:
    values = [v for n, v in _fields(buf) if n == num]
    assert len(values) == 1, (num, values)
    value = values[0]
    assert isinstance(value, bytes), (num, value)
    return value


async def test_openapi_v2_protobuf_has_patch_operations_with_gvk(client: TestClient[Any, Any]) -> None:
    """What kubectl 1.27 reads: gnostic Document.paths.path[].value.patch with the GVK extension and a
    fieldValidation query parameter."""
    resp = await client.get("/openapi/v2?timeout=32s",
                            headers={"Accept": "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"})
    assert resp.status == 200
    assert resp.headers["Content-Type"] == "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
    doc = await resp.read()
    assert _one(doc, 1) == b"2.0"
    found: dict[str, tuple[str, list[str]]] = {}
    for num, named in _fields(_one(doc, 8)):
        assert num == 2
        assert isinstance(named, bytes)
        path = _one(named, 1).decode()
        op = _one(_one(named, 2), 8)
        gvk = ""
        for n, ext in _fields(op):
            if n == 13 and isinstance(ext, bytes) and _one(ext, 1) == b"x-kubernetes-group-version-kind":
                gvk = _one(_one(ext, 2), 2).decode()
        params = []
        for n, item in _fields(op):
            if n == 8 and isinstance(item, bytes):
                query = _one(_one(_one(item, 1), 2), 3)
                assert _one(query, 2) == b"query"
                params.append(_one(query, 4).decode())
        found[path] = (gvk, params)
    gvk, params = found["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]
    assert gvk == 'group: "apps"\nkind: "Deployment"\nversion: "v1"\n'
    assert "fieldValidation" in params
    assert found["/api/v1/namespaces/{namespace}/pods/{name}/status"][0].endswith('kind: "Pod"\nversion: "v1"\n')
    as_json = await (await client.get("/openapi/v2", headers={"Accept": "application/json"})).json()
    assert as_json["swagger"] == "2.0"
    patch = as_json["paths"]["/api/v1/namespaces/{namespace}/configmaps/{name}"]["patch"]
    assert patch["x-kubernetes-group-version-kind"] == {"group": "", "version": "v1", "kind": "ConfigMap"}
