"""The node Lease is renewed on a fixed schedule: a slow renewal request does not push the next renewTime
later (the gap between renewTimes stays the renew interval, not interval + request time)."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

from sampan._lib.clock import FakeClock
from sampan.client.leaderelection.lease_lock import parse_time
from sampan.kubelet.node_lease import LeaseOptions, NodeLease


class _SlowLeases:
    """A Lease API whose update takes ``latency`` seconds of the fake clock after the request was built."""

    def __init__(self, clock: FakeClock, latency: float) -> None:
        self.clock, self.latency = clock, latency
        self.renew_times: list[float] = []
        self.done = asyncio.Event()

    async def get(self, name: str, *, namespace: str) -> dict[str, Any]:
        return {"metadata": {"name": name, "namespace": namespace}, "spec": {}}

    async def update(self, obj: dict[str, Any], *, namespace: str) -> dict[str, Any]:
        self.renew_times.append(parse_time(obj["spec"]["renewTime"]) or 0.0)
        await self.clock.sleep(self.latency)  # the request is in flight
        self.done.set()
        return obj


async def test_a_slow_renewal_does_not_delay_the_next_renew_time() -> None:
    clock = FakeClock()
    leases = _SlowLeases(clock, latency=3.0)
    lease = NodeLease(leases, node_name="n1", clock=clock, options=LeaseOptions(renew_interval=10.0))  # type: ignore[arg-type]
    task = asyncio.create_task(lease.run())
    try:
        for _ in range(40):
            await clock.advance(1.0)
        assert len(leases.renew_times) >= 4
        gaps = [b - a for a, b in zip(leases.renew_times, leases.renew_times[1:], strict=False)]
        assert gaps
        assert all(abs(g - 10.0) < 1e-6 for g in gaps), gaps
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


class _FailingLeases:
    """A Lease API whose updates fail until ``healthy`` is set; records the fake-clock time of each attempt."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.attempts: list[float] = []
        self.healthy = False

    async def get(self, name: str, *, namespace: str) -> dict[str, Any]:
        return {"metadata": {"name": name, "namespace": namespace}, "spec": {}}

    async def update(self, obj: dict[str, Any], *, namespace: str) -> dict[str, Any]:
        self.attempts.append(self.clock.monotonic())
        if not self.healthy:
            raise TimeoutError
        return obj


async def test_failed_renewals_back_off_doubling_to_a_cap_and_reset_after_success() -> None:
    clock = FakeClock()
    leases = _FailingLeases(clock)
    options = LeaseOptions(renew_interval=10.0, retry_interval=0.2, max_retry_interval=7.0)
    lease = NodeLease(leases, node_name="n1", clock=clock, options=options)  # type: ignore[arg-type]
    task = asyncio.create_task(lease.run())
    try:
        for _ in range(600):
            await clock.advance(0.1)
        gaps = [round(b - a, 1) for a, b in itertools.pairwise(leases.attempts)]
        assert gaps[:6] == [0.2, 0.4, 0.8, 1.6, 3.2, 6.4], gaps  # not a retry every 200 ms
        assert set(gaps[6:]) == {7.0}, gaps
        leases.healthy = True
        for _ in range(350):
            await clock.advance(0.1)
        ok = leases.attempts[-3:]
        assert [round(b - a, 1) for a, b in itertools.pairwise(ok)] == [10.0, 10.0]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_failing_then_recovering_renewal_logs_twice_and_counts_every_failure(caplog) -> None:
    """A run of failed renewals writes its first failure (WARNING) and its recovery (INFO, with the count
    and duration), not a line per attempt; ``failures.total`` counts every attempt that failed."""
    clock = FakeClock()
    leases = _FailingLeases(clock)
    options = LeaseOptions(renew_interval=10.0, retry_interval=0.2, max_retry_interval=7.0)
    lease = NodeLease(leases, node_name="n1", clock=clock, options=options)  # type: ignore[arg-type]
    caplog.set_level("INFO", logger="sampan.kubelet.node_lease")
    task = asyncio.create_task(lease.run())
    try:
        for _ in range(300):
            await clock.advance(0.1)
        failed = len(leases.attempts)
        assert failed >= 8
        leases.healthy = True
        for _ in range(300):
            await clock.advance(0.1)
        lines = [r for r in caplog.records if r.name == "sampan.kubelet.node_lease"]
        assert [r.levelname for r in lines] == ["WARNING", "INFO"], [r.getMessage() for r in lines]
        assert "failed to renew node lease node=n1" in lines[0].getMessage()
        assert f"failures={failed}" in lines[1].getMessage()
        assert lease.failures.total == failed
        assert lease.failures.failures == 0
        leases.healthy = False  # a second run is logged again
        for _ in range(150):
            await clock.advance(0.1)
        assert [r.levelname for r in caplog.records if r.name == "sampan.kubelet.node_lease"][-1] == "WARNING"
        assert lease.failures.total > failed
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
