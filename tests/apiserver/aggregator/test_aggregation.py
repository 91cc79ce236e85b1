"""The aggregation layer against a real HTTPS extension server: Local APIServices for built-ins, a remote
group-version becoming Available, requests proxied with the caller's identity, discovery listing it, and
upstream's 503s when the Service or its endpoints are missing."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from sampan.testing.webhooks import Certificates, make_certificates
from tests.apiserver.conftest import API

GROUP, VERSION = "metrics.example.com", "v1beta1"
APISERVICE = f"{VERSION}.{GROUP}"
RESOURCES = {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": f"{GROUP}/{VERSION}",
             "resources": [{"name": "widgets", "singularName": "", "namespaced": True, "kind": "Widget",
                            "verbs": ["get", "list"]},
                           {"name": "widgets/status", "singularName": "", "namespaced": True, "kind": "Widget",
                            "verbs": ["get"]}]}


class Extension:
    """A tiny extension API server: its discovery document and one list, recording the identity headers."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []
        self.port = 0

    async def discovery(self, request: web.Request) -> web.Response:
        return web.json_response(RESOURCES)

    async def widgets(self, request: web.Request) -> web.Response:
        self.seen.append({"user": request.headers.get("X-Remote-User"),
                          "groups": request.headers.getall("X-Remote-Group", []),
                          "authorization": request.headers.get("Authorization"),
                          "query": request.query_string})
        return web.json_response({"kind": "WidgetList", "apiVersion": f"{GROUP}/{VERSION}", "items": [
            {"metadata": {"name": "w1", "namespace": request.match_info["ns"]}}]})


@pytest.fixture
async def extension(tmp_path: Path) -> AsyncIterator[tuple[Extension, Certificates]]:
    certs = make_certificates(tmp_path / "certs")
    ext = Extension()
    app = web.Application()
    app.router.add_get(f"/apis/{GROUP}/{VERSION}", ext.discovery)
    app.router.add_get(f"/apis/{GROUP}/{VERSION}/namespaces/{{ns}}/widgets", ext.widgets)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certs.cert_file, certs.key_file)
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    ext.port = int(runner.addresses[0][1])
    yield ext, certs
    await runner.cleanup()


async def register(api: API, port: int, *, ca_bundle: str | None = None, endpoints: bool = True) -> None:
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "ext", "namespace": "kube-system"},
           "spec": {"ports": [{"port": 443, "targetPort": port}]}}
    assert (await api.post("/api/v1/namespaces/kube-system/services", svc)).status == 201
    if endpoints:
        eps = {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "ext", "namespace": "kube-system"},
               "subsets": [{"addresses": [{"ip": "127.0.0.1"}], "ports": [{"port": port}]}]}
        assert (await api.post("/api/v1/namespaces/kube-system/endpoints", eps)).status == 201
    spec: dict[str, Any] = {"group": GROUP, "version": VERSION, "groupPriorityMinimum": 100, "versionPriority": 100,
                            "service": {"namespace": "kube-system", "name": "ext"}}
    if ca_bundle is None:
        spec["insecureSkipTLSVerify"] = True
    else:
        spec["caBundle"] = ca_bundle
    body = {"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService", "metadata": {"name": APISERVICE},
            "spec": spec}
    reply = await api.post("/apis/apiregistration.k8s.io/v1/apiservices", body)
    assert reply.status == 201, reply.body


async def available(api: API) -> dict[str, Any]:
    for _ in range(200):
        obj = (await api.get(f"/apis/apiregistration.k8s.io/v1/apiservices/{APISERVICE}")).body
        conds = {c["type"]: c for c in (obj.get("status") or {}).get("conditions") or []}
        if "Available" in conds:
            return dict(conds["Available"])
        await asyncio.sleep(0.05)
    raise AssertionError("no Available condition written")


async def until_available(api: API, status: str) -> dict[str, Any]:
    for _ in range(200):
        cond = await available(api)
        if cond["status"] == status:
            return cond
        await asyncio.sleep(0.05)
    raise AssertionError(f"Available never became {status}")


