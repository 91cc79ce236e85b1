"""The SQLite backend beyond the shared contract: group commit, reopen, compaction, bad files, close."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sampan.storage import Compacted, Conflict, EventType, InvalidKey, KeyExists, Unavailable, WatchClosed
from sampan.storage.interface import Event
from sampan.storage.sqlite import SqliteStorage

P = "/registry/pods/"


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStorage]:
    s = await SqliteStorage.open(tmp_path / "state.db")
    try:
        yield s
    finally:
        await s.close()


def log_rows(path: Path) -> list[tuple[int, str, int]]:
    """``(id, name, deleted)`` of every row, read straight from the file."""
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT id, name, deleted FROM log ORDER BY id").fetchall()
    finally:
        conn.close()


async def first_events(store: SqliteStorage, prefix: str, after: int, n: int) -> list[Event]:
    watch = store.watch(prefix, after_revision=after)
    out: list[Event] = []

    async def run() -> None:
        async for event in watch:
            out.append(event)
            if len(out) == n:
                return

    try:
        await asyncio.wait_for(run(), 10)
    finally:
        await watch.close()
    return out


async def drain(it: AsyncIterator[Event]) -> None:
    """Consume ``it`` to its end (or its error)."""
    async for _ in it:
        pass


async def test_paused_writer_commits_64_creates_in_one_transaction(store: SqliteStorage) -> None:
    before = store.writer.commits
    with store.writer.paused():
        tasks = [asyncio.create_task(store.create(f"{P}g{i:02d}", b"x")) for i in range(64)]
        await asyncio.sleep(0)  # every task queues its request while the writer is held
    revs = await asyncio.gather(*tasks)
    assert store.writer.commits - before == 1
    assert sorted(revs) == list(range(1, 65))
    assert revs == sorted(revs), "requests are applied in the order they were queued"


async def test_concurrent_creates_share_transactions(store: SqliteStorage) -> None:
    before = store.writer.commits
    revs = await asyncio.gather(*(store.create(f"{P}c{i:02d}", b"x") for i in range(64)))
    commits = store.writer.commits - before
    assert sorted(revs) == list(range(1, 65))
    assert commits < 64 // 4, f"64 concurrent creates took {commits} transactions"


async def test_failures_in_a_batch_do_not_affect_the_others(store: SqliteStorage) -> None:
    r1 = await store.create(P + "a", b"1")
    with store.writer.paused():
        ok1 = asyncio.create_task(store.update(P + "a", b"2", expected_mod_revision=r1))
        stale = asyncio.create_task(store.update(P + "a", b"3", expected_mod_revision=r1))
        dup = asyncio.create_task(store.create(P + "a", b"again"))
        ok2 = asyncio.create_task(store.create(P + "b", b"b"))
        await asyncio.sleep(0)
    results = await asyncio.gather(ok1, stale, dup, ok2, return_exceptions=True)
    assert results[0] == r1 + 1
    assert isinstance(results[1], Conflict)
    assert results[1].actual == r1 + 1
    assert isinstance(results[2], KeyExists)
    assert results[3] == r1 + 2, "failed requests take no revision"
    assert (await store.get(P + "a")).value == b"2"


async def test_a_key_sqlite_cannot_store_is_refused_without_failing_its_batch(store: SqliteStorage) -> None:
    bad = P + "surrogate\udc80"
    with store.writer.paused():
        good = asyncio.create_task(store.create(P + "good", b"x"))
        rejected = asyncio.create_task(store.create(bad, b"x"))
        await asyncio.sleep(0)
    assert await good == 1
    with pytest.raises(InvalidKey, match="UTF-8"):
        await rejected
    with pytest.raises(InvalidKey):
        await store.get(bad)
    with pytest.raises(InvalidKey):
        await store.list(P, start_after=bad)
    assert await store.current_revision() == 1


async def test_a_failed_transaction_fails_its_whole_batch_and_takes_no_revision(store: SqliteStorage) -> None:
    r1 = await store.create(P + "a", b"1")
    with store.writer.paused():  # the writer is idle between batches: its connection can be tuned safely
        pages = store.writer._conn.execute("PRAGMA page_count").fetchone()[0]
        store.writer._conn.execute(f"PRAGMA max_page_count = {pages + 4}")
        small = asyncio.create_task(store.update(P + "a", b"2", expected_mod_revision=r1))
        big = asyncio.create_task(store.create(P + "big", b"x" * (1024 * 1024)))  # SQLITE_FULL
        await asyncio.sleep(0)
    results = await asyncio.gather(small, big, return_exceptions=True)
    assert all(isinstance(r, Unavailable) and "full" in str(r) for r in results), results
    assert await store.current_revision() == r1
    assert (await store.get(P + "a")).value == b"1", "the whole batch was rolled back"
    with store.writer.paused():
        store.writer._conn.execute("PRAGMA max_page_count = 1073741823")
    assert await store.update(P + "a", b"2", expected_mod_revision=r1) == r1 + 1, "no revision was lost"


async def test_reads_do_not_wait_behind_the_writer(store: SqliteStorage) -> None:
    r1 = await store.create(P + "a", b"1")
    with store.writer.paused():
        pending = asyncio.create_task(store.update(P + "a", b"2", expected_mod_revision=r1))
        kv = await asyncio.wait_for(store.get(P + "a"), 10)
        assert (kv.value, kv.mod_revision) == (b"1", r1), "a read sees the last committed state"
        assert [k.key for k in (await asyncio.wait_for(store.list(P), 10)).kvs] == [P + "a"]
        assert not pending.done()
    assert await pending == r1 + 1


async def test_live_events_carry_previous_values(store: SqliteStorage) -> None:
    watch = store.watch(P, after_revision=0)
    it = aiter(watch)
    r1 = await store.create(P + "a", b"1")
    await store.update(P + "a", b"2", expected_mod_revision=r1)
    await store.delete(P + "a")
    got = [await asyncio.wait_for(anext(it), 5) for _ in range(3)]
    await watch.close()
    assert [(e.type, e.value, e.prev_value) for e in got] == [
        (EventType.CREATED, b"1", None),
        (EventType.UPDATED, b"2", b"1"),
        (EventType.DELETED, b"2", b"2"),
    ]


async def test_reopen_restores_revisions_and_data(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    store = await SqliteStorage.open(path)
    r1 = await store.create(P + "a", b"1")
    r2 = await store.update(P + "a", b"2", expected_mod_revision=r1)
    await store.create(P + "b", b"b")
    await store.delete(P + "b")
    await store.compact(r2)
    await store.close()

    store = await SqliteStorage.open(path)
    try:
        assert await store.current_revision() == 4
        assert await store.compacted_revision() == r2
        kv = await store.get(P + "a")
        assert (kv.value, kv.create_revision, kv.mod_revision) == (b"2", r1, r2)
        with pytest.raises(Compacted):
            await store.get(P + "a", revision=r1)
        assert await store.create(P + "b", b"again") == 5
        events = await first_events(store, P, r2, 3)
        assert [(e.type, e.key, e.revision) for e in events] == [
            (EventType.CREATED, P + "b", 3),
            (EventType.DELETED, P + "b", 4),
            (EventType.CREATED, P + "b", 5),
        ]
    finally:
        await store.close()


async def test_compaction_keeps_latest_per_key_and_serves_the_compacted_revision(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    store = await SqliteStorage.open(path)
    store.compact_chunk = 3  # many small chunks, with writes queued between them
    try:
        revs = {}
        for key in ("a", "b", "c"):
            revs[key] = await store.create(P + key, b"0")
        for i in range(1, 6):
            for key in ("a", "b"):
                revs[key] = await store.update(P + key, str(i).encode(), expected_mod_revision=revs[key])
        await store.delete(P + "c")
        revs["b"] = await store.update(P + "b", b"6", expected_mod_revision=revs["b"])
        target = await store.current_revision()
        late = await store.update(P + "a", b"late", expected_mod_revision=revs["a"])

        await asyncio.gather(store.compact(target), store.create(P + "d", b"during"))

        rows = log_rows(path)
        below = [(name, deleted) for rev, name, deleted in rows if rev < target]
        assert sorted(below) == [(P + "a", 0), (P + "b", 0)], "one live row per key below the target"
        at = await store.list(P, revision=target)
        assert [(kv.key, kv.value) for kv in at.kvs] == [(P + "a", b"5"), (P + "b", b"6")]
        # A watch from just below the compacted revision still sees the next update with its old value.
        events = await first_events(store, P + "a", target - 1, 1)
        assert (events[0].revision, events[0].type, events[0].prev_value) == (late, EventType.UPDATED, b"5")
        with pytest.raises(Compacted):
            await store.list(P, revision=target - 1)
    finally:
        await store.close()


async def test_revision_never_reused_after_compacting_tombstones_and_reopen(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    store = await SqliteStorage.open(path)
    for key in ("a", "b", "c"):
        await store.create(P + key, b"v")
        await store.delete(P + key)
    last = await store.create(P + "z", b"z")
    await store.compact(last)
    await store.close()
    assert [rev for rev, _, _ in log_rows(path)] == [last], "tombstones and the lives they ended are gone"

    store = await SqliteStorage.open(path)
    try:
        assert await store.current_revision() == last
        assert await store.create(P + "a", b"new") == last + 1
        assert [(kv.key, kv.create_revision) for kv in (await store.list(P)).kvs] == [
            (P + "a", last + 1),
            (P + "z", last),
        ]
    finally:
        await store.close()


async def test_commits_are_fsynced_through_a_wal(store: SqliteStorage) -> None:
    with store.writer.paused():
        conn = store.writer._conn
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2, "synchronous=FULL: fsync on every commit"


async def test_a_second_open_of_the_same_file_is_refused(store: SqliteStorage, tmp_path: Path) -> None:
    with pytest.raises(Unavailable, match="in use by another process"):
        await SqliteStorage.open(tmp_path / "state.db")


async def test_a_file_that_is_not_a_store_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    path.write_bytes(b"not a database, " * 100)
    with pytest.raises(Unavailable, match="not a sampan sqlite store"):
        await SqliteStorage.open(path)
    assert path.read_bytes() == b"not a database, " * 100

    other = tmp_path / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE log (x)")
    conn.close()
    before = other.read_bytes()
    with pytest.raises(Unavailable, match="schema version"):
        await SqliteStorage.open(other)
    assert other.read_bytes() == before


async def test_a_missing_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(Unavailable, match="cannot open sqlite store"):
        await SqliteStorage.open(tmp_path / "missing" / "state.db")


async def test_close_finishes_queued_writes_and_ends_watches(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    store = await SqliteStorage.open(path)
    watch = store.watch(P, after_revision=0)
    it = aiter(watch)
    await store.create(P + "first", b"x")
    assert (await anext(it)).key == P + "first"
    with store.writer.paused():
        queued = [asyncio.create_task(store.create(f"{P}q{i}", b"x")) for i in range(10)]
        await asyncio.sleep(0)
        closing = asyncio.create_task(store.close())
        await asyncio.sleep(0)
    await closing
    assert sorted(await asyncio.gather(*queued)) == list(range(2, 12)), "queued writes complete"
    with pytest.raises(WatchClosed):
        await store.create(P + "late", b"x")
    with pytest.raises(WatchClosed):
        await store.get(P + "first")
    with pytest.raises(WatchClosed):
        await drain(it)

    store = await SqliteStorage.open(path)
    try:
        assert await store.count(P) == 11
    finally:
        await store.close()
