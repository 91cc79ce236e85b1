"""Custom resources served at runtime, over real HTTP against an in-process API server: registration
with no restart, CRD status, schema validation, subresources, patches, discovery, OpenAPI, tables
and CRD deletion (the cleanup finalizer)."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Awaitable, Callable
from typing import Any

from sampan._lib.backoff import BackoffPolicy
from sampan.apiserver.customresources.manager import MANAGER_KEY
from sampan.client.cache.handlers import EventHandlerFuncs
from sampan.client.cache.reflector import ReflectorOptions
from sampan.client.dynamic import Client
from sampan.client.informers import SharedInformerFactory
from sampan.client.kubeconfig import load_kubeconfig
from tests.apiserver.conftest import API

CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
WIDGETS = "/apis/example.com/v1/namespaces/default/widgets"

WIDGET_CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.example.com"},
    "spec": {
        "group": "example.com",
        "scope": "Namespaced",
        "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wd"],
                  "categories": ["all", "toys"]},
        "versions": [{
            "name": "v1", "served": True, "storage": True,
            "schema": {"openAPIV3Schema": {
                "type": "object",
                "properties": {
                    "spec": {"type": "object", "required": ["size"], "properties": {
                        "size": {"type": "integer", "minimum": 1, "description": "How big the widget is."},
                        "color": {"type": "string", "enum": ["red", "blue"], "default": "red"},
                        "replicas": {"type": "integer"},
                        "selector": {"type": "string"},
                    }},
                    "status": {"type": "object", "properties": {
                        "phase": {"type": "string"}, "replicas": {"type": "integer"},
                    }},
                },
            }},
            "subresources": {"status": {}, "scale": {"specReplicasPath": ".spec.replicas",
                                                     "statusReplicasPath": ".status.replicas",
                                                     "labelSelectorPath": ".spec.selector"}},
            "additionalPrinterColumns": [
                {"name": "Size", "type": "integer", "jsonPath": ".spec.size"},
                {"name": "Color", "type": "string", "jsonPath": ".spec.color"},
                {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
            ],
        }],
    },
}


def widget(name: str, size: Any = 3, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": name},
            "spec": {"size": size, **spec}}


async def eventually(check: Callable[[], Awaitable[bool]], what: str, timeout: float = 10.0) -> None:
    """Wait (bounded) until ``check`` holds: registration runs in the server's own task."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await check():
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


async def create_crd(api: API, crd: dict[str, Any] | None = None) -> dict[str, Any]:
    crd = copy.deepcopy(crd or WIDGET_CRD)
    r = await api.post(CRDS, crd)
    assert r.status == 201, r.body
    plural, group = crd["spec"]["names"]["plural"], crd["spec"]["group"]
    version = crd["spec"]["versions"][0]["name"]

    async def served() -> bool:
        return (await api.get(f"/apis/{group}/{version}/{plural}")).status == 200

    await eventually(served, f"{plural} to be served")
    got = await api.get(f"{CRDS}/{crd['metadata']['name']}")
    body: dict[str, Any] = got.body
    return body


def condition(crd: dict[str, Any], kind: str) -> dict[str, Any]:
    found = [c for c in crd.get("status", {}).get("conditions", []) if c["type"] == kind]
    assert found, crd.get("status")
    return found[0]


async def test_crd_registers_endpoints_status_and_finalizer(api: API) -> None:
    assert (await api.get(WIDGETS)).status == 404
    crd = await create_crd(api)
    assert condition(crd, "NamesAccepted")["status"] == "True"
    assert condition(crd, "Established")["status"] == "True"
    assert crd["status"]["acceptedNames"]["plural"] == "widgets"
    assert "customresourcecleanup.apiextensions.k8s.io" in crd["metadata"]["finalizers"]

    r = await api.post(WIDGETS, widget("w1"))
    assert r.status == 201, r.body
    assert r.body["spec"]["color"] == "red"  # defaulted from the schema
    assert r.body["metadata"]["generation"] == 1
    got = await api.get(f"{WIDGETS}/w1")
    assert got.status == 200
    assert got.body["spec"] == {"size": 3, "color": "red"}
    lst = await api.get(WIDGETS)
    assert lst.body["kind"] == "WidgetList"
    assert [i["metadata"]["name"] for i in lst.body["items"]] == ["w1"]


