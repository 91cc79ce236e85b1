"""The embedded SQLite backend, sampan's default store (kine's model, in-process).

One append-only table whose row id is the global revision (:mod:`.schema`); the write requests and
their compare-and-swap checks (:mod:`.ops`); one writer thread that group-commits every pending request
in one fsynced transaction (:mod:`.writer`); a small pool of read threads on their own connections
(:mod:`.reader`); and the :class:`SqliteStorage` facade that implements the Storage contract and feeds
the watch broadcaster (:mod:`.storage`). No SQLite call ever runs on the event loop.
"""

from sampan.storage.sqlite.storage import SqliteStorage

__all__ = ["SqliteStorage"]
