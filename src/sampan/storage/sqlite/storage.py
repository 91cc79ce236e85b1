"""SqliteStorage: the embedded store's facade, the :class:`~sampan.storage.interface.Storage` contract.

It checks input (nothing reaches the database unless the key, prefix and value are valid), sends
writes to the :class:`~sampan.storage.sqlite.writer.Writer` thread, reads through the
:class:`~sampan.storage.sqlite.reader.ReadPool`, and publishes each committed batch's events to the
shared :class:`~sampan.storage.broadcaster.Broadcaster` on the event loop. It must be used from the
event loop that opened it.

Invariant: ``_current`` (the revision of the last write delivered to the loop) is advanced in the
same loop callback that publishes the events and resolves the writers, so a caller that heard
"revision N" sees ``current_revision() >= N``.
"""

from __future__ import annotations

import asyncio
import builtins
import logging
import sqlite3
from collections.abc import Sequence
from pathlib import Path

from sampan.storage.broadcaster import Broadcaster, BroadcastWatch
from sampan.storage.errors import InvalidKey, Unavailable, WatchClosed
from sampan.storage.interface import Event, KeyValue, ListResult, Watch
from sampan.storage.keys import DEFAULT_ROOT, check_key, check_prefix, check_value
from sampan.storage.sqlite import ops, reader, schema
from sampan.storage.sqlite.writer import Writer

log = logging.getLogger(__name__)

#: Log ids a compaction deletes per request, so writes queued behind it wait only briefly.
DEFAULT_COMPACT_CHUNK = 500