async def test_invalid_objects_are_refused_with_causes(api: API) -> None:
    await create_crd(api)
    r = await api.post(WIDGETS, widget("bad", size="big", color="green"))
    assert r.status == 422, r.body
    fields = {c["field"] for c in r.body["details"]["causes"]}
    assert {"spec.size", "spec.color"} <= fields
    r = await api.post(WIDGETS, {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "x"},
                                 "spec": {}})
    assert r.status == 422
    assert r.body["details"]["causes"][0]["field"] == "spec.size"
    ruled = copy.deepcopy(WIDGET_CRD)
    ruled["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["x-kubernetes-validations"] = [
        {"rule": "self.size < 10", "message": "too big"}]
    await api.put(f"{CRDS}/widgets.example.com", {**ruled, "metadata": (await api.get(
        f"{CRDS}/widgets.example.com")).body["metadata"]})

    async def rules_apply() -> bool:
        return "too big" in str((await api.post(WIDGETS, widget("big", size=11), dryRun="All")).body)

    await eventually(rules_apply, "the CEL rule to apply")
    r = await api.post(WIDGETS, widget("bad", size="big"))  # a wrong type stops the rules, as upstream
    assert r.status == 422
    assert r.body["message"] == (
        'Widget.example.com "bad" is invalid: [spec.size: Invalid value: "string": spec.size in body must be of '
        'type integer: "string", <nil>: Invalid value: "null": some validation rules were not checked because '
        'the object was invalid; correct the existing errors to complete validation]'), r.body
    r = await api.post(WIDGETS, widget("pruned", extra="dropped"))
    assert r.status == 201
    assert "extra" not in r.body["spec"]


async def test_watch_sees_custom_objects(api: API) -> None:
    await create_crd(api)
    stream = await api.watch(WIDGETS)
    assert stream.status == 200
    await api.post(WIDGETS, widget("w1"))
    ev = await stream.next()
    assert ev is not None
    assert ev["type"] == "ADDED"
    assert ev["object"]["metadata"]["name"] == "w1"
    stream.resp.close()


async def test_status_and_scale_subresources(api: API) -> None:
    await create_crd(api)
    created = (await api.post(WIDGETS, widget("w1", replicas=2, selector="app=w"))).body
    status_patch = {"status": {"phase": "Ready", "replicas": 2}, "spec": {"size": 99}}
    r = await api.request("PATCH", f"{WIDGETS}/w1/status", status_patch,
                          headers={"Content-Type": "application/merge-patch+json"})
    assert r.status == 200, r.body
    assert r.body["status"]["phase"] == "Ready"
    assert r.body["spec"]["size"] == 3
    assert r.body["metadata"]["generation"] == created["metadata"]["generation"]
    r = await api.put(f"{WIDGETS}/w1", {**r.body, "status": {"phase": "Ignored"}})
    assert r.status == 200
    assert r.body["status"]["phase"] == "Ready"

    scale = await api.get(f"{WIDGETS}/w1/scale")
    assert scale.status == 200, scale.body
    assert scale.body["kind"] == "Scale"
    assert scale.body["spec"]["replicas"] == 2
    assert scale.body["status"] == {"replicas": 2, "selector": "app=w"}
    r = await api.request("PATCH", f"{WIDGETS}/w1/scale", {"spec": {"replicas": 5}},
                          headers={"Content-Type": "application/merge-patch+json"})
    assert r.status == 200, r.body
    assert (await api.get(f"{WIDGETS}/w1")).body["spec"]["replicas"] == 5
    body = {**scale.body, "spec": {"replicas": 7}}
    body["metadata"].pop("resourceVersion")
    r = await api.put(f"{WIDGETS}/w1/scale", body)
    assert r.status == 200, r.body
    assert r.body["spec"]["replicas"] == 7


