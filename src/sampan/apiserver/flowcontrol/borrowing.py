"""Borrowing between priority levels: re-dividing the server's seats by recent demand (upstream's
``updateBorrowing``).

Every period each non-exempt level reports its seat demand (executing + waiting seats): mean ``m``,
standard deviation ``s`` and peak since the last period. Its *smoothed demand* is
``max(m + s, 0.977 x previous smoothed demand)`` (it rises at once and decays slowly), and its target
is that, held within ``[min_cl, max_cl]``. The server's seats are then shared in proportion to the
targets: ``alloc = clamp(p x target, min_cl, max_cl)`` with the one fair proportion ``p`` that makes
the allocations add up to the server's limit. A level that is idle thus lends seats (down to its
``min_cl``) to busy ones (up to their ``max_cl``). Pure functions; the controller applies the result.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

DECAY = 0.977


@dataclass(frozen=True, slots=True)
class Demand:
    target: float
    lower: float
    upper: float


def smoothed(previous: float, mean: float, stddev: float) -> float:
    return max(mean + stddev, DECAY * previous)


def allocate(total: int, demands: Sequence[Demand]) -> list[int]:
    """Integer seats per level (see the module docstring); each within its bounds."""
    if not demands:
        return []
    lows = sum(d.lower for d in demands)
    if lows >= total:
        return [round(d.lower) for d in demands]

    def share(p: float) -> list[float]:
        return [min(d.upper, max(d.lower, p * d.target)) for d in demands]

    finite_highs = all(math.isfinite(d.upper) for d in demands)
    if finite_highs and sum(d.upper for d in demands) <= total:
        return [round(d.upper) for d in demands]
    if all(d.target <= 0 for d in demands):  # nobody asks: keep the floors, spread the rest evenly
        spare = (total - lows) / len(demands)
        return [round(min(d.upper, d.lower + spare)) for d in demands]
    lo, hi = 0.0, 1.0
    while sum(share(hi)) < total and hi < 1e12:
        hi *= 2
    for _ in range(60):
        mid = (lo + hi) / 2
        if sum(share(mid)) < total:
            lo = mid
        else:
            hi = mid
    return [max(1, round(x)) if d.lower >= 1 else round(x) for x, d in zip(share(hi), demands, strict=True)]
