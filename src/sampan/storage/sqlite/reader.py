"""Reads: a small pool of threads, each with its own read-only connection, and the read queries.

Every read runs inside a read transaction, so it sees one committed snapshot: the revisions it checks
(current and compacted) and the rows it returns belong to the same moment. Compaction records
its revision before deleting anything, so a read that passes the compacted check never misses a row it
needs. WAL lets these reads run while the writer commits; they never wait behind it.
"""

from __future__ import annotations

import asyncio
import builtins
import logging
import queue
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from sampan.storage.errors import Compacted, KeyNotFound, StorageError, Unavailable, WatchClosed
from sampan.storage.interface import Event, EventType, KeyValue, ListResult
from sampan.storage.keys import prefix_end
from sampan.storage.sqlite import schema

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Read threads (and connections); the writer is one more thread.
DEFAULT_READ_THREADS = 2
#: Reads answered from one snapshot at most (a large list in a batch delays only that batch).
DEFAULT_MAX_BATCH = 64

_STOP = object()

_GET = "SELECT id, deleted, create_revision, value FROM log WHERE name = ? AND id <= ? ORDER BY id DESC LIMIT 1"
# The newest row per key at ``rev`` is the row no newer row of the same key at or below ``rev`` follows.
# Scanning a name-ordered index streams keys already sorted, so LIMIT stops early (no sort step).
_LIST = (
    "SELECT name, value, create_revision, id FROM log AS l "
    "WHERE name >= ? AND name < ? AND name > ? AND id <= ? AND deleted = 0 "
    "AND id = (SELECT MAX(id) FROM log AS n WHERE n.name = l.name AND n.id <= ?) "
    "ORDER BY name LIMIT ?"
)
_COUNT = (
    "SELECT COUNT(*) FROM log AS l WHERE name >= ? AND name < ? AND deleted = 0 "
    "AND id = (SELECT MAX(id) FROM log AS n WHERE n.name = l.name)"
)
_HISTORY = (
    "SELECT l.id, l.name, l.value, l.created, l.deleted, p.value FROM log AS l "
    "LEFT JOIN log AS p ON p.id = l.prev_revision "
    "WHERE l.id > ? AND l.name >= ? AND l.name < ? ORDER BY l.id"
)
_HISTORY_UPTO = (
    "SELECT l.id, l.name, l.value, l.created, l.deleted, p.value FROM log AS l "
    "LEFT JOIN log AS p ON p.id = l.prev_revision "
    "WHERE l.id > ? AND l.id <= ? AND l.name >= ? AND l.name < ? ORDER BY l.id"
)
_MIN_ID = "SELECT COALESCE(MIN(id), 0) FROM log"


class ReadPool:
    """Threads that run read functions, each on its own read-only connection.

    Like the writer, a thread takes every pending read (up to ``max_batch``), runs them all in ONE read
    transaction (a snapshot taken after each of them was submitted, so reads see every write
    acknowledged before them), and hands the results back with a single ``call_soon_threadsafe``.
    States: running -> closing (new reads refused; queued ones still run) -> closed (threads exited).
    """

    def __init__(self, path: Path, *, threads: int = DEFAULT_READ_THREADS, max_batch: int = DEFAULT_MAX_BATCH) -> None:
        self._path = path
        self._loop = asyncio.get_running_loop()
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._closing = False
        self._threads = [
            threading.Thread(target=self._run, name=f"sampan-sqlite-read-{i}", daemon=True) for i in range(threads)
        ]
        for thread in self._threads:
            thread.start()

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        """``fn(conn, current, compacted, *args)`` in a read transaction on a pool thread."""
        if self._closing:
            raise WatchClosed("store closed")
        fut: asyncio.Future[T] = self._loop.create_future()
        self._queue.put((fn, args, fut))
        return await fut

    async def close(self) -> None:
        """Finish queued reads, then stop every thread (each closes its connection). Idempotent."""
        if not self._closing:
            self._closing = True
            for _ in self._threads:
                self._queue.put(_STOP)
        for thread in self._threads:
            if thread.is_alive():
                await self._loop.run_in_executor(None, thread.join)

    def _run(self) -> None:
        conn: sqlite3.Connection | None = None
        try:
            conn = schema.connect(self._path, readonly=True)
        except sqlite3.Error as err:
            log.error("sqlite read connection failed path=%s error=%s", self._path, err)
        try:
            while True:
                batch, stop = self._drain(self._queue.get())
                if batch:
                    self._deliver(self._read_batch(conn, batch) if conn else _failed(batch, "no read connection"))
                if stop:
                    return
        finally:
            if conn is not None:
                conn.close()

    def _drain(self, item: object) -> tuple[list[_Read], bool]:
        batch: list[_Read] = []
        while True:
            if item is _STOP:
                return batch, True
            batch.append(item)  # type: ignore[arg-type]
            if len(batch) >= self._max_batch:
                return batch, False
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return batch, False

    def _read_batch(self, conn: sqlite3.Connection, batch: list[_Read]) -> list[_Done]:
        try:
            conn.execute("BEGIN")
            current, compacted = schema.read_revisions(conn)
        except sqlite3.Error as err:
            _end(conn)
            return _failed(batch, str(err))
        done: list[_Done] = []
        for fn, args, fut in batch:
            try:
                done.append((fut, fn(conn, current, compacted, *args), None))
            except StorageError as err:
                done.append((fut, None, err))
            except sqlite3.Error as err:
                done.append((fut, None, Unavailable(f"sqlite read failed: {err}")))
            except Exception as err:
                log.exception("sqlite read bug fn=%s", getattr(fn, "__name__", fn))
                done.append((fut, None, err))
        _end(conn)
        return done

    def _deliver(self, done: list[_Done]) -> None:
        try:
            self._loop.call_soon_threadsafe(_resolve, done)
        except RuntimeError:
            log.warning("sqlite reader could not deliver results; event loop closed")