async def test_builtin_group_versions_are_local_apiservices(api: API) -> None:
    for _ in range(100):
        items = (await api.get("/apis/apiregistration.k8s.io/v1/apiservices")).body["items"]
        names = {i["metadata"]["name"] for i in items}
        if {"v1.", "v1.apps", "v1.batch"} <= names:
            break
        await asyncio.sleep(0.05)
    assert {"v1.", "v1.apps", "v1.batch", "v2.autoscaling", "v1.apiregistration.k8s.io"} <= names
    apps = (await api.get("/apis/apiregistration.k8s.io/v1/apiservices/v1.apps")).body
    assert apps["spec"]["service"] is None
    assert apps["status"]["conditions"][0]["reason"] == "Local"


async def test_a_remote_group_version_is_proxied_with_the_callers_identity(
        api: API, extension: tuple[Extension, Certificates]) -> None:
    ext, certs = extension
    await register(api, ext.port, ca_bundle=certs.ca_bundle)
    cond = await until_available(api, "True")
    assert cond["reason"] == "Passed"
    reply = await api.request("GET", f"/apis/{GROUP}/{VERSION}/namespaces/default/widgets",
                              headers={"Authorization": "Bearer secret"}, params={"limit": "5"})
    assert reply.status == 200, reply.body
    assert [i["metadata"]["name"] for i in reply.body["items"]] == ["w1"]
    [seen] = ext.seen
    assert seen["user"] == "system:admin"
    assert "system:masters" in seen["groups"]
    assert seen["authorization"] is None  # the client's own credentials never leave the API server
    assert seen["query"] == "limit=5"


async def test_discovery_lists_the_aggregated_group(api: API, extension: tuple[Extension, Certificates]) -> None:
    ext, _ = extension
    await register(api, ext.port)
    await until_available(api, "True")
    groups = {g["name"]: g for g in (await api.get("/apis")).body["groups"]}
    assert groups[GROUP]["preferredVersion"]["groupVersion"] == f"{GROUP}/{VERSION}"
    assert (await api.get(f"/apis/{GROUP}")).body["versions"][0]["version"] == VERSION
    agg = await api.request("GET", "/apis", headers={
        "Accept": "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"})
    item = next(i for i in agg.body["items"] if i["metadata"]["name"] == GROUP)
    [widgets] = item["versions"][0]["resources"]
    assert widgets["resource"] == "widgets"
    assert widgets["scope"] == "Namespaced"
    assert [s["subresource"] for s in widgets["subresources"]] == ["status"]


async def test_missing_endpoints_and_unreachable_servers_are_503(api: API) -> None:
    await register(api, 1, endpoints=False)
    cond = await until_available(api, "False")
    assert cond["reason"] == "MissingEndpoints"
    reply = await api.get(f"/apis/{GROUP}/{VERSION}/namespaces/default/widgets")
    assert reply.status == 503
    assert reply.reason == "ServiceUnavailable"
    eps = {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "ext", "namespace": "kube-system"},
           "subsets": [{"addresses": [{"ip": "127.0.0.1"}], "ports": [{"port": 1}]}]}
    assert (await api.post("/api/v1/namespaces/kube-system/endpoints", eps)).status == 201
    for _ in range(200):
        cond = await available(api)
        if cond["reason"] == "FailedDiscoveryCheck":
            break
        await asyncio.sleep(0.05)
    assert cond["reason"] == "FailedDiscoveryCheck"
    assert (await api.get(f"/apis/{GROUP}/{VERSION}/namespaces/default/widgets")).status == 503


async def test_apiservice_validation(api: API) -> None:
    body = {"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService", "metadata": {"name": "wrong"},
            "spec": {"group": GROUP, "version": VERSION, "groupPriorityMinimum": 0, "versionPriority": 100,
                     "insecureSkipTLSVerify": True, "caBundle": "Zm9v",
                     "service": {"namespace": "kube-system", "name": "ext"}}}
    reply = await api.post("/apis/apiregistration.k8s.io/v1/apiservices", body)
    assert reply.status == 422
    fields = {c["field"] for c in reply.body["details"]["causes"]}
    assert fields == {"metadata.name", "spec.groupPriorityMinimum", "spec.insecureSkipTLSVerify"}
