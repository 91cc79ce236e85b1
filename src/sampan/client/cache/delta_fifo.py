"""DeltaFIFO: a queue of keys, each carrying the ordered list of changes (deltas) seen for that object.

The reflector writes into it (``add``/``update``/``delete`` from watch events, ``replace`` after a LIST,
``resync`` on the resync timer); the informer's processing task ``pop``\\ s one key at a time and applies
all of that key's deltas to the indexer and the handlers. A key is queued once however many deltas pile
up behind it, so a slow consumer sees every change of an object in order, batched.

Invariants:

- a key is in ``_queue`` iff it is in ``_items``, and ``_items[key]`` is never empty;
- two consecutive ``Deleted`` deltas for one key are merged (keeping the one that is not a tombstone);
- after ``replace``, every key the cache (``known_objects``) or the queue knew and the new list lacks gets
  a ``Deleted`` delta carrying a :class:`DeletedFinalStateUnknown` tombstone.

Back-pressure: the FIFO itself never refuses a delta (a LIST of 100,000 objects goes in whole), but
producers call :meth:`DeltaFIFO.wait_for_room` before each watch event, which waits while more than
``high_water`` deltas are pending. The reflector thus stops reading its watch stream and the server,
whose per-watcher buffer is bounded, closes the watch; the reflector then resumes or relists. Memory is
bounded and no change is ever dropped.
"""

from __future__ import annotations

import asyncio
import enum
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sampan._lib import gcpause
from sampan.client.cache.store import DeletedFinalStateUnknown, KeyFunc, KeyListerGetter, meta_namespace_key


class DeltaType(enum.StrEnum):
    ADDED = "Added"
    UPDATED = "Updated"
    DELETED = "Deleted"
    REPLACED = "Replaced"
    """Seen in a relist; the informer tells an update from an add by looking in its cache."""
    SYNC = "Sync"
    """A periodic resync re-delivering the cached object."""


@dataclass(frozen=True, slots=True)
class Delta:
    type: DeltaType
    obj: Any


class FIFOClosed(Exception):
    """``pop`` on a closed, empty FIFO."""


ProcessFunc = Callable[[list[Delta], bool], Awaitable[None]]
"""Handles all deltas of one key; the flag says the key came from the initial list."""


def _dedup(deltas: list[Delta]) -> None:
    """Merge a trailing pair of deletions in place, keeping the more informative one."""
    if len(deltas) < 2:
        return
    a, b = deltas[-2], deltas[-1]
    if a.type is DeltaType.DELETED and b.type is DeltaType.DELETED:
        keep = a if isinstance(b.obj, DeletedFinalStateUnknown) else b
        deltas[-2:] = [keep]


