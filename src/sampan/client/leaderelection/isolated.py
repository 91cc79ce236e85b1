"""Leader election that the component's work cannot delay (docs/liveness.md: liveness never waits behind
work).

:class:`IsolatedLeaderElector` runs a :class:`LeaderElector` on its own thread and event loop, with its own
:class:`~sampan.client.Client` (own aiohttp session and connections, no client-side rate limit; see
:func:`~sampan.client.config.heartbeat_config`), while the work (``on_started_leading``) runs on the
caller's loop::

    caller's loop                                 election thread (own loop, own client)
    ─────────────                                 ──────────────────────────────────────
    run() ── starts ───────────────────────────▶ LeaderElector.run(): acquire, retry every retry_period
    _start_work(): work = on_started_leading() ◀── acquired (call_soon_threadsafe)
      … work …                                    renew every retry_period (each try bounded)
    work ends ── _work_ended ──────────────────▶ stop renewing; release once the work has finished
    _stop_work(): work.cancel() ◀────────────────  renew failed for renew_deadline, or healthy() failed
    run() returns once the thread ended and the work finished (the caller then exits, as upstream).

So a renewal never waits for a rate-limiter token taken by work requests, nor for a long turn of the
caller's loop: only for the GIL, a few milliseconds. Safety is the inner elector's (a leader gives up after
``renew_deadline``, others wait ``lease_duration``), plus: the lease is released only after the work task
has finished, never while it may still act.

``healthy`` (called on the election thread every ``retry_period`` while leading) lets a wedged component
give its lease up: a non-empty answer is logged and ends leadership, as upstream's leader-election health
check makes a stuck leader lose its lease. With ``own_thread=False`` (tests on a fake clock) everything
runs on the caller's loop, still with its own client.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Callable

from sampan._lib.clock import Clock, RealClock
from sampan._lib.own_loop import run_in_own_loop
from sampan.api.resources import ResourceInfo
from sampan.client.config import RESTConfig, heartbeat_config
from sampan.client.dynamic import Client
from sampan.client.leaderelection.elector import LeaderCallbacks, LeaderElectionConfig, LeaderElector
from sampan.client.leaderelection.lease_lock import LeaseLock

log = logging.getLogger(__name__)

LEASES = ResourceInfo("coordination.k8s.io", "v1", "leases", "Lease", "lease", True)
"""Leases need no discovery round trip: the heartbeat client asks for nothing but the lease."""

Health = Callable[[], str | None]


class IsolatedLeaderElector:
    """See the module docstring. Same contract as :meth:`LeaderElector.run`: returns when leadership is
    lost (after the work task finished); cancel to stop (the work is stopped first, then the lease is
    released)."""

    def __init__(self, rest: RESTConfig, callbacks: LeaderCallbacks, config: LeaderElectionConfig | None = None,
                 *, namespace: str, name: str, identity: str, healthy: Health | None = None,
                 own_thread: bool = True, clock: Clock | None = None) -> None:
        if not identity:
            raise ValueError("leader election needs a non-empty identity")
        self.config = config or LeaderElectionConfig()
        self.callbacks = callbacks
        self.namespace, self.name, self.identity = namespace, name, identity
        self._rest = heartbeat_config(rest, purpose="leader-election", timeout=self.config.renew_deadline)
        self._healthy = healthy
        self._own_thread = own_thread
        self._clock = clock or RealClock()
        self._leading = False
        self._leader = ""
        self._inner: LeaderElector | None = None
        self._lead_count = 0
        self._caller: asyncio.AbstractEventLoop | None = None
        self._elector_loop: asyncio.AbstractEventLoop | None = None
        self._work_ended: asyncio.Event | None = None
        """On the election loop: set once the work task has finished (or will never start)."""
        self._work: asyncio.Task[None] | None = None
        self._stopping = False

    @property
    def renewals(self) -> int:
        """Successful lease writes (acquisitions and renewals) so far."""
        return self._inner.renewals if self._inner is not None else 0

    def describe(self) -> str:
        return f"{self.namespace}/{self.name}"

    def is_leader(self) -> bool:
        return self._leading

    def leader(self) -> str:
        """The holder last observed ("" if none)."""
        return self._leader

    async def run(self) -> None:
        self._caller = asyncio.get_running_loop()
        self._stopping = False
        if self._own_thread:
            election = asyncio.ensure_future(run_in_own_loop(self._elect, name=f"leader-election-{self.name}"))
        else:
            election = asyncio.ensure_future(self._elect())
        try:
            await asyncio.shield(election)
        except asyncio.CancelledError:
            self._stopping = True
            started = await self._finish_work()
            if not started:
                election.cancel()  # still acquiring: stop trying
            await asyncio.gather(election, return_exceptions=True)
            raise
        finally:
            await self._finish_work()
            self._work = None

    async def _finish_work(self) -> bool:
        """Cancel the work task and wait for it; whether there was one."""
        work = self._work
        if work is None:
            return False
        work.cancel()
        await asyncio.gather(work, return_exceptions=True)
        return True

    # -- the caller's loop -----------------------------------------------------------------------------

    def _start_work(self) -> None:
        if self._stopping:
            self._signal_work_ended()
            return
        self._work = asyncio.ensure_future(self.callbacks.on_started_leading())
        self._work.add_done_callback(lambda _t: self._signal_work_ended())

    def _stop_work(self) -> None:
        if self._work is not None:
            self._work.cancel()
        if self.callbacks.on_stopped_leading is not None:
            self.callbacks.on_stopped_leading()

    def _new_leader(self, who: str) -> None:
        if self.callbacks.on_new_leader is not None:
            self.callbacks.on_new_leader(who)

    def _signal_work_ended(self) -> None:
        loop, ended = self._elector_loop, self._work_ended
        if loop is not None and ended is not None:
            with contextlib.suppress(RuntimeError):  # the election loop is closed: nobody waits
                loop.call_soon_threadsafe(ended.set)

    def _to_caller(self, fn: Callable[..., None], *args: object) -> None:
        assert self._caller is not None
        with contextlib.suppress(RuntimeError):  # the caller's loop is gone
            self._caller.call_soon_threadsafe(fn, *args)

    # -- the election loop -----------------------------------------------------------------------------

    async def _elect(self) -> None:
        self._elector_loop = asyncio.get_running_loop()
        self._work_ended = asyncio.Event()
        clock = RealClock() if self._own_thread else self._clock
        inner_config = dataclasses.replace(self.config, release_on_cancel=False)
        async with Client(self._rest, clock=clock) as client:
            lock = LeaseLock(client.resource_for(LEASES), namespace=self.namespace, name=self.name,
                             identity=self.identity)
            callbacks = LeaderCallbacks(on_started_leading=self._lead, on_stopped_leading=self._stopped,
                                        on_new_leader=self._observed)
            elector = self._inner = LeaderElector(lock, callbacks, inner_config, clock=clock)
            try:
                await elector.run()
            finally:
                if self._work_started and self.config.release_on_cancel:
                    await self._release_after_work(elector)

    @property
    def _work_started(self) -> bool:
        return self._work_ended is not None and self._lead_count > 0

    async def _release_after_work(self, elector: LeaderElector) -> None:
        """Empty the lease once the work task has finished (bounded wait: a work task that ignores its
        cancellation for lease_duration leaves the lease to expire instead)."""
        assert self._work_ended is not None
        try:
            await asyncio.wait_for(self._work_ended.wait(), self.config.lease_duration)
        except TimeoutError:
            log.warning("work did not stop in time, leaving the lease to expire lock=%s", self.describe())
            return
        await elector.release()

    async def _lead(self) -> None:
        assert self._work_ended is not None
        self._lead_count += 1
        self._leading = True
        self._work_ended.clear()
        self._to_caller(self._start_work)
        while True:
            try:
                await asyncio.wait_for(self._work_ended.wait(), self.config.retry_period)
                return  # the work ended: stop renewing
            except TimeoutError:
                pass
            problem = self._healthy() if self._healthy is not None else None
            if problem:
                log.error("giving up leadership: component unhealthy lock=%s identity=%s reason=%s",
                          self.describe(), self.identity, problem)
                return

    def _stopped(self) -> None:
        self._leading = False
        self._to_caller(self._stop_work)

    def _observed(self, who: str) -> None:
        self._leader = who
        self._to_caller(self._new_leader, who)
