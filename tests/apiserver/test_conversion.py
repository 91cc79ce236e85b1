"""Resources served in several versions over one storage, over real HTTP: events.k8s.io/v1 Events are
core/v1 Events converted (CRUD, lists, field selectors in both shapes, watches in each version's
encoding, bookmarks), and autoscaling/v1 HPAs are autoscaling/v2 HPAs converted."""

from __future__ import annotations

import copy
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from sampan.apiserver.registry.events_v1 import from_core, to_core
from tests.apiserver.conftest import API

CORE = "/api/v1/namespaces/default/events"
NEW = "/apis/events.k8s.io/v1/namespaces/default/events"
HPA1 = "/apis/autoscaling/v1/namespaces/default/horizontalpodautoscalers"
HPA2 = "/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers"


def core_event(name: str, **extra: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Event", "metadata": {"name": name},
            "involvedObject": {"kind": "Pod", "name": "web", "namespace": "default", "uid": "u1"},
            "reason": "Pulled", "message": "pulled the image", "type": "Normal",
            "source": {"component": "kubelet", "host": "node-1"},
            "firstTimestamp": "2024-01-01T00:00:00Z", "lastTimestamp": "2024-01-01T00:01:00Z", "count": 3,
            **extra}


def new_event(name: str, **extra: Any) -> dict[str, Any]:
    return {"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": name},
            "eventTime": "2024-01-01T00:00:00.000000Z", "type": "Warning", "reason": "Failed",
            "action": "Pulling", "reportingController": "example.com/ctl", "reportingInstance": "ctl-1",
            "note": "could not pull", "regarding": {"kind": "Pod", "name": "api", "namespace": "default"},
            "related": {"kind": "Node", "name": "node-1"},
            "series": {"count": 2, "lastObservedTime": "2024-01-01T00:02:00.000000Z"}, **extra}


async def test_core_event_is_visible_as_events_k8s_io(api: API) -> None:
    created = await api.post(CORE, core_event("core-a"))
    assert created.status == 201, created.body
    got = await api.get(f"{NEW}/core-a")
    assert got.status == 200, got.body
    ev = got.body
    assert ev["apiVersion"] == "events.k8s.io/v1"
    assert ev["kind"] == "Event"
    assert ev["regarding"] == created.body["involvedObject"]
    assert ev["note"] == "pulled the image"
    assert ev["deprecatedSource"] == {"component": "kubelet", "host": "node-1"}
    assert ev["deprecatedFirstTimestamp"] == "2024-01-01T00:00:00Z"
    assert ev["deprecatedLastTimestamp"] == "2024-01-01T00:01:00Z"
    assert ev["deprecatedCount"] == 3
    assert ev["metadata"]["uid"] == created.body["metadata"]["uid"]
    assert ev["metadata"]["resourceVersion"] == created.body["metadata"]["resourceVersion"]
    assert "involvedObject" not in ev
    assert "message" not in ev
    assert "source" not in ev
    cached = await api.get(f"{NEW}/core-a", resourceVersion="0")
    assert cached.body == ev


async def test_events_k8s_io_event_is_visible_as_core(api: API) -> None:
    created = await api.post(NEW, new_event("new-a"))
    assert created.status == 201, created.body
    assert created.body["apiVersion"] == "events.k8s.io/v1"
    assert created.body["note"] == "could not pull"
    got = await api.get(f"{CORE}/new-a")
    assert got.status == 200, got.body
    ev = got.body
    assert ev["apiVersion"] == "v1"
    assert ev["involvedObject"] == {"kind": "Pod", "name": "api", "namespace": "default"}
    assert ev["message"] == "could not pull"
    assert ev["reportingComponent"] == "example.com/ctl"
    assert ev["reportingInstance"] == "ctl-1"
    assert ev["series"] == {"count": 2, "lastObservedTime": "2024-01-01T00:02:00.000000Z"}
    assert ev["action"] == "Pulling"
    assert ev["related"] == {"kind": "Node", "name": "node-1"}
    assert ev["eventTime"] == "2024-01-01T00:00:00.000000Z"
    assert "regarding" not in ev
    assert "note" not in ev
    # one storage: the same key under /registry/events/
    store = api.server.context.store
    kv = await store.get(f"{store.root}events/default/new-a")
    assert b'"involvedObject"' in kv.value
    assert b'"regarding"' not in kv.value


