"""Informer transforms (``sampan.client.cache.transforms``): unit tests of each transform, the reflector
applying one before the DeltaFIFO, and an informer against a real API server caching trimmed objects."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sampan.client.cache.delta_fifo import DeltaFIFO
from sampan.client.cache.handlers import EventHandlerFuncs
from sampan.client.cache.reflector import Reflector
from sampan.client.cache.transforms import StringInterner, chain, component_transform, strip_managed_fields
from sampan.client.dynamic import Client
from sampan.client.informers import SharedInformerFactory
from sampan.client.kubeconfig import load_kubeconfig
from tests.client.fakes import ScriptedLW
from tests.client.objects import cm
from tests.client.test_reflector import FAST, ev
from tests.support.apiserver import InProcessAPIServer


def pod(i: int) -> dict[str, Any]:
    """A decoded pod, as an informer receives it (each a separate decode: no string shared yet)."""
    return orjson.loads(orjson.dumps({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": f"web-{i}", "namespace": "shop", "uid": f"uid-{i}", "resourceVersion": str(i),
                     "labels": {"app": "web"},
                     "managedFields": [{"manager": "kubelet", "operation": "Update", "fieldsType": "FieldsV1",
                                        "fieldsV1": {"f:status": {"f:phase": {}}}, "subresource": "status"}]},
        "spec": {"nodeName": "node-7", "containers": [{"name": "c", "image": "registry.k8s.io/pause:3.9",
                                                       "args": ["sleep", "x" * 100]}]},
        "status": {"phase": "Running", "podIPs": [{"ip": "100.64.0.1"}]}}))


def test_strip_managed_fields_drops_only_managed_fields() -> None:
    p = pod(1)
    want = copy.deepcopy(p)
    del want["metadata"]["managedFields"]
    assert strip_managed_fields(p) is p
    assert p == want
    assert strip_managed_fields(p) == want  # nothing to strip: unchanged
    assert strip_managed_fields("not an object") == "not an object"
    assert strip_managed_fields({"metadata": None}) == {"metadata": None}


def test_interner_shares_equal_strings_and_keeps_every_value() -> None:
    interner = StringInterner()
    a, b = pod(1), pod(2)
    want_a, want_b = copy.deepcopy(a), copy.deepcopy(b)
    assert a["spec"]["nodeName"] is not b["spec"]["nodeName"]
    assert interner(a) is a
    assert interner(b) is b
    assert (a, b) == (want_a, want_b)
    for get in (lambda p: p["spec"]["nodeName"], lambda p: p["metadata"]["namespace"],
                lambda p: p["metadata"]["labels"]["app"], lambda p: p["spec"]["containers"][0]["image"],
                lambda p: p["status"]["podIPs"][0]["ip"], lambda p: p["spec"]["containers"][0]["args"][0]):
        assert get(a) is get(b)
    # unique metadata and long strings take no table entry
    assert "web-1" not in interner._table
    assert "uid-1" not in interner._table
    assert "1" not in interner._table
    assert a["spec"]["containers"][0]["args"][1] is not b["spec"]["containers"][0]["args"][1]


def test_interner_table_is_bounded() -> None:
    interner = StringInterner(max_entries=5)
    for i in range(50):
        interner({"data": {"k": f"value-{i}"}})
        assert len(interner) <= 5
    x, y = {"data": {"k": "same"}}, orjson.loads(b'{"data": {"k": "same"}}')
    interner(x)
    interner(y)
    assert x["data"]["k"] is y["data"]["k"]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=80),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=15)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.dictionaries(st.sampled_from(["metadata", "spec", "status", "x"]), json_values, max_size=4),
                max_size=4))
def test_interned_objects_equal_their_originals(objects: list[dict[str, Any]]) -> None:
    interner = StringInterner(max_entries=7, max_length=10)
    decoded = [orjson.loads(orjson.dumps(o)) for o in objects]
    for o, want in zip(decoded, objects, strict=True):
        assert interner(o) == want


def test_chain_applies_in_order_and_skips_none() -> None:
    assert chain() is None
    assert chain(None) is None
    assert chain(None, strip_managed_fields) is strip_managed_fields
    seen: list[str] = []
    both = chain(lambda o: seen.append("a") or o, None, lambda o: seen.append("b") or o)
    assert both is not None
    assert both({}) == {}
    assert seen == ["a", "b"]


async def test_reflector_transforms_list_and_watch_objects_before_the_fifo() -> None:
    def marked(name: str, rv: str) -> dict[str, Any]:
        obj = cm(name, rv=rv)
        obj["metadata"]["managedFields"] = [{"manager": "m"}]
        return obj

    seen: list[str] = []

    def transform(obj: Any) -> Any:
        seen.append(obj["metadata"].get("name", "?"))
        return strip_managed_fields(obj)

    lw = ScriptedLW([marked(f"o{i}", str(i + 1)) for i in range(3)], "3", [
        [ev("ADDED", marked("n1", "4")), ev("MODIFIED", marked("o1", "5")), ev("DELETED", marked("o2", "6")),
         ev("BOOKMARK", {"kind": "ConfigMap", "apiVersion": "v1", "metadata": {"resourceVersion": "7"}})]])
    fifo = DeltaFIFO()
    reflector = Reflector(lw, fifo, name="test", options=FAST, transform=transform)
    task = asyncio.create_task(reflector.run())
    await asyncio.wait_for(lw.exhausted.wait(), 5)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert seen == ["o0", "o1", "o2", "n1", "o1", "o2"]  # the bookmark is not an object
    assert reflector.last_sync_resource_version == "7"
    for key in ("default/o0", "default/o1", "default/o2", "default/n1"):
        deltas = fifo.get_by_key(key)
        assert deltas
        assert all("managedFields" not in d.obj["metadata"] for d in deltas)
        assert all(d.obj["kind"] == "ConfigMap" for d in deltas)  # the transform sees list items' kind


async def test_a_failing_transform_fails_the_list_and_is_retried() -> None:
    calls = 0

    def flaky(obj: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ValueError("not this time")
        return obj

    lw = ScriptedLW([cm("a")], "1", [])
    fifo = DeltaFIFO()
    reflector = Reflector(lw, fifo, name="test", options=FAST, transform=flaky)
    task = asyncio.create_task(reflector.run())
    await asyncio.wait_for(lw.exhausted.wait(), 5)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert reflector.stats.lists == 2
    assert fifo.get_by_key("default/a")


@pytest.fixture
async def client(inproc_apiserver: InProcessAPIServer) -> AsyncIterator[Client]:
    async with Client(load_kubeconfig(str(inproc_apiserver.kubeconfig))) as c:
        yield c


async def test_informer_caches_objects_without_managed_fields_and_updates_keep_the_servers(client: Client) -> None:
    cms = await client.resource("v1", "configmaps")
    await cms.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "before", "namespace": "default"},
                      "data": {"k": "v"}})
    factory = SharedInformerFactory(client, transform=component_transform())
    informer = factory.informer("v1", "configmaps")
    handled: list[dict[str, Any]] = []
    informer.add_event_handler(EventHandlerFuncs(on_add_func=handled.append,
                                                 on_update_func=lambda _old, new: handled.append(new)))
    factory.start()
    try:
        await factory.wait_for_cache_sync(timeout=10)
        with pytest.raises(RuntimeError, match="already started"):
            informer.set_transform(None)
        await cms.create({"apiVersion": "v1", "kind": "ConfigMap",
                          "metadata": {"name": "after", "namespace": "default"}, "data": {"k": "v"}})
        for _ in range(1000):
            if informer.indexer.get_by_key("default/after") is not None:
                break
            await asyncio.sleep(0.01)
        cached = [informer.indexer.get_by_key(k) for k in ("default/before", "default/after")]
        assert all(o is not None and "managedFields" not in o["metadata"] for o in cached)
        assert {o["metadata"]["name"] for o in handled} >= {"before", "after"}
        assert all("managedFields" not in o["metadata"] for o in handled)
        assert cached[0] is not None
        assert cached[1] is not None
        assert cached[0]["data"]["k"] is cached[1]["data"]["k"]  # strings shared between cached objects
        # an update written from a trimmed cached object keeps the server's managedFields
        live = await cms.get("before", namespace="default")
        assert live["metadata"]["managedFields"]
        changed = copy.deepcopy(cached[0])
        changed["data"]["k"] = "w"
        await cms.update(changed, namespace="default")
        after = await cms.get("before", namespace="default")
        assert after["data"] == {"k": "w"}
        assert after["metadata"]["managedFields"]
    finally:
        await factory.shutdown()


async def test_set_transform_before_start(client: Client) -> None:
    factory = SharedInformerFactory(client)
    informer = factory.informer("v1", "namespaces")
    assert informer.transform is None
    informer.set_transform(strip_managed_fields)
    factory.start()
    try:
        await factory.wait_for_cache_sync(timeout=10)
        assert informer.indexer.list()
        assert all("managedFields" not in o["metadata"] for o in informer.indexer.list())
    finally:
        await factory.shutdown()


async def test_a_paged_initial_list_is_paged_by_the_servers_cache(client: Client) -> None:
    """resourceVersion "0" is answered whole (the watch cache ignores ``limit``); "" comes in pages, each
    transformed before the next is read."""
    from sampan.client.cache.listwatch import ListWatch
    from sampan.client.cache.reflector import ReflectorOptions
    from sampan.client.cache.shared_informer import SharedIndexInformer

    cms = await client.resource("v1", "configmaps")
    for i in range(5):
        await cms.create({"apiVersion": "v1", "kind": "ConfigMap",
                          "metadata": {"name": f"paged-{i}", "namespace": "default"}})
    pages: list[tuple[str | None, int, bool]] = []

    class Recording(ListWatch):
        async def list(self, *, resource_version: str | None, limit: int | None, continue_: str | None
                       ) -> dict[str, Any]:
            page = await super().list(resource_version=resource_version, limit=limit, continue_=continue_)
            pages.append((resource_version, len(page["items"]), bool(page["metadata"].get("continue"))))
            return page

    for paged in (False, True):
        pages.clear()
        informer = SharedIndexInformer(Recording(cms, namespace="default"), name="cms", transform=strip_managed_fields,
                                       reflector_options=ReflectorOptions(page_size=2, paged_initial_list=paged))
        task = asyncio.create_task(informer.run())
        try:
            for _ in range(1000):
                if informer.has_synced():
                    break
                await asyncio.sleep(0.01)
            assert informer.has_synced()
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        assert sum(n for _, n, _ in pages) == len(informer.indexer) >= 5
        assert all("managedFields" not in o["metadata"] for o in informer.indexer.list())
        if paged:
            assert pages[0][0] == ""
            assert len(pages) >= 3
            assert all(n <= 2 for _, n, _ in pages)
        else:
            assert pages == [("0", len(informer.indexer), False)]  # one body, limit ignored
