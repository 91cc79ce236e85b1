"""DELETE on a collection removes exactly the selected objects in the path's namespace."""

from __future__ import annotations

from tests.apiserver.conftest import API

CMS = "/api/v1/namespaces/default/configmaps"


async def test_deletecollection_with_label_selector(api: API) -> None:
    await api.post("/api/v1/namespaces", {"metadata": {"name": "side"}})
    for i in range(3):
        await api.create_cm(f"gone{i}", labels={"batch": "1"})
    await api.create_cm("stays", labels={"batch": "2"})
    await api.create_cm("gone-elsewhere", ns="side", labels={"batch": "1"})
    r = await api.delete(CMS, labelSelector="batch=1")
    assert r.status == 200, r.body
    assert r.body["kind"] == "ConfigMapList"
    assert sorted(i["metadata"]["name"] for i in r.body["items"]) == ["gone0", "gone1", "gone2"]
    left = await api.get(CMS)
    assert [i["metadata"]["name"] for i in left.body["items"]] == ["stays"]
    assert (await api.get("/api/v1/namespaces/side/configmaps/gone-elsewhere")).status == 200


async def test_deletecollection_dry_run_and_bad_selector_change_nothing(api: API) -> None:
    await api.create_cm("a")
    before = await api.snapshot()
    r = await api.delete(CMS, dryRun="All")
    assert r.status == 200
    assert [i["metadata"]["name"] for i in r.body["items"]] == ["a"]
    assert (await api.delete(CMS, labelSelector="a in (")).status == 400
    assert await api.snapshot() == before