_Read = tuple[Callable[..., object], tuple[object, ...], "asyncio.Future[Any]"]
_Done = tuple["asyncio.Future[Any]", object, BaseException | None]


def _end(conn: sqlite3.Connection) -> None:
    try:
        if conn.in_transaction:
            conn.execute("COMMIT")
    except sqlite3.Error:
        log.exception("sqlite read transaction did not end cleanly")
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass


def _failed(batch: list[_Read], reason: str) -> list[_Done]:
    return [(fut, None, Unavailable(f"sqlite read failed: {reason}")) for _, _, fut in batch]


def _resolve(done: list[_Done]) -> None:
    for fut, result, error in done:
        if fut.done():
            continue
        if error is not None:
            fut.set_exception(error)
        else:
            fut.set_result(result)


def _check(revision: int, compacted: int) -> None:
    if revision < compacted:
        raise Compacted(revision, compacted)


def get(conn: sqlite3.Connection, current: int, compacted: int, key: str, revision: int | None) -> KeyValue:
    rev = revision or current
    _check(rev, compacted)
    row = conn.execute(_GET, (key, rev)).fetchone()
    if row is None or row[1]:
        raise KeyNotFound(key)
    return KeyValue(key, row[3], row[2], row[0])


def list_keys(
    conn: sqlite3.Connection,
    current: int,
    compacted: int,
    prefix: str,
    revision: int | None,
    limit: int,
    start_after: str | None,
) -> ListResult:
    rev = revision or current
    _check(rev, compacted)
    fetch = limit + 1 if limit > 0 else -1
    rows = conn.execute(_LIST, (prefix, prefix_end(prefix), start_after or "", rev, rev, fetch)).fetchall()
    more = limit > 0 and len(rows) > limit
    if more:
        rows = rows[:limit]
    return ListResult([KeyValue(r[0], r[1], r[2], r[3]) for r in rows], rev, more)


def count(conn: sqlite3.Connection, current: int, compacted: int, prefix: str) -> int:
    return int(conn.execute(_COUNT, (prefix, prefix_end(prefix))).fetchone()[0])


def history(conn: sqlite3.Connection, current: int, compacted: int, prefix: str, after: int, *,
            upto: int | None = None) -> builtins.list[Event]:
    """Events under ``prefix`` with revision > ``after`` (and <= ``upto`` when given), in revision order.
    Raises Compacted."""
    if after + 1 < compacted:
        raise Compacted(after, compacted)
    events: builtins.list[Event] = []
    rows = (conn.execute(_HISTORY, (after, prefix, prefix_end(prefix))) if upto is None
            else conn.execute(_HISTORY_UPTO, (after, upto, prefix, prefix_end(prefix))))
    for rev, name, value, created, deleted, prev_value in rows:
        if deleted:
            events.append(Event(EventType.DELETED, name, rev, value, value))
        elif created:
            events.append(Event(EventType.CREATED, name, rev, value, None))
        else:
            events.append(Event(EventType.UPDATED, name, rev, value, prev_value))
    return events


def oldest_revision(conn: sqlite3.Connection, current: int, compacted: int) -> int:
    """The smallest revision still in the log (0 when empty)."""
    return int(conn.execute(_MIN_ID).fetchone()[0])
