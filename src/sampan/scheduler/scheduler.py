"""Scheduler: the outer loop. Pods come from the queue one at a time; each goes through a scheduling
cycle (snapshot, filter, score, assume, reserve, permit) and then an asynchronous binding cycle (wait on
permit, pre-bind, bind, post-bind) that runs while the next pod is being scheduled.

Liveness (docs/liveness.md): the loop yields after every pod, and inside a cycle at the algorithm's safe
points (after each chunk of Filter, between Score plugins) once ``slice_budget`` (10 ms) of work has run,
so no loop turn holds a whole cycle over thousands of nodes. That is safe because the cycle reads only its
snapshot, which the cache refreshes at the start of the cycle by copying the NodeInfos that changed
(generation numbers, as upstream) and never touches during it; a pod deleted while its cycle was
suspended is dropped before it is assumed. Bindings are pipelined (each its own task, bounded only by the
client's rate limiter), never awaited on the hot path.

The informer-facing handlers (``add_pod`` … ``delete_node``) keep the cache and queue in step with
the cluster; they take wire-format dicts. The outside world is reached only through the seams in
``sampan.scheduler.interfaces`` (Binder, PodStatusWriter, Evictor, EventRecorder), all optional, so the
core runs in process with fakes (tests, the algorithm benchmark) and over the API later.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Collection, Coroutine
from dataclasses import dataclass, field
from typing import Any

from sampan._lib import tracing
from sampan._lib.clock import Clock, RealClock
from sampan._lib.slicing import DEFAULT_BUDGET, TimeSlice
from sampan.scheduler.algorithm import Algorithm, NoNodesAvailable
from sampan.scheduler.cache import Cache, VolumeCache, WorkloadCache
from sampan.scheduler.eventhandlers import EventHandlers
from sampan.scheduler.framework import events as ev
from sampan.scheduler.framework.config import SchedulerConfig
from sampan.scheduler.framework.cycle_state import CycleState
from sampan.scheduler.framework.fit_error import FitError
from sampan.scheduler.framework.interface import Binder, QueuedPodInfo, VolumeWriter
from sampan.scheduler.framework.pod_info import PodInfo
from sampan.scheduler.framework.registry import Registry
from sampan.scheduler.framework.runtime import Framework
from sampan.scheduler.framework.snapshot import Snapshot
from sampan.scheduler.framework.status import Code, PluginError, Status
from sampan.scheduler.framework.steps import Steps, run_sliced, run_to_end
from sampan.scheduler.interfaces import EventRecorder, Evictor, MetricsSink, PodStatusWriter
from sampan.scheduler.plugins import in_tree_registry
from sampan.scheduler.queue import QueueClosed, QueueOptions, SchedulingQueue

log = logging.getLogger(__name__)

_ASSIGNED_POD_FORGOTTEN = ev.ClusterEvent(ev.ASSIGNED_POD, ev.ActionType.DELETE, "AssignedPodForgotten")
UNSCHEDULABLE = "Unschedulable"
SCHEDULER_ERROR = "SchedulerError"


@dataclass(frozen=True)
class SchedulerOptions:
    """``config``: profiles and back-off; ``assumed_pod_ttl``: how long a bound-but-unconfirmed pod
    keeps its resources (30 s); ``cache_cleanup_period``: how often expired assumed pods are dropped (1 s);
    ``unschedulable_flush_period``/``max_unschedulable``: the queue's leftover flush (30 s / 5 min);
    ``slice_budget``: work a cycle does before it gives the event loop a turn at a safe point (10 ms; 0 =
    at every safe point)."""

    config: SchedulerConfig = field(default_factory=SchedulerConfig)
    assumed_pod_ttl: float = 30.0
    cache_cleanup_period: float = 1.0
    backoff_flush_period: float = 1.0
    unschedulable_flush_period: float = 30.0
    max_unschedulable: float = 300.0
    slice_budget: float = DEFAULT_BUDGET


@dataclass
class SchedulerStats:
    """Counters the metrics endpoint will export (scheduler_schedule_attempts_total by result)."""

    scheduled: int = 0
    unschedulable: int = 0
    error: int = 0
    e2e_seconds_total: float = 0.0


@dataclass
class PendingBinding:
    """What the scheduling cycle hands to the binding cycle."""

    framework: Framework
    state: CycleState
    queued: QueuedPodInfo
    assumed: PodInfo
    node_name: str
    cycle: int
    waiting: bool
    started: float = 0.0
    """Monotonic time the scheduling cycle began (the attempt-duration metric's start)."""


class Scheduler:
    def __init__(
        self, options: SchedulerOptions | None = None, *, clock: Clock | None = None,
        registry: Registry | None = None, binder: Binder | None = None, status_writer: PodStatusWriter | None = None,
        evictor: Evictor | None = None, recorder: EventRecorder | None = None, rng: random.Random | None = None,
        metrics: MetricsSink | None = None, volume_writer: VolumeWriter | None = None,
    ) -> None:
        self.options = options or SchedulerOptions()
        cfg = self.options.config
        self.clock = clock or RealClock()
        self.status_writer = status_writer
        self.evictor = evictor
        self.recorder = recorder
        self.metrics = metrics
        self._cycle_started = 0.0
        self.cache = Cache(clock=self.clock, ttl=self.options.assumed_pod_ttl)
        self.volumes = VolumeCache()
        self.workloads = WorkloadCache()
        self.snapshot = Snapshot()
        self.algorithm = Algorithm(percentage_of_nodes_to_score=cfg.percentage_of_nodes_to_score, rng=rng)
        reg = registry or in_tree_registry()
        self.queue: SchedulingQueue
        self.frameworks: dict[str, Framework] = {}
        nominator_holder: list[SchedulingQueue] = []
        for profile in cfg.profiles:
            fwk = Framework(profile, reg, clock=self.clock, binder=binder,
                            nominator=_LazyNominator(nominator_holder), volumes=self.volumes,
                            volume_writer=volume_writer, workloads=self.workloads)
            self.frameworks[profile.scheduler_name] = fwk
        first = next(iter(self.frameworks.values()))
        sorts = {f.queue_sort.name for f in self.frameworks.values()}
        if len(sorts) > 1:
            raise ValueError(f"all profiles must use the same queueSort plugin, got {sorted(sorts)}")
        events: dict[str, list[Any]] = {}
        for fwk in self.frameworks.values():
            for name, evs in fwk.events_to_register().items():
                events.setdefault(name, []).extend(evs)
        self.queue = SchedulingQueue(
            less=first.less, clock=self.clock, events_by_plugin=events,
            options=QueueOptions(
                initial_backoff=cfg.pod_initial_backoff_seconds, max_backoff=cfg.pod_max_backoff_seconds,
                max_unschedulable=self.options.max_unschedulable,
                backoff_flush_period=self.options.backoff_flush_period,
                unschedulable_flush_period=self.options.unschedulable_flush_period,
            ),
        )
        nominator_holder.append(self.queue)
        self.handlers = EventHandlers(self.cache, self.queue, self.frameworks, volumes=self.volumes,
                                      workloads=self.workloads)
        self.stats = SchedulerStats()
        self._tasks: set[asyncio.Task[None]] = set()
        self.cycle_slice = TimeSlice(self.options.slice_budget)

    # -- the scheduling cycle ------------------------------------------------------------------------
    def schedule_cycle(self, q: QueuedPodInfo) -> PendingBinding | None:
        """Run one scheduling cycle without yielding; returns the binding work, or None when the pod was
        handed back."""
        return run_to_end(self._cycle_steps(q))

    async def schedule_cycle_sliced(self, q: QueuedPodInfo) -> PendingBinding | None:
        """``schedule_cycle``, giving the event loop a turn every ``slice_budget`` of work."""
        self.cycle_slice.restart()
        return await run_sliced(self._cycle_steps(q), self.cycle_slice)

    def _cycle_steps(self, q: QueuedPodInfo) -> Steps[PendingBinding | None]:
        pod = q.pod_info
        fwk = self.frameworks.get(pod.scheduler_name)
        if fwk is None or self.cache.is_assumed(pod.uid) or self.cache.get_pod(pod.uid) is not None:
            self.queue.done(pod.uid)
            return None
        cycle = self.queue.scheduling_cycle
        self.cache.update_snapshot(self.snapshot)
        fwk.snapshot = self.snapshot
        state = CycleState()
        popped = self.queue.in_flight(pod.uid)
        try:
            result = yield from self.algorithm.schedule_pod_steps(fwk, state, pod, self.snapshot)
        except FitError as fe:
            yield from self._on_fit_error(fwk, state, q, fe, cycle, popped=popped)
            return None
        except (NoNodesAvailable, PluginError) as exc:
            self._fail(q, cycle, plugins=set(), reason=SCHEDULER_ERROR, message=str(exc))
            return None
        if popped and not self.queue.in_flight(pod.uid):
            log.debug("pod deleted during its scheduling cycle pod=%s", pod.key)
            return None
        host = result.suggested_host
        assumed = pod.with_node(host)
        self.cache.assume_pod(assumed, host)
        st = fwk.run_reserve_plugins_reserve(state, assumed, host)
        if st is None:
            st = fwk.run_permit_plugins(state, assumed, host)
            if st is not None and st.code == Code.WAIT:
                return PendingBinding(fwk, state, q, assumed, host, cycle, waiting=True,
                                      started=self._cycle_started)
        if st is not None:
            fwk.run_reserve_plugins_unreserve(state, assumed, host)
            self.cache.forget_pod(pod.uid)
            reason = SCHEDULER_ERROR if st.code == Code.ERROR else UNSCHEDULABLE
            self._fail(q, cycle, plugins={st.plugin} if st.plugin else set(), reason=reason, message=st.message)
            return None
        return PendingBinding(fwk, state, q, assumed, host, cycle, waiting=False, started=self._cycle_started)

    def _on_fit_error(
        self, fwk: Framework, state: CycleState, q: QueuedPodInfo, fe: FitError, cycle: int, *, popped: bool,
    ) -> Steps[None]:
        """PostFilter (preemption), sliced like the rest of the cycle, then the pod goes back to the queue.
        A pod deleted during the PostFilter's yields is dropped: nothing is nominated or evicted for it."""
        nominated: str | None = None
        victims: tuple[PodInfo, ...] = ()
        if fwk.points["postFilter"]:
            result, st = yield from fwk.post_filter_steps(state, q.pod_info, fe.diagnosis.node_to_status)
            if popped and not self.queue.in_flight(q.pod_info.uid):
                log.debug("pod deleted during its preemption dry runs pod=%s", q.pod_info.key)
                return
            if st.code == Code.SUCCESS and result is not None:
                nominated, victims = result.nominated_node_name, result.victims
            elif st.code != Code.SUCCESS:
                fe.diagnosis.post_filter_msg = st.message
                if result is not None:
                    nominated = result.nominated_node_name
        self._fail(q, cycle, plugins=fe.diagnosis.unschedulable_plugins, reason=UNSCHEDULABLE, message=fe.message,
                   nominated=nominated, victims=victims)

    def _fail(
        self, q: QueuedPodInfo, cycle: int, *, plugins: set[str], reason: str, message: str,
        nominated: str | None = None, victims: tuple[PodInfo, ...] = (), started: float | None = None,
    ) -> None:
        pod = q.pod_info
        if reason == SCHEDULER_ERROR:
            self.stats.error += 1
        else:
            self.stats.unschedulable += 1
        if self.metrics is not None:
            begun = self._cycle_started if started is None else started
            self.metrics.attempt(result="error" if reason == SCHEDULER_ERROR else "unschedulable",
                                 profile=pod.scheduler_name, seconds=self.clock.monotonic() - begun)
        log.debug("pod unschedulable pod=%s reason=%s message=%s", pod.key, reason, message)
        q.unschedulable_plugins = set(plugins)
        if nominated:
            self.queue.nominator.add(pod, nominated)
        elif nominated == "":
            self.queue.nominator.delete(pod.uid)
        self.queue.add_unschedulable(q, pod_scheduling_cycle=cycle)
        if self.recorder is not None:
            self.recorder.event(pod, type_="Warning", reason="FailedScheduling", message=message)
        if self.status_writer is not None:
            self._spawn(self.status_writer.set_unschedulable(
                pod, reason=reason, message=message, nominated_node_name=nominated))
        if self.evictor is not None:
            for v in victims:
                self._spawn(self.evictor.evict(v, preemptor=pod))

    # -- the binding cycle (asynchronous) -------------------------------------------------------------
    async def binding_cycle(self, b: PendingBinding) -> bool:
        """Bind the assumed pod; on failure undo the assumption and hand the pod back. True if bound."""
        if tracing.STATE.on:
            with tracing.span("scheduler.bind", {**_pod_attributes(b.assumed), "node": b.node_name}) as span:
                bound = await self._binding_cycle(b)
                span.set_attribute("bound", bound)
                return bound
        return await self._binding_cycle(b)

    async def _binding_cycle(self, b: PendingBinding) -> bool:
        fwk, pod, host = b.framework, b.assumed, b.node_name
        st: Status | None = None
        if b.waiting:
            st = await fwk.wait_on_permit(pod)
        if st is None:
            st = await fwk.run_pre_bind_plugins(b.state, pod, host)
        if st is None:
            st = await fwk.run_bind_plugins(b.state, pod, host)
        if st is not None:
            fwk.run_reserve_plugins_unreserve(b.state, pod, host)
            self.cache.forget_pod(pod.uid)
            self.queue.move_all_to_active_or_backoff(_ASSIGNED_POD_FORGOTTEN)
            reason = SCHEDULER_ERROR if st.code == Code.ERROR else UNSCHEDULABLE
            self._fail(b.queued, b.cycle, plugins={st.plugin} if st.plugin else set(), reason=reason,
                       message=st.message, started=b.started)
            return False
        self.cache.finish_binding(pod.uid)
        self.queue.done(pod.uid)
        self.queue.nominator.delete(pod.uid)
        self.stats.scheduled += 1
        now = self.clock.monotonic()
        if b.queued.initial_attempt_timestamp is not None:
            self.stats.e2e_seconds_total += now - b.queued.initial_attempt_timestamp
        if self.metrics is not None:
            self.metrics.attempt(result="scheduled", profile=pod.scheduler_name, seconds=now - b.started)
            if b.queued.initial_attempt_timestamp is not None:
                self.metrics.e2e(profile=pod.scheduler_name, seconds=now - b.queued.initial_attempt_timestamp)
        fwk.run_post_bind_plugins(b.state, pod, host)
        if self.recorder is not None:
            self.recorder.event(pod, type_="Normal", reason="Scheduled",
                                message=f"Successfully assigned {pod.key} to {host}")
        return True

    # -- the loop ----------------------------------------------------------------------------------
    async def schedule_one(self) -> None:
        q = await self.queue.pop()
        self._cycle_started = self.clock.monotonic()
        if tracing.STATE.on:
            with tracing.span("scheduler.cycle", _pod_attributes(q.pod_info)):
                await self._schedule_popped(q)
            return
        await self._schedule_popped(q)

    async def _schedule_popped(self, q: QueuedPodInfo) -> None:
        try:
            b = await self.schedule_cycle_sliced(q)
        except Exception as exc:  # a plugin bug must not stop the scheduler
            log.exception("scheduling cycle failed pod=%s", q.pod_info.key)
            if self.cache.is_assumed(q.pod_info.uid):
                self.cache.forget_pod(q.pod_info.uid)
            self._fail(q, self.queue.scheduling_cycle, plugins=set(), reason=SCHEDULER_ERROR,
                       message=f"internal error: {exc}")
            return
        if b is not None:
            self._spawn(self.binding_cycle(b))

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Run ``coro`` as a task owned by this scheduler; its failure is logged, never lost."""
        task = asyncio.ensure_future(_guarded(coro))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _cleanup_loop(self) -> None:
        while True:
            await self.clock.sleep(self.options.cache_cleanup_period)
            self.cache.cleanup_expired()

    async def run(self) -> None:
        """Schedule until cancelled (the informers must feed the handlers meanwhile)."""
        log.info("scheduler starting profiles=%s", ",".join(self.frameworks))
        try:
            async with asyncio.TaskGroup() as tg:
                background = [tg.create_task(self.queue.run()), tg.create_task(self._cleanup_loop())]
                while True:
                    try:
                        await self.schedule_one()
                    except QueueClosed:
                        break
                    # pop() does not yield while pods are queued: give the loop a turn between pods, so
                    # informer events, binding responses and probes never wait behind a burst of cycles
                    await asyncio.sleep(0)
                for t in background:
                    t.cancel()
        finally:
            for t in list(self._tasks):
                t.cancel()
            if self._tasks:
                await asyncio.gather(*self._tasks, return_exceptions=True)
            log.info("scheduler stopped")


def _pod_attributes(pod: PodInfo) -> dict[str, tracing.AttrValue]:
    return {tracing.UID: pod.uid, tracing.NAMESPACE: pod.namespace, tracing.NAME: pod.name, tracing.KIND: "pods"}


async def _guarded(coro: Coroutine[Any, Any, Any]) -> None:
    try:
        await coro
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("scheduler background task failed")


class _LazyNominator:
    """The frameworks are built before the queue that owns the nominator; this forwards to it."""

    def __init__(self, holder: list[SchedulingQueue]) -> None:
        self._holder = holder

    def nominated_pods_for_node(self, node_name: str) -> list[PodInfo]:
        return self._holder[0].nominator.nominated_pods_for_node(node_name) if self._holder else []

    def nominated_node_names(self) -> Collection[str]:
        return self._holder[0].nominator.nominated_node_names() if self._holder else ()

