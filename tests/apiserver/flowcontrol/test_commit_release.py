"""A write hands its APF seats back once it only waits for the store's commit (flowcontrol/seats.py).

The store's update of a Lease is gated by the test, so "waiting for the commit" lasts exactly as long as
the test says; node-high gets a single seat (3 seats in the whole server). Assertions are on state (how
many writes reached the store, the level's seats and queue), never on timing.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from sampan.apiserver.flowcontrol.estimate import WATCHES_PER_SEAT
from tests.apiserver.flowcontrol.conftest import Reply, Server, run_server

LEASES = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases"
NODES = {"n1": "node-token", "n2": "node2-token", "n3": "node3-token"}
TINY = {"max_requests_inflight": 2, "max_mutating_requests_inflight": 1, "apf_borrowing_period": 3600.0}


class GatedLeaseWrites:
    """Wraps the store's ``update``: a Lease write parks until :meth:`open` (``entered`` counts arrivals)."""

    def __init__(self, store: Any) -> None:
        self.gate = asyncio.Event()
        self.entered = 0
        self._update = store.update

        async def update(key: str, value: bytes, *, expected_mod_revision: int) -> int:
            if "/leases/kube-node-lease/" in key:
                self.entered += 1
                await self.gate.wait()
            return int(await self._update(key, value, expected_mod_revision=expected_mod_revision))

        store.update = update

    def open(self) -> None:
        self.gate.set()


@pytest.fixture
async def tiny(tmp_path: Path) -> AsyncIterator[Server]:
    async with run_server(tmp_path, **TINY) as s:
        assert s.apf.levels["node-high"].current_cl == 1
        for node in NODES:
            lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                     "metadata": {"name": node, "namespace": "kube-node-lease"},
                     "spec": {"holderIdentity": node, "leaseDurationSeconds": 40}}
            created = await s.request("POST", LEASES, body=lease)
            assert created.status == 201, created.text
        yield s


async def renew(server: Server, node: str) -> Reply:
    current = (await server.request("GET", f"{LEASES}/{node}")).json()
    current["spec"]["renewTime"] = "2026-01-01T00:00:01.000000Z"
    return await server.request("PUT", f"{LEASES}/{node}", token=NODES[node], body=current)


async def test_lease_writes_waiting_for_the_commit_hold_no_seat(tiny: Server) -> None:
    gated = GatedLeaseWrites(tiny.ctx.store)
    level = tiny.apf.levels["node-high"]
    renewals = [asyncio.create_task(renew(tiny, node)) for node in NODES]
    try:
        # one seat, three renewals: all three reach the store, because each gave its seat back there
        await tiny.wait_for(lambda: gated.entered == len(NODES), "every renewal to reach the commit")
        assert level.seats_in_use == 0
        assert level.waiting == 0
        gated.open()
        replies = await asyncio.gather(*renewals)
    finally:
        gated.open()
    assert [r.status for r in replies] == [200, 200, 200], [r.text for r in replies]
    assert all(r.json()["spec"]["renewTime"] == "2026-01-01T00:00:01.000000Z" for r in replies)
    assert level.seats_in_use == 0
    assert level.dispatched >= len(NODES)


async def test_writes_with_many_watchers_keep_their_seats_through_the_commit(tiny: Server) -> None:
    """Final seats pay for the watch fan-out that runs when the commit lands: those writes keep them."""
    level = tiny.apf.levels["node-high"]
    async with contextlib.AsyncExitStack() as stack:
        for _ in range(WATCHES_PER_SEAT):  # enough watchers for final seats
            await stack.enter_async_context(tiny.session.get(
                tiny.url + "/apis/coordination.k8s.io/v1/leases?watch=1&resourceVersion=0"))
        scope = tiny.ctx.scope("coordination.k8s.io", "v1", "leases")
        assert scope is not None
        await tiny.wait_for(lambda: len(scope.cache.watchers) >= WATCHES_PER_SEAT, "the watchers")
        gated = GatedLeaseWrites(tiny.ctx.store)
        first = asyncio.create_task(renew(tiny, "n1"))
        second: asyncio.Task[Reply] | None = None
        try:
            await tiny.wait_for(lambda: gated.entered == 1, "the first renewal to reach the commit")
            assert level.seats_in_use == 1
            second = asyncio.create_task(renew(tiny, "n2"))
            await tiny.wait_for(lambda: level.waiting == 1, "the second renewal to queue behind the seat")
            assert gated.entered == 1
            gated.open()
            replies = [await first, await second]
        finally:
            gated.open()
        assert [r.status for r in replies] == [200, 200], [r.text for r in replies]
        await tiny.wait_for(lambda: level.seats_in_use == 0, "the final seats to be freed")
