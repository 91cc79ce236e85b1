"""One SQLite store shared by several processes (the API server's ``--workers``).

Each process opens the store with ``shared=True`` and keeps its own writer thread, read pool and watch
broadcaster; three small pieces next to ``state.db`` make them one store:

- ``state.db.lock``: the owner lock (:class:`~sampan.storage.sqlite.schema.FileLock`), held *shared*
  by every member, so a process opening the store alone (exclusive) is refused while members run and
  members are refused while a lone owner runs.
- ``state.db.write``: the write lock, an ``flock`` each writer thread holds from ``BEGIN IMMEDIATE``
  until after it published the new revision. It serialises transactions across processes without
  SQLite's sleeping busy handler, so a waiting writer wakes as soon as the lock is free.
- ``state.db.revs``: :class:`SharedCounters`, 16 bytes mapped into every member: the revision of the
  last committed write and the compacted revision. A writer stores them after COMMIT and before it
  releases the write lock or acknowledges anyone, so any process reading them sees at least every
  revision acknowledged by any member: ``current_revision()`` costs a memory read, and a consistent
  read in one process is never older than a write acknowledged by another.

Invariants: revisions stay global, gap-free and monotonic (a writer takes ``max(log.id, meta.current)
+ 1`` inside its transaction, under the write lock); commits happen in revision order, so a read
snapshot always holds a prefix of the log and :class:`Tailer` (one thread per member, polling the
counter and woken at once by its own writer) publishes every event exactly once and in order, whichever
member wrote it.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import fcntl
import logging
import mmap
import os
import sqlite3
import struct
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from sampan.storage.errors import Compacted, Unavailable
from sampan.storage.interface import Event
from sampan.storage.keys import prefix_end
from sampan.storage.sqlite import reader, schema

log = logging.getLogger(__name__)

#: Seconds between the tailer's looks at the shared revision when nothing nudged it, while the store
#: is busy; after ``IDLE_AFTER`` seconds without a new revision it looks every ``IDLE_POLL_INTERVAL``
#: (an idle member then costs ~0.3% of a core instead of ~1.5%).
DEFAULT_POLL_INTERVAL = 0.002
IDLE_POLL_INTERVAL = 0.010
IDLE_AFTER = 1.0
#: This member's own committed batches waiting for the tailer at most; a batch offered beyond it is
#: simply read back from the database like another member's.
MAX_LOCAL_BATCHES = 1024

_COUNTERS = struct.Struct("<qq")  # current revision, compacted revision
#: The revision counter as a writer sees it inside its transaction.
SELECT_WRITE_REVISION = (
    "SELECT MAX((SELECT COALESCE(MAX(id), 0) FROM log), (SELECT value FROM meta WHERE name = 'current'))"
)


class SharedCounters:
    """``(current, compacted)`` in a file mapped by every member (see the module docstring).

    Written only under the write lock; 8-byte aligned stores, so a reader never sees half a value."""

    def __init__(self, db_path: Path) -> None:
        self.path = db_path.with_name(db_path.name + ".revs")
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if os.fstat(fd).st_size < _COUNTERS.size:
                os.ftruncate(fd, _COUNTERS.size)
            self._map = mmap.mmap(fd, _COUNTERS.size)
        finally:
            os.close(fd)

    @property
    def current(self) -> int:
        return int(_COUNTERS.unpack_from(self._map, 0)[0])

    @property
    def compacted(self) -> int:
        return int(_COUNTERS.unpack_from(self._map, 0)[1])

    def store(self, *, current: int, compacted: int) -> None:
        struct.pack_into("<q", self._map, 8, compacted)
        struct.pack_into("<q", self._map, 0, current)

    def close(self) -> None:
        with contextlib.suppress(BufferError):
            self._map.close()


class WriteLock:
    """The cross-process write lock (``state.db.write``); blocking, used from the writer thread only."""

    def __init__(self, db_path: Path) -> None:
        self.path = db_path.with_name(db_path.name + ".write")
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        fcntl.flock(self._fd, fcntl.LOCK_EX)  # the GIL is released while this blocks
        try:
            yield
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        os.close(self._fd)


class SharedState:
    """What a member's writer needs: the write lock and the counters."""

    def __init__(self, db_path: Path) -> None:
        self.counters = SharedCounters(db_path)
        self.write_lock = WriteLock(db_path)

    def close(self) -> None:
        self.counters.close()
        self.write_lock.close()


def join(path: Path, lock: schema.FileLock) -> tuple[sqlite3.Connection, SharedState, int, int]:
    """Join the group of processes sharing ``path`` (blocking: run it off the loop).

    Returns the write connection, the shared state and ``(current, compacted)``. Under the write lock
    each joiner creates the schema if needed and sets the counters from the database: they can only
    move up (a writer stores them after its COMMIT, so the database is never behind them), and a
    counters file left by an earlier run (or a restored database) is corrected. Raises Unavailable when
    a process owns the store alone."""
    if not lock.try_acquire(exclusive=False):
        raise Unavailable(f"sqlite store {path} is in use by a process that does not share it")
    try:
        state = SharedState(path)
        try:
            with state.write_lock.held():
                conn, current, compacted = schema.open_writer(path)
                state.counters.store(current=current, compacted=compacted)
        except BaseException:
            state.close()
            raise
    except BaseException:
        lock.release()
        raise
    return conn, state, current, compacted


