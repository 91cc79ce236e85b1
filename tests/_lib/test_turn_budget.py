"""TurnBudget: many tasks that are ready together share a bounded loop turn, so a timer or another task
gets the loop between their steps (docs/liveness.md); a cancelled waiter does not cancel the others."""

from __future__ import annotations

import asyncio
import time

from sampan._lib.slicing import TurnBudget


def _busy(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


async def _interleaving(budget: TurnBudget | None, *, workers: int = 30) -> list[int]:
    """How many workers' steps ran between consecutive turns of a ticker task."""
    log: list[str] = []
    stop = False

    async def ticker() -> None:
        while not stop:
            log.append("tick")
            await asyncio.sleep(0)

    async def worker() -> None:
        if budget is not None:
            await budget.checkpoint()
        _busy(0.002)  # each step is longer than the whole budget
        log.append("work")

    tick = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    await asyncio.gather(*(worker() for _ in range(workers)))
    stop = True
    await tick
    runs, current = [], 0
    for entry in log:
        if entry == "work":
            current += 1
        elif current:
            runs.append(current)
            current = 0
    return [*runs, current] if current else runs


async def test_ready_tasks_share_a_bounded_turn() -> None:
    unbounded = await _interleaving(None)
    assert max(unbounded) == 30  # all in one turn: what the budget prevents
    bounded = TurnBudget(budget=0.001)
    runs = await _interleaving(bounded)
    assert sum(runs) == 30
    assert max(runs) <= 2  # the step that spent the budget, at most one more before the turn
    assert bounded.waits > 0


async def test_a_cancelled_waiter_leaves_the_others_waiting_for_the_turn() -> None:
    budget = TurnBudget(budget=0.0)
    await budget.checkpoint()  # opens the turn's slice
    _busy(0.001)
    first = asyncio.create_task(budget.checkpoint())
    second = asyncio.create_task(budget.checkpoint())
    await asyncio.sleep(0)
    first.cancel()
    await asyncio.gather(first, return_exceptions=True)
    await asyncio.wait_for(second, 5)  # the turn still came for it
    assert first.cancelled()
    assert second.done()
    assert not second.cancelled()
