"""Leader election over a Lease (client-go's ``leaderelection``), with upstream's defaults.

A candidate's life::

    acquiring --(lease free, expired, or ours; CAS update wins)--> leading --(renew fails for
        ^                                                                   renew_deadline)--> stopped
        +--- retry every retry_period (jittered) ----------------------------+

While leading, ``on_started_leading`` runs as a task; it is cancelled when leadership ends, and then
``on_stopped_leading`` is called. On cancellation of :meth:`LeaderElector.run` a leader with
``release_on_cancel`` empties the lease (holder "" and a 1 s duration) so a successor need not wait.

Safety: another candidate treats the lease as taken until ``lease_duration`` has passed on ITS clock since
it last saw the record change; the leader gives up after ``renew_deadline`` (< ``lease_duration``) without
a successful renew. So with clocks running at the same rate, two candidates never both lead.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from sampan._lib.backoff import jittered
from sampan._lib.clock import Clock, RealClock
from sampan.api import errors
from sampan.client import metrics
from sampan.client.leaderelection.lease_lock import LeaderElectionRecord, LeaseLock

log = logging.getLogger(__name__)

#: Tries at emptying the lease on shutdown when renewals race with it.
RELEASE_ATTEMPTS = 3

JITTER_FACTOR = 1.2


@dataclass(frozen=True, slots=True)
class LeaderElectionConfig:
    lease_duration: float = 15.0
    """How long a non-leader waits, since it last saw the lease change, before taking it over."""
    renew_deadline: float = 10.0
    """How long the leader keeps trying to renew before giving up leadership."""
    retry_period: float = 2.0
    """Time between attempts to acquire or renew (jittered by 1.2 when acquiring)."""
    release_on_cancel: bool = True

    def __post_init__(self) -> None:
        if self.lease_duration <= self.renew_deadline:
            raise ValueError("lease_duration must be greater than renew_deadline")
        if self.renew_deadline <= JITTER_FACTOR * self.retry_period:
            raise ValueError("renew_deadline must be greater than retry_period * 1.2")
        if self.retry_period <= 0:
            raise ValueError("retry_period must be positive")


@dataclass(frozen=True, slots=True)
class LeaderCallbacks:
    on_started_leading: Callable[[], Coroutine[Any, Any, None]]
    """Runs while leading; cancelled when leadership is lost or the elector stops."""
    on_stopped_leading: Callable[[], None] | None = None
    on_new_leader: Callable[[str], None] | None = None
    """Called with the identity of each newly observed leader (ourselves included)."""


class LeaderElector:
    def __init__(self, lock: LeaseLock, callbacks: LeaderCallbacks, config: LeaderElectionConfig | None = None, *,
                 clock: Clock | None = None, rng: random.Random | None = None) -> None:
        self.lock = lock
        self.callbacks = callbacks
        self.config = config or LeaderElectionConfig()
        self._clock = clock or RealClock()
        self._rng = rng or random.Random()
        self._observed: LeaderElectionRecord | None = None
        self._observed_raw = ""
        self._observed_time = 0.0
        self._leading = False
        self._reported_leader = ""
        metrics.set_leader(lock.name, False)
        self.renewals = 0
        """Successful lease writes (acquisitions and renewals), for observability and tests."""

    @property
    def identity(self) -> str:
        return self.lock.identity

    def is_leader(self) -> bool:
        return self._leading

    def leader(self) -> str:
        """The holder we last observed ("" if none)."""
        return self._observed.holder_identity if self._observed else ""

    async def run(self) -> None:
        """Acquire, lead, and return when leadership is lost. Cancel to stop (and release if leading)."""
        leading_task: asyncio.Task[None] | None = None
        try:
            await self._acquire()
            self._leading = True
            metrics.set_leader(self.lock.name, True)
            log.info("became leader lock=%s identity=%s", self.lock.describe(), self.identity)
            leading_task = asyncio.create_task(self.callbacks.on_started_leading(), name=f"leading-{self.identity}")
            await self._renew_until_lost(leading_task)
        finally:
            was_leading = self._leading
            self._leading = False
            if was_leading:
                metrics.set_leader(self.lock.name, False)
            if leading_task is not None:
                leading_task.cancel()
                await asyncio.gather(leading_task, return_exceptions=True)
            if was_leading:
                log.info("stopped leading lock=%s identity=%s", self.lock.describe(), self.identity)
                if self.callbacks.on_stopped_leading is not None:
                    self.callbacks.on_stopped_leading()
                if self.config.release_on_cancel:
                    await asyncio.shield(self.release())

    async def _acquire(self) -> None:
        while True:
            if await self._try_acquire_or_renew():
                return
            await self._clock.sleep(jittered(self.config.retry_period, JITTER_FACTOR, self._rng))

    async def _renew_until_lost(self, leading_task: asyncio.Task[None]) -> None:
        last_renew = self._clock.monotonic()
        while not leading_task.done():
            await self._clock.sleep(self.config.retry_period)
            remaining = self.config.renew_deadline - (self._clock.monotonic() - last_renew)
            if remaining > 0 and await self._with_deadline(self._try_acquire_or_renew(), remaining):
                last_renew = self._clock.monotonic()
                continue
            if self._clock.monotonic() - last_renew >= self.config.renew_deadline:
                log.warning("failed to renew lease in time lock=%s identity=%s", self.lock.describe(), self.identity)
                return

    async def _with_deadline(self, attempt: Awaitable[bool], seconds: float) -> bool:
        """``attempt``'s result, or False if it takes more than ``seconds`` on the clock."""
        work = asyncio.ensure_future(attempt)
        timer = asyncio.ensure_future(self._clock.sleep(seconds))
        try:
            done, _ = await asyncio.wait({work, timer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            timer.cancel()
        if work in done:
            return work.result()
        work.cancel()
        await asyncio.gather(work, return_exceptions=True)
        return False

    async def _try_acquire_or_renew(self) -> bool:
        now_wall = self._clock.wall()
        now = self._clock.monotonic()
        desired = LeaderElectionRecord(self.identity, max(1, round(self.config.lease_duration)), now_wall, now_wall)
        try:
            old, raw = await self.lock.get()
        except errors.NotFound:
            try:
                await self.lock.create(desired)
            except errors.APIError as e:
                log.debug("lease create failed lock=%s error=%s", self.lock.describe(), e)
                return False
            self._observe(desired, "", now)
            self.renewals += 1
            return True
        except errors.APIError as e:
            log.info("lease read failed lock=%s error=%s", self.lock.describe(), e)
            return False
        if raw != self._observed_raw:
            self._observe(old, raw, now)
        held_by_other = old.holder_identity and old.holder_identity != self.identity
        if held_by_other and self._observed_time + old.lease_duration_seconds > now:
            return False
        if old.holder_identity == self.identity:
            desired = LeaderElectionRecord(self.identity, desired.lease_duration_seconds, old.acquire_time,
                                           now_wall, old.leader_transitions)
        else:
            desired = LeaderElectionRecord(self.identity, desired.lease_duration_seconds, now_wall, now_wall,
                                           old.leader_transitions + 1)
        try:
            await self.lock.update(desired)
        except errors.APIError as e:
            log.debug("lease update failed lock=%s error=%s", self.lock.describe(), e)
            return False
        self._observe(desired, "", now)
        self.renewals += 1
        return True

    def _observe(self, record: LeaderElectionRecord, raw: str, now: float) -> None:
        self._observed = record
        self._observed_raw = raw
        self._observed_time = now
        if record.holder_identity and record.holder_identity != self._reported_leader:
            self._reported_leader = record.holder_identity
            if self.callbacks.on_new_leader is not None:
                self.callbacks.on_new_leader(record.holder_identity)

    async def release(self) -> None:
        """Empty the lease if we still hold it (best effort). A Conflict means a renewal that was in
        flight when we were cancelled moved the lease on: read it again and retry, a few times."""
        for _attempt in range(RELEASE_ATTEMPTS):
            try:
                old, _ = await self.lock.get()
                if old.holder_identity != self.identity:
                    return
                await self.lock.update(LeaderElectionRecord("", 1, None, None, old.leader_transitions))
                log.info("released lease lock=%s identity=%s", self.lock.describe(), self.identity)
                return
            except errors.Conflict:
                continue
            except errors.APIError as e:
                log.warning("lease release failed lock=%s error=%s", self.lock.describe(), e)
                return
        log.warning("lease release gave up after conflicts lock=%s", self.lock.describe())
