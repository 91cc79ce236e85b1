"""Hollow nodes' heartbeats sleep on one coalescing clock (``--hollow-timer-slack``): every node's Lease and
status sleeps share a few grid timers, and the nodes keep renewing on it (against an in-process API server);
without a value the tick is chosen so one tick sends at most ten nodes' renewals."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from sampan._lib.clock import CoalescingClock, RealClock
from sampan._lib.tasks import cancel_and_wait
from sampan.kubelet.heartbeat import HeartbeatHost
from sampan.kubelet.hollow import HollowNodes, HollowOptions
from sampan.kubelet.kubelet import KubeletOptions
from tests.controllers.support import unthrottled_client, wait_for
from tests.support.apiserver import InProcessAPIServer

NODES = 4


@pytest.mark.parametrize(("count", "renew_interval", "slack", "tick"), [
    (1000, 10.0, None, 0.1),     # 100 renewals/s: 10 a tick at the longest tick
    (100, 10.0, None, 0.1),      # fewer nodes: never above 100 ms
    (2000, 10.0, None, 0.05),
    (5000, 10.0, None, 0.02),    # 500 renewals/s: 10 a tick
    (5000, 40.0, None, 0.08),    # slower renewals: a longer tick for the same burst
    (5000, 10.0, 0.1, 0.1),      # a value given is kept
    (5000, 10.0, 0.0, 0.0),      # 0: a timer each
])
def test_grid_tick_bounds_the_renewals_a_tick_sends(count: int, renew_interval: float, slack: float | None,
                                                    tick: float, tmp_path: Path) -> None:
    options = HollowOptions(count=count, prefix="h-", timer_slack=slack, template=KubeletOptions(
        node_name="h-", root_dir=tmp_path, runtime="simulated", lease_renew_interval=renew_interval))
    assert options.grid_tick() == pytest.approx(tick)


@pytest.mark.parametrize(("text", "slack"), [("auto", None), ("0", 0.0), ("250ms", 0.25)])
def test_cli_timer_slack(text: str, slack: float | None) -> None:
    from sampan.cli.kubelet import _timer_slack

    assert _timer_slack(text) == slack


@pytest.mark.parametrize("text", ["-1s", "abc", "Auto"])
def test_cli_timer_slack_rejects(text: str) -> None:
    from sampan.cli.kubelet import _timer_slack

    with pytest.raises(ValueError):
        _timer_slack(text)


async def test_no_slack_keeps_the_system_clock(inproc_apiserver: InProcessAPIServer) -> None:
    client = unthrottled_client(inproc_apiserver.kubeconfig)
    try:
        assert isinstance(HeartbeatHost(client.config, timeout=1.0, timer_slack=0.0).clock, RealClock)
    finally:
        await client.close()


async def test_hollow_heartbeats_share_grid_timers_and_keep_renewing(inproc_apiserver: InProcessAPIServer,
                                                                     tmp_path: Path) -> None:
    client = unthrottled_client(inproc_apiserver.kubeconfig)
    nodes = HollowNodes(client, HollowOptions(count=NODES, prefix="grid-", timer_slack=0.25, template=KubeletOptions(
        node_name="grid-", root_dir=tmp_path / "nodes", runtime="simulated",
        node_status_update_frequency=0.5, lease_renew_interval=0.5)))
    clock = nodes.shared.heartbeats.clock
    assert isinstance(clock, CoalescingClock)
    assert clock.tick == 0.25
    task = asyncio.create_task(nodes.run())
    try:
        await wait_for(lambda: nodes.ready_count == NODES, timeout=30, message="hollow nodes ready")

        def renewals() -> list[int]:
            return [k.heartbeat.lease.renewals if k.heartbeat and k.heartbeat.lease else 0
                    for k in nodes.kubelets.values()]

        before = renewals()
        # 2 sleepers a node (Lease, status), each due within ~0.75 s: at most 4 grid points of 0.25 s, not 8 timers
        samples = []
        for _ in range(20):
            samples.append(clock.pending)
            await asyncio.sleep(0.05)
        assert 1 <= max(samples) <= 4  # the heartbeats sleep on this clock, and share its timers
        await wait_for(lambda: all(a >= b + 2 for a, b in zip(renewals(), before, strict=True)), timeout=15,
                       message="every node renewed its Lease twice more on the grid")
    finally:
        await cancel_and_wait([task])
        await client.close()
