"""SchedulingQueue: order, back-off, event-driven moves, the 5-minute flush, deletes, the nominator."""

from __future__ import annotations

import asyncio

import pytest

from sampan._lib.clock import FakeClock
from sampan.scheduler.framework import events as ev
from sampan.scheduler.framework.interface import QueuedPodInfo
from sampan.scheduler.plugins.prioritysort import PrioritySort
from sampan.scheduler.queue import KeyedHeap, QueueClosed, QueueOptions, SchedulingQueue
from tests.scheduler.builders import pi

EVENTS = {
    "NodeResourcesFit": [ev.ClusterEvent(ev.ASSIGNED_POD, ev.ActionType.DELETE),
                         ev.ClusterEvent(ev.NODE, ev.ActionType.ADD | ev.ActionType.UPDATE_NODE_ALLOCATABLE)],
    "TaintToleration": [ev.ClusterEvent(ev.NODE, ev.ActionType.ADD | ev.ActionType.UPDATE_NODE_TAINT)],
    "InterPodAffinity": [ev.ClusterEvent(ev.ASSIGNED_POD, ev.ActionType.ALL)],
}


def make(clock: FakeClock) -> SchedulingQueue:
    return SchedulingQueue(less=PrioritySort().less, clock=clock, events_by_plugin=EVENTS)


def fail(q: SchedulingQueue, *plugins: str) -> QueuedPodInfo:
    item = q.pop_nowait()
    assert item is not None
    item.unschedulable_plugins = set(plugins)
    q.add_unschedulable(item, pod_scheduling_cycle=q.scheduling_cycle)
    return item


def test_priority_then_arrival_order() -> None:
    clock = FakeClock()
    q = make(clock)
    for name, prio in [("low", 1), ("high", 10), ("low2", 1), ("mid", 5)]:
        q.add(pi(name, priority=prio))
        clock._now += 1  # distinct arrival times without awaiting
    order = [q.pop_nowait().pod_info.name for _ in range(4)]  # type: ignore[union-attr]
    assert order == ["high", "mid", "low", "low2"]
    assert q.pop_nowait() is None


@pytest.mark.parametrize(("attempts", "seconds"), [(1, 1), (2, 2), (3, 4), (4, 8), (5, 10), (9, 10)])
def test_backoff_doubles_to_the_cap(attempts: int, seconds: float) -> None:
    q = make(FakeClock())
    item = QueuedPodInfo(pi("p"), 0.0, attempts=attempts)
    assert q.backoff_duration(item) == seconds


def test_error_goes_to_backoff_and_returns_when_it_expires() -> None:
    clock = FakeClock()
    q = make(clock)
    q.add(pi("p"))
    fail(q)  # no plugin: an error
    assert q.where("uid-default-p") == "backoff"
    clock._now += 0.9
    assert q.flush_backoff_completed() == 0
    clock._now += 0.2
    assert q.flush_backoff_completed() == 1
    assert q.where("uid-default-p") == "active"


def test_unschedulable_moves_only_on_interesting_events() -> None:
    clock = FakeClock()
    q = make(clock)
    q.add(pi("p"))
    fail(q, "TaintToleration")
    assert q.where("uid-default-p") == "unschedulable"
    assert q.move_all_to_active_or_backoff(ev.ASSIGNED_POD_DELETE) == 0  # freed resources don't help a taint
    assert q.move_all_to_active_or_backoff(ev.ClusterEvent(ev.NODE, ev.ActionType.UPDATE_NODE_LABEL)) == 0
    clock._now += 5  # back-off (1 s) is over
    assert q.move_all_to_active_or_backoff(ev.ClusterEvent(ev.NODE, ev.ActionType.UPDATE_NODE_TAINT)) == 1
    assert q.where("uid-default-p") == "active"


def test_moved_pod_still_backing_off_goes_to_backoff() -> None:
    clock = FakeClock()
    q = make(clock)
    q.add(pi("p"))
    fail(q, "NodeResourcesFit")
    q.move_all_to_active_or_backoff(ev.NODE_ADD)
    assert q.where("uid-default-p") == "backoff"


