"""Log semantics: each write request, and how the writer applies it inside an open transaction.

Every function here runs on the writer thread, inside the batch's transaction, on the writer's
connection (which sees the batch's earlier, uncommitted rows). A request either raises a
:class:`~sampan.storage.errors.StorageError` having changed nothing, or appends exactly one row whose id
is ``revision + 1`` and returns an :class:`Applied` carrying its result and its watch event.

Compare-and-swap is a read of the key's newest row followed by an insert that names that row as
``prev_revision``; the single writer makes the pair atomic, and ``UNIQUE(name, prev_revision)``
backs it up.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from sampan.storage.errors import Conflict, KeyExists, KeyNotFound
from sampan.storage.interface import Event, EventType, KeyValue

_LATEST = "SELECT id, deleted, create_revision, value FROM log WHERE name = ? ORDER BY id DESC LIMIT 1"
_INSERT = (
    "INSERT INTO log (id, name, created, deleted, create_revision, prev_revision, value) VALUES (?, ?, ?, ?, ?, ?, ?)"
)
_SET_COMPACTED = "UPDATE meta SET value = MAX(value, ?) WHERE name = 'compacted'"
_SET_CURRENT_FLOOR = "UPDATE meta SET value = MAX(value, ?) WHERE name = 'current'"
# A row below ``rev`` goes when a newer row of its key also lies below ``rev`` (so the newest row
# below ``rev`` survives: it is the previous value of the key's first event at or after ``rev``), or
# when it is a tombstone (a deleted key needs no history). Older rows of a key have smaller ids, so
# chunks taken in id order remove them no later than the key's tombstone.
_COMPACT_CHUNK = (
    "DELETE FROM log WHERE id >= ? AND id < ? AND (deleted = 1 OR EXISTS ("
    "SELECT 1 FROM log AS newer WHERE newer.name = log.name AND newer.id > log.id AND newer.id < ?))"
)


@dataclass(frozen=True, slots=True)
class Create:
    key: str
    value: bytes


@dataclass(frozen=True, slots=True)
class Update:
    key: str
    value: bytes
    expected_mod_revision: int


@dataclass(frozen=True, slots=True)
class Delete:
    key: str
    expected_mod_revision: int | None


@dataclass(frozen=True, slots=True)
class SetCompacted:
    """Record ``revision`` as the compacted revision (never lowers it), and the current revision as the
    floor of the revision counter. Appends no row."""

    revision: int


@dataclass(frozen=True, slots=True)
class CompactChunk:
    """Delete the compactable rows with ``lo <= id < hi`` for a compaction to ``revision`` (hi <= revision)."""

    lo: int
    hi: int
    revision: int


Request = Create | Update | Delete | SetCompacted | CompactChunk


@dataclass(frozen=True, slots=True)
class Applied:
    """The outcome of one request: ``result`` for the caller, and the event (None for maintenance)."""

    result: int | KeyValue
    event: Event | None


def apply(conn: sqlite3.Connection, request: Request, revision: int) -> Applied:
    """Apply ``request`` when the newest revision is ``revision``. Raises StorageError, changing nothing."""
    if isinstance(request, Create):
        return _create(conn, request, revision + 1)
    if isinstance(request, Update):
        return _update(conn, request, revision + 1)
    if isinstance(request, Delete):
        return _delete(conn, request, revision + 1)
    if isinstance(request, SetCompacted):
        conn.execute(_SET_COMPACTED, (request.revision,))
        conn.execute(_SET_CURRENT_FLOOR, (revision,))
        return Applied(request.revision, None)
    cur = conn.execute(_COMPACT_CHUNK, (request.lo, request.hi, request.revision))
    return Applied(cur.rowcount, None)


def _insert(conn: sqlite3.Connection, row: tuple[int, str, int, int, int, int, bytes]) -> None:
    conn.execute(_INSERT, row)


def _create(conn: sqlite3.Connection, req: Create, new: int) -> Applied:
    latest = conn.execute(_LATEST, (req.key,)).fetchone()
    if latest is not None and not latest[1]:
        raise KeyExists(req.key)
    prev = latest[0] if latest is not None else 0
    try:
        _insert(conn, (new, req.key, 1, 0, new, prev, req.value))
    except sqlite3.IntegrityError:
        raise KeyExists(req.key) from None
    return Applied(new, Event(EventType.CREATED, req.key, new, req.value, None))


def _update(conn: sqlite3.Connection, req: Update, new: int) -> Applied:
    latest = conn.execute(_LATEST, (req.key,)).fetchone()
    if latest is None or latest[1]:
        raise KeyNotFound(req.key)
    prev, _, create_revision, prev_value = latest
    if prev != req.expected_mod_revision:
        raise Conflict(req.key, expected=req.expected_mod_revision, actual=prev)
    try:
        _insert(conn, (new, req.key, 0, 0, create_revision, prev, req.value))
    except sqlite3.IntegrityError:
        raise Conflict(req.key, expected=req.expected_mod_revision, actual=0) from None
    return Applied(new, Event(EventType.UPDATED, req.key, new, req.value, prev_value))


def _delete(conn: sqlite3.Connection, req: Delete, new: int) -> Applied:
    latest = conn.execute(_LATEST, (req.key,)).fetchone()
    if latest is None or latest[1]:
        raise KeyNotFound(req.key)
    prev, _, create_revision, value = latest
    if req.expected_mod_revision is not None and prev != req.expected_mod_revision:
        raise Conflict(req.key, expected=req.expected_mod_revision, actual=prev)
    try:
        _insert(conn, (new, req.key, 0, 1, create_revision, prev, value))
    except sqlite3.IntegrityError:
        raise Conflict(req.key, expected=prev, actual=0) from None
    return Applied(KeyValue(req.key, value, create_revision, new), Event(EventType.DELETED, req.key, new, value, value))
