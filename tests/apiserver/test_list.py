"""LIST: pagination with continue tokens, resourceVersion semantics, selectors."""

from __future__ import annotations

import pytest

from tests.apiserver.conftest import API

CMS = "/api/v1/namespaces/default/configmaps"


def names(body: dict) -> list[str]:
    return [i["metadata"]["name"] for i in body["items"]]


async def test_pagination_walks_every_item_once_at_one_revision(api: API) -> None:
    for i in range(7):
        await api.create_cm(f"cm-{i}")
    first = await api.get(CMS, limit="3")
    assert first.status == 200
    assert names(first.body) == ["cm-0", "cm-1", "cm-2"]
    token = first.body["metadata"]["continue"]
    rv = first.body["metadata"]["resourceVersion"]
    await api.create_cm("cm-late")  # not visible to the snapshot the pages read
    seen = names(first.body)
    while token:
        page = await api.get(CMS, limit="3", **{"continue": token})
        assert page.status == 200, page.body
        assert page.body["metadata"]["resourceVersion"] == rv
        seen += names(page.body)
        token = page.body["metadata"].get("continue", "")
    assert seen == [f"cm-{i}" for i in range(7)]


async def test_limit_exact_multiple_gives_no_empty_trailing_token(api: API) -> None:
    for i in range(4):
        await api.create_cm(f"x{i}")
    first = await api.get(CMS, limit="2")
    second = await api.get(CMS, limit="2", **{"continue": first.body["metadata"]["continue"]})
    assert names(second.body) == ["x2", "x3"]
    assert "continue" not in second.body["metadata"]


async def test_paged_list_with_selector_fills_pages(api: API) -> None:
    for i in range(6):
        await api.create_cm(f"s{i}", labels={"keep": "yes" if i % 2 else "no"})
    r = await api.get(CMS, limit="2", labelSelector="keep=yes")
    assert names(r.body) == ["s1", "s3"]
    r2 = await api.get(CMS, limit="2", labelSelector="keep=yes", **{"continue": r.body["metadata"]["continue"]})
    assert names(r2.body) == ["s5"]


async def test_expired_continue_is_410_with_a_fresh_token(api: API) -> None:
    for i in range(4):
        await api.create_cm(f"e{i}")
    first = await api.get(CMS, limit="2")
    token = first.body["metadata"]["continue"]
    for i in range(3):
        await api.create_cm(f"later{i}")
    store = api.server.context.store
    await store.compact(await store.current_revision())
    r = await api.get(CMS, limit="2", **{"continue": token})
    assert r.status == 410
    assert r.body["reason"] == "Expired"
    assert "continue parameter is too old" in r.body["message"]
    fresh = r.body["metadata"]["continue"]
    rest = await api.get(CMS, limit="100", **{"continue": fresh})
    assert rest.status == 200, rest.body
    assert names(rest.body) == ["e2", "e3", "later0", "later1", "later2"]


async def test_resource_version_semantics(api: API) -> None:
    obj = await api.create_cm("v", data={"n": "1"})
    old_rv = obj["metadata"]["resourceVersion"]
    obj["data"] = {"n": "2"}
    new = (await api.put(f"{CMS}/v", obj)).body
    # "" consistent and "0" from cache both see the newest state
    for rv in ("", "0"):
        r = await api.get(CMS, resourceVersion=rv) if rv else await api.get(CMS)
        assert r.status == 200
        assert r.body["items"][0]["data"] == {"n": "2"}
        assert int(r.body["metadata"]["resourceVersion"]) >= int(new["metadata"]["resourceVersion"])
    # Exact reads the old snapshot from the store
    r = await api.get(CMS, resourceVersion=old_rv, resourceVersionMatch="Exact")
    assert r.status == 200, r.body
    assert r.body["items"][0]["data"] == {"n": "1"}
    assert r.body["metadata"]["resourceVersion"] == old_rv
    # NotOlderThan an old version: the cache answers with something at least as new
    r = await api.get(CMS, resourceVersion=old_rv, resourceVersionMatch="NotOlderThan")
    assert r.status == 200
    assert r.body["items"][0]["data"] == {"n": "2"}


