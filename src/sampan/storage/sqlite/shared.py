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
from sampan.storage.sqlite import reader, schema

log = logging.getLogger(__name__)

#: Seconds between the tailer's looks at the shared revision when nothing nudged it, while the store
#: is busy; after ``IDLE_AFTER`` seconds without a new revision it looks every ``IDLE_POLL_INTERVAL``
#: (an idle member then costs ~0.3% of a core instead of ~1.5%).
DEFAULT_POLL_INTERVAL = 0.002
IDLE_POLL_INTERVAL = 0.010
IDLE_AFTER = 1.0

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


class Tailer:
    """The thread that turns every member's commits into this process's watch events, in order.

    It reads ``log`` rows above the last revision it published whenever the shared counter moved
    (looking every ``poll_interval``, every ``IDLE_POLL_INTERVAL`` once the store has been still for
    ``IDLE_AFTER`` s, or at once after :meth:`nudge`) and hands each batch to the loop
    with one ``call_soon_threadsafe``. If compaction overtook it (a stalled process), it resets every
    watcher with the Compacted error and continues from the current revision.
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
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="sampan-sqlite-tailer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def nudge(self) -> None:
        """Look now (the local writer just committed)."""
        self._wake.set()

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._thread.is_alive():
            await self._loop.run_in_executor(None, self._thread.join)

    def _run(self) -> None:
        conn: sqlite3.Connection | None = None
        last_change = time.monotonic()
        try:
            while not self._stopping:
                idle = time.monotonic() - last_change > IDLE_AFTER
                self._wake.wait(max(self._poll, IDLE_POLL_INTERVAL) if idle else self._poll)
                self._wake.clear()
                if self._stopping or self._counters.current <= self.published:
                    continue
                last_change = time.monotonic()
                try:
                    if conn is None:
                        conn = schema.connect(self._path, readonly=True)
                    self._read(conn)
                except sqlite3.Error as err:  # the next round retries
                    log.error("sqlite tailer read failed path=%s error=%s", self._path, err)
                    if conn is not None:
                        conn.close()
                        conn = None
                    time.sleep(0.1)
        finally:
            if conn is not None:
                conn.close()

    def _read(self, conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN")
        try:
            current, compacted = schema.read_revisions(conn)
            try:
                events = reader.history(conn, current, compacted, self._root, self.published)
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