class DeltaFIFO:
    """See the module docstring. One consumer; synchronous producers (plus ``wait_for_room``)."""

    def __init__(
        self,
        *,
        key_func: KeyFunc = meta_namespace_key,
        known_objects: KeyListerGetter | None = None,
        emit_replaced: bool = True,
        high_water: int = 10_000,
    ) -> None:
        self._key_func = key_func
        self._known = known_objects
        self._emit_replaced = emit_replaced
        self._high_water = high_water
        self._items: dict[str, list[Delta]] = {}
        self._queue: deque[str] = deque()
        self._pending = 0
        """Number of deltas in ``_items`` (the quantity ``high_water`` bounds)."""
        self._populated = False
        self._initial_population = 0
        self._closed = False
        self._not_empty = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()
        self._synced = asyncio.Event()

    # -- producers ---------------------------------------------------------------------------------------

    def add(self, obj: Any) -> None:
        self._populated = True
        self._queue_action(DeltaType.ADDED, obj)
        self._check_synced()

    def update(self, obj: Any) -> None:
        self._populated = True
        self._queue_action(DeltaType.UPDATED, obj)
        self._check_synced()

    def delete(self, obj: Any) -> None:
        """Queue a deletion, unless neither the cache nor the queue knows the object (already gone)."""
        key = self._key_func(obj)
        self._populated = True
        known = self._known.get_by_key(key) is not None if self._known is not None else False
        if not known and key not in self._items:
            self._check_synced()
            return
        self._queue_action(DeltaType.DELETED, obj)
        self._check_synced()

    def replace(self, objs: Iterable[Any], resource_version: str = "") -> None:
        """The full state as of ``resource_version``: queue each object, tombstone what disappeared."""
        action = DeltaType.REPLACED if self._emit_replaced else DeltaType.SYNC
        keys: set[str] = set()
        with gcpause.paused():  # one synchronous pass over a whole LIST (150,000 pods): no collections inside
            for obj in objs:
                key = self._key_func(obj)
                keys.add(key)
                self._queue_action(action, obj, key=key)
        queued_deletions = 0
        for key, deltas in list(self._items.items()):
            if key in keys:
                continue
            last = deltas[-1].obj
            if isinstance(last, DeletedFinalStateUnknown):
                last = last.obj
            queued_deletions += 1
            self._queue_action(DeltaType.DELETED, DeletedFinalStateUnknown(key, last), key=key)
        if self._known is not None:
            for key in self._known.list_keys():
                if key in keys or key in self._items:
                    continue
                self._queue_action(DeltaType.DELETED, DeletedFinalStateUnknown(key, self._known.get_by_key(key)),
                                   key=key)
        if not self._populated:
            self._populated = True
            self._initial_population = len(keys) + queued_deletions
        self._check_synced()

    def resync(self) -> None:
        """Queue a ``Sync`` delta for every cached object that has nothing pending."""
        if self._known is None:
            return
        for key in self._known.list_keys():
            if key in self._items:
                continue
            obj = self._known.get_by_key(key)
            if obj is not None:
                self._queue_action(DeltaType.SYNC, obj, key=key)

    def _queue_action(self, kind: DeltaType, obj: Any, *, key: str | None = None) -> None:
        if self._closed:
            return
        key = key if key is not None else self._key_func(obj)
        deltas = self._items.get(key)
        if deltas is None:
            deltas = self._items[key] = []
            self._queue.append(key)
        before = len(deltas)
        deltas.append(Delta(kind, obj))
        _dedup(deltas)
        self._pending += len(deltas) - before
        self._not_empty.set()
        if self._pending > self._high_water:
            self._room.clear()

    async def wait_for_room(self) -> None:
        """Wait while more than ``high_water`` deltas are pending (see the module docstring)."""
        while not self._room.is_set() and not self._closed:
            await self._room.wait()

    # -- consumer ------------------------------------------------------------------------------------------

    async def pop(self, process: ProcessFunc) -> None:
        """Take the oldest key and ``await process(deltas, in_initial_list)``.

        Raises :class:`FIFOClosed` once closed and empty. If ``process`` raises, the deltas are not
        requeued (the error propagates; the informer logs it and goes on, as client-go does).
        """
        while not self._queue:
            if self._closed:
                raise FIFOClosed("DeltaFIFO is closed")
            self._not_empty.clear()
            await self._not_empty.wait()
        key = self._queue.popleft()
        deltas = self._items.pop(key)
        self._pending -= len(deltas)
        if self._pending <= self._high_water:
            self._room.set()
        initial = self._initial_population > 0
        try:
            await process(deltas, initial)
        finally:
            if initial:
                self._initial_population -= 1
                self._check_synced()

    def _check_synced(self) -> None:
        if not self._synced.is_set() and self.has_synced():
            self._synced.set()

    async def wait_synced(self) -> None:
        """Wait until :meth:`has_synced` (no polling: set by ``replace``/``add``/``pop``)."""
        await self._synced.wait()

    def close(self) -> None:
        """Wake the consumer; ``pop`` drains what is queued, then raises :class:`FIFOClosed`."""
        self._closed = True
        self._not_empty.set()
        self._room.set()

    # -- inspection ----------------------------------------------------------------------------------------

    def has_synced(self) -> bool:
        """True once the first ``replace`` (or any add) happened and its items have all been popped."""
        return self._populated and self._initial_population == 0

    def list_keys(self) -> list[str]:
        return list(self._queue)

    def get_by_key(self, key: str) -> list[Delta] | None:
        deltas = self._items.get(key)
        return list(deltas) if deltas is not None else None

    @property
    def closed(self) -> bool:
        return self._closed

    def __len__(self) -> int:
        return len(self._queue)
