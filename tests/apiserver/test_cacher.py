"""Unit tests of the watch cache's parts, with the memory store (no HTTP)."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from sampan._lib.clock import FakeClock
from sampan.api import errors
from sampan.api.selectors import FieldSelector, LabelSelector
from sampan.apiserver.cacher.objects import CachedObject, WatchEvent, encode_for_store
from sampan.apiserver.cacher.resource_cache import ResourceCache
from sampan.apiserver.cacher.watch_cache import WatchCache
from sampan.apiserver.cacher.watcher import CacheWatcher, Filter, variant_for
from sampan.storage.memory import MemoryStorage

PREFIX = "/registry/configmaps/"


def fields(obj: dict) -> dict[str, str]:
    return {"metadata.name": obj["metadata"]["name"], "metadata.namespace": obj["metadata"].get("namespace", "")}


def cm(name: str, ns: str = "default", **labels: str) -> bytes:
    return encode_for_store({"kind": "ConfigMap", "apiVersion": "v1",
                             "metadata": {"name": name, "namespace": ns, "labels": labels}})


def make_cache(window: int = 10, capacity: int = 10) -> ResourceCache:
    return ResourceCache(PREFIX, kind="ConfigMap", api_version="v1", field_values_of=fields, window_size=window,
                         watcher_capacity=capacity)


async def start(store: MemoryStorage, cache: ResourceCache, clock: FakeClock) -> tuple[WatchCache, asyncio.Task]:
    wc = WatchCache(store, [cache], clock=clock, bookmark_interval=60)
    task = asyncio.create_task(wc.run())
    await wc.ready.wait()
    return wc, task


async def settle(wc: WatchCache, store: MemoryStorage) -> None:
    assert await wc.wait_for(await store.current_revision(), 5)


def test_stored_value_omits_resource_version_and_is_restored_on_read() -> None:
    raw = encode_for_store({"metadata": {"name": "a", "resourceVersion": "9"}})
    assert b"resourceVersion" not in raw
    co = CachedObject.from_store(PREFIX + "default/a", raw, 12, fields)
    assert co.obj["metadata"]["resourceVersion"] == "12"
    assert orjson.loads(co.raw)["metadata"]["resourceVersion"] == "12"


def test_each_event_variant_is_encoded_once() -> None:
    co = CachedObject.from_store(PREFIX + "default/a", cm("a"), 3, fields)
    ev = WatchEvent("ADDED", co, None, 3)
    assert ev.line("ADDED") is ev.line("ADDED")
    assert orjson.loads(ev.line("ADDED")) == {"type": "ADDED", "object": co.obj}


def test_selector_transitions() -> None:
    web = Filter(None, LabelSelector.parse("app=web"), FieldSelector.parse(""))
    old = CachedObject.from_store(PREFIX + "default/a", cm("a", app="db"), 3, fields)
    new = CachedObject.from_store(PREFIX + "default/a", cm("a", app="web"), 4, fields)
    assert variant_for(web, WatchEvent("MODIFIED", new, old, 4)) == "ADDED"
    assert variant_for(web, WatchEvent("MODIFIED", old, new, 5)) == "DELETED_PREV"
    assert variant_for(web, WatchEvent("MODIFIED", new, new, 5)) == "MODIFIED"
    assert variant_for(web, WatchEvent("MODIFIED", old, old, 5)) is None
    ev = WatchEvent("MODIFIED", old, new, 5)
    gone = orjson.loads(ev.line("DELETED_PREV"))
    assert gone["type"] == "DELETED"
    assert gone["object"]["metadata"]["labels"] == {"app": "web"}
    assert gone["object"]["metadata"]["resourceVersion"] == "5"


def test_watcher_queue_is_bounded_and_overflow_closes() -> None:
    w = CacheWatcher(Filter(), capacity=2, bookmarks=False)
    co = CachedObject.from_store(PREFIX + "default/a", cm("a"), 3, fields)
    for rv in (3, 4, 5):
        w.deliver(WatchEvent("ADDED", co, None, rv))
    assert w.closed
    assert w.overflowed
    assert len(w.take()) == 2  # what was queued before the overflow is still delivered


async def test_cache_follows_store_and_replays_window() -> None:
    store = MemoryStorage()
    await store.create(PREFIX + "default/before", cm("before"))
    cache = make_cache(window=3)
    wc, task = await start(store, cache, FakeClock())
    try:
        assert [o.name for o in cache.sorted_objects(Filter())] == ["before"]
        revs = [await store.create(PREFIX + f"default/n{i}", cm(f"n{i}")) for i in range(5)]
        await settle(wc, store)
        assert len(cache.objects) == 6
        # the window holds the last 3 events: replay from revs[1] works, from revs[0] is too old
        replay = cache.events_since(revs[1], Filter())
        assert [item[0].cur.name for item in replay] == ["n2", "n3", "n4"]  # type: ignore[index]
        with pytest.raises(errors.Expired):
            cache.events_since(revs[0], Filter())
    finally:
        task.cancel()


async def test_namespace_filter_uses_sorted_key_range() -> None:
    store = MemoryStorage()
    for ns in ("a", "ab", "b"):
        await store.create(PREFIX + f"{ns}/x", cm("x", ns))
    cache = make_cache()
    _wc, task = await start(store, cache, FakeClock())
    try:
        assert [o.namespace for o in cache.sorted_objects(Filter(namespace="a"))] == ["a"]
        assert [o.namespace for o in cache.sorted_objects(Filter())] == ["a", "ab", "b"]
    finally:
        task.cancel()


async def test_consistent_read_waits_for_other_resources_writes() -> None:
    store = MemoryStorage()
    cache = make_cache()
    wc, task = await start(store, cache, FakeClock())
    try:
        await store.create("/registry/secrets/default/s", b"{}")  # not a cached resource
        assert await wc.wait_fresh(5)
        assert wc.revision == await store.current_revision()
    finally:
        task.cancel()


async def test_bookmarks_go_only_to_watchers_that_asked() -> None:
    store = MemoryStorage()
    cache = make_cache()
    clock = FakeClock()
    wc, task = await start(store, cache, clock)
    try:
        yes = cache.add_watcher(Filter(), bookmarks=True, initial=())
        no = cache.add_watcher(Filter(), bookmarks=False, initial=())
        assert wc.send_bookmarks() == 1
        (bm,) = yes.take()
        assert b'"BOOKMARK"' in bm.line  # type: ignore[union-attr]
        assert no.take() == []
    finally:
        task.cancel()


async def test_lost_store_watch_reloads_and_closes_watchers() -> None:
    store = MemoryStorage(watch_queue_size=1)
    cache = make_cache()
    wc, task = await start(store, cache, FakeClock())
    try:
        w = cache.add_watcher(Filter(), bookmarks=False, initial=())
        for i in range(20):  # far more than the store's subscriber queue: the cache's watch is dropped
            await store.create(PREFIX + f"default/f{i}", cm(f"f{i}"))
        await settle(wc, store)
        for _ in range(100):
            if wc.reloads >= 2 and len(cache.objects) == 20:
                break
            await asyncio.sleep(0.01)
        assert wc.reloads >= 2
        assert len(cache.objects) == 20
        assert w.closed
    finally:
        task.cancel()


async def test_waiting_for_a_revision_that_never_comes_leaves_nothing_behind() -> None:
    store = MemoryStorage()
    cache = make_cache()
    wc, task = await start(store, cache, FakeClock())
    try:
        assert not await wc.wait_for(10**12, 0.01)
        assert wc._waiters == []
        rev = await store.create(PREFIX + "default/a", cm("a"))
        assert await wc.wait_for(rev, 5)
    finally:
        task.cancel()


async def test_undecodable_stored_values_are_skipped_not_fatal() -> None:
    store = MemoryStorage()
    await store.create(PREFIX + "default/junk-at-start", b"[1, 2]")
    cache = make_cache()
    wc, task = await start(store, cache, FakeClock())
    try:
        await store.create(PREFIX + "default/junk-later", b"not json")
        await store.create(PREFIX + "default/good", cm("good"))
        await settle(wc, store)
        assert [o.name for o in cache.sorted_objects(Filter())] == ["good"]
        assert not task.done()
    finally:
        task.cancel()


async def test_events_applied_in_one_loop_turn_reach_a_watcher_in_one_write() -> None:
    from sampan.storage import Event, EventType

    cache = make_cache()
    cache.reset([], 0)
    w = cache.add_watcher(Filter(), bookmarks=False, initial=())
    writes: list[int] = []

    def sink(items: object) -> bool:
        writes.append(len(items))  # type: ignore[arg-type]
        return True

    w.sink = sink
    for rev in (1, 2, 3):
        cache.apply(Event(EventType.CREATED, PREFIX + f"default/b{rev}", rev, cm(f"b{rev}")))
    assert writes == []  # nothing is written inside apply()
    await asyncio.sleep(0)
    assert writes == [3]
    assert not w.pending
    cache.apply(Event(EventType.CREATED, PREFIX + "default/b4", 4, cm("b4")))
    w.busy = True  # the writer task is mid-write: the fast path must not overtake it
    for _ in range(3):
        await asyncio.sleep(0.01)
    assert writes == [3]
    assert len(w.pending) == 1


def test_continue_tokens_round_trip_and_reject_junk() -> None:
    from sampan.apiserver import continuetoken

    tok = continuetoken.encode(revision=42, last_key=PREFIX + "default/x", prefix=PREFIX)
    back = continuetoken.decode(tok, prefix=PREFIX)
    assert back.revision == 42
    assert back.start_after == PREFIX + "default/x"
    for junk in ("", "!!!", "bm90IGpzb24", "eyJ2IjoidjEiLCJydiI6MSwic3RhcnQiOiJ4In0"):
        with pytest.raises(errors.BadRequest):
            continuetoken.decode(junk, prefix=PREFIX)


async def test_indexed_triggers_offer_events_only_to_interested_watchers() -> None:
    from sampan.storage import Event, EventType

    def pod(name: str, node: str) -> bytes:
        return encode_for_store({"metadata": {"name": name, "namespace": "default"}, "spec": {"nodeName": node}})

    def pod_fields(obj: dict) -> dict[str, str]:
        return {**fields(obj), "spec.nodeName": obj.get("spec", {}).get("nodeName", "")}

    cache = ResourceCache("/registry/pods/", kind="Pod", api_version="v1", field_values_of=pod_fields,
                          window_size=10, watcher_capacity=10)
    cache.reset([], 0)
    on_a = cache.add_watcher(Filter(None, None, FieldSelector.parse("spec.nodeName=a")), bookmarks=False,
                             initial=())
    on_b = cache.add_watcher(Filter(None, None, FieldSelector.parse("spec.nodeName=b")), bookmarks=False,
                             initial=())
    other_ns = cache.add_watcher(Filter("other", None, None), bookmarks=False, initial=())
    everything = cache.add_watcher(Filter(), bookmarks=False, initial=())
    cache.apply(Event(EventType.CREATED, "/registry/pods/default/p", 1, pod("p", "a")))
    offered = set(cache.watchers.candidates(cache.window[-1]))
    assert offered == {on_a, everything}  # the index skipped the others without evaluating them
    assert len(on_a.pending) == 1
    assert len(everything.pending) == 1
    assert not on_b.pending
    assert not other_ns.pending
    # moving the object from a to b: a sees it leave (DELETED), b sees it arrive (ADDED)
    cache.apply(Event(EventType.UPDATED, "/registry/pods/default/p", 2, pod("p", "b"), pod("p", "a")))
    assert [v for _, v in on_a.pending] == ["ADDED", "DELETED_PREV"]  # type: ignore[misc]
    assert [v for _, v in on_b.pending] == ["ADDED"]  # type: ignore[misc]
    cache.remove_watcher(on_a)
    assert on_a not in cache.watchers
    assert len(cache.watchers) == 3
