"""The one place a controller's keys are queued, worked and retried (controller-runtime's model).

A controller is a :class:`Controller`: it names the informers it reads, adds event handlers that only
*enqueue keys* (``watch(queue)``), and reconciles one key at a time (``reconcile(key)``), reading listers
and writing through the client. :class:`Runner` owns everything else:

* the :class:`~sampan.client.workqueue.RateLimitingQueue` (a key is never worked by two workers at once);
* waiting for the controller's informers to sync before the first ``reconcile``;
* N worker tasks and an optional ``background()`` coroutine, all owned by one TaskGroup;
* the **whole retry policy**, one switch in :meth:`Runner.process`:

  ==========================================  =====================================================
  ``reconcile`` outcome                        what the runner does
  ==========================================  =====================================================
  returns ``None`` / ``Result()``              ``forget`` (reset the key's back-off)
  returns ``Result(requeue_after=s)``          ``forget``, then ``add_after(key, s)``
  returns ``Result(requeue=True)``             ``add_rate_limited`` (back-off grows, no error logged)
  raises :class:`~sampan.api.errors.Conflict`  ``add_rate_limited``, logged at DEBUG (stale cache)
  raises any other ``Exception``               ``add_rate_limited`` and a WARNING, or dropped with an
                                               ERROR once ``max_retries`` is reached
  ==========================================  =====================================================

Cancellation of :meth:`Runner.run` is the stop signal: the queue is shut down and workers end after their
current key.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from sampan._lib import tracing
from sampan._lib.clock import Clock, RealClock
from sampan.api import errors
from sampan.client import SharedIndexInformer
from sampan.client.cache import wait_for_cache_sync
from sampan.client.workqueue import RateLimiter, RateLimitingQueue, ShutDown

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Result:
    """What a successful reconcile asks for next. ``requeue_after`` wins over ``requeue``."""

    requeue_after: float | None = None
    """Reconcile the key again after this many seconds (a deadline to check, a pending state)."""
    requeue: bool = False
    """Reconcile again after the key's rate-limited back-off (waiting for something without an event)."""


class Enqueuer(Protocol):
    """What event handlers may do with the runner's queue."""

    def add(self, item: str) -> None: ...

    def add_after(self, item: str, delay: float) -> None: ...


class Controller(Protocol):
    """One reconciliation loop. Invariant: handlers added in ``watch`` only enqueue keys; all decisions and
    writes happen in ``reconcile``, which must be level-based and idempotent."""

    name: str
    """Upstream's controller name (``replicaset``, ``deployment``…), also the queue's and the log's name."""

    def informers(self) -> Sequence[SharedIndexInformer]:
        """The informers ``reconcile`` reads; the runner waits until they have synced."""
        ...

    def watch(self, queue: Enqueuer) -> None:
        """Add event handlers that enqueue keys into ``queue``; called once, before informers start."""
        ...

    async def reconcile(self, key: str) -> Result | None:
        """Bring the object named ``key`` to its desired state; raise to be retried with back-off."""
        ...


@runtime_checkable
class HasBackground(Protocol):
    """A controller that also needs a long-running task (a periodic monitor, a graph builder). The runner
    starts it after the informers synced and cancels it with the workers."""

    async def background(self) -> None: ...


class Runner:
    """Runs one :class:`Controller` with ``workers`` workers (see the module docstring for the policy)."""

    def __init__(
        self,
        controller: Controller,
        *,
        workers: int = 1,
        max_retries: int | None = None,
        rate_limiter: RateLimiter | None = None,
        clock: Clock | None = None,
    ) -> None:
        if workers < 1:
            raise ValueError(f"controller {controller.name}: workers must be >= 1, got {workers}")
        self.controller = controller
        self.workers = workers
        self.max_retries = max_retries
        self._clock = clock or RealClock()
        self.queue: RateLimitingQueue[str] = RateLimitingQueue(controller.name, rate_limiter=rate_limiter,
                                                               clock=self._clock)
        self.synced = asyncio.Event()
        """Set once the informers synced and workers started."""
        self.reconciles = 0
        self.failures = 0
        controller.watch(self.queue)

    async def run(self) -> None:
        """Wait for the informers, then work keys until cancelled."""
        name = self.controller.name
        try:
            informers = list(self.controller.informers())
            log.info("waiting for caches controller=%s informers=%d", name, len(informers))
            await wait_for_cache_sync(*informers)  # real time: polling a fake clock would never end
            log.info("starting workers controller=%s workers=%d", name, self.workers)
            async with asyncio.TaskGroup() as tg:
                for i in range(self.workers):
                    tg.create_task(self._worker(), name=f"{name}-worker-{i}")
                if isinstance(self.controller, HasBackground):
                    tg.create_task(self.controller.background(), name=f"{name}-background")
                self.synced.set()
        finally:
            self.queue.shut_down()
            log.info("stopped controller=%s", name)

    async def _worker(self) -> None:
        while True:
            try:
                key = await self.queue.get()
            except ShutDown:
                return
            try:
                if tracing.STATE.on:
                    await self._traced_process(key, self.queue.last_wait)
                else:
                    await self.process(key)
            finally:
                self.queue.done(key)

    async def _traced_process(self, key: str, waited: float) -> None:
        """:meth:`process` inside a ``reconcile`` span, after a ``workqueue.wait`` span of the queue time."""
        namespace, _, name = key.rpartition("/")
        attrs: dict[str, tracing.AttrValue] = {"controller": self.controller.name, "key": key,
                                               tracing.NAMESPACE: namespace, tracing.NAME: name}
        now = time.time_ns()
        with tracing.span("workqueue.wait", attrs, start_time_ns=now - int(waited * 1e9)):
            pass
        with tracing.span("reconcile", attrs):
            await self.process(key)

    async def process(self, key: str) -> None:
        """Reconcile ``key`` once and apply the retry policy (the caller marks the key done)."""
        name = self.controller.name
        self.reconciles += 1
        try:
            result = await self.controller.reconcile(key)
        except asyncio.CancelledError:
            raise
        except errors.Conflict as e:
            log.debug("reconcile conflict controller=%s key=%s error=%s", name, key, e)
            self._retry(key, e)
            return
        except Exception as e:  # the retry policy: every failure is retried with back-off
            self.failures += 1
            if isinstance(e, (errors.APIError, OSError)):
                log.warning("reconcile failed controller=%s key=%s error=%s", name, key, e)
            else:
                log.warning("reconcile failed controller=%s key=%s", name, key, exc_info=True)
            self._retry(key, e)
            return
        if result is None:
            self.queue.forget(key)
        elif result.requeue_after is not None:
            self.queue.forget(key)
            self.queue.add_after(key, max(0.0, result.requeue_after))
        elif result.requeue:
            self.queue.add_rate_limited(key)
        else:
            self.queue.forget(key)

    def _retry(self, key: str, error: BaseException) -> None:
        if self.max_retries is not None and self.queue.num_requeues(key) >= self.max_retries:
            log.error("dropping key after retries controller=%s key=%s retries=%d error=%s",
                      self.controller.name, key, self.max_retries, error)
            self.queue.forget(key)
            return
        self.queue.add_rate_limited(key)