EventsCallback = Callable[[Sequence[Event], int], None]
ResetCallback = Callable[[Exception], None]


class _LocalBatch:
    """Revisions ``(lo, hi]``, all written by this member's writer in one transaction, and their events
    under the root."""

    __slots__ = ("events", "hi", "lo")

    def __init__(self, lo: int, hi: int, events: list[Event]) -> None:
        self.lo, self.hi, self.events = lo, hi, events


class Tailer:
    """The thread that turns every member's commits into this process's watch events, in order.

    It reads ``log`` rows above the last revision it published whenever the shared counter moved
    (looking every ``poll_interval``, every ``IDLE_POLL_INTERVAL`` once the store has been still for
    ``IDLE_AFTER`` s, or at once after :meth:`nudge` / :meth:`offer`) and hands each batch to the loop
    with one ``call_soon_threadsafe``. If compaction overtook it (a stalled process), it resets every
    watcher with the Compacted error and continues from the current revision.

    This member's own commits are not read back: its writer :meth:`offer` s each transaction's revision
    range and events, and when the next revision to publish starts such a range the tailer publishes
    those events as they are (the same events the log would give: one transaction under the write lock
    wrote every revision of the range). Only the revisions between are read from the database (other
    members' commits), so ordering and exactly-once do not depend on which member wrote what.
    States: running -> stopped."""

    def __init__(
        self,
        path: Path,
        counters: SharedCounters,
        *,
        root: str,
        after: int,
        loop: asyncio.AbstractEventLoop,
        on_events: EventsCallback,
        on_reset: ResetCallback,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
    ) -> None:
        self._path = path
        self._counters = counters
        self._root = root
        self.published = after
        """The revision of the last event handed to the loop (tailer thread only)."""
        self._loop = loop
        self._on_events = on_events
        self._on_reset = on_reset
        self._poll = poll_interval
        self._wake = threading.Event()
        self._conn: sqlite3.Connection | None = None
        """The tailer thread's read connection (opened when first needed)."""
        self._local: collections.deque[_LocalBatch] = collections.deque()
        """Appended by the writer thread, consumed (peeked and popped) by the tailer thread only."""
        self._end = prefix_end(root)
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="sampan-sqlite-tailer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def nudge(self) -> None:
        """Look now (the local writer just committed)."""
        self._wake.set()

    def offer(self, lo: int, hi: int, events: Sequence[Event]) -> None:
        """This member's writer committed revisions ``(lo, hi]`` with ``events`` (its thread, after the
        commit): publish them without reading them back, and look now."""
        if hi > lo and len(self._local) < MAX_LOCAL_BATCHES:
            root, end = self._root, self._end
            self._local.append(_LocalBatch(lo, hi, [e for e in events if root <= e.key < end]))
        self._wake.set()

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._thread.is_alive():
            await self._loop.run_in_executor(None, self._thread.join)

    def _run(self) -> None:
        last_change = time.monotonic()
        try:
            while not self._stopping:
                idle = time.monotonic() - last_change > IDLE_AFTER
                self._wake.wait(max(self._poll, IDLE_POLL_INTERVAL) if idle else self._poll)
                self._wake.clear()
                if self._stopping or (self._counters.current <= self.published and not self._local):
                    continue
                last_change = time.monotonic()
                try:
                    self._catch_up()
                except sqlite3.Error as err:  # the next round retries
                    log.error("sqlite tailer read failed path=%s error=%s", self._path, err)
                    if self._conn is not None:
                        self._conn.close()
                        self._conn = None
                    time.sleep(0.1)
        finally:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def _catch_up(self) -> None:
        """Publish everything committed so far: this member's offered batches as they are, the rest read
        from the database."""
        local = self._local
        while True:
            while local and local[0].hi <= self.published:  # already published from the database
                local.popleft()
            if local and local[0].lo <= self.published:  # the next revisions are ours
                batch = local.popleft()
                events = [e for e in batch.events if e.revision > self.published]
                self.published = batch.hi
                if events:
                    self._call(self._on_events, events, batch.hi)
                continue
            upto = local[0].lo if local else None  # other members' revisions up to our next batch
            if upto is None and self._counters.current <= self.published:
                return
            if self._conn is None:
                self._conn = schema.connect(self._path, readonly=True)
            before = self.published
            self._read(self._conn, upto)
            if upto is None or self.published == before:  # (no progress: retried at the next look)
                return

    def _read(self, conn: sqlite3.Connection, upto: int | None = None) -> None:
        """Publish the log's events above ``published``: up to revision ``upto`` (committed: our own
        later batch was) or, when None, up to the database's current revision."""
        conn.execute("BEGIN")
        try:
            current, compacted = schema.read_revisions(conn)
            if upto is not None:
                current = min(current, upto)
            try:
                events = reader.history(conn, current, compacted, self._root, self.published, upto=upto)
            except Compacted as err:
                log.warning("sqlite tailer overtaken by compaction published=%d compacted=%d", self.published,
                            compacted)
                self.published = current
                self._call(self._on_reset, err)
                return
        finally:
            conn.execute("COMMIT")
        if events:
            self.published = events[-1].revision
            self._call(self._on_events, events, self.published)
        else:  # nothing under the root in (published, current]: skip it
            self.published = max(self.published, current)

    def _call(self, fn: Callable[..., None], *args: object) -> None:
        try:
            self._loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:  # the loop is closed: nobody listens any more
            self._stopping = True
