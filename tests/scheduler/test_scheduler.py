"""The outer loop with in-process fakes for the API seams: scheduling, binding, failures with
upstream's message, requeue on a node add, two profiles, binding failure, preemption, Permit."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator, Mapping
from typing import Any

import pytest

from sampan._lib.clock import FakeClock
from sampan.scheduler.framework.config import load_config
from sampan.scheduler.framework.cycle_state import CycleState
from sampan.scheduler.framework.interface import Handle
from sampan.scheduler.framework.pod_info import PodInfo
from sampan.scheduler.framework.registry import Registry
from sampan.scheduler.framework.status import Code, Status
from sampan.scheduler.plugins import in_tree_registry
from sampan.scheduler.scheduler import Scheduler, SchedulerOptions
from tests.scheduler.builders import node, pod


class FakeAPI:
    """Binder + PodStatusWriter + Evictor + EventRecorder, recording calls; binding can be failed."""

    def __init__(self) -> None:
        self.bound: dict[str, str] = {}
        self.conditions: dict[str, tuple[str, str, str | None]] = {}
        self.evicted: list[str] = []
        self.events: list[tuple[str, str]] = []
        self.fail_binding: set[str] = set()
        self.scheduler: Scheduler | None = None

    async def bind(self, pod: PodInfo, node_name: str) -> None:
        if pod.name in self.fail_binding:
            self.fail_binding.discard(pod.name)
            raise RuntimeError("conflict")
        self.bound[pod.name] = node_name
        assert self.scheduler is not None
        bound = dict(pod.pod, spec={**pod.pod["spec"], "nodeName": node_name})
        self.scheduler.handlers.update_pod(pod.pod, bound)  # the informer's echo

    async def set_unschedulable(self, pod: PodInfo, *, reason: str, message: str,
                                nominated_node_name: str | None) -> None:
        self.conditions[pod.name] = (reason, message, nominated_node_name)

    async def evict(self, victim: PodInfo, *, preemptor: PodInfo) -> None:
        self.evicted.append(victim.name)
        assert self.scheduler is not None
        self.scheduler.handlers.delete_pod(victim.pod)

    def event(self, pod: PodInfo, *, type_: str, reason: str, message: str) -> None:
        self.events.append((reason, message))


async def settle(clock: FakeClock, seconds: float = 0.0) -> None:
    for _ in range(20):
        await asyncio.sleep(0)
    if seconds:
        await clock.advance(seconds)
        for _ in range(20):
            await asyncio.sleep(0)


@contextlib.asynccontextmanager
async def running(config: str = "", registry: Registry | None = None
                  ) -> AsyncIterator[tuple[Scheduler, FakeAPI, FakeClock]]:
    clock = FakeClock()
    api = FakeAPI()
    sched = Scheduler(SchedulerOptions(config=load_config(config)), clock=clock, binder=api, status_writer=api,
                      evictor=api, recorder=api, rng=random.Random(1), registry=registry)
    api.scheduler = sched
    task = asyncio.create_task(sched.run())
    try:
        yield sched, api, clock
    finally:
        sched.queue.close()
        await asyncio.wait_for(task, 5)


@pytest.fixture
async def world() -> AsyncIterator[tuple[Scheduler, FakeAPI, FakeClock]]:
    async with running() as w:
        yield w


async def test_schedules_and_binds(world: tuple[Scheduler, FakeAPI, FakeClock]) -> None:
    sched, api, clock = world
    sched.handlers.add_node(node("a", cpu="2"))
    sched.handlers.add_node(node("b", cpu="2"))
    for i in range(3):
        sched.handlers.add_pod(pod(f"p{i}", cpu="1"))
    await settle(clock)
    assert sorted(api.bound) == ["p0", "p1", "p2"]
    assert sorted(api.bound.values()).count("a") in (1, 2)
    assert ("Scheduled", f"Successfully assigned default/p0 to {api.bound['p0']}") in api.events
    assert sched.stats.scheduled == 3
    assert not any(sched.cache.is_assumed(f"uid-default-p{i}") for i in range(3))  # confirmed


async def test_unschedulable_then_node_added(world: tuple[Scheduler, FakeAPI, FakeClock]) -> None:
    sched, api, clock = world
    taint = [{"key": "key", "value": "value", "effect": "NoSchedule"}]
    sched.handlers.add_node(node("a", cpu="3"))
    sched.handlers.add_node(node("b", taints=taint))
    sched.handlers.add_node(node("c", taints=taint))
    sched.handlers.add_pod(pod("resident", cpu="2", node_name="a"))
    sched.handlers.add_pod(pod("big", cpu="2"))
    await settle(clock)
    reason, message, _ = api.conditions["big"]
    assert reason == "Unschedulable"
    assert message == ("0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had untolerated taint {key: value}. "
                       "preemption: 0/3 nodes are available: 1 No preemption victims found for incoming pod, "
                       "2 Preemption is not helpful for scheduling..")
    assert ("FailedScheduling", message) in api.events
    assert sched.queue.where("uid-default-big") == "unschedulable"
    await settle(clock, 60)
    assert "big" not in api.bound  # no event, no retry (before the 5-minute flush)
    sched.handlers.add_node(node("d", cpu="4"))
    await settle(clock, 1.5)  # the moved pod waits out its back-off
    assert api.bound["big"] == "d"


async def test_pods_for_other_schedulers_are_ignored(world: tuple[Scheduler, FakeAPI, FakeClock]) -> None:
    sched, api, clock = world
    sched.handlers.add_node(node("a"))
    sched.handlers.add_pod(pod("mine", cpu="1"))
    sched.handlers.add_pod(pod("theirs", cpu="1", schedulerName="other-scheduler"))
    await settle(clock)
    assert set(api.bound) == {"mine"}


PACKER = """
profiles:
- schedulerName: default-scheduler
- schedulerName: packer
  plugins:
    score:
      disabled: [{name: "*"}]
      enabled: [{name: NodeResourcesFit}]
  pluginConfig:
  - name: NodeResourcesFit
    args: {scoringStrategy: {type: MostAllocated}}