async def test_updates_and_deletes_cross_apis(api: API) -> None:
    created = (await api.post(NEW, new_event("upd"))).body
    created["note"] = "now pulled"
    put = await api.put(f"{NEW}/upd", created)
    assert put.status == 200, put.body
    assert (await api.get(f"{CORE}/upd")).body["message"] == "now pulled"
    core = (await api.get(f"{CORE}/upd")).body
    core["message"] = "via core"
    assert (await api.put(f"{CORE}/upd", core)).status == 200
    assert (await api.get(f"{NEW}/upd")).body["note"] == "via core"
    stale = {**created, "note": "stale"}
    assert (await api.put(f"{NEW}/upd", stale)).status == 409
    # a core-made event with deprecated fields can still be updated through events.k8s.io
    await api.post(CORE, core_event("legacy"))
    legacy = (await api.get(f"{NEW}/legacy")).body
    legacy["metadata"]["labels"] = {"seen": "yes"}
    put = await api.put(f"{NEW}/legacy", legacy)
    assert put.status == 200, put.body
    assert put.body["deprecatedCount"] == 3
    assert (await api.delete(f"{NEW}/upd")).status == 200
    assert (await api.get(f"{CORE}/upd")).status == 404


async def test_validation_is_per_api(api: API) -> None:
    r = await api.post(NEW, new_event("bad", deprecatedCount=2))
    assert r.status == 422
    assert "deprecatedCount" in str(r.body)
    assert (await api.get(f"{CORE}/bad")).status == 404


async def test_lists_and_field_selectors_in_both_shapes(api: API) -> None:
    await api.post(CORE, core_event("sel-core"))
    await api.post(NEW, new_event("sel-new"))
    for path, rv in ((NEW, "0"), (NEW, ""), (CORE, "0")):
        params = {"resourceVersion": rv} if rv else {}
        lst = (await api.get(path, **params)).body
        names = {i["metadata"]["name"] for i in lst["items"]}
        assert {"sel-core", "sel-new"} <= names
        version = "events.k8s.io/v1" if path == NEW else "v1"
        assert lst["apiVersion"] == version
        assert all(i["apiVersion"] == version for i in lst["items"])
    for rv in ("0", ""):
        params = {"resourceVersion": rv} if rv else {}
        by_new = await api.get(NEW, fieldSelector="regarding.name=api", **params)
        assert [i["metadata"]["name"] for i in by_new.body["items"]] == ["sel-new"]
        by_core = await api.get(CORE, fieldSelector="involvedObject.name=web", **params)
        assert [i["metadata"]["name"] for i in by_core.body["items"]] == ["sel-core"]
        ctl = await api.get(NEW, fieldSelector="reportingController=example.com/ctl", **params)
        assert [i["metadata"]["name"] for i in ctl.body["items"]] == ["sel-new"]
    paged = await api.get(NEW, limit="1", fieldSelector="type=Warning")
    assert [i["apiVersion"] for i in paged.body["items"]] == ["events.k8s.io/v1"]
    assert (await api.get(NEW, fieldSelector="involvedObject.name=web")).status == 400


async def test_watch_gets_each_versions_encoding(api: API) -> None:
    start = (await api.get(CORE)).body["metadata"]["resourceVersion"]
    w_new = await api.watch(NEW, resourceVersion=start, allowWatchBookmarks="true")
    w_core = await api.watch(CORE, resourceVersion=start)
    w_sel = await api.watch(NEW, resourceVersion=start, fieldSelector="regarding.name=api")
    try:
        await api.post(CORE, core_event("w-core"))
        await api.post(NEW, new_event("w-new"))
        got_new = await w_new.take(2)
        got_core = await w_core.take(2)
        assert [e["object"]["apiVersion"] for e in got_new] == ["events.k8s.io/v1"] * 2
        assert [e["object"]["apiVersion"] for e in got_core] == ["v1"] * 2
        assert got_new[0]["object"]["regarding"]["name"] == "web"
        assert got_core[1]["object"]["involvedObject"]["name"] == "api"
        assert [e["object"]["metadata"]["name"] for e in await w_sel.take(1)] == ["w-new"]
        # one cache for both APIs; each event encoded once per delivery variant and version
        scope = api.server.context.scope("events.k8s.io", "v1", "events")
        assert scope is not None
        assert scope.cache is api.server.context.scope("", "v1", "events").cache  # type: ignore[union-attr]
        last = scope.cache.window[-1]
        assert set(last._lines) == {"ADDED", "ADDED@events.k8s.io/v1"}
        assert last.line("ADDED", scope.view) is last.line("ADDED", scope.view)
        assert api.server.context.watch_cache.send_bookmarks() >= 1
        bm = await w_new.next()
        assert bm is not None
        assert bm["type"] == "BOOKMARK"
        assert bm["object"]["apiVersion"] == "events.k8s.io/v1"
    finally:
        for w in (w_new, w_core, w_sel):
            w.resp.close()