async def test_patch_types(api: API) -> None:
    await create_crd(api)
    await api.post(WIDGETS, widget("w1"))
    r = await api.request("PATCH", f"{WIDGETS}/w1", {"spec": {"size": 4}},
                          headers={"Content-Type": "application/strategic-merge-patch+json"})
    assert r.status == 415, r.body
    r = await api.request("PATCH", f"{WIDGETS}/w1", {"spec": {"size": 4}},
                          headers={"Content-Type": "application/merge-patch+json"})
    assert r.status == 200
    assert r.body["spec"]["size"] == 4
    assert r.body["metadata"]["generation"] == 2
    r = await api.request("PATCH", f"{WIDGETS}/w1", [{"op": "replace", "path": "/spec/size", "value": 5}],
                          headers={"Content-Type": "application/json-patch+json"})
    assert r.status == 200
    assert r.body["spec"]["size"] == 5
    r = await api.request("PATCH", f"{WIDGETS}/w1", {"spec": {"size": 0}},
                          headers={"Content-Type": "application/merge-patch+json"})
    assert r.status == 422, r.body
    applied = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w2"},
               "spec": {"size": 6}}
    r = await api.request("PATCH", f"{WIDGETS}/w2", applied, params={"fieldManager": "me"},
                          headers={"Content-Type": "application/apply-patch+yaml"})
    assert r.status == 201, r.body
    assert r.body["spec"] == {"size": 6, "color": "red"}
    assert any(m["manager"] == "me" for m in r.body["metadata"]["managedFields"])


async def test_server_side_apply_follows_the_crd_list_types(api: API) -> None:
    """Server-side apply types custom objects by their CRD schema, as upstream: a ``map`` list's items are
    owned per key (two managers apply their own conditions without a conflict), a ``set`` per value."""
    crd = copy.deepcopy(WIDGET_CRD)
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]
    schema["spec"]["properties"]["ports"] = {
        "type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
        "items": {"type": "object", "required": ["name"],
                  "properties": {"name": {"type": "string"}, "port": {"type": "integer"}}}}
    schema["spec"]["properties"]["tags"] = {"type": "array", "x-kubernetes-list-type": "set",
                                            "items": {"type": "string"}}
    await create_crd(api, crd)

    async def apply(manager: str, spec: dict[str, Any]) -> Any:
        body = {**widget("w", **spec), "metadata": {"name": "w"}}
        return await api.request("PATCH", f"{WIDGETS}/w", body, params={"fieldManager": manager},
                                 headers={"Content-Type": "application/apply-patch+yaml"})

    assert (await apply("a", {"ports": [{"name": "http", "port": 80}], "tags": ["x"]})).status == 201
    r = await apply("b", {"ports": [{"name": "grpc", "port": 90}], "tags": ["y"]})
    assert r.status == 200, r.body
    assert r.body["spec"]["ports"] == [{"name": "http", "port": 80}, {"name": "grpc", "port": 90}]
    assert r.body["spec"]["tags"] == ["x", "y"]
    r = await apply("a", {"ports": [{"name": "grpc", "port": 91}]})
    assert r.status == 409, r.body
    assert r.body["details"]["causes"] == [{"reason": "FieldManagerConflict", "message": 'conflict with "b"',
                                            "field": '.spec.ports[name="grpc"].port'}]
    r = await apply("a", {})  # a gives up its items only
    assert r.status == 200, r.body
    assert r.body["spec"]["ports"] == [{"name": "grpc", "port": 90}]
    assert r.body["spec"]["tags"] == ["y"]


