from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sampan.client.cache.index import NAMESPACE_INDEX
from sampan.client.cache.store import (
    DeletedFinalStateUnknown,
    IndexedStore,
    KeyFuncError,
    meta_namespace_key,
    split_meta_namespace_key,
)
from tests.client.objects import cm, node


def by_app(obj: Any) -> list[str]:
    app = (obj["metadata"].get("labels") or {}).get("app")
    return [app] if app else []


def test_keys() -> None:
    assert meta_namespace_key(cm("a", "ns1")) == "ns1/a"
    assert meta_namespace_key(node("n1")) == "n1"
    assert meta_namespace_key(DeletedFinalStateUnknown("ns/x", None)) == "ns/x"
    assert split_meta_namespace_key("ns/x") == ("ns", "x")
    assert split_meta_namespace_key("x") == ("", "x")
    for bad in ("", "a/b/c", "ns/"):
        with pytest.raises(ValueError, match="unexpected key format"):
            split_meta_namespace_key(bad)
    with pytest.raises(KeyFuncError):
        meta_namespace_key({"metadata": {}})


def test_namespace_index_and_custom_index() -> None:
    store = IndexedStore()
    store.add(cm("a", "ns1", app="web"))
    store.add(cm("b", "ns1", app="db"))
    store.add(cm("c", "ns2", app="web"))
    assert [o["metadata"]["name"] for o in store.by_index(NAMESPACE_INDEX, "ns1")] == ["a", "b"]
    store.add_indexers({"app": by_app})
    assert store.index_keys("app", "web") == ["ns1/a", "ns2/c"]
    store.update(cm("a", "ns1", app="db"))
    assert store.index_keys("app", "web") == ["ns2/c"]
    assert store.index_keys("app", "db") == ["ns1/a", "ns1/b"]
    assert [o["metadata"]["name"] for o in store.index("app", cm("x", app="db"))] == ["a", "b"]
    store.delete(cm("b", "ns1"))
    assert store.index_keys("app", "db") == ["ns1/a"]
    assert sorted(store.list_index_func_values("app")) == ["db", "web"]
    with pytest.raises(ValueError, match="already exists"):
        store.add_indexers({"app": by_app})
    with pytest.raises(KeyError, match="does not exist"):
        store.by_index("nope", "x")


def test_replace_rebuilds_indices() -> None:
    store = IndexedStore(indexers={"app": by_app})
    store.add(cm("a", app="web"))
    store.replace([cm("b", app="db")], "5")
    assert store.list_keys() == ["default/b"]
    assert store.index_keys("app", "web") == []
    assert store.index_keys("app", "db") == ["default/b"]


ops = st.lists(
    st.tuples(st.sampled_from(["add", "delete"]), st.sampled_from("abcde"), st.sampled_from(["x", "y", ""]),
              st.sampled_from(["ns1", "ns2"])),
    max_size=40,
)


@given(ops)
def test_indices_match_a_rebuild(operations: list[tuple[str, str, str, str]]) -> None:
    """Incremental index maintenance gives the same indices as indexing the final contents from scratch."""
    store = IndexedStore(indexers={"app": by_app, NAMESPACE_INDEX: lambda o: [o["metadata"]["namespace"]]})
    for op, name, app, ns in operations:
        obj = cm(name, ns, **({"app": app} if app else {}))
        if op == "add":
            store.add(obj)
        else:
            store.delete(obj)
    fresh = IndexedStore(indexers=store.indexers)
    fresh.replace(store.list())
    for index in ("app", NAMESPACE_INDEX):
        assert sorted(store.list_index_func_values(index)) == sorted(fresh.list_index_func_values(index))
        for value in fresh.list_index_func_values(index):
            assert store.index_keys(index, value) == fresh.index_keys(index, value)
