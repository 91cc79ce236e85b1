"""An in-memory MVCC store for unit tests of other layers. Same semantics as ``sqlite``, no durability.

The log is a list of :class:`_Row` in revision order (``_log[i].revision == i + 1 + _offset`` before
compaction removes rows; after, rows stay sorted by revision). ``_latest`` maps each live or deleted
key to the row of its last write.
"""

from __future__ import annotations

import asyncio
import bisect
import builtins
from dataclasses import dataclass

from sampan.storage.broadcaster import Broadcaster, BroadcastWatch
from sampan.storage.errors import Compacted, Conflict, KeyExists, KeyNotFound, WatchClosed
from sampan.storage.interface import Event, EventType, KeyValue, ListResult, Watch
from sampan.storage.keys import DEFAULT_ROOT, check_key, check_prefix, check_value


@dataclass(frozen=True, slots=True)
class _Row:
    revision: int
    key: str
    value: bytes
    create_revision: int
    prev_revision: int
    deleted: bool


class MemoryStorage:
    """A dict-and-list MVCC store. All mutation happens synchronously on the event loop."""

    def __init__(self, root: str = DEFAULT_ROOT, *, watch_queue_size: int = 4096) -> None:
        self._root = root
        self._log: list[_Row] = []
        self._revs: list[int] = []  # revisions of _log, for bisect
        self._latest: dict[str, _Row] = {}
        self._rev = 0
        self._compacted = 0
        self._closed = False
        self._broadcaster = Broadcaster(watch_queue_size)

    @property
    def root(self) -> str:
        return self._root

    def _check_open(self) -> None:
        if self._closed:
            raise WatchClosed("store closed")

    def _append(self, row: _Row, prev: _Row | None) -> None:
        self._log.append(row)
        self._revs.append(row.revision)
        self._latest[row.key] = row
        self._rev = row.revision
        if row.deleted:
            event = Event(EventType.DELETED, row.key, row.revision, row.value, row.value)
        elif prev is None or prev.deleted:
            event = Event(EventType.CREATED, row.key, row.revision, row.value, None)
        else:
            event = Event(EventType.UPDATED, row.key, row.revision, row.value, prev.value)
        self._broadcaster.publish([event])

    def _live(self, key: str) -> _Row | None:
        row = self._latest.get(key)
        return None if row is None or row.deleted else row

    async def create(self, key: str, value: bytes) -> int:
        check_key(self._root, key)
        check_value(key, value)
        self._check_open()
        prev = self._latest.get(key)
        if prev is not None and not prev.deleted:
            raise KeyExists(key)
        rev = self._rev + 1
        self._append(_Row(rev, key, value, rev, prev.revision if prev else 0, False), prev)
        return rev

    def _at(self, key: str, revision: int) -> _Row | None:
        """The last row for ``key`` with revision <= ``revision`` (a linear scan; tests only)."""
        hi = bisect.bisect_right(self._revs, revision)
        for i in range(hi - 1, -1, -1):
            if self._log[i].key == key:
                return self._log[i]
        return None

    def _check_revision(self, revision: int | None) -> int:
        if revision is None or revision == 0:
            return self._rev
        if revision < self._compacted:
            raise Compacted(revision, self._compacted)
        return revision

    async def get(self, key: str, *, revision: int | None = None) -> KeyValue:
        check_key(self._root, key)
        self._check_open()
        rev = self._check_revision(revision)
        row = self._latest.get(key) if rev >= self._rev else self._at(key, rev)
        if row is None or row.deleted:
            raise KeyNotFound(key)
        return KeyValue(key, row.value, row.create_revision, row.revision)

    async def list(
        self,
        prefix: str,
        *,
        revision: int | None = None,
        limit: int = 0,
        start_after: str | None = None,
    ) -> ListResult:
        check_prefix(self._root, prefix)
        self._check_open()
        rev = self._check_revision(revision)
        if rev >= self._rev:
            rows = [r for r in self._latest.values() if not r.deleted and r.key.startswith(prefix)]
        else:
            seen: dict[str, _Row] = {}
            for row in self._log[: bisect.bisect_right(self._revs, rev)]:
                if row.key.startswith(prefix):
                    seen[row.key] = row
            rows = [r for r in seen.values() if not r.deleted]
        rows.sort(key=lambda r: r.key)
        if start_after is not None:
            rows = rows[bisect.bisect_right([r.key for r in rows], start_after) :]
        more = bool(limit) and len(rows) > limit
        if limit:
            rows = rows[:limit]
        kvs = [KeyValue(r.key, r.value, r.create_revision, r.revision) for r in rows]
        return ListResult(kvs, rev, more)

    async def count(self, prefix: str) -> int:
        check_prefix(self._root, prefix)
        return sum(1 for r in self._latest.values() if not r.deleted and r.key.startswith(prefix))

    async def update(self, key: str, value: bytes, *, expected_mod_revision: int) -> int:
        check_key(self._root, key)
        check_value(key, value)
        self._check_open()
        prev = self._live(key)
        if prev is None:
            raise KeyNotFound(key)
        if prev.revision != expected_mod_revision:
            raise Conflict(key, expected=expected_mod_revision, actual=prev.revision)
        rev = self._rev + 1
        self._append(_Row(rev, key, value, prev.create_revision, prev.revision, False), prev)
        return rev

    async def delete(self, key: str, *, expected_mod_revision: int | None = None) -> KeyValue:
        check_key(self._root, key)
        self._check_open()
        prev = self._live(key)
        if prev is None:
            raise KeyNotFound(key)
        if expected_mod_revision is not None and prev.revision != expected_mod_revision:
            raise Conflict(key, expected=expected_mod_revision, actual=prev.revision)
        rev = self._rev + 1
        self._append(_Row(rev, key, prev.value, prev.create_revision, prev.revision, True), prev)
        return KeyValue(key, prev.value, prev.create_revision, rev)

    async def _history(self, prefix: str, after: int) -> builtins.list[Event]:
        if after + 1 < self._compacted:
            raise Compacted(after, self._compacted)
        start = bisect.bisect_right(self._revs, after)
        events: builtins.list[Event] = []
        for row in self._log[start:]:
            if not row.key.startswith(prefix):
                continue
            prev = self._at(row.key, row.revision - 1) if row.prev_revision else None
            prev_value = prev.value if prev is not None and not prev.deleted else None
            if row.deleted:
                events.append(Event(EventType.DELETED, row.key, row.revision, row.value, row.value))
            elif prev_value is None:
                events.append(Event(EventType.CREATED, row.key, row.revision, row.value, None))
            else:
                events.append(Event(EventType.UPDATED, row.key, row.revision, row.value, prev_value))
        return events

    def watch(self, prefix: str, *, after_revision: int) -> Watch:
        check_prefix(self._root, prefix)
        return BroadcastWatch(self._broadcaster, self._history, prefix, after_revision)

    async def compact(self, revision: int) -> None:
        self._check_open()
        revision = min(revision, self._rev)
        if revision <= self._compacted:
            return
        # Per key, the newest row below ``revision`` survives (unless it is a tombstone): it is the
        # state at ``revision`` or, when the key changed exactly at ``revision``, the previous value a
        # watch from ``revision - 1`` needs.
        newest_below: dict[str, _Row] = {}
        for row in self._log:
            if row.revision < revision:
                newest_below[row.key] = row
        keep = [
            row
            for row in self._log
            if row.revision >= revision or (newest_below[row.key] is row and not row.deleted)
        ]
        self._log = keep
        self._revs = [r.revision for r in keep]
        self._compacted = revision
        await asyncio.sleep(0)

    async def current_revision(self) -> int:
        return self._rev

    async def compacted_revision(self) -> int:
        return self._compacted

    async def close(self) -> None:
        self._closed = True
        self._broadcaster.close()
