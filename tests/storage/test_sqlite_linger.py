"""The sqlite writer's group-commit linger (``Writer._drain``): a small batch waits for more requests only
while the measured arrival rate promises one, never past ``linger`` in all, never once it holds
``linger_target`` requests, and a stop arriving while it waits still stops the writer."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sampan.storage.sqlite import SqliteStorage, ops
from sampan.storage.sqlite import writer as writer_mod
from sampan.storage.sqlite.writer import Writer


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    lp = asyncio.new_event_loop()
    try:
        yield lp
    finally:
        lp.close()


def make_writer(loop: asyncio.AbstractEventLoop, *, linger: float, target: int = 8) -> Writer:
    """A writer whose thread never starts: the tests drive ``_drain`` themselves."""
    return Writer(sqlite3.connect(":memory:"), loop=loop, revision=0, on_commit=lambda _e, _r: None,
                  linger=linger, linger_target=target)


def item(loop: asyncio.AbstractEventLoop, i: int) -> tuple[ops.Request, asyncio.Future[int]]:
    return ops.Create(f"/k{i}", b"v"), loop.create_future()


def put_later(w: Writer, delay: float, obj: object) -> threading.Thread:
    t = threading.Thread(target=lambda: (time.sleep(delay), w._queue.put(obj)))
    t.start()
    return t


def test_slow_stream_never_waits(loop: asyncio.AbstractEventLoop) -> None:
    w = make_writer(loop, linger=5.0)
    w._rate = 0.1  # one request every 10 s: none expected within the linger
    start = time.monotonic()
    batch, stop = w._drain(item(loop, 0))
    assert (len(batch), stop) == (1, False)
    assert time.monotonic() - start < 1.0
    assert w.lingered == 0


def test_busy_stream_waits_for_the_next_request(loop: asyncio.AbstractEventLoop) -> None:
    w = make_writer(loop, linger=5.0)
    w._rate = 100.0  # >= 1 / linger
    late = [put_later(w, 0.05, item(loop, i)) for i in (1, 2)]
    batch, stop = w._drain(item(loop, 0))
    for t in late:
        t.join()
    # it waited for the late ones (both within the linger) and kept waiting for a target it never reached
    assert (len(batch), stop) == (3, False)
    assert [r.key for r, _ in batch] == ["/k0", "/k1", "/k2"]
    assert w.lingered == 1


def test_linger_is_bounded_in_all(loop: asyncio.AbstractEventLoop) -> None:
    w = make_writer(loop, linger=0.2)
    w._rate = 1000.0
    feeders = [put_later(w, 0.05 * i, item(loop, i)) for i in range(1, 4)] + [put_later(w, 1.5, item(loop, 9))]
    start = time.monotonic()
    batch, _ = w._drain(item(loop, 0))
    elapsed = time.monotonic() - start
    for t in feeders:
        t.join()
    assert 0.15 <= elapsed < 1.0, elapsed  # one deadline for the whole batch, not one per arrival
    assert [r.key for r, _ in batch] == ["/k0", "/k1", "/k2", "/k3"]
    assert w._queue.qsize() == 1  # the late one waits for the next batch


def test_full_batch_does_not_wait(loop: asyncio.AbstractEventLoop) -> None:
    w = make_writer(loop, linger=5.0, target=3)
    w._rate = 1000.0
    w._queue.put(item(loop, 1))
    w._queue.put(item(loop, 2))
    start = time.monotonic()
    batch, _ = w._drain(item(loop, 0))
    assert len(batch) == 3
    assert time.monotonic() - start < 1.0
    assert w.lingered == 0


def test_stop_while_waiting(loop: asyncio.AbstractEventLoop) -> None:
    w = make_writer(loop, linger=5.0)
    w._rate = 1000.0
    t = put_later(w, 0.05, writer_mod._STOP)
    start = time.monotonic()
    batch, stop = w._drain(item(loop, 0))
    t.join()
    assert (len(batch), stop) == (1, True)
    assert time.monotonic() - start < 1.0


def test_rate_is_measured_over_windows(loop: asyncio.AbstractEventLoop, monkeypatch: pytest.MonkeyPatch) -> None:
    w = make_writer(loop, linger=0.005)
    now = [100.0]
    monkeypatch.setattr(writer_mod.time, "monotonic", lambda: now[0])
    w._rate_start = now[0]
    for _ in range(50):  # 50 requests in 0.1 s: the window is not over yet
        now[0] += 0.002
        w._count_arrivals(1)
    assert w._rate == 0.0
    for _ in range(201):  # 251 in 0.502 s: the window closes
        now[0] += 0.002
        w._count_arrivals(1)
    assert w._rate == pytest.approx(500.0, rel=0.01)
    now[0] += 60.0  # an idle minute, then one request: the window spanning the gap reads as idle
    w._count_arrivals(1)
    assert w._rate < 1.0


async def test_steady_stream_commits_fewer_transactions(tmp_path: Path) -> None:
    """Through the store: one write at a time at ~400/s (the pace of 4,000 nodes' Leases) shares commits
    once the rate is known; every write still gets its own revision, in order."""
    store = await SqliteStorage.open(tmp_path / "state.db")
    try:
        w = store.writer
        await asyncio.gather(*(store.create(f"/registry/leases/n{i}", b"v") for i in range(20)))
        assert w.lingered == 0  # a burst from idle: nothing measured yet
        revs: list[int] = []

        async def one(i: int) -> None:
            revs.append(await store.create(f"/registry/leases/x{i}", b"v"))

        tasks = []
        c0, b0 = w.commits, w.batched
        for i in range(600):  # 1.5 s at 400/s, each write its own submission
            tasks.append(asyncio.create_task(one(i)))
            await asyncio.sleep(0.0025)
        await asyncio.gather(*tasks)
        assert w.lingered > 0
        assert (w.batched - b0) / (w.commits - c0) > 1.5, (w.batched - b0, w.commits - c0)
        assert sorted(revs) == list(range(21, 621))
    finally:
        await store.close()
