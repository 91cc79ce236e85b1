"""Paged LISTs from the watch cache (as upstream's consistent lists from the cache, 1.31+): a first page
with ``limit`` (resourceVersion "" or not-older-than N) never reads the store, nor does a continuation
while the cache's window reaches back to its revision (rebuilt from the window, like upstream 1.34's
``ListFromCacheSnapshot``); an older continuation reads the store at the token's revision. Either way
the pages are the same: every item once, at one revision."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from tests.apiserver.conftest import API

CMS = "/api/v1/namespaces/default/configmaps"


def names(body: dict[str, Any]) -> list[str]:
    return [i["metadata"]["name"] for i in body["items"]]


@contextmanager
def store_lists(api: API, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Records the prefix of every ``store.list`` the server makes meanwhile (the real call still runs)."""
    store = api.server.context.store
    real = store.list
    seen: list[str] = []

    async def spy(prefix: str, *args: Any, **kwargs: Any) -> Any:
        seen.append(prefix)
        return await real(prefix, *args, **kwargs)

    with monkeypatch.context() as m:
        m.setattr(store, "list", spy)
        yield seen


async def walk(api: API, path: str, *, token: str = "",
               **params: str) -> tuple[list[str], set[str], list[dict[str, Any]]]:
    """Every page of ``path`` (from ``token`` on): the names, the revisions the pages report, and the
    pages' metadata."""
    seen: list[str] = []
    revisions: set[str] = set()
    metas: list[dict[str, Any]] = []
    while True:
        extra = {"continue": token} if token else {}
        r = await api.get(path, **params, **extra)
        assert r.status == 200, r.body
        seen += names(r.body)
        revisions.add(r.body["metadata"]["resourceVersion"])
        metas.append(r.body["metadata"])
        token = r.body["metadata"].get("continue", "")
        if not token:
            return seen, revisions, metas


async def test_pages_come_from_the_cache_while_nothing_changes(api: API, monkeypatch: pytest.MonkeyPatch) -> None:
    for i in range(7):
        await api.create_cm(f"c{i}", labels={"odd": str(i % 2)})
    await api.create_cm("other", ns="kube-system")
    await api.get(CMS)  # consistent read: the cache has caught up
    with store_lists(api, monkeypatch) as reads:
        seen, revisions, metas = await walk(api, CMS, limit="3")
        odd, _, odd_metas = await walk(api, CMS, limit="2", labelSelector="odd=1")
        everywhere, _, _ = await walk(api, "/api/v1/configmaps", limit="4")
    assert reads == []
    assert seen == [f"c{i}" for i in range(7)]
    assert len(revisions) == 1
    assert [m.get("remainingItemCount") for m in metas] == [4, 1, None]
    assert odd == ["c1", "c3", "c5"]
    assert all("remainingItemCount" not in m for m in odd_metas)
    assert "other" in everywhere
    assert len(everywhere) == len(set(everywhere))


async def test_a_continuation_after_writes_is_rebuilt_from_the_window(
        api: API, monkeypatch: pytest.MonkeyPatch) -> None:
    for i in range(6):
        await api.create_cm(f"w{i}")
    await api.get(CMS)
    with store_lists(api, monkeypatch) as reads:
        first = await api.get(CMS, limit="2")
        # after the first page: one key created inside the rest, one deleted, one changed, and writes elsewhere
        await api.create_cm("w0-late")
        assert (await api.delete(f"{CMS}/w3")).status == 200
        changed = await api.get(f"{CMS}/w4")
        body = {**changed.body, "data": {"k": "changed"}}
        assert (await api.put(f"{CMS}/w4", body)).status == 200
        await api.create_cm("elsewhere", ns="kube-system")
        await api.get(CMS)  # the cache has moved on
        rest, revisions, _ = await walk(api, CMS, limit="2", token=first.body["metadata"]["continue"])
    assert reads == []  # every page from the cache, at the first page's revision
    assert names(first.body) + rest == [f"w{i}" for i in range(6)]
    assert revisions == {first.body["metadata"]["resourceVersion"]}


@pytest.mark.apiserver_config(default_watch_cache_size=2)
async def test_a_continuation_older_than_the_window_reads_the_store(api: API, monkeypatch: pytest.MonkeyPatch) -> None:
    for i in range(5):
        await api.create_cm(f"w{i}")
    await api.get(CMS)
    with store_lists(api, monkeypatch) as reads:
        first = await api.get(CMS, limit="2")
        assert reads == []
        for i in range(3):  # more configmap events than the window holds
            await api.create_cm(f"w0-late{i}")
        await api.get(CMS)
        rest, revisions, _ = await walk(api, CMS, limit="2", token=first.body["metadata"]["continue"])
    assert reads  # the window no longer reaches back: the store answers at the token's revision
    assert names(first.body) + rest == [f"w{i}" for i in range(5)]
    assert revisions == {first.body["metadata"]["resourceVersion"]}


async def test_not_older_than_with_a_limit_pages_from_the_cache(api: API, monkeypatch: pytest.MonkeyPatch) -> None:
    for i in range(5):
        await api.create_cm(f"n{i}")
    rv = (await api.get(CMS)).body["metadata"]["resourceVersion"]
    with store_lists(api, monkeypatch) as reads:
        first = await api.get(CMS, limit="2", resourceVersion=rv, resourceVersionMatch="NotOlderThan")
        rest, revisions, metas = await walk(api, CMS, limit="2", token=first.body["metadata"]["continue"])
        seen = names(first.body) + rest
        legacy = await api.get(CMS, limit="2", resourceVersion=rv)  # no match: legacy exact, from the store
    assert seen == [f"n{i}" for i in range(5)]
    assert len(metas) == 2
    assert revisions == {first.body["metadata"]["resourceVersion"]}
    assert int(first.body["metadata"]["resourceVersion"]) >= int(rv)
    assert legacy.status == 200
    assert len(reads) == 1  # only the legacy exact read went to the store
