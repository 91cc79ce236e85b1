"""The SQLite store's files stay bounded under sustained writes with compaction (issue 21: 500 Lease
writes/s for hours): pages freed by compaction are reused, and the WAL is cut back after a burst."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from sampan.storage.compactor import Compactor, CompactorOptions
from sampan.storage.sqlite import SqliteStorage
from sampan.storage.sqlite.schema import WAL_SIZE_LIMIT

P = "/registry/leases/kube-node-lease/"


def pages(path: Path) -> tuple[int, int]:
    """``(page_count, freelist_count)`` read straight from the file."""
    conn = sqlite3.connect(path)
    try:
        return conn.execute("PRAGMA page_count").fetchone()[0], conn.execute("PRAGMA freelist_count").fetchone()[0]
    finally:
        conn.close()


async def test_the_file_levels_off_under_updates_and_compaction(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    store = await SqliteStorage.open(path)
    try:
        keys = [f"{P}node-{i:03d}" for i in range(100)]
        revs = dict(zip(keys, await asyncio.gather(*(store.create(k, b"v" * 1500) for k in keys)), strict=True))
        compactor = Compactor(store, CompactorOptions(interval=1.0, min_retained=0))

        async def round_(n: int) -> None:  # each key updated ``n`` times, 100 at a time
            for i in range(n):
                new = await asyncio.gather(*(store.update(k, bytes([65 + i % 26]) * 1500, expected_mod_revision=revs[k])
                                             for k in keys))
                revs.update(zip(keys, new, strict=True))
            await compactor.tick()  # the schedule's tick: compacts to the previous tick's revision

        await round_(10)
        await round_(10)  # from here on each tick frees about one round of rows
        await round_(10)
        high = pages(path)
        for _ in range(4):
            await round_(10)
        after = pages(path)
        assert high[1] > 0  # compaction freed pages...
        assert after[0] <= high[0] * 1.05 + 8  # ...and four more rounds of writes reused them
    finally:
        await store.close()


async def test_the_wal_is_cut_back_after_a_burst(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    wal = tmp_path / "state.db-wal"
    store = await SqliteStorage.open(path)
    try:
        with store.writer.paused():  # one burst: 24 MiB of values committed in two transactions
            writes = [asyncio.ensure_future(store.create(f"/registry/big/{i}", b"x" * (1 << 20))) for i in range(24)]
            await asyncio.sleep(0)
        await asyncio.gather(*writes)
        for i in range(1200):  # steady small writes: the WAL is checkpointed and started over
            await store.create(f"/registry/small/{i}", b"y" * 200)
        assert wal.stat().st_size <= WAL_SIZE_LIMIT
    finally:
        await store.close()
