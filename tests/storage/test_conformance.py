"""The storage contract (DESIGN.md §2), run against every backend."""

from __future__ import annotations

import asyncio

import pytest

from sampan.storage import (
    Compacted,
    Conflict,
    EventType,
    InvalidKey,
    KeyExists,
    KeyNotFound,
    Storage,
    ValueTooLarge,
)
from sampan.storage.interface import MAX_VALUE_BYTES, Event

P = "/registry/pods/"


async def collect(store: Storage, prefix: str, after: int, n: int, timeout: float = 10.0) -> list[Event]:
    """The first ``n`` events of a watch, or fail after ``timeout`` seconds."""
    watch = store.watch(prefix, after_revision=after)
    out: list[Event] = []

    async def run() -> None:
        async for event in watch:
            out.append(event)
            if len(out) == n:
                return

    try:
        await asyncio.wait_for(run(), timeout)
    finally:
        await watch.close()
    return out


async def test_create_get_and_create_exists(store: Storage) -> None:
    rev = await store.create(P + "a", b"one")
    kv = await store.get(P + "a")
    assert (kv.value, kv.create_revision, kv.mod_revision) == (b"one", rev, rev)
    with pytest.raises(KeyExists):
        await store.create(P + "a", b"two")
    assert (await store.get(P + "a")).value == b"one"
    assert await store.current_revision() == rev


async def test_revisions_strictly_increase_without_gaps(store: Storage) -> None:
    start = await store.current_revision()
    r1 = await store.create(P + "a", b"1")
    r2 = await store.update(P + "a", b"2", expected_mod_revision=r1)
    deleted = await store.delete(P + "a")
    r4 = await store.create(P + "a", b"3")
    assert [r1, r2, deleted.mod_revision, r4] == [start + 1, start + 2, start + 3, start + 4]
    kv = await store.get(P + "a")
    assert kv.create_revision == r4, "a recreated key starts a new life"


async def test_get_missing(store: Storage) -> None:
    with pytest.raises(KeyNotFound):
        await store.get(P + "nope")


async def test_update_compare_and_swap(store: Storage) -> None:
    r1 = await store.create(P + "a", b"1")
    r2 = await store.update(P + "a", b"2", expected_mod_revision=r1)
    assert r2 > r1
    with pytest.raises(Conflict) as info:
        await store.update(P + "a", b"3", expected_mod_revision=r1)
    assert info.value.actual == r2
    kv = await store.get(P + "a")
    assert (kv.value, kv.mod_revision, kv.create_revision) == (b"2", r2, r1)
    with pytest.raises(KeyNotFound):
        await store.update(P + "missing", b"x", expected_mod_revision=1)


async def test_delete_with_precondition(store: Storage) -> None:
    r1 = await store.create(P + "a", b"1")
    with pytest.raises(Conflict):
        await store.delete(P + "a", expected_mod_revision=r1 + 100)
    assert (await store.get(P + "a")).value == b"1"
    deleted = await store.delete(P + "a", expected_mod_revision=r1)
    assert deleted.value == b"1"
    assert deleted.mod_revision == await store.current_revision()
    with pytest.raises(KeyNotFound):
        await store.get(P + "a")
    with pytest.raises(KeyNotFound):
        await store.delete(P + "a")


async def test_list_at_an_old_revision(store: Storage) -> None:
    ra = await store.create(P + "a", b"a1")
    await store.create(P + "b", b"b1")
    old = await store.current_revision()
    await store.update(P + "a", b"a2", expected_mod_revision=ra)
    await store.delete(P + "b")
    await store.create(P + "c", b"c1")

    now = await store.list(P)
    assert [(kv.key, kv.value) for kv in now.kvs] == [(P + "a", b"a2"), (P + "c", b"c1")]
    assert now.revision == await store.current_revision()
    then = await store.list(P, revision=old)
    assert [(kv.key, kv.value) for kv in then.kvs] == [(P + "a", b"a1"), (P + "b", b"b1")]
    assert then.revision == old
    assert (await store.get(P + "b", revision=old)).value == b"b1"


async def test_pagination_is_consistent_across_writes(store: Storage) -> None:
    for i in range(10):
        await store.create(f"{P}k{i:02d}", f"v{i}".encode())
    page = await store.list(P, limit=4)
    assert page.more
    assert [kv.key[-3:] for kv in page.kvs] == ["k00", "k01", "k02", "k03"]
    # Writes between pages must not show in later pages pinned to the first page's revision.
    await store.delete(P + "k05")
    await store.create(P + "k04x", b"new")
    got = [kv.key for kv in page.kvs]
    while page.more:
        page = await store.list(P, revision=page.revision, limit=4, start_after=page.kvs[-1].key)
        got += [kv.key for kv in page.kvs]
    assert got == [f"{P}k{i:02d}" for i in range(10)]


