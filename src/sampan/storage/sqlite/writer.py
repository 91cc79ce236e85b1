"""The writer thread: the only code that writes the database, one group-committed batch at a time.

Callers on the event loop hand a request to :meth:`Writer.submit` and await a future. The thread
takes the first pending request, drains every other pending one (up to ``max_batch`` requests or
``max_batch_bytes`` of values), applies them in order inside ONE transaction, commits once (one WAL
fsync for the whole batch), and only then hands the batch back to the loop with a single
``call_soon_threadsafe``: the loop publishes the batch's events (in revision order) and resolves each
caller's future with its own result or error. A request that fails its check (KeyExists, Conflict, ...)
changes nothing and does not disturb the others; a SQLite failure rolls the whole batch back and fails
every request in it with Unavailable.

Invariants:
- ``revision`` is the revision of the last committed row; it only changes after a successful COMMIT.
- a future is resolved only after the transaction holding its row is durable.
- batches are delivered to the loop in commit order, so events reach the broadcaster in revision order.

States: running -> stopping (no new submissions; queued requests still run) -> stopped (thread exited,
connection closed).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence

from sampan.storage.errors import StorageError, Unavailable, WatchClosed
from sampan.storage.interface import Event, KeyValue
from sampan.storage.sqlite import ops
from sampan.storage.sqlite.shared import SELECT_WRITE_REVISION, SharedState

log = logging.getLogger(__name__)

#: Requests per transaction at most: bounds one commit's latency and the WAL growth per commit.
DEFAULT_MAX_BATCH = 1024
#: Value bytes per transaction at most (a batch always takes at least one request).
DEFAULT_MAX_BATCH_BYTES = 16 * 1024 * 1024
#: Requests queued at most; further submitters wait for room (backpressure, never unbounded memory).
DEFAULT_MAX_PENDING = 16_384

_STOP = object()

Result = int | KeyValue
Completion = tuple["asyncio.Future[Result]", Result | None, BaseException | None]
CommitCallback = Callable[[Sequence[Event], int], None]
#: Told, on the writer thread after each transaction of a shared store, the revision range ``(lo, hi]`` it
#: wrote and its events (``lo == hi`` and no events when it wrote nothing or failed).
AfterCommit = Callable[[int, int, Sequence[Event]], None]


class Writer:
    """Owns the write connection and the thread that uses it (see the module docstring)."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        *,
        loop: asyncio.AbstractEventLoop,
        revision: int,
        on_commit: CommitCallback,
        max_batch: int = DEFAULT_MAX_BATCH,
        max_batch_bytes: int = DEFAULT_MAX_BATCH_BYTES,
        max_pending: int = DEFAULT_MAX_PENDING,
        shared: SharedState | None = None,
        after_commit: AfterCommit | None = None,
    ) -> None:
        """With ``shared`` (a store several processes write), every transaction runs under the shared
        write lock, starts from the revision in the database (another process may have written) and
        stores the new counters before the lock is released; ``after_commit`` is then called on the
        writer thread with the range of revisions the transaction wrote and its events."""
        self._conn = conn
        self._shared = shared
        self._after_commit = after_commit
        self._loop = loop
        self._on_commit = on_commit
        self._max_batch = max_batch
        self._max_batch_bytes = max_batch_bytes
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._slots = asyncio.Semaphore(max_pending)
        self._gate = threading.Lock()
        self._accepting = threading.Lock()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="sampan-sqlite-writer", daemon=True)
        self.revision = revision
        """Revision of the last committed row (written by the writer thread only)."""
        self.commits = 0
        """Transactions committed so far, for observability (group commit makes this << writes)."""
        self.batched = 0
        """Requests handled so far; ``batched / commits`` is the mean batch size."""

    def start(self) -> None:
        self._thread.start()

    @property
    def alive(self) -> bool:
        """True until the thread has exited (after :meth:`stop`, or if it died)."""
        return self._thread.is_alive()

    async def submit(self, request: ops.Request) -> Result:
        """Queue ``request`` and wait until its batch is durable; return its result or raise its error."""
        if self._stopping:
            raise WatchClosed("store closed")
        async with self._slots:
            fut: asyncio.Future[Result] = self._loop.create_future()
            with self._accepting:  # so a dying thread's last drain cannot miss this request
                if self._stopping:
                    raise WatchClosed("store closed")
                self._queue.put((request, fut))
            return await fut

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """Hold the writer between batches (tests and benchmarks): requests queue up meanwhile and are
        committed together when the block exits."""
        with self._gate:
            yield

    async def stop(self) -> None:
        """Finish queued requests, then stop the thread and close the connection. Idempotent."""
        if not self._stopping:
            self._stopping = True
            self._queue.put(_STOP)
        if self._thread.is_alive():
            await self._loop.run_in_executor(None, self._thread.join)

    # -- the thread -------------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while True:
                first = self._queue.get()
                with self._gate:
                    batch, stop = self._drain(first)
                    if batch:
                        self._commit(batch)
                if stop:
                    return
        except BaseException:  # a bug: fail everything still queued rather than hang callers
            log.exception("sqlite writer thread died")
            with self._accepting:
                self._stopping = True
                self._fail_queued(lambda: Unavailable("sqlite writer thread died"))
            raise
        finally:
            self._stopping = True
            self._conn.close()

    def _drain(self, first: object) -> tuple[list[tuple[ops.Request, asyncio.Future[Result]]], bool]:
        """The batch starting at ``first``; True when the stop sentinel was reached."""
        batch: list[tuple[ops.Request, asyncio.Future[Result]]] = []
        size = 0
        item = first
        while True:
            if item is _STOP:
                self._fail_queued(lambda: WatchClosed("store closed"))
                return batch, True
            assert isinstance(item, tuple)
            batch.append(item)
            value = getattr(item[0], "value", b"")
            size += len(value)
            if len(batch) >= self._max_batch or size >= self._max_batch_bytes:
                return batch, False
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return batch, False

    def _commit(self, batch: list[tuple[ops.Request, asyncio.Future[Result]]]) -> None:
        if self._shared is None:
            self._transaction(batch)
            return
        with self._shared.write_lock.held():
            lo, hi, events = self._transaction(batch)
        if self._after_commit is not None:
            self._after_commit(lo, hi, events)

    def _transaction(self, batch: list[tuple[ops.Request, asyncio.Future[Result]]]) -> tuple[int, int, list[Event]]:
        """Apply and commit ``batch``; ``(lo, hi, events)``: it wrote revisions ``(lo, hi]`` (none when
        ``lo == hi``, e.g. rolled back), whose events are ``events``."""
        conn = self._conn
        revision = lo = self.revision
        compacted = 0
        events: list[Event] = []
        completions: list[Completion] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            if self._shared is not None:  # another process may have written since our last commit
                revision = lo = self.revision = max(self.revision,
                                                    int(conn.execute(SELECT_WRITE_REVISION).fetchone()[0]))
            for request, fut in batch:
                if isinstance(request, ops.SetCompacted):
                    compacted = max(compacted, request.revision)
                try:
                    applied = ops.apply(conn, request, revision)
                except StorageError as err:
                    completions.append((fut, None, err))
                    continue
                if applied.event is not None:
                    revision = applied.event.revision
                    events.append(applied.event)
                completions.append((fut, applied.result, None))
            conn.execute("COMMIT")
        except sqlite3.Error as err:
            log.error("sqlite write failed; batch rolled back requests=%d error=%s", len(batch), err)
            self._rollback()
            completions = [(fut, None, Unavailable(f"sqlite write failed: {err}")) for _, fut in batch]
            events, revision = [], self.revision
            lo = revision
        except Exception as err:
            log.exception("sqlite writer bug; batch rolled back requests=%d", len(batch))
            self._rollback()
            completions = [(fut, None, Unavailable(f"sqlite writer error: {err!r}")) for _, fut in batch]
            events, revision = [], self.revision
            lo = revision
        else:
            self.revision = revision
            self.commits += 1
            self.batched += len(batch)
            if self._shared is not None:  # before anyone hears of this revision, in any process
                counters = self._shared.counters
                counters.store(current=revision, compacted=max(counters.compacted, compacted))
        self._deliver(completions, events, revision)
        return lo, revision, events

    def _rollback(self) -> None:
        try:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
        except sqlite3.Error:
            log.exception("sqlite rollback failed")

    def _fail_queued(self, error: Callable[[], StorageError]) -> None:
        failed: list[Completion] = []
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if isinstance(item, tuple):
                failed.append((item[1], None, error()))
        if failed:
            self._deliver(failed, [], self.revision)

    def _deliver(self, completions: list[Completion], events: list[Event], revision: int) -> None:
        try:
            self._loop.call_soon_threadsafe(self._resolve, completions, events, revision)
        except RuntimeError:  # the loop is closed: nobody is waiting any more
            log.warning("sqlite writer could not deliver results; event loop closed")

    # -- back on the event loop -------------------------------------------------------------------

    def _resolve(self, completions: list[Completion], events: list[Event], revision: int) -> None:
        if events:
            self._on_commit(events, revision)
        for fut, result, error in completions:
            if fut.done():  # the caller was cancelled; the write (if any) stands
                continue
            if error is not None:
                fut.set_exception(error)
            else:
                fut.set_result(result)  # type: ignore[arg-type]