"""


async def test_two_profiles() -> None:
    async with running(PACKER) as (sched, api, clock):
        sched.handlers.add_node(node("busy", cpu="4"))
        sched.handlers.add_node(node("idle", cpu="4"))
        sched.handlers.add_pod(pod("seed", cpu="2", node_name="busy"))
        sched.handlers.add_pod(pod("spread", cpu="1"))
        sched.handlers.add_pod(pod("pack", cpu="1", schedulerName="packer"))
        await settle(clock)
        assert api.bound == {"spread": "idle", "pack": "busy"}


async def test_binding_failure_forgets_and_retries(world: tuple[Scheduler, FakeAPI, FakeClock]) -> None:
    sched, api, clock = world
    sched.handlers.add_node(node("a", cpu="1"))
    api.fail_binding.add("p")
    sched.handlers.add_pod(pod("p", cpu="1"))
    await settle(clock)
    assert "p" not in api.bound
    assert api.conditions["p"][0] == "SchedulerError"
    assert "binding rejected: conflict" in api.conditions["p"][1]
    n = sched.cache.node("a")
    assert n is not None
    assert n.requested.milli_cpu == 0  # the assumption was forgotten
    await settle(clock, 1.5)
    assert api.bound["p"] == "a"


async def test_preemption_evicts_and_nominates(world: tuple[Scheduler, FakeAPI, FakeClock]) -> None:
    sched, api, clock = world
    sched.handlers.add_node(node("a", cpu="2"))
    sched.handlers.add_pod(pod("low", cpu="2", priority=1, node_name="a"))
    sched.handlers.add_pod(pod("vip", cpu="2", priority=100))
    await settle(clock)
    assert api.evicted == ["low"]
    assert api.conditions["vip"][2] == "a"
    assert sched.queue.nominator.nominated_node("uid-default-vip") == "a"
    await settle(clock, 1.5)  # the victim's deletion moved vip; back-off over
    assert api.bound["vip"] == "a"
    assert sched.queue.nominator.nominated_node("uid-default-vip") == ""


class WaitForApproval:
    """A Permit plugin that parks every pod until the test allows it."""

    name = "WaitForApproval"

    def permit(self, state: CycleState, pod: PodInfo, node_name: str) -> tuple[Status | None, float]:
        return Status(Code.WAIT), 30.0


def _approval_registry() -> Registry:
    def factory(args: Mapping[str, Any], handle: Handle) -> WaitForApproval:
        return WaitForApproval()

    return in_tree_registry().merge(Registry({"WaitForApproval": factory}))


async def test_permit_wait_allow_and_timeout() -> None:
    async with running("profiles: [{plugins: {permit: {enabled: [{name: WaitForApproval}]}}}]",
                         _approval_registry()) as (sched, api, clock):
        sched.handlers.add_node(node("a"))
        sched.handlers.add_pod(pod("ok"))
        sched.handlers.add_pod(pod("late"))
        await settle(clock)
        assert api.bound == {}
        fwk = sched.frameworks["default-scheduler"]
        wp = fwk.waiting_pods.get("uid-default-ok")
        assert wp is not None
        wp.allow("WaitForApproval")
        await settle(clock)
        assert api.bound == {"ok": "a"}
        await settle(clock, 31)
        reason, message, _ = api.conditions["late"]
        assert message == "rejected due to timeout after waiting 30s at plugin WaitForApproval"
        assert reason == "Unschedulable"


async def test_malformed_pod_is_skipped(world: tuple[Scheduler, FakeAPI, FakeClock]) -> None:
    sched, api, clock = world
    sched.handlers.add_node(node("a"))
    sched.handlers.add_pod(pod("bad", cpu="lots"))
    sched.handlers.add_pod(pod("good", cpu="1"))
    await settle(clock)
    assert api.bound == {"good": "a"}


async def test_node_update_removing_a_taint_moves_the_pod(world: tuple[Scheduler, FakeAPI, FakeClock]) -> None:
    sched, api, clock = world
    tainted = node("a", taints=[{"key": "maintenance", "value": "", "effect": "NoSchedule"}])
    sched.handlers.add_node(tainted)
    sched.handlers.add_pod(pod("p", cpu="1"))
    await settle(clock)
    expected = "0/1 nodes are available: 1 node(s) had untolerated taint {maintenance: }."
    assert api.conditions["p"][1].startswith(expected)
    relabeled = node("a", labels={"x": "y"}, taints=tainted["spec"]["taints"])
    sched.handlers.update_node(tainted, relabeled)  # a label change does not help a taint rejection
    await settle(clock, 2)
    assert "p" not in api.bound
    sched.handlers.update_node(relabeled, node("a", labels={"x": "y"}))
    await settle(clock, 2)
    assert api.bound == {"p": "a"}


class Broken:
    name = "Broken"

    def filter(self, state: CycleState, pod: PodInfo, node: Any) -> Status | None:
        raise ZeroDivisionError("plugin bug")


async def test_a_plugin_crash_fails_the_pod_not_the_scheduler() -> None:
    registry = in_tree_registry().merge(Registry({"Broken": lambda args, handle: Broken()}))
    async with running("profiles: [{plugins: {filter: {enabled: [{name: Broken}]}}}]", registry) as (
            sched, api, clock):
        sched.handlers.add_node(node("a"))
        sched.handlers.add_pod(pod("p"))
        await settle(clock)
        assert api.conditions["p"][:2] == ("SchedulerError", "internal error: plugin bug")
        assert sched.queue.where("uid-default-p") == "backoff"


def test_profiles_must_share_the_queue_sort() -> None:
    registry = in_tree_registry().merge(Registry({"FIFO": lambda args, handle: FIFO()}))
    cfg = load_config("""
