from __future__ import annotations

from sampan._lib.clock import FakeClock
from sampan.kubelet.backoff import RestartBackoff


async def test_first_crash_restarts_then_delays_double_to_five_minutes() -> None:
    clock = FakeClock()
    b = RestartBackoff(clock=clock)
    waits = []
    for _ in range(8):
        finished = clock.wall()
        left = b.remaining("u/c", finished)
        waits.append(left)
        if left:
            await clock.advance(left - 0.5)
            assert b.remaining("u/c", finished) == 0.5  # still backing off
            await clock.advance(0.5)
            assert b.remaining("u/c", finished) == 0.0  # due now: restarted
        await clock.advance(1)  # the container runs 1 s and crashes again
    assert waits == [0.0, 10.0, 20.0, 40.0, 80.0, 160.0, 300.0, 300.0]


async def test_reset_after_ten_minutes_of_running_and_forget() -> None:
    clock = FakeClock()
    b = RestartBackoff(clock=clock)
    for _ in range(4):
        finished = clock.wall()
        left = b.remaining("u/c", finished)
        if left:
            await clock.advance(left)
            b.remaining("u/c", finished)
    assert b.remaining("u/c", clock.wall()) == 80.0
    await clock.advance(601)  # ran for more than 10 min since the last restart
    assert b.remaining("u/c", clock.wall()) == 0.0
    assert b.remaining("u/c", clock.wall()) == 10.0
    assert b.remaining("u/other", clock.wall()) == 0.0
    b.forget_pod("u")
    assert b.remaining("u/c", clock.wall()) == 0.0