async def test_discovery_lists_custom_resources_with_new_etag(api: API) -> None:
    aggregated = {"Accept": "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"}
    before = await api.request("GET", "/apis", headers=aggregated)
    await create_crd(api)
    after = await api.request("GET", "/apis", headers=aggregated)
    assert before.headers["ETag"] != after.headers["ETag"]
    group = [g for g in after.body["items"] if g["metadata"]["name"] == "example.com"]
    assert group, after.body
    res = group[0]["versions"][0]["resources"][0]
    assert res["resource"] == "widgets"
    assert res["shortNames"] == ["wd"]
    assert res["categories"] == ["all", "toys"]
    assert {s["subresource"] for s in res["subresources"]} == {"scale", "status"}
    legacy = await api.get("/apis/example.com/v1")
    assert legacy.status == 200
    assert [r["name"] for r in legacy.body["resources"]] == ["widgets", "widgets/scale", "widgets/status"]
    assert (await api.get("/apis/example.com")).body["preferredVersion"]["version"] == "v1"


async def test_openapi_document_carries_the_schema(api: API) -> None:
    assert (await api.get("/openapi/v3")).body["paths"].get("apis/example.com/v1") is None
    await create_crd(api)
    index = await api.get("/openapi/v3")
    url = index.body["paths"]["apis/example.com/v1"]["serverRelativeURL"]
    doc = await api.get(url)
    assert doc.status == 200
    schema = doc.body["components"]["schemas"]["com.example.v1.Widget"]
    assert schema["properties"]["spec"]["properties"]["size"]["description"] == "How big the widget is."
    assert "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta" in doc.body["components"]["schemas"]


