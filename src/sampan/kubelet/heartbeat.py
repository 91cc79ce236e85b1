"""The kubelet's heartbeats — Lease renewals and node status posts — on their own thread, event loop and
client (docs/liveness.md: liveness never waits behind work).

Starting 110 pods at once and probing them keeps the kubelet's loop busy and its work client's rate
limiter full; neither may delay a heartbeat, or the node controller marks the node NotReady exactly when
it is busiest. So :class:`NodeHeartbeat` runs :class:`~sampan.kubelet.node_lease.NodeLease` and the status
loop on a thread of their own (:func:`~sampan._lib.own_loop.run_in_own_loop`) with a client of their own
(:func:`~sampan.client.config.heartbeat_config`: own connections, no rate limit, a request timeout), as
upstream's kubelet has its own ``heartbeatClient``.

What crosses threads: ``post_status`` (the kubelet's, which replaces ``Kubelet.node`` whole and hands
node events back to the kubelet's loop) and the counters read by tests. With ``own_thread=False`` (a fake
clock in unit tests) both loops run on the caller's loop, still with their own client.

Many kubelets in one process (hollow nodes, :mod:`sampan.kubelet.hollow`) share one :class:`HeartbeatHost`:
one thread, one loop and one heartbeat client (one connection pool) for every node's Lease and status
loops, instead of a thread per node. Each node's first renewal is jittered over its interval so N nodes
spread their writes over it instead of renewing in lock-step; with ``timer_slack`` their sleeps end on a
grid of that many seconds (:class:`~sampan._lib.clock.CoalescingClock`), so the host's loop wakes once a
tick for every node due in it, not once per node.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from sampan._lib.clock import Clock, CoalescingClock, RealClock
from sampan._lib.own_loop import run_in_own_loop
from sampan.api import errors
from sampan.api.resources import ResourceInfo
from sampan.client.config import RESTConfig, heartbeat_config
from sampan.client.dynamic import Client, ResourceClient
from sampan.kubelet.failure_log import FailureLog
from sampan.kubelet.node_lease import LeaseOptions, NodeLease

log = logging.getLogger(__name__)

NODES = ResourceInfo("", "v1", "nodes", "Node", "node", False, subresources=("status",))
LEASES = ResourceInfo("coordination.k8s.io", "v1", "leases", "Lease", "lease", True)

STOP_TIMEOUT = 5.0
"""Seconds a cancelled submission waits for its coroutine to finish on the host's loop (the host may be
stopping too, and then never runs it)."""

PostStatus = Callable[[ResourceClient], Awaitable[None]]


class HeartbeatHost:
    """One thread, event loop and heartbeat client shared by the heartbeats of many nodes in one process.

    ``run`` (awaited by the owner) keeps the thread alive until cancelled; :meth:`submit` runs a coroutine
    built by a factory on the host's loop with the shared client and returns when it ends (cancelling the
    caller cancels it on the host's loop). Invariant: every coroutine submitted runs on the host's thread;
    nothing of the host's loop is touched from another thread except through ``call_soon_threadsafe``."""

    def __init__(self, rest: RESTConfig, *, timeout: float, name: str = "hollow-heartbeats",
                 timer_slack: float = 0.0) -> None:
        """``timer_slack`` > 0: the hosted heartbeats sleep on a :class:`CoalescingClock` of that tick."""
        self._rest = heartbeat_config(rest, purpose="heartbeat", timeout=timeout)
        self._name = name
        self.clock: Clock = CoalescingClock(timer_slack) if timer_slack > 0 else RealClock()
        """The clock of every hosted heartbeat (used on the host's loop only)."""
        self._started = asyncio.Event()
        """Set (on the owner's loop) once the host's loop and client exist."""
        self._owner: asyncio.AbstractEventLoop | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: Client | None = None

    async def run(self) -> None:
        self._owner = asyncio.get_running_loop()
        try:
            await run_in_own_loop(self._serve, name=self._name)
        finally:
            self._started.clear()

    async def _serve(self) -> None:
        async with Client(self._rest) as client:
            self._client = client
            self._loop = asyncio.get_running_loop()
            assert self._owner is not None
            self._owner.call_soon_threadsafe(self._started.set)
            await asyncio.Event().wait()

    async def submit(self, factory: Callable[[Client], Coroutine[Any, Any, None]]) -> None:
        """Run ``factory(client)`` on the host's loop until it ends or the caller is cancelled."""
        await self._started.wait()
        assert self._loop is not None
        assert self._client is not None
        caller = asyncio.get_running_loop()
        done = asyncio.Event()

        def finished(_: concurrent.futures.Future[None]) -> None:
            with contextlib.suppress(RuntimeError):  # the caller's loop is gone: nobody waits
                caller.call_soon_threadsafe(done.set)

        future: concurrent.futures.Future[None] = asyncio.run_coroutine_threadsafe(factory(self._client), self._loop)
        future.add_done_callback(finished)
        try:
            await done.wait()
        except asyncio.CancelledError:
            future.cancel()  # cancels the coroutine on the host's loop; wait (bounded) until it has finished
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(STOP_TIMEOUT):
                    await done.wait()
            raise
        if not future.cancelled():
            future.result()