@pytest.mark.apiserver_config(consistent_read_timeout=0.2)
async def test_future_resource_version_is_504_too_large(api: API) -> None:
    r = await api.get(CMS, resourceVersion="999999")
    assert r.status == 504
    assert r.body["reason"] == "Timeout"
    assert r.body["details"]["causes"][0]["reason"] == "ResourceVersionTooLarge"
    r = await api.get(CMS, resourceVersion="999999", resourceVersionMatch="Exact")
    assert r.status == 504


async def test_exact_resource_version_below_compaction_is_410(api: API) -> None:
    obj = await api.create_cm("c")
    rv = obj["metadata"]["resourceVersion"]
    for i in range(3):
        await api.create_cm(f"c{i}")
    store = api.server.context.store
    await store.compact(await store.current_revision())
    r = await api.get(CMS, resourceVersion=rv, resourceVersionMatch="Exact")
    assert r.status == 410
    assert r.body["reason"] == "Expired"


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ({"labelSelector": "app=a"}, ["a1", "a2"]),
        ({"labelSelector": "app!=a"}, ["b1", "none"]),
        ({"labelSelector": "app in (a,b),tier"}, ["a1"]),
        ({"labelSelector": "!app"}, ["none"]),
        ({"fieldSelector": "metadata.name=b1"}, ["b1"]),
        ({"fieldSelector": "metadata.name!=b1,metadata.namespace=default"}, ["a1", "a2", "none"]),
    ],
)
async def test_selectors_filter_lists(api: API, selector: dict[str, str], expected: list[str]) -> None:
    await api.create_cm("a1", labels={"app": "a", "tier": "x"})
    await api.create_cm("a2", labels={"app": "a"})
    await api.create_cm("b1", labels={"app": "b"})
    await api.create_cm("none")
    for rv in ("", "0"):
        params = {**selector, **({"resourceVersion": rv} if rv else {})}
        r = await api.get(CMS, **params)
        assert r.status == 200, r.body
        assert names(r.body) == expected
    r = await api.get(CMS, limit="10", **selector)
    assert names(r.body) == expected


async def test_all_namespaces_list_and_namespace_scoping(api: API) -> None:
    await api.post("/api/v1/namespaces", {"metadata": {"name": "other"}})
    await api.create_cm("here")
    await api.create_cm("there", ns="other")
    everywhere = await api.get("/api/v1/configmaps")
    assert {("default", "here"), ("other", "there")} <= {
        (i["metadata"]["namespace"], i["metadata"]["name"]) for i in everywhere.body["items"]}
    only = await api.get("/api/v1/namespaces/other/configmaps")
    assert names(only.body) == ["there"]


async def test_table_list_for_kubectl(api: API) -> None:
    await api.create_cm("tab", data={"a": "1", "b": "2"})
    r = await api.request("GET", CMS, headers={
        "Accept": "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,"
                  "application/json"}, params={"limit": "500"})
    assert r.status == 200
    assert r.body["kind"] == "Table"
    assert [c["name"] for c in r.body["columnDefinitions"]] == ["Name", "Data", "Age"]
    assert r.body["rows"][0]["cells"][:2] == ["tab", 2]


async def test_unacceptable_accept_is_406(api: API) -> None:
    r = await api.request("GET", CMS, headers={"Accept": "text/html"})  # (protobuf is served: test_protobuf.py)
    assert r.status == 406
    assert r.body["reason"] == "NotAcceptable"


async def test_yaml_and_partial_metadata_representations(api: API) -> None:
    import yaml

    await api.create_cm("rep", data={"a": "1"})
    r = await api.request("GET", f"{CMS}/rep", headers={"Accept": "application/yaml"})
    assert r.status == 200
    assert r.headers["Content-Type"].startswith("application/yaml")
    assert yaml.safe_load(r.body)["data"] == {"a": "1"}
    r = await api.request("GET", CMS, headers={
        "Accept": "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io"})
    assert r.status == 200
    assert r.body["kind"] == "PartialObjectMetadataList"
    assert r.body["items"][0]["metadata"]["name"] == "rep"
    assert "data" not in r.body["items"][0]


async def test_long_selector_in_the_url_is_served(api: API) -> None:
    await api.create_cm("long", labels={"k": "v"})
    values = ",".join(f"v{i:05d}" for i in range(2000)) + ",v"
    r = await api.get(CMS, labelSelector=f"k in ({values})")
    assert r.status == 200, r.body
    assert [i["metadata"]["name"] for i in r.body["items"]] == ["long"]
