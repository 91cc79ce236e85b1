"""Exponential back-off with jitter, on an injected clock.

One of the three places retry policy lives (with the workqueue rate limiters and the scheduler's back-off
queue). :class:`Backoff` is stateful: each :meth:`Backoff.next_delay` doubles the base delay up to
``maximum``; after ``reset_after`` seconds without a failure it starts again from ``initial``. The defaults
are client-go's reflector back-off (800 ms → 30 s, factor 2, jitter 1.0, reset after 2 min).
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass

from sampan._lib.clock import Clock, RealClock

log = logging.getLogger(__name__)


def jittered(duration: float, factor: float, rng: random.Random | None = None) -> float:
    """``duration`` plus a uniform random extra in ``[0, factor * duration)`` (client-go's ``wait.Jitter``).

    A ``factor`` of zero or less means 1.0, as upstream.
    """
    if factor <= 0.0:
        factor = 1.0
    r = (rng or random).random()
    return duration + r * factor * duration


@dataclass(frozen=True, slots=True)
class BackoffPolicy:
    """Parameters of an exponential back-off; all in seconds."""

    initial: float = 0.8
    maximum: float = 30.0
    factor: float = 2.0
    jitter: float = 1.0
    """Extra random fraction added to each delay; 0 disables jitter."""
    reset_after: float = 120.0
    """A failure this long after the previous one starts again from ``initial``."""

    def __post_init__(self) -> None:
        if self.initial < 0 or self.maximum < self.initial:
            raise ValueError(f"back-off needs 0 <= initial <= maximum, got {self.initial} and {self.maximum}")
        if self.factor < 1.0:
            raise ValueError(f"back-off factor must be >= 1, got {self.factor}")
        if self.jitter < 0:
            raise ValueError(f"back-off jitter must be >= 0, got {self.jitter}")


class Backoff:
    """Stateful exponential back-off.

    Invariant: ``initial <= self._current <= maximum``; the delay returned is ``_current`` with jitter
    added (so up to ``maximum * (1 + jitter)``).
    """

    def __init__(
        self, policy: BackoffPolicy | None = None, *, clock: Clock | None = None, rng: random.Random | None = None
    ) -> None:
        self.policy = policy or BackoffPolicy()
        self._clock = clock or RealClock()
        self._rng = rng or random.Random()
        self._current = self.policy.initial
        self._last_failure: float | None = None

    def next_delay(self) -> float:
        """The delay before the next attempt; advances the back-off."""
        now = self._clock.monotonic()
        p = self.policy
        if self._last_failure is not None and now - self._last_failure > p.reset_after:
            self._current = p.initial
        self._last_failure = now
        delay = self._current
        self._current = min(p.maximum, max(self._current * p.factor, p.initial))
        if p.jitter > 0:
            delay = jittered(delay, p.jitter, self._rng)
        return delay

    def reset(self) -> None:
        """Forget past failures: the next delay is ``initial`` again."""
        self._current = self.policy.initial
        self._last_failure = None

    async def wait(self) -> float:
        """Sleep for :meth:`next_delay` on the clock; returns the delay slept."""
        delay = self.next_delay()
        log.debug("back-off delay=%.3fs", delay)
        await self._clock.sleep(delay)
        return delay