async def test_watch_initial_events_in_view_form(api: API) -> None:
    await api.post(CORE, core_event("init-a"))
    w = await api.watch(NEW, sendInitialEvents="true", resourceVersionMatch="NotOlderThan",
                        allowWatchBookmarks="true", fieldSelector="metadata.name=init-a")
    try:
        added, end = await w.take(2)
        assert added["type"] == "ADDED"
        assert added["object"]["deprecatedSource"]["component"] == "kubelet"
        assert end["type"] == "BOOKMARK"
        assert end["object"]["apiVersion"] == "events.k8s.io/v1"
    finally:
        w.resp.close()


async def test_events_tables_in_both_apis(api: API) -> None:
    await api.post(NEW, new_event("tbl"))
    table = "application/json;as=Table;v=v1;g=meta.k8s.io"
    for path in (NEW, CORE):
        r = await api.request("GET", f"{path}/tbl", headers={"Accept": table})
        assert r.status == 200
        assert r.body["kind"] == "Table"
        assert r.body["rows"][0]["cells"][2] == "Failed"


def hpa_v1(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler", "metadata": {"name": name},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                     "maxReplicas": 5, **spec}}


async def test_hpa_v1_is_a_view_of_v2(api: API) -> None:
    r = await api.post(HPA1, hpa_v1("h1", targetCPUUtilizationPercentage=60))
    assert r.status == 201, r.body
    assert r.body["apiVersion"] == "autoscaling/v1"
    assert r.body["spec"]["minReplicas"] == 1
    assert r.body["spec"]["targetCPUUtilizationPercentage"] == 60
    assert r.body["status"] == {"currentReplicas": 0, "desiredReplicas": 0}
    v2 = (await api.get(f"{HPA2}/h1")).body
    assert v2["spec"]["metrics"] == [{"type": "Resource", "resource": {
        "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 60}}}]
    # no target in v1: stored without metrics, v2's default (cpu 80%) applies, as upstream
    await api.post(HPA1, hpa_v1("h2"))
    assert (await api.get(f"{HPA1}/h2")).body["spec"]["targetCPUUtilizationPercentage"] == 80
    # status written through v2 reads back through v1
    v2["status"] = {"currentReplicas": 2, "desiredReplicas": 3, "currentMetrics": [
        {"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 42}}}],
        "conditions": [{"type": "AbleToScale", "status": "True", "lastTransitionTime": "2024-01-01T00:00:00Z"}]}
    assert (await api.put(f"{HPA2}/h1/status", v2)).status == 200
    v1 = (await api.get(f"{HPA1}/h1")).body
    assert v1["status"]["currentCPUUtilizationPercentage"] == 42
    assert v1["status"]["desiredReplicas"] == 3
    assert "AbleToScale" in v1["metadata"]["annotations"]["autoscaling.alpha.kubernetes.io/conditions"]
    # a v1 read-modify-write keeps v2-only state carried in annotations
    v1["spec"]["maxReplicas"] = 7
    put = await api.put(f"{HPA1}/h1", v1)
    assert put.status == 200, put.body
    v2 = (await api.get(f"{HPA2}/h1")).body
    assert v2["spec"]["maxReplicas"] == 7
    assert v2["status"]["conditions"][0]["type"] == "AbleToScale"
    assert "annotations" not in v2["metadata"]
    lst = (await api.get(HPA1, resourceVersion="0")).body
    assert lst["kind"] == "HorizontalPodAutoscalerList"
    assert lst["apiVersion"] == "autoscaling/v1"
    assert {i["metadata"]["name"] for i in lst["items"]} >= {"h1", "h2"}
    bad = await api.post(HPA1, hpa_v1("h3", targetCPUUtilizationPercentage=0, minReplicas=9))
    assert bad.status == 422, bad.body
    assert (await api.delete(f"{HPA1}/h2")).status == 200
    assert (await api.get(f"{HPA2}/h2")).status == 404


async def test_discovery_prefers_v2_and_serves_both(api: API) -> None:
    group = (await api.get("/apis/autoscaling")).body
    assert group["preferredVersion"]["version"] == "v2"
    assert [v["version"] for v in group["versions"]] == ["v2", "v1"]
    names = {r["name"] for r in (await api.get("/apis/autoscaling/v1")).body["resources"]}
    assert {"horizontalpodautoscalers", "horizontalpodautoscalers/status"} <= names


async def test_openapi_describes_the_v1_view(api: API) -> None:
    index = (await api.get("/openapi/v3")).body
    assert "apis/autoscaling/v1" in index["paths"]
    doc = (await api.get("/openapi/v3/apis/autoscaling/v1")).body
    assert "io.k8s.api.autoscaling.v1.HorizontalPodAutoscaler" in doc["components"]["schemas"]


async def test_hpa_v1_round_trip_keeps_other_metrics_in_annotations(api: API) -> None:
    memory = {"type": "Resource", "resource": {"name": "memory",
                                               "target": {"type": "AverageValue", "averageValue": "500Mi"}}}
    pods = {"type": "Pods", "pods": {"metric": {"name": "qps"}, "target": {"type": "AverageValue",
                                                                            "averageValue": "10"}}}
    external = {"type": "External", "external": {"metric": {"name": "queue", "selector": {"matchLabels": {"q": "a"}}},
                                                  "target": {"type": "Value", "value": "30"}}}
    cpu = {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}}
    body = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "multi"},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                     "maxReplicas": 4, "metrics": [memory, pods, external, cpu],
                     "behavior": {"scaleDown": {"stabilizationWindowSeconds": 60}}}}
    created = await api.post(HPA2, body)
    assert created.status == 201, created.body
    v1 = (await api.get(f"{HPA1}/multi")).body
    assert v1["spec"]["targetCPUUtilizationPercentage"] == 50
    annotations = v1["metadata"]["annotations"]

    assert json.loads(annotations["autoscaling.alpha.kubernetes.io/metrics"]) == [
        {"type": "Resource", "resource": {"name": "memory", "targetAverageValue": "500Mi"}},
        {"type": "Pods", "pods": {"metricName": "qps", "targetAverageValue": "10"}},
        {"type": "External", "external": {"metricName": "queue", "metricSelector": {"matchLabels": {"q": "a"}},
                                          "targetValue": "30"}},
    ]
    assert "stabilizationWindowSeconds" in annotations["autoscaling.alpha.kubernetes.io/behavior"]
    v1["spec"]["maxReplicas"] = 6
    assert (await api.put(f"{HPA1}/multi", v1)).status == 200
    v2 = (await api.get(f"{HPA2}/multi")).body
    assert v2["spec"]["maxReplicas"] == 6
    assert v2["spec"]["metrics"] == [memory, pods, external, cpu]
    assert v2["spec"]["behavior"] == created.body["spec"]["behavior"]
    assert "annotations" not in v2["metadata"]


_text = st.text(alphabet="abcxyz-/.", min_size=1, max_size=8)
_ref = st.fixed_dictionaries({"kind": _text, "name": _text}, optional={"namespace": _text, "uid": _text})


@settings(max_examples=40, deadline=None)
@given(st.fixed_dictionaries(
    {"regarding": _ref, "eventTime": _text, "reason": _text, "type": st.sampled_from(["Normal", "Warning"])},
    optional={"note": _text, "action": _text, "reportingController": _text, "reportingInstance": _text,
              "related": _ref, "series": st.fixed_dictionaries({"count": st.integers(2, 9), "lastObservedTime": _text}),
              "deprecatedSource": st.fixed_dictionaries({"component": _text}),
              "deprecatedCount": st.integers(1, 9), "deprecatedFirstTimestamp": _text}))
def test_events_conversion_round_trips(fields: dict[str, Any]) -> None:
    ev = {"kind": "Event", "apiVersion": "events.k8s.io/v1", "metadata": {"name": "e", "namespace": "ns"}, **fields}
    frozen = copy.deepcopy(ev)
    core = to_core(ev)
    assert ev == frozen  # pure
    assert core["apiVersion"] == "v1"
    assert from_core(core) == ev
    assert to_core(from_core(core)) == core
