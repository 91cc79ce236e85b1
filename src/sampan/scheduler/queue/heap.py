"""KeyedHeap: a binary heap of items addressable by key (uid), with O(log n) push/pop and O(log n)
delete/update by key.

Invariant: ``key in heap`` iff the key has exactly one live entry in ``_heap`` and in ``_index``;
entries are tuples ordered by ``less`` (via a small wrapper), ties broken by insertion sequence.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class _Entry(Generic[T]):
    __slots__ = ("alive", "item", "key", "less", "seq")

    def __init__(self, key: str, item: T, seq: int, less: Callable[[T, T], bool]) -> None:
        self.key = key
        self.item = item
        self.seq = seq
        self.less = less
        self.alive = True

    def __lt__(self, other: _Entry[T]) -> bool:
        if self.less(self.item, other.item):
            return True
        if self.less(other.item, self.item):
            return False
        return self.seq < other.seq


class KeyedHeap(Generic[T]):
    def __init__(self, less: Callable[[T, T], bool]) -> None:
        self._less = less
        self._heap: list[_Entry[T]] = []
        self._index: dict[str, _Entry[T]] = {}
        self._seq = itertools.count()

    def __len__(self) -> int:
        return len(self._index)

    def __contains__(self, key: object) -> bool:
        return key in self._index

    def get(self, key: str) -> T | None:
        e = self._index.get(key)
        return e.item if e is not None else None

    def push(self, key: str, item: T) -> None:
        """Insert, or replace the item stored under ``key``."""
        self.delete(key)
        e = _Entry(key, item, next(self._seq), self._less)
        self._index[key] = e
        heapq.heappush(self._heap, e)

    def delete(self, key: str) -> T | None:
        e = self._index.pop(key, None)
        if e is None:
            return None
        e.alive = False
        if len(self._heap) > 64 and len(self._heap) > 2 * len(self._index):
            self._heap = [x for x in self._heap if x.alive]
            heapq.heapify(self._heap)
        return e.item

    def peek(self) -> T | None:
        while self._heap and not self._heap[0].alive:
            heapq.heappop(self._heap)
        return self._heap[0].item if self._heap else None

    def pop(self) -> T | None:
        while self._heap:
            e = heapq.heappop(self._heap)
            if e.alive:
                del self._index[e.key]
                return e.item
        return None

    def items(self) -> Iterator[T]:
        return (e.item for e in self._index.values())
