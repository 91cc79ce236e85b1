"""A scheduling cycle over many nodes gives the event loop turns (progress-based, no timing), and its
snapshot stays what it was at the start of the cycle while informer events change the cache meanwhile."""

from __future__ import annotations

import asyncio
import random
from typing import Any, TypeVar

from sampan._lib.clock import FakeClock
from sampan.scheduler.algorithm import Algorithm
from sampan.scheduler.framework.cycle_state import CycleState
from sampan.scheduler.framework.fit_error import FitError
from sampan.scheduler.framework.interface import QueuedPodInfo
from sampan.scheduler.framework.pod_info import PodInfo
from sampan.scheduler.framework.steps import Steps
from sampan.scheduler.plugins.interpodaffinity.filtering import NODE_CHUNK
from sampan.scheduler.scheduler import Scheduler, SchedulerOptions
from tests.scheduler.builders import World, node, pi, pod

T = TypeVar("T")


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


# -- PreFilter/PreScore walks and preemption's dry runs are sliced too ---------------------------------

ZONE, HOST = "topology.kubernetes.io/zone", "kubernetes.io/hostname"


def _term(key: str, match: dict[str, str]) -> dict[str, Any]:
    return {"topologyKey": key, "labelSelector": {"matchLabels": match}}


def _affinity_world(nodes: int) -> World:
    """Every node holds a db pod with required anti-affinity to web pods (per host) and a preferred
    affinity to them (per zone): InterPodAffinity's PreFilter and PreScore walk every node."""
    db_affinity = {
        "podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [_term(HOST, {"app": "web"})]},
        "podAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 5, "podAffinityTerm": _term(ZONE, {"app": "web"})}]},
    }
    return World([node(f"n{i}", labels={ZONE: f"z{i % 3}"}) for i in range(nodes)],
                 [pod(f"db{i}", node_name=f"n{i}", labels={"app": "db"}, affinity=db_affinity)
                  for i in range(0, nodes, 2)])


def _drive(steps: Steps[T]) -> tuple[T, int]:
    """Run ``steps`` to the end; (its result, how many safe points it offered)."""
    yields = 0
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value, yields
        yields += 1


def test_interpodaffinity_prefilter_and_prescore_offer_safe_points_and_keep_their_results() -> None:
    w = _affinity_world(400)
    web = pi("web", labels={"app": "web"}, affinity={
        "podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [_term(ZONE, {"app": "db"})]},
        "podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 3, "podAffinityTerm": _term(ZONE, {"app": "db"})}]}})
    nodes = w.snapshot.node_infos
    sliced, whole = CycleState(), CycleState()
    (result, st), yields = _drive(w.fwk.pre_filter_steps(sliced, web, nodes))
    assert (result, st) == w.fwk.run_pre_filter_plugins(whole, web, nodes)
    # 200 nodes with anti-affinity pods + 400 nodes walked for the pod's own terms, a safe point every 64
    assert yields >= (200 + 400) // NODE_CHUNK
    assert sliced.read("PreFilterInterPodAffinity") == whole.read("PreFilterInterPodAffinity")
    st, yields = _drive(w.fwk.pre_score_steps(sliced, web, nodes))
    assert st == w.fwk.run_pre_score_plugins(whole, web, nodes)
    assert yields >= 400 // NODE_CHUNK
    assert sliced.read("PreScoreInterPodAffinity") == whole.read("PreScoreInterPodAffinity")
    assert sliced.read("PreScoreInterPodAffinity")  # the walk found something to score


def _full_cluster(nodes: int) -> World:
    return World([node(f"n{i}", cpu="1") for i in range(nodes)],
                 [pod(f"low{i}", node_name=f"n{i}", cpu="1", priority=i % 7) for i in range(nodes)])


def test_preemption_dry_runs_offer_a_safe_point_per_node_and_pick_the_same_victims() -> None:
    w = _full_cluster(150)
    high = pi("high", cpu="1", priority=100)
    state = CycleState()
    try:
        Algorithm().schedule_pod(w.fwk, state, high, w.snapshot)
    except FitError as fe:
        statuses = fe.diagnosis.node_to_status
    else:
        raise AssertionError("the pod must not fit")
    (result, st), yields = _drive(w.fwk.post_filter_steps(state.clone(), high, statuses))
    whole_result, whole_st = w.fwk.run_post_filter_plugins(state.clone(), high, statuses)
    assert st.is_success()
    assert whole_st.is_success()
    assert result is not None
    assert whole_result is not None
    assert result.nominated_node_name == whole_result.nominated_node_name
    assert [v.name for v in result.victims] == [v.name for v in whole_result.victims] == ["low0"]
    assert yields >= 100  # minCandidateNodesAbsolute dry runs, one safe point after each


class _RecordingEvictor:
    def __init__(self) -> None:
        self.evicted: list[str] = []

    async def evict(self, victim: PodInfo, *, preemptor: PodInfo) -> None:
        self.evicted.append(victim.name)


async def test_a_sliced_preemption_nominates_as_the_unsliced_one_and_evicts_nothing_for_a_deleted_pod() -> None:
    def scheduler(evictor: _RecordingEvictor) -> Scheduler:
        sched = Scheduler(SchedulerOptions(slice_budget=0.0), clock=FakeClock(), rng=random.Random(7),
                          evictor=evictor)
        for i in range(120):
            sched.handlers.add_node(node(f"n{i}", cpu="1"))
            sched.handlers.add_pod(pod(f"low{i}", node_name=f"n{i}", cpu="1", priority=i % 5))
        sched.handlers.add_pod(pod("high", cpu="1", priority=100))
        return sched

    def popped(sched: Scheduler) -> QueuedPodInfo:
        q = sched.queue.pop_nowait()
        assert q is not None
        assert q.pod_info.name == "high"
        return q

    sliced_ev, whole_ev = _RecordingEvictor(), _RecordingEvictor()
    sliced, whole = scheduler(sliced_ev), scheduler(whole_ev)
    qs, qw = popped(sliced), popped(whole)
    assert await sliced.schedule_cycle_sliced(qs) is None
    assert whole.schedule_cycle(qw) is None
    await asyncio.sleep(0)  # the eviction tasks run
    assert sliced.cycle_slice.yields >= 100
    assert sliced_ev.evicted == whole_ev.evicted == ["low0"]
    assert sliced.queue.nominator.nominated_node(qs.pod_info.uid) == "n0"
    assert whole.queue.nominator.nominated_node(qw.pod_info.uid) == "n0"

    # the pod is deleted at a safe point of its cycle: no nomination, no eviction
    evictor = _RecordingEvictor()
    gone = scheduler(evictor)
    q = popped(gone)

    async def delete() -> None:
        gone.handlers.delete_pod(q.pod_info.pod)

    cycle = asyncio.create_task(gone.schedule_cycle_sliced(q))
    deleter = asyncio.create_task(delete())
    assert await cycle is None
    await deleter
    await asyncio.sleep(0)
    assert evictor.evicted == []
    assert gone.queue.nominator.nominated_node(q.pod_info.uid) == ""