profiles:
- schedulerName: a
- schedulerName: b
  plugins: {queueSort: {enabled: [{name: FIFO}], disabled: [{name: "*"}]}}
""")
    with pytest.raises(ValueError, match="same queueSort"):
        Scheduler(SchedulerOptions(config=cfg), clock=FakeClock(), registry=registry)


class FIFO:
    name = "FIFO"

    def less(self, a: Any, b: Any) -> bool:
        return bool(a.timestamp < b.timestamp)


async def test_handlers_ignore_finished_pods_and_use_namespace_labels(
    world: tuple[Scheduler, FakeAPI, FakeClock],
) -> None:
    sched, api, clock = world
    sched.handlers.add_node(node("a", labels={"topology.kubernetes.io/zone": "z1"}))
    sched.handlers.add_node(node("b", labels={"topology.kubernetes.io/zone": "z2"}))
    done = pod("done")
    done["status"]["phase"] = "Succeeded"
    sched.handlers.add_pod(done)
    sched.handlers.set_namespace({"metadata": {"name": "prod", "labels": {"env": "prod"}}})
    sched.handlers.add_pod(pod("db", ns="prod", node_name="a", labels={"app": "db"}))
    anti = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{
        "topologyKey": "topology.kubernetes.io/zone", "labelSelector": {"matchLabels": {"app": "db"}},
        "namespaceSelector": {"matchLabels": {"env": "prod"}}}]}}
    sched.handlers.add_pod(pod("web", affinity=anti))
    await settle(clock)
    assert api.bound == {"web": "b"}
    assert sched.queue.where("uid-default-done") == ""
