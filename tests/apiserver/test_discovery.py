"""Legacy and aggregated discovery, /version and trailing slashes, on a real aiohttp server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from sampan.apiserver import discovery
from sampan.apiserver.registry.catalog import Catalog

V2 = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
V2BETA1 = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"
KUBECTL_132 = f"{V2},{V2BETA1},application/json"
KUBECTL_129 = f"{V2BETA1},application/json"


def make_catalog() -> Catalog:
    """The real built-in catalog (assertions below hold however many resources it grows)."""
    return Catalog.builtin()


@pytest.fixture
async def client() -> AsyncIterator[TestClient[web.Request, web.Application]]:
    app = web.Application()
    discovery.register(app, make_catalog(), openapi=False)
    async with TestClient(TestServer(app, host="127.0.0.1")) as c:
        yield c


async def get_json(client: TestClient[Any, Any], path: str, accept: str | None = None,
                   status: int = 200) -> tuple[dict[str, Any], str]:
    headers = {"Accept": accept} if accept else {}
    resp = await client.get(path, headers=headers)
    assert resp.status == status, await resp.text()
    return await resp.json(content_type=None), resp.headers.get("Content-Type", "")


async def test_version(client: TestClient[Any, Any]) -> None:
    for path in ("/version", "/version/", "/version?timeout=5s"):
        body, _ = await get_json(client, path, "application/json, */*")
        assert body["major"] == "1"
        assert body["minor"] == "32"
        assert body["minor"].isdigit()
        assert body["gitVersion"].startswith("v1.32.")
        for key in ("gitCommit", "gitTreeState", "buildDate", "goVersion", "compiler", "platform"):
            assert body[key]


async def test_legacy_api_and_apis(client: TestClient[Any, Any]) -> None:
    body, ctype = await get_json(client, "/api", "application/json, */*")
    assert ctype.startswith("application/json")
    assert body["kind"] == "APIVersions"
    assert body["versions"] == ["v1"]
    assert body["serverAddressByClientCIDRs"][0]["clientCIDR"] == "0.0.0.0/0"

    body, _ = await get_json(client, "/apis/", "*/*")
    assert body["kind"] == "APIGroupList"
    names = [g["name"] for g in body["groups"]]
    assert names == [g for g, _ in make_catalog().groups() if g]
    assert names[:2] == ["apiregistration.k8s.io", "apps"]  # upstream's order
    assert "coordination.k8s.io" in names
    apps = body["groups"][1]
    assert apps["preferredVersion"] == {"groupVersion": "apps/v1", "version": "v1"}
    assert apps["versions"] == [{"groupVersion": "apps/v1", "version": "v1"}]


async def test_api_group_and_resource_lists(client: TestClient[Any, Any]) -> None:
    body, _ = await get_json(client, "/apis/apps")
    assert body["kind"] == "APIGroup"
    assert body["name"] == "apps"

    body, _ = await get_json(client, "/apis/apps/v1/")
    assert body["kind"] == "APIResourceList"
    assert body["groupVersion"] == "apps/v1"
    by_name = {r["name"]: r for r in body["resources"]}
    assert {"deployments", "deployments/scale", "deployments/status"} <= set(by_name)
    dep = by_name["deployments"]
    assert dep["singularName"] == "deployment"
    assert dep["namespaced"] is True
    assert dep["kind"] == "Deployment"
    assert dep["shortNames"] == ["deploy"]
    assert dep["categories"] == ["all"]
    assert dep["verbs"] == ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
    assert dep["storageVersionHash"]
    scale = by_name["deployments/scale"]
    assert (scale["group"], scale["version"], scale["kind"]) == ("autoscaling", "v1", "Scale")
    assert scale["verbs"] == ["get", "patch", "update"]
    assert by_name["deployments/status"]["kind"] == "Deployment"
    assert "group" not in by_name["deployments/status"]

    # `kubectl get api-extensions` lists the admission policies too, as upstream's storage declares
    admission, _ = await get_json(client, "/apis/admissionregistration.k8s.io/v1")
    categories = {r["name"]: r.get("categories") for r in admission["resources"] if "/" not in r["name"]}
    assert categories["validatingadmissionpolicies"] == categories["validatingadmissionpolicybindings"] == [
        "api-extensions"]

    core, _ = await get_json(client, "/api/v1?timeout=32s", "application/json, */*")
    assert core["groupVersion"] == "v1"
    ns = {r["name"]: r for r in core["resources"]}
    assert ns["namespaces"]["namespaced"] is False
    assert ns["namespaces"]["shortNames"] == ["ns"]
    assert "namespaces/status" in ns
    assert ns["namespaces/finalize"]["verbs"] == ["update"]
    # kopf reads singularName from every entry, subresources included
    assert all("singularName" in r for r in core["resources"])


async def test_aggregated_v2(client: TestClient[Any, Any]) -> None:
    body, ctype = await get_json(client, "/apis?timeout=32s", KUBECTL_132)
    assert ctype == V2
    assert body["kind"] == "APIGroupDiscoveryList"
    assert body["apiVersion"] == "apidiscovery.k8s.io/v2"
    groups = {g["metadata"]["name"]: g for g in body["items"]}
    assert list(groups) == [g for g, _ in make_catalog().groups() if g]
    version = groups["apps"]["versions"][0]
    assert version["version"] == "v1"
    assert version["freshness"] == "Current"
    dep = next(r for r in version["resources"] if r["resource"] == "deployments")
    assert dep["responseKind"] == {"group": "apps", "version": "v1", "kind": "Deployment"}
    assert dep["scope"] == "Namespaced"
    assert dep["singularResource"] == "deployment"
    assert dep["shortNames"] == ["deploy"]
    subs = {s["subresource"]: s for s in dep["subresources"]}
    assert subs["scale"]["responseKind"] == {"group": "autoscaling", "version": "v1", "kind": "Scale"}
    assert subs["status"]["responseKind"]["kind"] == "Deployment"

    core, ctype = await get_json(client, "/api?timeout=32s", KUBECTL_132)
    assert ctype == V2
    assert len(core["items"]) == 1
    assert "name" not in core["items"][0]["metadata"]
    resources = {r["resource"]: r for r in core["items"][0]["versions"][0]["resources"]}
    assert resources["namespaces"]["scope"] == "Cluster"
    assert resources["configmaps"]["responseKind"] == {"group": "", "version": "v1", "kind": "ConfigMap"}


async def test_aggregated_v2beta1_for_older_kubectl(client: TestClient[Any, Any]) -> None:
    body, ctype = await get_json(client, "/apis", KUBECTL_129)
    assert ctype == V2BETA1
    assert body["apiVersion"] == "apidiscovery.k8s.io/v2beta1"


async def test_unknown_group_or_version_is_404_status(client: TestClient[Any, Any]) -> None:
    for path in ("/apis/nope", "/apis/nope/v1", "/apis/apps/v2", "/api/v2"):
        body, ctype = await get_json(client, path, status=404)
        assert ctype.startswith("application/json")
        assert body["kind"] == "Status"
        assert body["reason"] == "NotFound"
        assert body["code"] == 404


async def test_unacceptable_accept_is_406(client: TestClient[Any, Any]) -> None:
    body, _ = await get_json(client, "/apis", "application/vnd.kubernetes.protobuf", status=406)
    assert body["reason"] == "NotAcceptable"
    body, _ = await get_json(client, "/apis/apps/v1", V2, status=406)
    assert body["reason"] == "NotAcceptable"


async def test_etag_and_not_modified(client: TestClient[Any, Any]) -> None:
    resp = await client.get("/apis", headers={"Accept": KUBECTL_132})
    etag = resp.headers["ETag"]
    assert resp.headers["Vary"] == "Accept"
    again = await client.get("/apis", headers={"Accept": KUBECTL_132, "If-None-Match": etag})
    assert again.status == 304
    legacy = await client.get("/apis", headers={"Accept": "application/json"})
    assert legacy.headers["ETag"] != etag


async def test_register_adds_health_and_metrics() -> None:
    from sampan.apiserver.metrics import APIMetrics

    app = web.Application()
    discovery.register(app, make_catalog(), metrics=APIMetrics(), openapi=False)
    async with TestClient(TestServer(app, host="127.0.0.1")) as c:
        assert (await c.get("/readyz")).status == 200
        await c.get("/api")
        text = await (await c.get("/metrics")).text()
        assert "apiserver_request_total" in text
