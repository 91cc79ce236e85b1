"""Paged LISTs from the watch cache (as upstream's consistent lists from the cache, 1.31+): a first page
with ``limit`` and a continuation at the cache's current revision never read the store; a continuation
after a write reads the store at the token's revision (the cache no longer holds that snapshot). Either
way the pages are the same: every item once, at one revision."""

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


async def test_a_continuation_after_a_write_reads_the_snapshot_from_the_store(
        api: API, monkeypatch: pytest.MonkeyPatch) -> None:
    for i in range(5):
        await api.create_cm(f"w{i}")
    await api.get(CMS)
    with store_lists(api, monkeypatch) as reads:
        first = await api.get(CMS, limit="2")
        assert reads == []
        await api.create_cm("w0-late")  # sorts inside the remaining keys; not in the first page's snapshot
        rest, revisions, _ = await walk(api, CMS, limit="2", token=first.body["metadata"]["continue"])
    assert reads  # the cache has moved on: the store answers at the token's revision
    assert names(first.body) + rest == [f"w{i}" for i in range(5)]
    assert revisions == {first.body["metadata"]["resourceVersion"]}
