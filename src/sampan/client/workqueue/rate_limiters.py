"""Rate limiters: how long an item waits before it is retried.

client-go's set, same defaults: per-item exponential (5 ms doubling to 1000 s), an overall token bucket
(10 qps, burst 100), and max-of to combine them (:func:`default_controller_rate_limiter`). ``when`` records a
failure and returns the delay; ``forget`` clears an item's history after it succeeds.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Protocol

from sampan._lib.clock import Clock
from sampan.client.flowcontrol import TokenBucket


class RateLimiter(Protocol):
    def when(self, item: Hashable) -> float:
        """Record a failure of ``item``; the seconds to wait before retrying it."""

    def forget(self, item: Hashable) -> None:
        """Drop ``item``'s failure history (call after it succeeds)."""

    def num_requeues(self, item: Hashable) -> int:
        """How many failures of ``item`` are remembered."""


class ItemExponentialFailureRateLimiter:
    """``base * 2**failures``, capped at ``maximum``, per item. Invariant: delays for one item never shrink
    until it is forgotten."""

    def __init__(self, base: float = 0.005, maximum: float = 1000.0) -> None:
        if base <= 0 or maximum < base:
            raise ValueError(f"need 0 < base <= maximum, got {base} and {maximum}")
        self.base = base
        self.maximum = maximum
        self._failures: dict[Hashable, int] = {}

    def when(self, item: Hashable) -> float:
        exp = self._failures.get(item, 0)
        self._failures[item] = exp + 1
        if exp > 1000:  # 2**exp would overflow a float; long past the cap anyway
            return self.maximum
        return min(self.maximum, self.base * 2.0**exp)

    def forget(self, item: Hashable) -> None:
        self._failures.pop(item, None)

    def num_requeues(self, item: Hashable) -> int:
        return self._failures.get(item, 0)


class ItemFastSlowRateLimiter:
    """``fast`` for the first ``max_fast_attempts`` failures of an item, ``slow`` after."""

    def __init__(self, fast: float, slow: float, max_fast_attempts: int) -> None:
        self.fast, self.slow, self.max_fast_attempts = fast, slow, max_fast_attempts
        self._failures: dict[Hashable, int] = {}

    def when(self, item: Hashable) -> float:
        n = self._failures.get(item, 0) + 1
        self._failures[item] = n
        return self.fast if n <= self.max_fast_attempts else self.slow

    def forget(self, item: Hashable) -> None:
        self._failures.pop(item, None)

    def num_requeues(self, item: Hashable) -> int:
        return self._failures.get(item, 0)


class BucketRateLimiter:
    """An overall token bucket: all items share ``qps`` with ``burst``. Keeps no per-item history."""

    def __init__(self, qps: float = 10.0, burst: int = 100, *, clock: Clock | None = None) -> None:
        self._bucket = TokenBucket(qps, burst, clock=clock)

    def when(self, item: Hashable) -> float:
        return self._bucket.reserve()

    def forget(self, item: Hashable) -> None:
        return None

    def num_requeues(self, item: Hashable) -> int:
        return 0


class MaxOfRateLimiter:
    """The longest delay any of ``limiters`` asks for; requeues are the most any of them counts."""

    def __init__(self, *limiters: RateLimiter) -> None:
        if not limiters:
            raise ValueError("MaxOfRateLimiter needs at least one limiter")
        self._limiters = limiters

    def when(self, item: Hashable) -> float:
        return max(limiter.when(item) for limiter in self._limiters)

    def forget(self, item: Hashable) -> None:
        for limiter in self._limiters:
            limiter.forget(item)

    def num_requeues(self, item: Hashable) -> int:
        return max(limiter.num_requeues(item) for limiter in self._limiters)


def default_controller_rate_limiter(*, clock: Clock | None = None) -> MaxOfRateLimiter:
    """client-go's ``DefaultControllerRateLimiter``: per-item 5 ms → 1000 s, overall 10 qps / burst 100."""
    return MaxOfRateLimiter(ItemExponentialFailureRateLimiter(0.005, 1000.0), BucketRateLimiter(10.0, 100, clock=clock))
