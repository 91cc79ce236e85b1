"""SqliteStorage: the embedded store's facade, the :class:`~sampan.storage.interface.Storage` contract.

It checks input (nothing reaches the database unless the key, prefix and value are valid), sends
writes to the :class:`~sampan.storage.sqlite.writer.Writer` thread, reads through the
:class:`~sampan.storage.sqlite.reader.ReadPool`, and publishes each committed batch's events to the
shared :class:`~sampan.storage.broadcaster.Broadcaster` on the event loop. It must be used from the
event loop that opened it.

Invariant: ``_current`` (the revision of the last write delivered to the loop) is advanced in the
same loop callback that publishes the events and resolves the writers, so a caller that heard
"revision N" sees ``current_revision() >= N``.

Opened with ``shared_store=True`` the file is one store for several processes (:mod:`.shared`): the
revisions come from the counters all members map, and every event (this process's own writes too)
reaches the broadcaster through the :class:`~sampan.storage.sqlite.shared.Tailer`, in revision order.
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
from sampan.storage.sqlite import ops, reader, schema, shared
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
        shared_state: shared.SharedState | None = None,
    ) -> None:
        """Use :meth:`open`; this takes over an initialized write connection and the file lock."""
        self._path = path
        self._root = root
        self._lock = lock
        self._broadcaster = Broadcaster(watch_queue_size)
        self._shared = shared_state
        self._tailer: shared.Tailer | None = None
        loop = asyncio.get_running_loop()
        if shared_state is not None:
            self._tailer = shared.Tailer(path, shared_state.counters, root=root, after=revision, loop=loop,
                                         on_events=self._tailed, on_reset=self._reset_watchers)
        self._writer = Writer(conn, loop=loop, revision=revision, on_commit=self._committed, shared=shared_state,
                              after_commit=self._tailer.offer if self._tailer else None)
        self._pool = reader.ReadPool(path, threads=read_threads)
        self._current = revision
        self._compacted = compacted
        self._closed = False
        self.compact_chunk = DEFAULT_COMPACT_CHUNK
        """Log ids deleted per compaction request (tests shrink it)."""
        self._writer.start()
        if self._tailer is not None:
            self._tailer.start()

    @classmethod
    async def open(
        cls,
        path: Path,
        *,
        root: str = DEFAULT_ROOT,
        watch_queue_size: int = 4096,
        read_threads: int = reader.DEFAULT_READ_THREADS,
        shared_store: bool = False,
    ) -> SqliteStorage:
        """Open (creating if needed) the store in file ``path``; with ``shared_store`` as one member of a
        group of processes sharing it (:mod:`.shared`). Raises Unavailable when it cannot."""
        lock = schema.FileLock(path)
        loop = asyncio.get_running_loop()
        state: shared.SharedState | None = None
        try:
            if shared_store:
                conn, state, current, compacted = await loop.run_in_executor(None, shared.join, path, lock)
            else:
                conn, current, compacted = await loop.run_in_executor(None, _open_writer, path, lock)
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
            shared_state=state,
        )
        log.info("sqlite store opened path=%s revision=%d compacted=%d shared=%s", path, current, compacted,
                 shared_store)
        return store

    @property
    def root(self) -> str:
        return self._root

    @property
    def writer(self) -> Writer:
        """The writer thread (its ``commits`` and ``batched`` counters show group commit at work)."""
        return self._writer

    def _committed(self, events: Sequence[Event], revision: int) -> None:
        if self._shared is None:  # shared: the tailer publishes every member's events, in order
            self._current = max(self._current, revision)
            self._broadcaster.publish(events)

    def _tailed(self, events: Sequence[Event], revision: int) -> None:
        self._current = max(self._current, revision)
        self._broadcaster.publish(events)

    def _reset_watchers(self, error: Exception) -> None:
        self._broadcaster.reset(error)

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
        revision = min(revision, await self.current_revision())
        if revision <= await self.compacted_revision():
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
        if self._shared is not None:
            return self._shared.counters.current
        return self._current

    async def compacted_revision(self) -> int:
        if self._shared is not None:
            return self._shared.counters.compacted
        return self._compacted

    async def close(self) -> None:
        """Finish queued writes, stop the threads, close watches (they end with WatchClosed)."""
        if self._closed:
            return
        self._closed = True
        try:
            await self._writer.stop()
            await self._pool.close()
            if self._tailer is not None:
                await self._tailer.stop()
        finally:
            self._broadcaster.close()
            if self._shared is not None and not self._writer.alive:
                self._shared.close()
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
