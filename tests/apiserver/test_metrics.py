"""Request classification, the metrics middleware, /metrics and storage instrumentation."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families

from sampan.api.errors import NotFound
from sampan.apiserver import metrics as m
from sampan.storage.errors import KeyNotFound
from sampan.storage.memory import MemoryStorage


@pytest.mark.parametrize(
    ("method", "path", "query", "expected"),
    [
        ("GET", "/api/v1/namespaces/default/pods", {}, ("list", "", "v1", "pods", "", "default", "")),
        ("GET", "/api/v1/namespaces/default/pods", {"watch": "true"}, ("watch", "", "v1", "pods", "", "default", "")),
        ("GET", "/api/v1/watch/namespaces/default/pods", {}, ("watch", "", "v1", "pods", "", "default", "")),
        ("GET", "/api/v1/pods", {"watch": "1"}, ("watch", "", "v1", "pods", "", "", "")),
        ("GET", "/api/v1/namespaces/default/pods/x", {}, ("get", "", "v1", "pods", "", "default", "x")),
        ("PUT", "/api/v1/namespaces/default/pods/x/status", {}, ("update", "", "v1", "pods", "status", "default",
                                                                  "x")),
        ("PATCH", "/apis/apps/v1/namespaces/ns/deployments/d/scale", {},
         ("patch", "apps", "v1", "deployments", "scale", "ns", "d")),
        ("POST", "/apis/batch/v1/namespaces/ns/jobs", {}, ("create", "batch", "v1", "jobs", "", "ns", "")),
        ("DELETE", "/api/v1/namespaces/ns/configmaps", {}, ("deletecollection", "", "v1", "configmaps", "", "ns",
                                                            "")),
        ("DELETE", "/api/v1/namespaces/ns", {}, ("delete", "", "v1", "namespaces", "", "", "ns")),
        ("PUT", "/api/v1/namespaces/ns/finalize", {}, ("update", "", "v1", "namespaces", "finalize", "", "ns")),
        ("GET", "/api/v1/nodes", {}, ("list", "", "v1", "nodes", "", "", "")),
    ],
)
def test_request_info(method: str, path: str, query: dict[str, str], expected: tuple[str, ...]) -> None:
    info = m.request_info(method, path, query)
    assert info.is_resource
    got = (info.verb, info.group, info.version, info.resource, info.subresource, info.namespace, info.name)
    assert got == expected


@pytest.mark.parametrize("path", ["/healthz", "/version", "/api", "/apis", "/apis/apps", "/api/v1", "/apis/apps/v1",
                                  "/openapi/v3/api/v1", "/metrics"])
def test_non_resource_requests(path: str) -> None:
    info = m.request_info("GET", path, {})
    assert not info.is_resource
    assert info.scope == ""
    assert m.metric_verb(info, "GET") == "GET"


def test_metric_verbs() -> None:
    assert m.metric_verb(m.request_info("GET", "/api/v1/pods", {}), "GET") == "LIST"
    assert m.metric_verb(m.request_info("PATCH", "/api/v1/namespaces/a/pods/x", {}), "PATCH",
                         "application/apply-patch+yaml") == "APPLY"
    assert m.metric_verb(m.request_info("DELETE", "/api/v1/namespaces/a/pods", {}), "DELETE") == "DELETE"


def samples(metrics: m.APIMetrics, name: str) -> list[tuple[dict[str, str], float]]:
    out = []
    for family in text_string_to_metric_families(metrics.render().decode()):
        for s in family.samples:
            if s.name == name:
                out.append((s.labels, s.value))
    return out


@pytest.fixture
async def served() -> AsyncIterator[tuple[TestClient[Any, Any], m.APIMetrics, asyncio.Event]]:
    metrics = m.APIMetrics(kind_of=lambda g, v, r: {"pods": "Pod"}.get(r))
    release = asyncio.Event()

    async def get_pod(request: web.Request) -> web.Response:
        if request.match_info["name"] == "missing":
            raise NotFound('pods "missing" not found')
        return web.json_response({"kind": "Pod"})

    async def watch_pods(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse()
        await resp.prepare(request)
        await release.wait()
        return resp

    @web.middleware
    async def render_errors(request: web.Request, handler: Any) -> web.StreamResponse:
        try:
            resp: web.StreamResponse = await handler(request)
            return resp
        except NotFound as err:
            return web.json_response(err.to_status(), status=err.code)

    app = web.Application(middlewares=[render_errors])
    m.install(app, metrics)
    app.router.add_get("/api/v1/namespaces/{ns}/pods/{name}", get_pod)
    app.router.add_get("/api/v1/namespaces/{ns}/pods", watch_pods)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        yield client, metrics, release


async def test_requests_counted_by_code(served: tuple[TestClient[Any, Any], m.APIMetrics, asyncio.Event]) -> None:
    client, metrics, _ = served
    assert (await client.get("/api/v1/namespaces/default/pods/x")).status == 200
    assert (await client.get("/api/v1/namespaces/default/pods/x")).status == 200
    assert (await client.get("/api/v1/namespaces/default/pods/missing")).status == 404
    totals = {(s["verb"], s["resource"], s["scope"], s["code"]): v
              for s, v in samples(metrics, "apiserver_request_total")}
    assert totals[("GET", "pods", "resource", "200")] == 2
    assert totals[("GET", "pods", "resource", "404")] == 1
    counts = {s["verb"]: v for s, v in samples(metrics, "apiserver_request_duration_seconds_count")}
    assert counts["GET"] == 3
    inflight = {s["request_kind"]: v for s, v in samples(metrics, "apiserver_current_inflight_requests")}
    assert inflight == {"readOnly": 0, "mutating": 0}


async def test_open_watches_are_gauged(served: tuple[TestClient[Any, Any], m.APIMetrics, asyncio.Event]) -> None:
    client, metrics, release = served
    resp = await client.get("/api/v1/namespaces/default/pods?watch=true")
    assert resp.status == 200
    watchers = samples(metrics, "apiserver_registered_watchers")
    assert watchers == [({"group": "", "version": "v1", "kind": "Pod"}, 1.0)]
    longrunning = samples(metrics, "apiserver_longrunning_requests")
    assert longrunning[0][0]["verb"] == "WATCH"
    assert longrunning[0][1] == 1
    release.set()
    await resp.read()
    resp.close()
    for _ in range(100):
        if samples(metrics, "apiserver_registered_watchers")[0][1] == 0:
            break
        await asyncio.sleep(0.01)
    assert samples(metrics, "apiserver_registered_watchers")[0][1] == 0


async def test_metrics_endpoint(served: tuple[TestClient[Any, Any], m.APIMetrics, asyncio.Event]) -> None:
    client, _, _ = served
    resp = await client.get("/metrics")
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("text/plain")
    text = await resp.text()
    for name in ("apiserver_request_total", "apiserver_request_duration_seconds", "apiserver_current_inflight_requests",
                 "apiserver_registered_watchers", "apiserver_watch_events_total", "etcd_request_duration_seconds"):
        assert name in text


def test_registries_are_per_server() -> None:
    a, b = m.APIMetrics(), m.APIMetrics()
    a.watch_events(group="", version="v1", kind="Pod").sent(100)
    assert samples(a, "apiserver_watch_events_total") == [({"group": "", "version": "v1", "kind": "Pod"}, 1.0)]
    assert samples(b, "apiserver_watch_events_total") == []


async def test_instrumented_storage_times_calls_and_passes_errors_through() -> None:
    metrics = m.APIMetrics()
    store = metrics.instrument(MemoryStorage())
    rev = await store.create("/registry/pods/default/a", b"{}")
    kv = await store.get("/registry/pods/default/a")
    assert kv.mod_revision == rev
    assert (await store.list("/registry/pods/")).kvs[0].key == "/registry/pods/default/a"
    await store.update("/registry/pods/default/a", b"{}", expected_mod_revision=rev)
    with pytest.raises(KeyNotFound):
        await store.get("/registry/configmaps/default/nope")
    assert await store.current_revision() == rev + 1
    counts = {(s["operation"], s["type"]): v for s, v in samples(metrics, "etcd_request_duration_seconds_count")}
    assert counts[("create", "pods")] == 1
    assert counts[("get", "pods")] == 1
    assert counts[("list", "pods")] == 1
    assert counts[("update", "pods")] == 1
    assert counts[("get", "configmaps")] == 1
    errors = {(s["operation"], s["type"]): v for s, v in samples(metrics, "etcd_request_errors_total")}
    assert errors == {("get", "configmaps"): 1}
    await store.close()


def test_watch_event_sizes_histogram() -> None:
    metrics = m.APIMetrics()
    counter = metrics.watch_events(group="apps", version="v1", kind="Deployment")
    for size in (100, 1024, 1025, 10_000_000):
        counter.sent(size)
    metrics.watch_events(group="apps", version="v1", kind="Deployment").sent(2000)  # same series
    buckets = {s["le"]: v for s, v in samples(metrics, "apiserver_watch_events_sizes_bucket")}
    assert buckets["1024.0"] == 2
    assert buckets["3072.0"] == 4
    assert buckets["746496.0"] == 4
    assert buckets["+Inf"] == 5
    assert samples(metrics, "apiserver_watch_events_sizes_sum")[0][1] == 100 + 1024 + 1025 + 10_000_000 + 2000
    assert samples(metrics, "apiserver_watch_events_total")[0][1] == 5
