"""etcd-specific behaviour beyond the conformance suite: connection failures, watch lifecycle,
compaction shared between clients, input checks. Every test runs a real etcd member."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import aetcd
import pytest

from sampan.storage import (
    Compacted,
    Conflict,
    InvalidKey,
    KeyNotFound,
    StorageError,
    Unavailable,
    ValueTooLarge,
    WatchClosed,
)
from sampan.storage.etcd import EtcdStorage
from sampan.storage.etcd.store import range_end_of
from sampan.storage.interface import MAX_VALUE_BYTES, Event
from sampan.testing.etcd import EtcdCluster, EtcdOptions, free_port

pytestmark = pytest.mark.etcd

P = "/registry/pods/"
FAST = EtcdOptions(heartbeat_ms=20, election_ms=200)


@pytest.fixture
async def etcd(tmp_path: Path) -> AsyncIterator[EtcdCluster]:
    cluster = await EtcdCluster.start(tmp_path / "etcd", options=FAST)
    try:
        yield cluster
    finally:
        await cluster.stop()


@pytest.fixture
async def store(etcd: EtcdCluster) -> AsyncIterator[EtcdStorage]:
    s = await EtcdStorage.open(etcd.client_urls, request_timeout=5.0)
    try:
        yield s
    finally:
        await s.close()


def test_range_end_of() -> None:
    assert range_end_of(b"/registry/pods/") == b"/registry/pods0"
    assert range_end_of(b"a\xff") == b"b"
    assert range_end_of(b"\xff\xff") == b"\0"


@pytest.mark.parametrize("url", ["https://127.0.0.1:2379", "ftp://x", "http://127.0.0.1:2379/path", "http://:1"])
async def test_bad_urls_are_refused_clearly(url: str) -> None:
    with pytest.raises(ValueError, match="etcd server"):
        await EtcdStorage.open([url])


async def test_https_members_need_client_tls_and_http_ones_refuse_it() -> None:
    from sampan.storage.etcd import EtcdTLS
    from sampan.storage.etcd.connection import resolve_target, server_name

    with pytest.raises(ValueError, match="https needs --etcd-cafile, --etcd-certfile and --etcd-keyfile"):
        await EtcdStorage.open(["https://127.0.0.1:2379"])
    with pytest.raises(ValueError, match="is not of the form https://host:port"):
        await EtcdStorage.open(["http://127.0.0.1:2379"], tls=EtcdTLS("ca", "cert", "key"))
    urls = ["https://localhost:2379", "https://127.0.0.1:2380"]
    assert await resolve_target(urls, tls=True) == "ipv4:127.0.0.1:2379,127.0.0.1:2380"
    assert server_name(urls) == "localhost"


async def test_no_urls_is_refused() -> None:
    with pytest.raises(ValueError, match="no etcd servers"):
        await EtcdStorage.open([])


async def test_open_without_a_listening_member_is_unavailable() -> None:
    with pytest.raises(Unavailable, match="no etcd member answered"):
        await EtcdStorage.open([f"http://127.0.0.1:{free_port()}"], dial_timeout=0.5)


async def test_a_dead_endpoint_among_live_ones_is_skipped(etcd: EtcdCluster) -> None:
    urls = [f"http://127.0.0.1:{free_port()}", *etcd.client_urls]
    store = await EtcdStorage.open(urls, request_timeout=5.0)
    try:
        for i in range(10):  # round robin: every call must find the live member
            await store.create(f"{P}k{i}", b"v")
        assert await store.count(P) == 10
    finally:
        await store.close()


async def test_calls_fail_with_unavailable_when_etcd_dies(etcd: EtcdCluster, store: EtcdStorage) -> None:
    await store.create(P + "a", b"1")
    etcd.members[0].kill()
    with pytest.raises(Unavailable):
        await store.create(P + "b", b"2")
    with pytest.raises(Unavailable):
        await store.get(P + "a")


async def test_watch_ends_with_unavailable_when_etcd_dies(etcd: EtcdCluster, store: EtcdStorage) -> None:
    start = await store.current_revision()
    watch = store.watch(P, after_revision=start)
    seen: list[Event] = []
    got_one = asyncio.Event()

    async def consume() -> None:
        async for event in watch:
            seen.append(event)
            got_one.set()

    task = asyncio.create_task(consume())
    await store.create(P + "a", b"1")
    await asyncio.wait_for(got_one.wait(), 10)
    etcd.members[0].kill()
    with pytest.raises(Unavailable):
        await asyncio.wait_for(task, 10)
    assert [e.key for e in seen] == [P + "a"]


async def test_a_slow_watcher_is_closed_not_buffered(etcd: EtcdCluster) -> None:
    store = await EtcdStorage.open(etcd.client_urls, watch_queue_size=2)
    try:
        start = await store.current_revision()
        watch = store.watch(P, after_revision=start)
        iterator = aiter(watch)
        await store.create(P + "first", b"x")
        first = await asyncio.wait_for(anext(iterator), 10)
        assert first.key == P + "first"
        # The consumer stops reading while writes continue: one etcd response (batch) per write.
        for i in range(20):
            await store.create(f"{P}k{i:02d}", b"x")

        async def drain() -> None:
            async for _ in iterator:
                pass

        with pytest.raises(WatchClosed, match="fell behind"):
            await asyncio.wait_for(drain(), 10)
    finally:
        await store.close()


async def test_close_ends_a_pending_iteration(store: EtcdStorage) -> None:
    watch = store.watch(P, after_revision=await store.current_revision())
    seen: list[Event] = []
    got_one = asyncio.Event()

    async def consume() -> None:
        async for event in watch:
            seen.append(event)
            got_one.set()

    task = asyncio.create_task(consume())
    await store.create(P + "a", b"1")
    await asyncio.wait_for(got_one.wait(), 10)
    await watch.close()
    await asyncio.wait_for(task, 5)  # ends normally, no error
    assert len(seen) == 1


async def test_closing_the_store_closes_watches_and_refuses_calls(etcd: EtcdCluster) -> None:
    store = await EtcdStorage.open(etcd.client_urls)
    watch = store.watch(P, after_revision=0)
    started = asyncio.Event()

    async def consume() -> None:
        started.set()
        async for _ in watch:
            pass

    task = asyncio.create_task(consume())
    await started.wait()
    await asyncio.sleep(0.1)  # let the stream open
    await store.close()
    with pytest.raises(WatchClosed, match="store closed"):
        await asyncio.wait_for(task, 5)
    with pytest.raises(WatchClosed):
        await store.create(P + "a", b"1")
    with pytest.raises(WatchClosed):
        async for _ in store.watch(P, after_revision=0):
            pass


async def test_compaction_is_visible_to_another_client(etcd: EtcdCluster, store: EtcdStorage) -> None:
    r1 = await store.create(P + "a", b"1")
    await store.update(P + "a", b"2", expected_mod_revision=r1)
    target = await store.current_revision()
    await store.compact(target)
    other = await EtcdStorage.open(etcd.client_urls)
    try:
        assert await other.compacted_revision() == target
        with pytest.raises(Compacted) as info:
            await other.get(P + "a", revision=r1)
        assert info.value.compacted == target
        # Compacting to an older revision is a no-op, from either client.
        await other.compact(r1)
        await store.compact(target)
        assert await other.compacted_revision() == target
    finally:
        await other.close()


async def test_compact_past_the_current_revision_clamps(store: EtcdStorage) -> None:
    await store.create(P + "a", b"1")
    current = await store.current_revision()
    await store.compact(current + 1000)
    assert await store.compacted_revision() == current
    assert (await store.get(P + "a")).value == b"1"


async def test_update_and_delete_with_impossible_revisions(store: EtcdStorage) -> None:
    rev = await store.create(P + "a", b"1")
    with pytest.raises(Conflict) as info:
        await store.update(P + "a", b"2", expected_mod_revision=0)
    assert info.value.actual == rev
    with pytest.raises(KeyNotFound):
        await store.update(P + "nope", b"2", expected_mod_revision=0)
    with pytest.raises(KeyNotFound):
        await store.delete(P + "nope", expected_mod_revision=rev)
    with pytest.raises(StorageError, match="negative"):
        await store.get(P + "a", revision=-1)
    assert (await store.get(P + "a")).value == b"1"


async def test_list_start_after_outside_the_prefix(store: EtcdStorage) -> None:
    for name in ("a", "b"):
        await store.create(P + name, b"x")
    before = await store.list(P, start_after="/registry/a")
    assert [kv.key for kv in before.kvs] == [P + "a", P + "b"]
    after = await store.list(P, start_after="/registry/zzz")
    assert (after.kvs, after.more) == ([], False)
    page = await store.list(P, limit=1)
    assert (len(page.kvs), page.more) == (1, True)


async def test_value_over_the_limit_never_reaches_etcd(etcd: EtcdCluster, store: EtcdStorage) -> None:
    before = await store.current_revision()
    with pytest.raises(ValueTooLarge):
        await store.create(P + "big", b"x" * (MAX_VALUE_BYTES + 1))
    assert await store.current_revision() == before


async def test_etcd_refusing_a_large_request_is_value_too_large(tmp_path: Path) -> None:
    small = EtcdOptions(heartbeat_ms=20, election_ms=200, max_request_bytes=64 * 1024)
    cluster = await EtcdCluster.start(tmp_path / "small", options=small)
    try:
        store = await EtcdStorage.open(cluster.client_urls)
        try:
            with pytest.raises(ValueTooLarge):
                await store.create(P + "big", b"x" * (100 * 1024))
            with pytest.raises(KeyNotFound):
                await store.get(P + "big")
        finally:
            await store.close()
    finally:
        await cluster.stop()


async def test_keys_that_utf8_cannot_encode_are_invalid(store: EtcdStorage) -> None:
    with pytest.raises(InvalidKey, match="UTF-8"):
        await store.create(P + "\ud800", b"x")
    with pytest.raises(InvalidKey, match="UTF-8"):
        await store.list(P + "\ud800")


async def test_compaction_by_another_etcd_client_is_learned_from_errors(etcd: EtcdCluster, store: EtcdStorage) -> None:
    r1 = await store.create(P + "a", b"1")
    await store.update(P + "a", b"2", expected_mod_revision=r1)
    target = await store.current_revision()
    member = etcd.members[0]
    async with aetcd.Client(host="127.0.0.1", port=member.client_port) as outsider:
        await outsider.compact(target)  # no record in compact_rev_key
    assert await store.compacted_revision() == 0
    with pytest.raises(Compacted):
        async for _ in store.watch(P, after_revision=0):
            pass
    assert await store.compacted_revision() == target
    with pytest.raises(Compacted) as info:
        await store.get(P + "a", revision=r1)
    assert info.value.compacted == target


@pytest.mark.parametrize("root", ["", "compact"])
def test_a_root_covering_the_compaction_record_is_refused(root: str) -> None:
    with pytest.raises(ValueError, match="storage root"):
        EtcdStorage(channel=None, root=root)