class SqliteStorage:
    """The embedded MVCC store (see the package docstring for the design)."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        *,
        path: Path,
        root: str,
        revision: int,
        compacted: int,
        lock: schema.FileLock,
        watch_queue_size: int,
        read_threads: int,
    ) -> None:
        """Use :meth:`open`; this takes over an initialized write connection and the file lock."""
        self._path = path
        self._root = root
        self._lock = lock
        self._broadcaster = Broadcaster(watch_queue_size)
        self._writer = Writer(conn, loop=asyncio.get_running_loop(), revision=revision, on_commit=self._committed)
        self._pool = reader.ReadPool(path, threads=read_threads)
        self._current = revision
        self._compacted = compacted
        self._closed = False
        self.compact_chunk = DEFAULT_COMPACT_CHUNK
        """Log ids deleted per compaction request (tests shrink it)."""
        self._writer.start()

    @classmethod
    async def open(
        cls,
        path: Path,
        *,
        root: str = DEFAULT_ROOT,
        watch_queue_size: int = 4096,
        read_threads: int = reader.DEFAULT_READ_THREADS,
    ) -> SqliteStorage:
        """Open (creating if needed) the store in file ``path``. Raises Unavailable when it cannot."""
        lock = schema.FileLock(path)
        try:
            conn, current, compacted = await asyncio.get_running_loop().run_in_executor(None, _open_writer, path, lock)
        except (OSError, sqlite3.Error) as err:
            raise Unavailable(f"cannot open sqlite store {path}: {err}") from err
        store = cls(
            conn,
            path=path,
            root=root,
            revision=current,
            compacted=compacted,
            lock=lock,
            watch_queue_size=watch_queue_size,
            read_threads=read_threads,
        )
        log.info("sqlite store opened path=%s revision=%d compacted=%d", path, current, compacted)
        return store

    @property
    def root(self) -> str:
        return self._root

    @property
    def writer(self) -> Writer:
        """The writer thread (its ``commits`` and ``batched`` counters show group commit at work)."""
        return self._writer

    def _committed(self, events: Sequence[Event], revision: int) -> None:
        self._current = max(self._current, revision)
        self._broadcaster.publish(events)

    def _check_open(self) -> None:
        if self._closed:
            raise WatchClosed("store closed")

    # -- writes -----------------------------------------------------------------------------------

    async def create(self, key: str, value: bytes) -> int:
        _check_key(self._root, key)
        check_value(key, value)
        self._check_open()
        result = await self._writer.submit(ops.Create(key, value))
        assert isinstance(result, int)
        return result

    async def update(self, key: str, value: bytes, *, expected_mod_revision: int) -> int:
        _check_key(self._root, key)
        check_value(key, value)
        self._check_open()
        result = await self._writer.submit(ops.Update(key, value, expected_mod_revision))
        assert isinstance(result, int)
        return result

    async def delete(self, key: str, *, expected_mod_revision: int | None = None) -> KeyValue:
        _check_key(self._root, key)
        self._check_open()
        result = await self._writer.submit(ops.Delete(key, expected_mod_revision))
        assert isinstance(result, KeyValue)
        return result

    async def compact(self, revision: int) -> None:
        """Record ``revision`` as compacted (durably, first), then delete old rows in chunks."""
        self._check_open()
        revision = min(revision, self._current)
        if revision <= self._compacted:
            return
        await self._writer.submit(ops.SetCompacted(revision))
        self._compacted = max(self._compacted, revision)
        lo = await self._pool.run(reader.oldest_revision)
        deleted = 0
        while lo < revision:
            hi = min(lo + self.compact_chunk, revision)
            result = await self._writer.submit(ops.CompactChunk(lo, hi, revision))
            assert isinstance(result, int)
            deleted += result
            lo = hi
        log.info("sqlite store compacted revision=%d rows_deleted=%d", revision, deleted)

    # -- reads ------------------------------------------------------------------------------------

    async def get(self, key: str, *, revision: int | None = None) -> KeyValue:
        _check_key(self._root, key)
        self._check_open()
        return await self._pool.run(reader.get, key, revision)

    async def list(
        self,
        prefix: str,
        *,
        revision: int | None = None,
        limit: int = 0,
        start_after: str | None = None,
    ) -> ListResult:
        _check_prefix(self._root, prefix)
        if start_after is not None:
            _check_text(start_after)
        self._check_open()
        return await self._pool.run(reader.list_keys, prefix, revision, limit, start_after)

    async def count(self, prefix: str) -> int:
        _check_prefix(self._root, prefix)
        self._check_open()
        return await self._pool.run(reader.count, prefix)

    async def _history(self, prefix: str, after: int) -> builtins.list[Event]:
        self._check_open()
        return await self._pool.run(reader.history, prefix, after)

    def watch(self, prefix: str, *, after_revision: int) -> Watch:
        _check_prefix(self._root, prefix)
        return BroadcastWatch(self._broadcaster, self._history, prefix, after_revision)

    async def current_revision(self) -> int:
        return self._current

    async def compacted_revision(self) -> int:
        return self._compacted

    async def close(self) -> None:
        """Finish queued writes, stop the threads, close watches (they end with WatchClosed)."""
        if self._closed:
            return
        self._closed = True
        try:
            await self._writer.stop()
            await self._pool.close()
        finally:
            self._broadcaster.close()
            if not self._writer.alive:  # never let another process in while our writer may still write
                self._lock.release()
            log.info("sqlite store closed path=%s revision=%d", self._path, self._current)


def _check_text(text: str) -> None:
    """SQLite stores keys as UTF-8: a string with lone surrogates cannot be a key (or a bound)."""
    try:
        text.encode()
    except UnicodeEncodeError:
        raise InvalidKey(text, "not valid UTF-8 text") from None


def _check_key(root: str, key: str) -> None:
    check_key(root, key)
    _check_text(key)


def _check_prefix(root: str, prefix: str) -> None:
    check_prefix(root, prefix)
    _check_text(prefix)


def _open_writer(path: Path, lock: schema.FileLock) -> tuple[sqlite3.Connection, int, int]:
    lock.acquire()
    try:
        return schema.open_writer(path)
    except BaseException:
        lock.release()
        raise
