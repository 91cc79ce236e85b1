"""A scheduling cycle over many nodes gives the event loop turns (progress-based, no timing), and its
snapshot stays what it was at the start of the cycle while informer events change the cache meanwhile."""

from __future__ import annotations

import asyncio
import random

from sampan._lib.clock import FakeClock
from sampan.scheduler.framework.interface import QueuedPodInfo
from sampan.scheduler.scheduler import Scheduler, SchedulerOptions
from tests.scheduler.builders import node, pod


def _scheduler(nodes: int, *, budget: float = 0.0) -> Scheduler:
    sched = Scheduler(SchedulerOptions(slice_budget=budget), clock=FakeClock(), rng=random.Random(7))
    for i in range(nodes):
        sched.handlers.add_node(node(f"n{i}", labels={"topology.kubernetes.io/zone": f"z{i % 3}"}))
    return sched


def _pop(sched: Scheduler, name: str) -> QueuedPodInfo:
    sched.handlers.add_pod(pod(name, cpu="100m"))
    q = sched.queue.pop_nowait()
    assert q is not None
    assert q.pod_info.name == name
    return q


async def test_a_long_filter_yields_to_the_loop_and_decides_as_the_unsliced_cycle() -> None:
    sched = _scheduler(2000)
    turns = 0

    async def other_task() -> None:
        nonlocal turns
        while True:
            turns += 1
            await asyncio.sleep(0)

    other = asyncio.create_task(other_task())
    await asyncio.sleep(0)
    before = turns
    b = await sched.schedule_cycle_sliced(_pop(sched, "p"))
    other.cancel()
    assert b is not None
    # 2000 nodes -> 680 to find -> two Filter chunks, plus the PreFilter, PreScore and per-Score-plugin safe points
    assert turns - before >= 3
    assert sched.cycle_slice.yields >= 3
    # same decision as the cycle run to the end without yielding (same RNG, same cluster)
    twin = _scheduler(2000)
    b2 = twin.schedule_cycle(_pop(twin, "p"))
    assert b2 is not None
    assert b2.node_name == b.node_name
    assert sched.algorithm.next_start_node_index == twin.algorithm.next_start_node_index


async def test_the_snapshot_does_not_change_while_the_cache_does_during_a_cycle() -> None:
    sched = _scheduler(600)
    seen: dict[str, object] = {}

    async def informer() -> None:
        """Runs at the cycle's first safe point: the events an informer would deliver meanwhile."""
        h, snap = sched.handlers, sched.snapshot
        seen["during_cycle"] = not cycle.done()
        h.add_node(node("late"))
        h.add_pod(pod("bound", cpu="1", node_name="n0"))
        h.update_node(node("n1"), node("n1", labels={"extra": "yes"}))
        cached_n0, snap_n0, snap_n1 = sched.cache.node("n0"), snap.get("n0"), snap.get("n1")
        assert cached_n0 is not None
        assert snap_n0 is not None
        assert snap_n1 is not None
        seen["cache"] = (sched.cache.node("late") is not None, cached_n0.requested.milli_cpu)
        seen["snapshot"] = (len(snap), snap.get("late"), snap_n0.requested.milli_cpu, snap_n1.labels.get("extra"))

    cycle = asyncio.create_task(sched.schedule_cycle_sliced(_pop(sched, "p")))
    intruder = asyncio.create_task(informer())
    b = await cycle
    await intruder
    assert b is not None
    assert seen["during_cycle"] is True
    assert seen["cache"] == (True, 1000)
    assert seen["snapshot"] == (600, None, 0, None)
    # the next cycle's refresh copies only what changed, and the copies are not the cache's objects
    sched.cache.update_snapshot(sched.snapshot)
    snap = sched.snapshot
    n0, n1 = snap.get("n0"), snap.get("n1")
    assert len(snap) == 601
    assert snap.get("late") is not None
    assert n0 is not None
    assert n1 is not None
    assert n0.requested.milli_cpu == 1000
    assert n1.labels.get("extra") == "yes"
    assert n0 is not sched.cache.node("n0")


async def test_a_pod_deleted_while_its_cycle_is_suspended_is_not_assumed() -> None:
    sched = _scheduler(300)
    q = _pop(sched, "p")

    async def delete() -> None:
        sched.handlers.delete_pod(q.pod_info.pod)

    cycle = asyncio.create_task(sched.schedule_cycle_sliced(q))
    deleter = asyncio.create_task(delete())
    assert await cycle is None
    await deleter
    assert not sched.cache.is_assumed(q.pod_info.uid)
    assert sched.queue.where(q.pod_info.uid) == ""