def test_move_request_during_cycle_sends_pod_to_backoff_not_unschedulable() -> None:
    clock = FakeClock()
    q = make(clock)
    q.add(pi("p"))
    item = q.pop_nowait()
    assert item is not None
    q.move_all_to_active_or_backoff(ev.NODE_ADD)  # a node arrived while p was being scheduled
    item.unschedulable_plugins = {"NodeResourcesFit"}
    q.add_unschedulable(item, pod_scheduling_cycle=q.scheduling_cycle)
    assert q.where("uid-default-p") == "backoff"


def test_leftover_flush_after_five_minutes() -> None:
    clock = FakeClock()
    q = make(clock)
    q.add(pi("p"))
    fail(q, "TaintToleration")
    clock._now += 299
    assert q.flush_unschedulable_leftover() == 0
    clock._now += 2
    assert q.flush_unschedulable_leftover() == 1
    assert q.where("uid-default-p") == "active"


def test_delete_and_update() -> None:
    clock = FakeClock()
    q = make(clock)
    q.add(pi("p"))
    q.delete("uid-default-p")
    assert q.pop_nowait() is None
    q.add(pi("p", priority=1))
    fail(q, "TaintToleration")
    clock._now += 2
    q.update(pi("p", priority=2))  # a spec change gives the pod another try
    item = q.pop_nowait()
    assert item is not None
    assert item.pod_info.priority == 2
    q.delete("uid-default-p")  # deleted while in flight: handing it back is a no-op
    q.add_unschedulable(item, pod_scheduling_cycle=q.scheduling_cycle)
    assert q.where("uid-default-p") == ""


def test_assigned_pod_added_moves_only_pods_with_matching_affinity() -> None:
    clock = FakeClock()
    q = make(clock)
    aff = {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"topologyKey": "z", "labelSelector": {"matchLabels": {"app": "db"}}}]}}
    q.add(pi("wants-db", affinity=aff))
    q.add(pi("other"))
    fail(q, "InterPodAffinity")
    fail(q, "InterPodAffinity")
    clock._now += 5
    assert q.assigned_pod_added(pi("db", labels={"app": "db"}, node_name="n")) == 1
    assert q.where("uid-default-wants-db") == "active"
    assert q.where("uid-default-other") == "unschedulable"


async def test_pop_waits_and_run_flushes_with_the_clock() -> None:
    clock = FakeClock()
    q = SchedulingQueue(less=PrioritySort().less, clock=clock, events_by_plugin=EVENTS,
                        options=QueueOptions(backoff_flush_period=0.5))
    runner = asyncio.create_task(q.run())
    waiter = asyncio.create_task(q.pop())
    await asyncio.sleep(0)
    assert not waiter.done()
    q.add(pi("p"))
    item = await waiter
    q.add_unschedulable(item, pod_scheduling_cycle=q.scheduling_cycle)  # error -> backoff 1 s
    waiter = asyncio.create_task(q.pop())
    await clock.advance(0.5)
    assert not waiter.done()
    await clock.advance(0.6)
    assert (await waiter).pod_info.name == "p"
    runner.cancel()
    q.close()
    with pytest.raises(QueueClosed):
        await q.pop()


def test_nominator() -> None:
    q = make(FakeClock())
    p = pi("p")
    q.nominator.add(p, "n1")
    assert q.nominator.nominated_pods_for_node("n1") == [p]
    q.nominator.add(p, "n2")
    assert q.nominator.nominated_pods_for_node("n1") == []
    assert set(q.nominator.nominated_node_names()) == {"n2"}
    q.delete(p.uid)
    assert not q.nominator.nominated_node_names()


def test_keyed_heap() -> None:
    h: KeyedHeap[int] = KeyedHeap(lambda a, b: a < b)
    for i, v in enumerate([5, 3, 9, 1, 7]):
        h.push(f"k{i}", v)
    h.delete("k3")
    h.push("k0", 0)  # replace
    assert [h.pop() for _ in range(len(h))] == [0, 3, 7, 9]
    assert h.pop() is None


def test_scheduling_gates_hold_the_pod_until_removed() -> None:
    clock = FakeClock()
    q = make(clock)
    q.add(pi("p", schedulingGates=[{"name": "example.com/wait"}]))
    assert q.where("uid-default-p") == "gated"
    assert q.move_all_to_active_or_backoff(ev.NODE_ADD) == 0
    assert q.pop_nowait() is None
    q.update(pi("p"))
    assert q.where("uid-default-p") == "active"
    assert q.pending()["gated"] == 0
