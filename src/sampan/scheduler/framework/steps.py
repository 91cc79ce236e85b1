"""Steps: a scheduling cycle written once, run either to the end or sliced on the event loop.

The cycle's long loops (Filter over thousands of nodes, Score plugin by plugin) are generators that
``yield`` at safe points — between chunks of nodes, between Score plugins — and ``return`` their result.
``run_to_end`` drives one synchronously (tests, the algorithm benchmark); ``run_sliced`` drives it from a
task and lets a :class:`~sampan._lib.slicing.TimeSlice` decide at each safe point whether the event loop
gets a turn (every ~10 ms of work), so no loop turn runs a whole cycle over a large cluster. A safe point
is one where the cycle holds no reference into mutable cache state: it reads only its snapshot
(immutable between refreshes) and its CycleState.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TypeVar

from sampan._lib.slicing import TimeSlice

T = TypeVar("T")

Steps = Generator[None, None, T]
"""A computation that yields (nothing) at its safe points and returns a ``T``."""


def run_to_end(steps: Steps[T]) -> T:
    """Run ``steps`` without ever giving the loop a turn."""
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value


async def run_sliced(steps: Steps[T], slice_: TimeSlice) -> T:
    """Run ``steps``, yielding to the event loop at a safe point once ``slice_``'s budget is spent."""
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value
        await slice_.checkpoint()
