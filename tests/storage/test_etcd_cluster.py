"""A 3-member etcd cluster loses its leader to kill -9 mid-writes: no acknowledged write is lost.

Writers create keys concurrently and record each create the store acknowledged. A write that fails
with Unavailable may or may not have happened, so the writer retries the same key with the same value;
KeyExists on a retry means an earlier attempt did commit, and the stored value must be ours.

Watchers follow the prefix through the failover, re-watching from their last revision whenever their
stream breaks (as the API server's watch cache does): each must see every write once, in order. There
are three so that, with calls spread round-robin over the members, one likely watches on the leader.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from sampan.storage import Event, KeyExists, Unavailable, WatchClosed
from sampan.storage.etcd import EtcdStorage
from sampan.testing.etcd import EtcdCluster

pytestmark = [pytest.mark.slow, pytest.mark.etcd]

PREFIX = "/registry/acks/"
WRITERS = 8
RETRY_PAUSE = 0.05
PROGRESS_TIMEOUT = 60.0


@dataclass
class Ledger:
    """What the writers were told: key -> (value, revision) for every acknowledged create."""

    acked: dict[str, tuple[bytes, int]] = field(default_factory=dict)
    retries: int = 0
    progress: asyncio.Event = field(default_factory=asyncio.Event)


async def writer(store: EtcdStorage, n: int, ledger: Ledger, stop: asyncio.Event) -> None:
    i = 0
    while not stop.is_set():
        key, value = f"{PREFIX}w{n}-{i:06d}", f"writer {n} write {i}".encode()
        while True:
            try:
                rev = await store.create(key, value)
                break
            except Unavailable:
                ledger.retries += 1
                await asyncio.sleep(RETRY_PAUSE)
            except KeyExists:
                # An earlier attempt committed although its answer was lost.
                kv = await store.get(key)
                assert kv.value == value
                rev = kv.mod_revision
                break
        ledger.acked[key] = (value, rev)
        ledger.progress.set()
        i += 1


@dataclass
class Follower:
    """Events seen by a watcher that resumes after every broken stream."""

    events: list[Event] = field(default_factory=list)
    resumes: int = 0
    progress: asyncio.Event = field(default_factory=asyncio.Event)


async def follow(store: EtcdStorage, after: int, follower: Follower) -> None:
    last = after
    while True:
        try:
            async for event in store.watch(PREFIX, after_revision=last):
                assert event.revision > last, "a resumed watch replayed or reordered an event"
                follower.events.append(event)
                follower.progress.set()
                last = event.revision
        except (Unavailable, WatchClosed):
            follower.resumes += 1
            await asyncio.sleep(RETRY_PAUSE)


async def wait_for_acks(ledger: Ledger, count: int) -> None:
    async with asyncio.timeout(PROGRESS_TIMEOUT):
        while len(ledger.acked) < count:
            ledger.progress.clear()
            await ledger.progress.wait()


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[EtcdCluster]:
    c = await EtcdCluster.start(tmp_path / "cluster", size=3)
    try:
        yield c
    finally:
        await c.stop()


async def test_killing_the_leader_loses_no_acknowledged_write(cluster: EtcdCluster) -> None:
    store = await EtcdStorage.open(cluster.client_urls, request_timeout=3.0)
    ledger = Ledger()
    followers = [Follower() for _ in range(3)]
    stop = asyncio.Event()
    start = await store.current_revision()
    watchers = [asyncio.create_task(follow(store, start, f)) for f in followers]
    try:
        async with asyncio.TaskGroup() as group:
            for n in range(WRITERS):
                group.create_task(writer(store, n, ledger, stop))
            await wait_for_acks(ledger, 200)

            old_leader = await cluster.leader()
            old_leader.kill()
            acked_at_kill = len(ledger.acked)
            new_leader = await cluster.leader()
            assert new_leader is not old_leader
            # Writes continue through the surviving members.
            await wait_for_acks(ledger, acked_at_kill + 300)
            stop.set()

        listed = await store.list(PREFIX)
        stored = {kv.key: (kv.value, kv.mod_revision) for kv in listed.kvs}
        missing = [key for key in ledger.acked if key not in stored]
        assert not missing, f"{len(missing)} acknowledged writes lost, e.g. {missing[:5]}"
        wrong = [key for key, ack in ledger.acked.items() if stored[key] != ack]
        assert not wrong, f"acknowledged writes changed: {wrong[:5]}"
        # Writers retry until acknowledged, so nothing was stored that they were not told about.
        assert set(stored) == set(ledger.acked)
        revisions = sorted(rev for _, rev in ledger.acked.values())
        assert len(set(revisions)) == len(revisions), "two acknowledged writes share a revision"

        expected = sorted(((key, value, rev) for key, (value, rev) in stored.items()), key=lambda t: t[2])
        for follower in followers:
            async with asyncio.timeout(PROGRESS_TIMEOUT):
                while len(follower.events) < len(stored):
                    follower.progress.clear()
                    await follower.progress.wait()
            assert [(e.key, e.value, e.revision) for e in follower.events] == expected
    finally:
        stop.set()
        for task in watchers:
            task.cancel()
        await asyncio.gather(*watchers, return_exceptions=True)
        await store.close()
