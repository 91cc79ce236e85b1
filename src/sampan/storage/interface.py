"""The storage contract shared by every backend.

Revisions: a single global counter; every successful write (create, update, delete) takes the next
value. Revisions are strictly increasing; on ``sqlite`` and ``memory`` they are also gap-free. A
key's ``create_revision`` is the revision of the write that created it (for its current life) and its
``mod_revision`` the revision of its last write.

Watches deliver, for keys under a prefix, every event with ``revision > after_revision`` in revision
order, then live events as they commit. A watch that cannot be served because history below
``after_revision + 1`` was compacted raises :class:`~sampan.storage.errors.Compacted`.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

#: etcd's default request size limit; values above it are refused by every backend.
MAX_VALUE_BYTES = 1536 * 1024


class EventType(enum.Enum):
    CREATED = "CREATED"
    UPDATED = "UPDATED"
    DELETED = "DELETED"


@dataclass(frozen=True, slots=True)
class KeyValue:
    key: str
    value: bytes
    create_revision: int
    mod_revision: int


@dataclass(frozen=True, slots=True)
class Event:
    """One change to one key.

    ``value`` is the new value, or for DELETED the last value before deletion. ``prev_value`` is the
    value before this change (None for CREATED). ``revision`` is the revision of this change.
    """

    type: EventType
    key: str
    revision: int
    value: bytes
    prev_value: bytes | None = None


@dataclass(frozen=True, slots=True)
class ListResult:
    """A page of keys in key order, as of ``revision``; ``more`` is True when keys remain after it."""

    kvs: list[KeyValue]
    revision: int
    more: bool


class Watch(Protocol):
    """An open watch: iterate for events, ``close()`` to stop. Iteration ends after ``close()``."""

    def __aiter__(self) -> AsyncIterator[Event]: ...

    async def close(self) -> None: ...


class Storage(Protocol):
    """An MVCC key-value store. All methods are coroutines safe to call concurrently."""

    @property
    def root(self) -> str:
        """Every key must start with this prefix (``/registry/`` by default)."""
        ...

    async def create(self, key: str, value: bytes) -> int:
        """Store ``value`` at a new key; return its revision. Raises KeyExists."""
        ...

    async def get(self, key: str, *, revision: int | None = None) -> KeyValue:
        """The key as of ``revision`` (default: now). Raises KeyNotFound, Compacted."""
        ...

    async def list(
        self,
        prefix: str,
        *,
        revision: int | None = None,
        limit: int = 0,
        start_after: str | None = None,
    ) -> ListResult:
        """Keys under ``prefix`` in key order, as of ``revision`` (default: now).

        ``limit`` 0 means no limit. ``start_after`` skips keys up to and including it, so a caller pages
        by passing the last key of a page together with that page's ``revision``. Raises Compacted.
        """
        ...

    async def count(self, prefix: str) -> int:
        """How many keys exist under ``prefix`` now."""
        ...

    async def update(self, key: str, value: bytes, *, expected_mod_revision: int) -> int:
        """Replace ``value`` iff the key's mod revision is ``expected_mod_revision``; return the new
        revision. Raises KeyNotFound when the key is absent, Conflict when its mod revision differs."""
        ...

    async def delete(self, key: str, *, expected_mod_revision: int | None = None) -> KeyValue:
        """Delete the key (iff its mod revision matches, when given). Returns the deleted value with
        ``mod_revision`` set to the deletion's revision. Raises KeyNotFound, Conflict."""
        ...

    def watch(self, prefix: str, *, after_revision: int) -> Watch:
        """Events under ``prefix`` with revision > ``after_revision``. Compacted is raised from
        iteration when that history is gone; WatchClosed when the watcher fell behind."""
        ...

    async def compact(self, revision: int) -> None:
        """Drop history below ``revision``; each key's latest version at ``revision`` survives."""
        ...

    async def current_revision(self) -> int:
        """The revision of the last committed write (0 for an empty store)."""
        ...

    async def compacted_revision(self) -> int:
        """Reads below this revision raise Compacted (0 when nothing was compacted)."""
        ...

    async def close(self) -> None:
        """Release resources; open watches end with WatchClosed."""
        ...
