"""The tracing facade, the trace store and the timeline: off costs nothing (opentelemetry is not even
imported), on links a client's request to the API server's spans by traceparent and by uid/revision,
the store correlates an object's spans and rejects bad input with a Status, and a timeline's parts add up."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from sampan._lib import tracing
from sampan.client import Client, load_config
from sampan.tracestore.server import TraceStoreServer
from sampan.tracestore.store import SpanStore
from sampan.tracestore.timeline import build
from tests.support.apiserver import InProcessAPIServer


def test_off_by_default_and_opentelemetry_never_imported() -> None:
    code = ("import sys, sampan._lib.tracing as t, sampan.apiserver.app, sampan.scheduler.app, "
            "sampan.controllers.manager, sampan.kubelet.kubelet, sampan.proxy.proxier, sampan.cli.main\n"
            "assert not t.STATE.on\n"
            "with t.span('x', {'a': 1}) as s: s.set_attribute('b', 2)\n"
            "h = {}; t.inject(h); assert h == {}\n"
            "print(sorted(m for m in sys.modules if m.startswith('opentelemetry')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


async def test_client_and_server_spans_linked(inproc_apiserver: InProcessAPIServer) -> None:
    exporter = InMemorySpanExporter()
    with tracing.enabled_for_tests(exporter):
        async with Client(load_config(str(inproc_apiserver.kubeconfig))) as client:
            cms = await client.resource("v1", "configmaps")
            unwatched = await cms.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "u"}},
                                         namespace="default")
            await cms.get("u", namespace="default")  # a read outside traced work: no span
            events = cms.watch(namespace="default", resource_version=unwatched["metadata"]["resourceVersion"])
            for name in ("c", "d"):  # "c" arrives once the watch is registered (dispatched or replayed); "d" after
                created = await cms.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}},
                                           namespace="default")
                event = await asyncio.wait_for(anext(events), 30)
                assert event["object"]["metadata"]["name"] == name
            await events.aclose()  # type: ignore[attr-defined]
    finished = exporter.get_finished_spans()
    uid, rv = created["metadata"]["uid"], created["metadata"]["resourceVersion"]
    spans = {s.name: s for s in finished if s.attributes.get(tracing.UID) == uid}
    post, request = spans["HTTP POST"], spans["apiserver.request"]
    assert post.attributes[tracing.RV] == rv
    assert request.parent is not None
    assert request.parent.span_id == post.context.span_id  # linked by traceparent
    assert request.context.trace_id == post.context.trace_id
    assert request.resource.attributes["service.name"] == "test"
    steps = {e.name: e for e in request.events}  # cheap timed steps, not spans
    assert [e.name for e in request.events] == ["authentication", "admission.mutate", "admission.validate",
                                                "storage.create"]  # one authentication step for the chain
    assert steps["authentication"].attributes["authenticator"]
    write = steps["storage.create"].attributes
    assert write[tracing.RV] == rv
    assert write[tracing.STEP_DURATION] >= 0
    assert spans["watchcache.dispatch"].attributes[tracing.RV] == rv
    assert set(spans) == {"HTTP POST", "apiserver.request", "watchcache.dispatch"}
    # the unwatched create: its request, no dispatch to nobody; the GET outside traced work: nothing
    first = unwatched["metadata"]["uid"]
    assert sorted(s.name for s in finished if s.attributes.get(tracing.UID) == first) == [
        "HTTP POST", "apiserver.request"]
    assert not [s for s in finished if s.attributes.get("http.method") == "GET"
                and "/configmaps/u" in str(s.attributes.get("http.target"))]


def test_traceparent_and_sampling() -> None:
    """W3C traceparent in and out; a malformed one starts a new trace; a trace's sampling decision is made
    once, from its id (upstream's ratio sampler), and children follow their parent's."""
    exporter = InMemorySpanExporter()
    with tracing.enabled_for_tests(exporter):
        parent = tracing.extract_context({"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"})
        assert parent is not None
        assert parent.sampled
        with tracing.span("server", context=parent):
            headers: dict[str, str] = {}
            tracing.inject(headers)
        for bad in ("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331",
                    "zz-" + "0" * 32 + "-" + "1" * 16 + "-01", "00-" + "0" * 32 + "-b7ad6b7169203331-01",
                    "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"):
            assert tracing.extract_context({"traceparent": bad}) is None
        unsampled = tracing.extract_context({"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"})
        with tracing.span("dropped", context=unsampled), tracing.span("child"):
            pass
        tracing.STATE.bound = 0  # samplingRatePerMillion: 0
        with tracing.span("never"), tracing.step("never either"):
            pass
    (server,) = exporter.get_finished_spans()
    assert server.name == "server"
    assert f"{server.context.trace_id:032x}" == "0af7651916cd43dd8448eb211c80319c"
    assert server.parent is not None
    assert server.parent.is_remote
    assert server.parent.span_id == 0xb7ad6b7169203331
    assert headers["traceparent"] == f"00-0af7651916cd43dd8448eb211c80319c-{server.context.span_id:016x}-01"


def test_tracing_config_file(tmp_path: Path) -> None:
    good = tmp_path / "tracing.yaml"
    good.write_text("apiVersion: apiserver.config.k8s.io/v1beta1\nkind: TracingConfiguration\n"
                    "endpoint: localhost:4318\nsamplingRatePerMillion: 250000\n")
    cfg = tracing.load_tracing_config_file(str(good))
    assert (cfg.endpoint, cfg.sampling_rate_per_million) == ("localhost:4318", 250000)
    assert tracing.otlp_url(cfg.endpoint) == "http://localhost:4318/v1/traces"
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: TracingConfiguration\nsamplingRatePerMillion: 2000000\n")
    with pytest.raises(ValueError, match="samplingRatePerMillion"):
        tracing.load_tracing_config_file(str(bad))
    run = subprocess.run([sys.executable, "-m", "sampan.cli.main", "--tracing-config-file", str(bad), "scheduler",
                          "--kubeconfig", str(tmp_path / "none")], capture_output=True, text=True, timeout=60)
    assert run.returncode == 2
    assert run.stderr.strip().splitlines() == [f"sampan scheduler: tracing config {bad}: samplingRatePerMillion "
                                               "must be an integer in [0, 1000000]"]


def span(sid: str, name: str, start: int, end: int, *, parent: str = "", trace: str = "t1",
         component: str = "c", **attrs: Any) -> dict[str, Any]:
    return {"trace_id": trace, "span_id": sid, "parent_id": parent, "name": name, "component": component,
            "start_ns": start, "end_ns": end, "attributes": attrs}


def test_store_correlates_ancestors_and_descendants_and_stays_bounded() -> None:
    store = SpanStore(capacity=6)
    uid = {"k8s.uid": "U"}
    stored = store.add([
        span("r", "reconcile", 0, 100),                       # ancestor of the POST
        span("p", "HTTP POST", 10, 90, parent="r", **uid),    # names U
        span("a", "apiserver.request", 20, 80, parent="p"),   # descendant
        span("w", "storage.create", 30, 40, parent="a", **uid, **{"k8s.resource_version": "7"}),
        span("x", "HTTP POST", 95, 99, parent="r", **{"k8s.uid": "OTHER"}),  # a sibling for another object
        {"not": "a span"},
    ])
    assert stored == 5
    assert [s["span_id"] for s in store.for_uid("U")] == ["r", "p", "a", "w"]
    store.add([span(f"n{i}", "informer.deliver", 200 + i, 201 + i, trace=f"t{i + 2}") for i in range(4)])
    assert len(store) == 6
    assert [s["span_id"] for s in store.for_uid("U")] == ["w"]  # the rest was evicted, oldest first


def test_timeline_parts_add_up() -> None:
    ms = 1_000_000
    spans = [span("p", "HTTP POST", 0, 10 * ms, component="kube-controller-manager", **{"k8s.uid": "U"}),
             span("w", "storage.create", 4 * ms, 5 * ms, parent="p", **{"k8s.uid": "U", "k8s.resource_version": "7"}),
             span("s", "informer.deliver", 12 * ms, 13 * ms, component="kube-scheduler",
                  **{"k8s.uid": "U", "k8s.resource_version": "7"}),
             span("b", "scheduler.bind", 14 * ms, 20 * ms, component="kube-scheduler", **{"k8s.uid": "U"}),
             span("k", "kubelet.status_write", 25 * ms, 30 * ms, component="kubelet",
                  **{"k8s.uid": "U", "phase": "Running"})]
    t = build(spans)
    assert t.total_ms == 30
    assert t.running_ms == 30
    assert t.covered_ms + t.gap_ms == t.total_ms
    assert t.gap_ms == 2 + 1 + 5
    assert [g.ms for g in t.gaps] == [2, 1, 5]
    assert t.hops[2].lag_ms == 7  # informer delivery 7 ms after the write of revision 7 ended
    assert [st.label for st in t.steps] == ["create request", "store write", "scheduler receipt", "bind request",
                                            "status write (Running)"]
    assert [st.gap_ms for st in t.steps] == [0, 0, 2, 1, 5]
    assert build([]).hops == []


async def test_store_server_rejects_bad_input_with_a_status() -> None:
    server = TraceStoreServer()
    await server.start()
    try:
        async with aiohttp.ClientSession() as s:
            async with s.post(f"{server.url}/v1/spans", data=b"{nope") as r:
                assert r.status == 400
                body = await r.json()
                assert (body["kind"], body["reason"], body["code"]) == ("Status", "BadRequest", 400)
            one = {"spans": [span("a", "x", 1, 2, **{"k8s.uid": "U"})]}
            async with s.post(f"{server.url}/v1/spans", json=one) as r:
                assert (await r.json()) == {"stored": 1}
            async with s.get(f"{server.url}/v1/spans") as r:
                assert r.status == 400
            async with s.get(f"{server.url}/v1/spans", params={"uid": "U"}) as r:
                doc = await r.json()
                assert [x["span_id"] for x in doc["spans"]] == ["a"]
                assert doc["last_seq"] == 1
    finally:
        await server.stop()
