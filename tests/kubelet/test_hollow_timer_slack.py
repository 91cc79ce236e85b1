"""Hollow nodes' heartbeats sleep on one coalescing clock (``--hollow-timer-slack``): every node's Lease and
status sleeps share a few grid timers, and the nodes keep renewing on it (against an in-process API server)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sampan._lib.clock import CoalescingClock, RealClock
from sampan._lib.tasks import cancel_and_wait
from sampan.kubelet.heartbeat import HeartbeatHost
from sampan.kubelet.hollow import HollowNodes, HollowOptions
from sampan.kubelet.kubelet import KubeletOptions
from tests.controllers.support import unthrottled_client, wait_for
from tests.support.apiserver import InProcessAPIServer

NODES = 4


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
