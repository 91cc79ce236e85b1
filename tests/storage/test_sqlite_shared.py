"""Two members of one shared SQLite store (``shared_store=True``): one log, global revisions, every
event delivered to every member's watchers once and in order, and the owner lock keeping a lone owner
and a group apart. Process-level behaviour is in tests/apiserver/test_workers.py."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from sampan.storage import Compacted, Conflict, EventType, Unavailable
from sampan.storage.sqlite import SqliteStorage

ROOT = "/registry/"


async def _collect(store: SqliteStorage, after: int, count: int) -> list[tuple[EventType, str, int]]:
    got: list[tuple[EventType, str, int]] = []
    watch = store.watch(ROOT + "cm/", after_revision=after)
    async with asyncio.timeout(30):
        async for ev in watch:
            got.append((ev.type, ev.key, ev.revision))
            if len(got) == count:
                break
    await watch.close()
    return got


async def test_members_share_revisions_reads_and_watches(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    a = await SqliteStorage.open(path, shared_store=True)
    b = await SqliteStorage.open(path, shared_store=True)
    try:
        start = await a.current_revision()
        watch_a = asyncio.create_task(_collect(a, start, 40))
        watch_b = asyncio.create_task(_collect(b, start, 40))
        revs: list[int] = []
        for i in range(20):  # interleaved writers: revisions stay global and gap-free
            revs.append(await a.create(f"{ROOT}cm/a{i}", b"x"))
            revs.append(await b.create(f"{ROOT}cm/b{i}", b"y"))
            # an acknowledged write is visible to the other member's current revision and reads at once
            assert await a.current_revision() >= revs[-1]
            assert (await a.get(f"{ROOT}cm/b{i}")).mod_revision == revs[-1]
        assert revs == list(range(start + 1, start + 41))
        seen_a, seen_b = await watch_a, await watch_b
        assert seen_a == seen_b
        assert [r for _, _, r in seen_a] == revs
        kv = await b.get(f"{ROOT}cm/a0")
        with pytest.raises(Conflict):  # compare-and-swap across members
            await a.update(kv.key, b"z", expected_mod_revision=kv.mod_revision - 1)
        await b.update(kv.key, b"z", expected_mod_revision=kv.mod_revision)
        # compaction by one member is seen by the other
        await a.compact(revs[10])
        assert await b.compacted_revision() == revs[10]
        with pytest.raises(Compacted):
            await b.get(f"{ROOT}cm/a0", revision=revs[0])
    finally:
        await a.close()
        await b.close()


async def test_lone_owner_and_group_exclude_each_other(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    member = await SqliteStorage.open(path, shared_store=True)
    try:
        with pytest.raises(Unavailable):
            await SqliteStorage.open(path)
    finally:
        await member.close()
    lone = await SqliteStorage.open(path)
    try:
        await lone.create(ROOT + "cm/x", b"1")
        with pytest.raises(Unavailable):
            await SqliteStorage.open(path, shared_store=True)
    finally:
        await lone.close()
    # a member joining after a lone owner wrote starts from the database, not a stale counters file
    member = await SqliteStorage.open(path, shared_store=True)
    try:
        assert await member.current_revision() == 1
        assert await member.create(ROOT + "cm/y", b"2") == 2
    finally:
        await member.close()


Seen = tuple[EventType, str, int, bytes, bytes | None]


async def _stream(store: SqliteStorage, after: int, count: int) -> list[Seen]:
    """The first ``count`` events under the root above ``after``, with values."""
    got: list[Seen] = []
    watch = store.watch(ROOT, after_revision=after)
    async with asyncio.timeout(60):
        async for ev in watch:
            got.append((ev.type, ev.key, ev.revision, ev.value, ev.prev_value))
            if len(got) == count:
                break
    await watch.close()
    return got


async def test_own_commits_published_as_the_log_would_give_them(tmp_path: Path) -> None:
    """A member publishes its own commits from its writer, not read back: under concurrent group-committed
    writes on two members (creates, updates, deletes), each member's stream equals the one a member that
    writes nothing reads wholly from the log — same types, keys, revisions, values and previous values."""
    path = tmp_path / "state.db"
    a = await SqliteStorage.open(path, shared_store=True)
    b = await SqliteStorage.open(path, shared_store=True)
    reader_only = await SqliteStorage.open(path, shared_store=True)
    try:
        start = await a.current_revision()

        async def churn(store: SqliteStorage, tag: str) -> None:
            for i in range(30):
                key = f"{ROOT}cm/{tag}{i % 7}"
                if i % 7 == i:  # the first round creates each key
                    await store.create(key, f"{tag}-{i}".encode())
                    continue
                kv = await store.get(key)
                if i % 5 == 0:
                    await store.delete(key, expected_mod_revision=kv.mod_revision)
                    await store.create(key, f"{tag}-{i}-again".encode())
                else:
                    await store.update(key, f"{tag}-{i}".encode(), expected_mod_revision=kv.mod_revision)

        # watching live (from the current revision: no replay from the log), then several writers per
        # member, so batches hold many requests and the members' batches interleave
        events = 6 * (7 + 4 * 2 + 19)  # per writer: 7 creates, 4 delete + re-create, 19 updates
        streams = [asyncio.create_task(_stream(s, start, events)) for s in (a, b, reader_only)]
        await asyncio.sleep(0.2)
        await asyncio.gather(*(churn(s, f"{name}{w}-") for s, name in ((a, "a"), (b, "b")) for w in range(3)))
        seen_a, seen_b, seen_log = await asyncio.gather(*streams)
        assert [r for _, _, r, _, _ in seen_log] == list(range(start + 1, start + events + 1))
        assert seen_a == seen_log
        assert seen_b == seen_log
        assert a.writer.batched > a.writer.commits  # group commit did batch (the case worth checking)
    finally:
        await a.close()
        await b.close()
        await reader_only.close()
