"""Leader election on its own thread, loop and client (docs/liveness.md): work on the caller's loop — a
long CPU-bound turn, a flooded rate limiter — never delays a renewal; losing the lease stops the work at
once; the lease is released only after the work finished."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator

import pytest

from sampan.client.dynamic import Client
from sampan.client.kubeconfig import load_kubeconfig
from sampan.client.leaderelection import (
    IsolatedLeaderElector,
    LeaderCallbacks,
    LeaderElectionConfig,
    LeaderElector,
    LeaseLock,
)
from sampan.client.leaderelection.lease_lock import parse_time
from tests.support.apiserver import APIServerHandle
from tests.support.busy import hold_loop

FAST = LeaderElectionConfig(lease_duration=1.5, renew_deadline=1.0, retry_period=0.1)


@pytest.fixture
async def client(apiserver: APIServerHandle) -> AsyncIterator[Client]:
    """A client of an API server in its own process (a blocked test loop must not block the server)."""
    async with Client(load_kubeconfig(str(apiserver.kubeconfig))) as c:
        yield c


async def wait_for(pred: object, timeout: float = 10.0) -> None:
    assert callable(pred)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not reached")


def isolated(client: Client, identity: str, lead: LeaderCallbacks, **kw: object) -> IsolatedLeaderElector:
    return IsolatedLeaderElector(client.config, lead, FAST, namespace="kube-system", name="iso-lock",
                                 identity=identity, **kw)  # type: ignore[arg-type]


async def test_renewals_continue_while_the_callers_loop_is_blocked(client: Client) -> None:
    """The work holds the caller's loop for 3x the renew deadline; the lease is renewed all along and the
    elector is still the leader afterwards. The same on the caller's loop loses the lease."""
    leases = await client.resource("coordination.k8s.io/v1", "leases")
    blocked = asyncio.Event()
    done_blocking = asyncio.Event()

    async def work() -> None:
        await blocked.wait()
        hold_loop(3 * FAST.renew_deadline)  # one long CPU-bound turn
        done_blocking.set()
        await asyncio.Event().wait()

    elector = isolated(client, "a", LeaderCallbacks(on_started_leading=work))
    task = asyncio.create_task(elector.run())
    try:
        await wait_for(elector.is_leader)
        before = elector.renewals
        blocked.set()
        await asyncio.wait_for(done_blocking.wait(), 20)
        assert elector.renewals - before >= 5  # about one per retry period while blocked
        assert elector.is_leader()
        assert not task.done()
        lease = await leases.get("iso-lock", namespace="kube-system")
        assert lease["spec"]["holderIdentity"] == "a"
        renewed = parse_time(lease["spec"]["renewTime"])
        assert renewed is not None
        assert time.time() - renewed < FAST.renew_deadline + 1.0
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    # control: the plain elector on the blocked loop misses its deadline and stops leading
    stopped: list[str] = []
    blocked.clear()
    lock = LeaseLock(leases, namespace="kube-system", name="iso-lock-plain", identity="plain")
    callbacks = LeaderCallbacks(on_started_leading=work, on_stopped_leading=lambda: stopped.append("x"))
    plain = LeaderElector(lock, callbacks, FAST)
    task = asyncio.create_task(plain.run())
    await wait_for(plain.is_leader)
    done_blocking.clear()
    blocked.set()
    await asyncio.wait_for(task, 20)  # returns: leadership lost
    assert stopped == ["x"]


async def test_a_flooded_work_client_does_not_delay_renewals(client: Client) -> None:
    """The work floods its own client's rate limiter (1 QPS); renewals go out on the elector's client."""
    slow = Client(dataclasses.replace(client.config, qps=1.0, burst=1))
    flood: list[asyncio.Task[object]] = []

    async def work() -> None:
        flood.extend(asyncio.create_task(slow.version()) for _ in range(100))
        await asyncio.Event().wait()

    elector = isolated(client, "a", LeaderCallbacks(on_started_leading=work))
    task = asyncio.create_task(elector.run())
    try:
        await wait_for(elector.is_leader)
        await wait_for(lambda: len(flood) == 100)
        before = elector.renewals
        await asyncio.sleep(3 * FAST.renew_deadline)
        assert elector.renewals - before >= 5
        assert elector.is_leader()
        assert sum(t.done() for t in flood) < 10  # the work's requests are still queued
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        for t in flood:
            t.cancel()
        await asyncio.gather(*flood, return_exceptions=True)
        await slow.close()


async def test_unhealthy_gives_up_stops_work_then_releases(client: Client) -> None:
    leases = await client.resource("coordination.k8s.io/v1", "leases")
    order: list[str] = []
    sick = False

    async def work() -> None:
        order.append("start")
        try:
            await asyncio.Event().wait()
        finally:
            lease = await leases.get("iso-lock", namespace="kube-system")
            order.append(f"work stopped holder={lease['spec']['holderIdentity']}")

    elector = isolated(client, "a", LeaderCallbacks(on_started_leading=work,
                                                    on_stopped_leading=lambda: order.append("stopped")),
                       healthy=lambda: "wedged" if sick else None)
    task = asyncio.create_task(elector.run())
    await wait_for(elector.is_leader)
    sick = True
    await asyncio.wait_for(task, 10)  # run() returns: leadership ended
    assert not elector.is_leader()
    assert order[0] == "start"
    assert "work stopped holder=a" in order  # the work ended while the lease was still ours
    lease = await leases.get("iso-lock", namespace="kube-system")
    assert lease["spec"]["holderIdentity"] == ""  # then released


async def test_standby_waits_and_takes_over_after_cancel(client: Client) -> None:
    leases = await client.resource("coordination.k8s.io/v1", "leases")
    leading: list[str] = []

    def lead(name: str) -> LeaderCallbacks:
        async def work() -> None:
            leading.append(name)
            try:
                await asyncio.Event().wait()
            finally:
                leading.remove(name)

        return LeaderCallbacks(on_started_leading=work)

    a = isolated(client, "a", lead("a"))
    b = isolated(client, "b", lead("b"))
    ta = asyncio.create_task(a.run())
    await wait_for(a.is_leader)
    tb = asyncio.create_task(b.run())
    await wait_for(lambda: b.leader() == "a")
    await asyncio.sleep(3 * FAST.retry_period)
    assert leading == ["a"]
    assert not b.is_leader()
    ta.cancel()
    await asyncio.gather(ta, return_exceptions=True)
    assert leading == []
    lease = await leases.get("iso-lock", namespace="kube-system")
    assert lease["spec"]["holderIdentity"] in ("", "b")
    await wait_for(lambda: leading == ["b"])
    tb.cancel()
    await asyncio.gather(tb, return_exceptions=True)
    assert leading == []
