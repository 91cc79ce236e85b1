"""Client-side rate limiting: a token bucket (QPS with burst), as golang.org/x/time/rate's Reserve.

Used by the REST client (every request takes a token; defaults QPS 5, burst 10 like client-go's
``rest.Config``; components raise them) and by the workqueue's overall bucket rate limiter.
"""

from __future__ import annotations

from sampan._lib.clock import Clock, RealClock

DEFAULT_QPS, DEFAULT_BURST = 5.0, 10
"""client-go's ``rest.Config`` defaults, for any client that does not say otherwise."""

COMPONENT_QPS: dict[str, tuple[float, int]] = {
    "kube-controller-manager": (20.0, 30),
    "kube-scheduler": (50.0, 100),
    "kubelet": (50.0, 100),
    "kube-proxy": (5.0, 10),
}
"""Upstream's ``--kube-api-qps`` / ``--kube-api-burst`` defaults per component (kubelet: ``kubeAPIQPS``)."""


class TokenBucket:
    """``burst`` tokens refilled at ``qps`` per second.

    :meth:`reserve` always succeeds and returns how long the caller must wait for its token (the bucket
    may go negative: later callers queue behind earlier ones). Invariant: ``_tokens <= burst``.
    A ``qps`` of 0 or less disables limiting.
    """

    def __init__(self, qps: float, burst: int, *, clock: Clock | None = None) -> None:
        if burst < 1 and qps > 0:
            raise ValueError(f"token bucket burst must be >= 1, got {burst}")
        self.qps = qps
        self.burst = burst
        self._clock = clock or RealClock()
        self._tokens = float(burst)
        self._last = self._clock.monotonic()

    def _refill(self) -> None:
        now = self._clock.monotonic()
        self._tokens = min(float(self.burst), self._tokens + (now - self._last) * self.qps)
        self._last = now

    def reserve(self) -> float:
        """Take a token; the delay (seconds) before it is valid."""
        if self.qps <= 0:
            return 0.0
        self._refill()
        self._tokens -= 1.0
        return 0.0 if self._tokens >= 0 else -self._tokens / self.qps

    def try_accept(self) -> bool:
        """Take a token only if one is available now."""
        if self.qps <= 0:
            return True
        self._refill()
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False

    async def acquire(self) -> None:
        """Wait for a token."""
        delay = self.reserve()
        if delay > 0:
            await self._clock.sleep(delay)