async def test_table_has_printer_columns(api: API) -> None:
    await create_crd(api)
    await api.post(WIDGETS, widget("w1", size=4))
    r = await api.request("GET", WIDGETS, headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"})
    assert r.status == 200, r.body
    assert [c["name"] for c in r.body["columnDefinitions"]] == ["Name", "Size", "Color", "Phase"]
    assert r.body["rows"][0]["cells"] == ["w1", 4, "red", None]


async def test_conflicting_names_are_not_established(api: API) -> None:
    await create_crd(api)
    clash = copy.deepcopy(WIDGET_CRD)
    clash["metadata"]["name"] = "gadgets.example.com"
    clash["spec"]["names"] = {"plural": "gadgets", "singular": "gadget", "kind": "Widget", "listKind": "GadgetList"}
    assert (await api.post(CRDS, clash)).status == 201

    async def rejected() -> bool:
        got = (await api.get(f"{CRDS}/gadgets.example.com")).body
        conds = {c["type"]: c for c in got.get("status", {}).get("conditions", [])}
        return conds.get("NamesAccepted", {}).get("reason") == "KindConflict"

    await eventually(rejected, "the kind conflict")
    got = (await api.get(f"{CRDS}/gadgets.example.com")).body
    assert condition(got, "Established")["status"] == "False"
    assert (await api.get("/apis/example.com/v1/gadgets")).status == 404


async def test_deleting_the_crd_deletes_objects_and_endpoints(api: API) -> None:
    await create_crd(api)
    for name in ("w1", "w2"):
        assert (await api.post(WIDGETS, widget(name))).status == 201
    r = await api.delete(f"{CRDS}/widgets.example.com")
    assert r.status == 200, r.body

    async def gone() -> bool:
        return (await api.get(f"{CRDS}/widgets.example.com")).status == 404

    await eventually(gone, "the CRD to be finalized")
    store = api.server.context.store
    assert not (await store.list(f"{store.root}example.com/widgets/")).kvs

    async def unserved() -> bool:
        return (await api.get(WIDGETS)).status == 404

    await eventually(unserved, "the endpoints to go")
    assert (await api.get("/apis/example.com/v1")).status == 404
    # and it can come back
    await create_crd(api)
    assert (await api.get(WIDGETS)).body["items"] == []


async def test_registration_from_existing_crds(api: API) -> None:
    """What a restarted server does: CRDs and objects already stored get served by one sync pass."""
    await create_crd(api)
    await api.post(WIDGETS, widget("w1"))
    app = api.server.server.app
    assert app is not None
    manager = app[MANAGER_KEY]
    manager.registrations.close()
    # checked before any await: the manager's own loop may re-register at its next poll, and a GET here
    # raced it (a 200 where this test wanted a 404, seen under load)
    assert not manager.registrations.served
    await manager.sync_once()
    got = await api.get(f"{WIDGETS}/w1")
    assert got.status == 200
    assert got.body["spec"]["size"] == 3


async def test_every_served_version_shows_the_same_objects(api: API) -> None:
    crd = copy.deepcopy(WIDGET_CRD)
    v1 = crd["spec"]["versions"][0]
    v1beta1 = {**copy.deepcopy(v1), "name": "v1beta1", "storage": False, "deprecated": True}
    v1alpha1 = {**copy.deepcopy(v1), "name": "v1alpha1", "storage": False, "served": False}
    crd["spec"]["versions"] = [v1, v1beta1, v1alpha1]
    bad = copy.deepcopy(crd)
    bad["spec"]["versions"][0]["deprecationWarning"] = "v1 is fine"
    r = await api.post(CRDS, bad)
    assert r.status == 422
    assert r.body["details"]["causes"] == [{
        "reason": "FieldValueInvalid", "field": "spec.versions[0].deprecationWarning",
        "message": 'Invalid value: "v1 is fine": can only be set for deprecated versions'}], r.body
    await create_crd(api, crd)
    beta = "/apis/example.com/v1beta1/namespaces/default/widgets"
    r = await api.post(beta, {**widget("w1"), "apiVersion": "example.com/v1beta1"})
    assert r.status == 201, r.body
    # every answer of a deprecated version warns, errors and watches too; the preferred version does not
    warning = '299 - "example.com/v1beta1 Widget is deprecated; use example.com/v1 Widget"'
    assert r.headers.getall("Warning") == [warning]
    assert (await api.get(f"{beta}/missing")).headers.getall("Warning") == [warning]
    watch = await api.watch(beta, timeoutSeconds="1")
    assert watch.resp.headers.getall("Warning") == [warning]
    watch.resp.close()
    assert "Warning" not in (await api.get(f"{WIDGETS}/w1")).headers
    assert r.body["apiVersion"] == "example.com/v1beta1"
    assert (await api.get(f"{WIDGETS}/w1")).body["apiVersion"] == "example.com/v1"
    listed = await api.get(beta)
    assert [i["apiVersion"] for i in listed.body["items"]] == ["example.com/v1beta1"]
    store = api.server.context.store
    kv = await store.get(f"{store.root}example.com/widgets/default/w1")
    assert b'"apiVersion":"example.com/v1"' in kv.value
    assert (await api.get("/apis/example.com/v1alpha1/namespaces/default/widgets")).status == 404
    assert (await api.get("/apis/example.com")).body["preferredVersion"]["version"] == "v1"


async def test_terminating_crd_waits_for_object_finalizers_and_refuses_creates(api: API) -> None:
    await create_crd(api)
    held = widget("held")
    held["metadata"]["finalizers"] = ["example.com/hold"]
    assert (await api.post(WIDGETS, held)).status == 201
    assert (await api.delete(f"{CRDS}/widgets.example.com")).status == 200

    async def refusing() -> bool:
        return (await api.post(WIDGETS, widget("late"))).status == 405

    await eventually(refusing, "creates to be refused")
    crd = (await api.get(f"{CRDS}/widgets.example.com")).body
    assert condition(crd, "Terminating")["status"] == "True"

    async def marked() -> bool:
        return "deletionTimestamp" in (await api.get(f"{WIDGETS}/held")).body["metadata"]

    await eventually(marked, "the object to be marked for deletion")
    assert (await api.get(f"{CRDS}/widgets.example.com")).status == 200  # held by the object's finalizer
    r = await api.request("PATCH", f"{WIDGETS}/held", {"metadata": {"finalizers": None}},
                          headers={"Content-Type": "application/merge-patch+json"})
    assert r.status == 200, r.body

    async def gone() -> bool:
        return (await api.get(f"{CRDS}/widgets.example.com")).status == 404

    await eventually(gone, "the CRD to be finalized")


async def test_sampan_informers_work_on_custom_resources(api: API) -> None:
    await create_crd(api)
    await api.post(WIDGETS, widget("before"))
    seen: list[tuple[str, str]] = []
    options = ReflectorOptions(min_watch_timeout=2.0, backoff=BackoffPolicy(initial=0.05, maximum=0.2))
    async with Client(load_kubeconfig(str(api.server.kubeconfig))) as client:
        factory = SharedInformerFactory(client, reflector_options=options)
        informer = factory.informer("example.com/v1", "widgets")
        informer.add_event_handler(EventHandlerFuncs(
            on_add_func=lambda o: seen.append(("add", o["metadata"]["name"])),
            on_update_func=lambda a, b: seen.append(("update", b["metadata"]["name"])),
            on_delete_func=lambda o: seen.append(("delete", o["metadata"]["name"])),
        ))
        factory.start()
        try:
            assert await factory.wait_for_cache_sync(timeout=10) == {("example.com", "v1", "widgets"): True}
            widgets = await client.resource("example.com/v1", "widgets")
            await widgets.create({**widget("after"), "metadata": {"name": "after", "namespace": "default"}})
            await api.request("PATCH", f"{WIDGETS}/after", {"spec": {"size": 9}},
                              headers={"Content-Type": "application/merge-patch+json"})
            await api.delete(f"{WIDGETS}/before")

            async def all_seen() -> bool:
                return ("delete", "before") in seen

            await eventually(all_seen, "the informer's events")
            assert seen == [("add", "before"), ("add", "after"), ("update", "after"), ("delete", "before")]
            lister = factory.lister("example.com/v1", "widgets")
            assert lister.namespaced("default").get("after")["spec"]["size"] == 9
        finally:
            await factory.shutdown()


async def test_crd_update_changes_what_is_served(api: API) -> None:
    crd = await create_crd(api)
    await api.post(WIDGETS, widget("w1", size=4))
    crd["spec"]["versions"][0]["additionalPrinterColumns"] = [
        {"name": "Big", "type": "boolean", "jsonPath": ".spec.big"}]
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["big"] = {
        "type": "boolean", "default": True}
    r = await api.put(f"{CRDS}/widgets.example.com", crd)
    assert r.status == 200, r.body
    table_accept = {"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"}

    async def new_columns() -> bool:
        got = await api.request("GET", WIDGETS, headers=table_accept)
        return [c["name"] for c in got.body["columnDefinitions"]] == ["Name", "Big"]

    await eventually(new_columns, "the new printer columns")
    r = await api.post(WIDGETS, widget("w2"))
    assert r.body["spec"]["big"] is True  # the new schema's default


async def test_a_crd_cannot_shadow_built_in_resources(api: API) -> None:
    crd = copy.deepcopy(WIDGET_CRD)
    crd["metadata"] = {"name": "customresourcedefinitions.apiextensions.k8s.io",
                       "annotations": {"api-approved.kubernetes.io": "https://example.com/pr/1"}}
    crd["spec"]["group"] = "apiextensions.k8s.io"
    crd["spec"]["names"] = {"plural": "customresourcedefinitions", "kind": "Sneaky"}
    crd["spec"]["scope"] = "Cluster"
    r = await api.post(CRDS, crd)
    assert r.status == 201, r.body

    async def established() -> bool:
        got = (await api.get(f"{CRDS}/customresourcedefinitions.apiextensions.k8s.io")).body
        return any(c["type"] == "Established" and c["status"] == "True"
                   for c in got.get("status", {}).get("conditions", []))

    await eventually(established, "the CRD to be established")
    app = api.server.server.app
    assert app is not None
    assert await api.server.context.watch_cache.wait_fresh(5)
    await app[MANAGER_KEY].sync_once()  # a registration pass over the established CRD
    listed = await api.get(CRDS)
    assert listed.status == 200
    assert listed.body["kind"] == "CustomResourceDefinitionList"
