"""The ``Retry-After`` of a rejected request, per priority level (upstream's dropped-requests tracker).

It starts at 1 s. Each time a drop arrives in a new second, the drops of the previous ``retry_after``
seconds are counted: at least ``3 x retry_after`` drops (and ``retry_after`` seconds since the last
increase) double it, up to 32 s; fewer than ``retry_after`` drops lower it by one. Rejected clients thus
back off further while a level stays overloaded (as TCP backs off), and quickly come back once it is not.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable

MAX_RETRY_AFTER = 32


class _LevelDrops:
    __slots__ = ("current_count", "current_second", "history", "raised_at", "retry_after")

    def __init__(self) -> None:
        self.history: collections.deque[tuple[int, int]] = collections.deque()
        """(second, drops) of past seconds, oldest first, at most ``MAX_RETRY_AFTER`` seconds back."""
        self.current_second = 0
        self.current_count = 0
        self.retry_after = 1
        self.raised_at = 0

    def record(self, second: int) -> None:
        if second == self.current_second:
            self.current_count += 1
            return
        if self.current_count:
            self.history.append((self.current_second, self.current_count))
        keep = min(2 * self.retry_after, MAX_RETRY_AFTER)
        while self.history and second - self.history[0][0] > keep:
            self.history.popleft()
        self.current_second, self.current_count = second, 1
        recent = sum(n for s, n in self.history if second - s <= self.retry_after)
        if second - self.raised_at >= self.retry_after and recent >= 3 * self.retry_after:
            self.retry_after = min(2 * self.retry_after, MAX_RETRY_AFTER)
            self.raised_at = second
        elif recent < self.retry_after and self.retry_after > 1:
            self.retry_after -= 1


class DroppedRequests:
    """Drops per priority level and the ``Retry-After`` (seconds) each level's rejections carry."""

    def __init__(self, now: Callable[[], float] = time.time) -> None:
        self._now = now
        self._levels: dict[str, _LevelDrops] = {}

    def record(self, level: str) -> None:
        stats = self._levels.get(level)
        if stats is None:
            stats = self._levels[level] = _LevelDrops()
        stats.record(int(self._now()))

    def retry_after(self, level: str) -> int:
        stats = self._levels.get(level)
        return 1 if stats is None else stats.retry_after