async def test_prefix_isolation(store: Storage) -> None:
    await store.create("/registry/pods/a", b"1")
    await store.create("/registry/podsx/a", b"2")
    await store.create("/registry/pod", b"3")
    pods = await store.list("/registry/pods/")
    assert [kv.key for kv in pods.kvs] == ["/registry/pods/a"]
    assert await store.count("/registry/pods/") == 1
    events = await collect(store, "/registry/pods/", 0, 1)
    assert [e.key for e in events] == ["/registry/pods/a"]


async def test_watch_from_revision_orders_and_resumes(store: Storage) -> None:
    start = await store.current_revision()
    r1 = await store.create(P + "a", b"1")
    await store.update(P + "a", b"2", expected_mod_revision=r1)
    await store.create("/registry/services/s", b"svc")
    await store.delete(P + "a")

    events = await collect(store, P, start, 3)
    assert [e.type for e in events] == [EventType.CREATED, EventType.UPDATED, EventType.DELETED]
    assert [e.value for e in events] == [b"1", b"2", b"2"]
    assert events[1].prev_value == b"1"
    revs = [e.revision for e in events]
    assert revs == sorted(revs)

    # Resume after the first event: the later ones, and nothing before.
    resumed = await collect(store, P, events[0].revision, 2)
    assert [e.revision for e in resumed] == revs[1:]


async def test_watch_sees_live_writes_in_order(store: Storage) -> None:
    start = await store.current_revision()

    async def writer() -> None:
        for i in range(50):
            await store.create(f"{P}live{i:03d}", b"x")

    watched, _ = await asyncio.gather(collect(store, P, start, 50), writer())
    assert [e.key for e in watched] == [f"{P}live{i:03d}" for i in range(50)]
    assert [e.revision for e in watched] == sorted({e.revision for e in watched})


async def test_compaction_keeps_latest_and_refuses_old_reads(store: Storage) -> None:
    r1 = await store.create(P + "a", b"1")
    r2 = await store.update(P + "a", b"2", expected_mod_revision=r1)
    rb = await store.create(P + "b", b"b")
    await store.delete(P + "b")
    await store.create(P + "c", b"c")
    target = await store.current_revision()
    await store.compact(target)
    assert await store.compacted_revision() == target

    kv = await store.get(P + "a")
    assert (kv.value, kv.mod_revision, kv.create_revision) == (b"2", r2, r1)
    assert [kv.key for kv in (await store.list(P)).kvs] == [P + "a", P + "c"]
    with pytest.raises(Compacted):
        await store.get(P + "a", revision=rb)
    with pytest.raises(Compacted):
        await store.list(P, revision=r1)

    watch = store.watch(P, after_revision=r1)
    with pytest.raises(Compacted):
        async for _ in watch:
            pass
    # Writes still work after compaction, and a watch from the compacted revision sees them.
    new = await store.create(P + "d", b"d")
    events = await collect(store, P, target, 1)
    assert [(e.key, e.revision) for e in events] == [(P + "d", new)]


async def test_concurrent_compare_and_swap_increments(store: Storage) -> None:
    await store.create(P + "counter", b"0")

    async def increment() -> None:
        while True:
            kv = await store.get(P + "counter")
            try:
                await store.update(
                    P + "counter", str(int(kv.value) + 1).encode(), expected_mod_revision=kv.mod_revision
                )
                return
            except Conflict:
                await asyncio.sleep(0)

    await asyncio.gather(*(increment() for _ in range(100)))
    assert (await store.get(P + "counter")).value == b"100"


@pytest.mark.parametrize(
    ("key", "error"),
    [("", InvalidKey), ("/elsewhere/x", InvalidKey), ("/registry/", InvalidKey), ("registry/x", InvalidKey)],
)
async def test_bad_keys_change_nothing(store: Storage, key: str, error: type[Exception]) -> None:
    before = await store.current_revision()
    with pytest.raises(error):
        await store.create(key, b"x")
    with pytest.raises(error):
        await store.update(key, b"x", expected_mod_revision=1)
    with pytest.raises(error):
        await store.delete(key)
    assert await store.current_revision() == before


async def test_value_too_large_changes_nothing(store: Storage) -> None:
    r1 = await store.create(P + "a", b"small")
    with pytest.raises(ValueTooLarge):
        await store.create(P + "big", b"x" * (MAX_VALUE_BYTES + 1))
    with pytest.raises(ValueTooLarge):
        await store.update(P + "a", b"x" * (MAX_VALUE_BYTES + 1), expected_mod_revision=r1)
    assert await store.current_revision() == r1
    assert (await store.get(P + "a")).value == b"small"
    # The limit itself is accepted.
    await store.create(P + "edge", b"x" * MAX_VALUE_BYTES)