class NodeHeartbeat:
    """Renews ``kube-node-lease/<node>`` every ``lease.renew_interval`` and posts node status every
    ``status_frequency`` until cancelled. ``lease`` is the running :class:`NodeLease` (None before start)."""

    def __init__(self, rest: RESTConfig, *, node_name: str, node_uid: str, lease_options: LeaseOptions,
                 status_frequency: float, post_status: PostStatus, own_thread: bool = True,
                 clock: Clock | None = None, host: HeartbeatHost | None = None) -> None:
        self.node_name = node_name
        self.node_uid = node_uid
        self.lease_options = lease_options
        self.status_frequency = status_frequency
        self._post_status = post_status
        self._own_thread = own_thread
        self._clock = clock or RealClock()
        timeout = max(1.0, min(status_frequency, lease_options.duration / 4))
        self._rest = heartbeat_config(rest, purpose="heartbeat", timeout=timeout)
        self.lease: NodeLease | None = None
        self._host = host
        self.status_failures = FailureLog(log, "update node status", node_name, self._clock.monotonic)
        """Failed status posts (a run's first failure and its recovery logged; ``total`` counts them all)."""

    async def run(self) -> None:
        if self._host is not None:
            await self._host.submit(self._beat_with)
        elif self._own_thread:
            await run_in_own_loop(self._beat, name=f"kubelet-heartbeat-{self.node_name}")
        else:
            await self._beat()

    async def _beat(self) -> None:
        clock = RealClock() if self._own_thread else self._clock
        async with Client(self._rest, clock=clock) as client:
            await self._beats(client, clock)

    async def _beat_with(self, client: Client) -> None:
        """On a shared host: first beats jittered over the interval (N nodes must not renew in step); each
        node's requests carry its own credentials (its ``system:node:<name>`` token) over the host's pool."""
        assert self._host is not None
        await self._beats(client.sharing(self._rest), self._host.clock,
                          lease_delay=random.uniform(0, self.lease_options.renew_interval),
                          status_delay=random.uniform(0, self.status_frequency))

    async def _beats(self, client: Client, clock: Clock, *, lease_delay: float = 0.0,
                     status_delay: float | None = None) -> None:
        lease = self.lease = NodeLease(client.resource_for(LEASES), node_name=self.node_name, clock=clock,
                                       options=self.lease_options, node_uid=self.node_uid)
        nodes = client.resource_for(NODES)

        async def renewals() -> None:
            await clock.sleep(lease_delay)
            await lease.run()

        async with asyncio.TaskGroup() as tg:
            tg.create_task(renewals(), name="kubelet-lease")
            tg.create_task(self._status_loop(nodes, clock, status_delay), name="kubelet-node-status")

    async def _status_loop(self, nodes: ResourceClient, clock: Clock, first_delay: float | None = None) -> None:
        if first_delay is not None:
            await clock.sleep(first_delay)
            await self._post(nodes)
        while True:
            await clock.sleep(self.status_frequency)
            await self._post(nodes)

    async def _post(self, nodes: ResourceClient) -> None:
        try:
            await self._post_status(nodes)
        except (errors.APIError, OSError, TimeoutError) as err:
            self.status_failures.failed(err)
        else:
            self.status_failures.succeeded()
