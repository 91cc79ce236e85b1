"""``remainingItemCount`` on paged lists, as upstream: set when a limit cut an unselective list (the
count of items after the page), absent on the last page and when selectors filter."""

from __future__ import annotations

from tests.apiserver.conftest import API

CMS = "/api/v1/namespaces/default/configmaps"


async def test_remaining_item_count(api: API) -> None:
    for i in range(5):
        await api.create_cm(f"rc-{i}", labels={"n": str(i)})
    await api.get(CMS)  # a consistent read: the watch cache has caught up with the store
    first = (await api.get(CMS, limit="2")).body
    assert [i["metadata"]["name"] for i in first["items"]] == ["rc-0", "rc-1"]
    assert first["metadata"]["remainingItemCount"] == 3
    second = (await api.get(CMS, limit="2", **{"continue": first["metadata"]["continue"]})).body
    assert second["metadata"]["remainingItemCount"] == 1
    last = (await api.get(CMS, limit="2", **{"continue": second["metadata"]["continue"]})).body
    assert [i["metadata"]["name"] for i in last["items"]] == ["rc-4"]
    assert "remainingItemCount" not in last["metadata"]
    assert "continue" not in last["metadata"]
    selected = (await api.get(CMS, limit="1", labelSelector="n!=0")).body
    assert selected["metadata"]["continue"]
    assert "remainingItemCount" not in selected["metadata"]
    everywhere = (await api.get("/api/v1/configmaps", limit="1")).body
    assert everywhere["metadata"]["remainingItemCount"] >= 4
