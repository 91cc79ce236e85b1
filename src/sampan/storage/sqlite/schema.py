"""The SQLite dialect: the log table, its indexes, the meta rows, and how connections are opened.

The whole store is one append-only table, ``log`` (kine's model). Each row is one write; its ``id`` is
the global revision of that write::

    id               the revision (gap-free: the writer assigns current + 1 explicitly)
    name             the key
    created          1 when this row starts a new life of the key (a create), else 0
    deleted          1 for a deletion (a tombstone); ``value`` then holds the last value
    create_revision  the revision that started this life of the key
    prev_revision    the id of the key's previous row (0 when there is none left)
    value            the value written (or, for a tombstone, the value deleted)

Indexes: ``(name, id)`` serves point reads at a revision and ordered prefix scans;
``UNIQUE(name, prev_revision)`` is a second guard for compare-and-swap: two rows can never both claim
to follow the same version of a key, even if the writer's own check were wrong.

``meta`` holds two integers: ``compacted`` (reads below it are refused) and ``current``, a floor for
the revision counter written at open and by each compaction. The current revision itself is
``max(log.id)``: the writer appends ``current + 1`` and compaction never deletes the newest row, so the
newest row always carries it (one fewer page to write per commit than a counter row). On open the
writer starts from ``max(meta.current, max(log.id), compacted)``, so a revision is never reused.

Durability: WAL journal with ``synchronous=FULL``, so a commit returns only after the WAL is fsynced.
Size: SQLite checkpoints the WAL into the database every 1,000 pages and then reuses it from the start;
``journal_size_limit`` cuts the file back after a burst. Pages freed by compaction go to the freelist
(``auto_vacuum`` stays off) and new rows reuse them, so the file levels off at its high-water mark.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
from pathlib import Path

from sampan.storage.errors import Unavailable

#: Bumped when the layout changes; a file with another version is refused rather than misread.
SCHEMA_VERSION = 1

#: Bytes the WAL file is cut back to when SQLite starts it over after a full checkpoint. Without a limit
#: the file keeps the size of its largest burst forever (a 16 MiB batch, or writes piled up while a long
#: read held back checkpoints); twice the automatic checkpoint's 1,000 pages, so steady writes never
#: trigger a truncation.
WAL_SIZE_LIMIT = 8 * 1024 * 1024

#: How long a connection waits for a lock held by another connection before failing (ms).
BUSY_TIMEOUT_MS = 10_000

_DDL = (
    """
    CREATE TABLE IF NOT EXISTS log (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        created INTEGER NOT NULL,
        deleted INTEGER NOT NULL,
        create_revision INTEGER NOT NULL,
        prev_revision INTEGER NOT NULL,
        value BLOB NOT NULL
    )
    """,
    "CREATE INDEX IF NOT EXISTS log_name_id ON log (name, id)",
    "CREATE UNIQUE INDEX IF NOT EXISTS log_name_prev ON log (name, prev_revision)",
    "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID",
    "INSERT OR IGNORE INTO meta (name, value) VALUES ('current', 0), ('compacted', 0)",
)

SELECT_META = "SELECT name, value FROM meta"
#: A reader's view of the revisions, taken inside its read transaction: ``(current, compacted)``.
SELECT_REVISIONS = "SELECT (SELECT COALESCE(MAX(id), 0) FROM log), (SELECT value FROM meta WHERE name = 'compacted')"


def _pragmas(conn: sqlite3.Connection) -> None:
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if str(mode).lower() != "wal":
        raise Unavailable(f"sqlite store cannot use WAL journal mode (got {mode!r})")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute(f"PRAGMA journal_size_limit = {WAL_SIZE_LIMIT}")
    conn.execute("PRAGMA cache_size = -16384")  # at most 16 MiB of page cache per connection, grown on use
    conn.execute("PRAGMA temp_store = MEMORY")


def connect(path: Path, *, readonly: bool = False) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit), usable from any one thread at a time."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, cached_statements=64)
    try:
        _pragmas(conn)
        if readonly:
            conn.execute("PRAGMA query_only = 1")
    except BaseException:
        conn.close()
        raise
    return conn


def read_meta(conn: sqlite3.Connection) -> tuple[int, int]:
    """``(current floor, compacted)`` as stored in ``meta``."""
    meta = dict(conn.execute(SELECT_META).fetchall())
    return int(meta["current"]), int(meta["compacted"])


def read_revisions(conn: sqlite3.Connection) -> tuple[int, int]:
    """``(current, compacted)`` as of the connection's snapshot."""
    current, compacted = conn.execute(SELECT_REVISIONS).fetchone()
    return int(current), int(compacted)


def _check_file(path: Path) -> None:
    """Raise Unavailable, before anything is written, unless ``path`` is absent, empty, or our store."""
    if not path.exists() or path.stat().st_size == 0:
        return
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError as err:
        raise Unavailable(f"{path} is not a sampan sqlite store: {err}") from err
    finally:
        conn.close()
    if tables and (version != SCHEMA_VERSION or not {"log", "meta"} <= tables):
        raise Unavailable(
            f"{path} is not a sampan sqlite store of schema version {SCHEMA_VERSION} "
            f"(user_version {version}, tables {sorted(tables)})"
        )


def open_writer(path: Path) -> tuple[sqlite3.Connection, int, int]:
    """The write connection, with the schema created if the file is new, and ``(current, compacted)``.

    Raises Unavailable when the file is not a sampan store of this schema version (leaving it untouched).
    """
    _check_file(path)
    conn = connect(path)
    try:
        conn.execute("BEGIN IMMEDIATE")
        for statement in _DDL:
            conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        current, compacted = read_meta(conn)
        max_id = conn.execute("SELECT COALESCE(MAX(id), 0) FROM log").fetchone()[0]
        current = max(current, int(max_id), compacted)
        conn.execute("UPDATE meta SET value = ? WHERE name = 'current'", (current,))
        conn.execute("COMMIT")
    except BaseException:
        conn.close()
        raise
    return conn, current, compacted


class FileLock:
    """An exclusive advisory lock on ``<db>.lock``: one process owns a store file at a time.

    The kernel drops the lock when the process dies, so a crashed owner never blocks a restart.
    """

    def __init__(self, db_path: Path) -> None:
        self.path = db_path.with_name(db_path.name + ".lock")
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise Unavailable(f"sqlite store {self.path.with_suffix('')} is in use by another process") from None
        self._fd = fd

    def try_acquire(self, *, exclusive: bool) -> bool:
        """Take the lock exclusively or shared (several members of a ``shared`` group); False if taken."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
