"""The frame: options parsing, expectations, the runner's retry policy and the manager (with leader election)
against a real API server."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest

from sampan._lib.clock import FakeClock
from sampan.api import errors
from sampan.client import Client, EventHandlerFuncs, SharedIndexInformer, load_config
from sampan.client.workqueue import ItemExponentialFailureRateLimiter
from sampan.controllers.expectations import ControllerExpectations, UIDTrackingExpectations
from sampan.controllers.manager import ControllerContext, ControllerManager, LeadershipLost
from sampan.controllers.options import ControllerManagerOptions, enabled_controllers, parse_controllers
from sampan.controllers.runner import Enqueuer, Result, Runner
from tests.controllers.support import running, wait_for
from tests.support.apiserver import InProcessAPIServer

# ---- options ----------------------------------------------------------------------------------------------


def test_controllers_flag_star_and_disable() -> None:
    items = parse_controllers("*,-job")
    chosen = enabled_controllers(items)
    assert "job" not in chosen
    assert "replicaset" in chosen
    assert "ttl-after-finished" in chosen


def test_controllers_flag_explicit_only() -> None:
    assert enabled_controllers(parse_controllers("deployment, replicaset")) == ("replicaset", "deployment")


@pytest.mark.parametrize("bad", ["", "frobnicator", "-*", "*,-nope"])
def test_controllers_flag_rejects(bad: str) -> None:
    with pytest.raises(ValueError, match="--controllers"):
        parse_controllers(bad)


def test_options_reject_bad_values() -> None:
    with pytest.raises(ValueError, match="node-monitor-period"):
        ControllerManagerOptions(node_monitor_period=0)
    with pytest.raises(ValueError, match="concurrency"):
        ControllerManagerOptions(concurrency={"job": 0})


# ---- expectations -----------------------------------------------------------------------------------------


async def test_expectations_lifecycle() -> None:
    clock = FakeClock()
    exp = ControllerExpectations(ttl=300, clock=clock)
    assert exp.satisfied("ns/rs")  # no record
    exp.expect_creations("ns/rs", 2)
    assert not exp.satisfied("ns/rs")
    exp.creation_observed("ns/rs")
    assert not exp.satisfied("ns/rs")
    exp.creation_observed("ns/rs")
    assert exp.satisfied("ns/rs")
    exp.expect_deletions("ns/rs", 1)
    assert not exp.satisfied("ns/rs")
    await clock.advance(301)
    assert exp.satisfied("ns/rs")


def test_uid_tracking_counts_each_deletion_once() -> None:
    exp = UIDTrackingExpectations()
    exp.expect_deletions_of("ns/rs", ["ns/a", "ns/b"])
    exp.deletion_observed_for("ns/rs", "ns/a")
    exp.deletion_observed_for("ns/rs", "ns/a")
    assert not exp.satisfied("ns/rs")
    exp.deletion_observed_for("ns/rs", "ns/other")
    assert not exp.satisfied("ns/rs")
    exp.deletion_observed_for("ns/rs", "ns/b")
    assert exp.satisfied("ns/rs")
    exp.delete_expectations("ns/rs")
    assert exp.get("ns/rs") is None
    assert exp.deleting("ns/rs") == frozenset()


# ---- runner -----------------------------------------------------------------------------------------------


class ScriptedController:
    """Reconcile outcomes taken from a script per key (a fake for one class: the runner)."""

    name = "scripted"

    def __init__(self, script: dict[str, list[Any]]) -> None:
        self.script = script
        self.calls: list[str] = []

    def informers(self) -> Sequence[SharedIndexInformer]:
        return ()

    def watch(self, queue: Enqueuer) -> None:
        self.queue = queue

    async def reconcile(self, key: str) -> Result | None:
        self.calls.append(key)
        steps = self.script.get(key) or [None]
        step = steps.pop(0) if len(steps) > 1 else steps[0]
        if isinstance(step, BaseException):
            raise step
        return step


async def test_runner_retry_policy() -> None:
    ctl = ScriptedController({
        "err": [RuntimeError("boom"), errors.Conflict("stale"), None],
        "later": [Result(requeue_after=0.01), None],
        "again": [Result(requeue=True), None],
        "ok": [None],
    })
    runner = Runner(ctl, workers=2, rate_limiter=ItemExponentialFailureRateLimiter(0.001, 0.01))
    async with running(runner.run()):
        for key in ("err", "later", "again", "ok"):
            ctl.queue.add(key)
        await wait_for(lambda: ctl.calls.count("err") == 3 and ctl.calls.count("later") == 2
                       and ctl.calls.count("again") == 2, message=lambda: f"calls {ctl.calls}")
        await wait_for(lambda: len(runner.queue) == 0 and not runner.queue.processing())
    assert ctl.calls.count("ok") == 1
    assert runner.queue.num_requeues("err") == 0  # forgotten after success
    assert runner.failures == 1  # the Conflict is not counted as a failure


async def test_runner_drops_after_max_retries() -> None:
    ctl = ScriptedController({"bad": [RuntimeError("always")]})
    runner = Runner(ctl, max_retries=3, rate_limiter=ItemExponentialFailureRateLimiter(0.001, 0.01))
    async with running(runner.run()):
        ctl.queue.add("bad")
        await wait_for(lambda: ctl.calls.count("bad") == 4)
        await wait_for(lambda: len(runner.queue) == 0 and not runner.queue.processing()
                       and runner.queue.waiting() == 0)
    assert ctl.calls.count("bad") == 4


def test_runner_rejects_zero_workers() -> None:
    with pytest.raises(ValueError, match="workers"):
        Runner(ScriptedController({}), workers=0)


# ---- manager ----------------------------------------------------------------------------------------------


class ConfigMapCounter:
    """A tiny real controller: counts reconciles of each ConfigMap key."""

    name = "replicaset"  # borrow a known name so --controllers selects it

    def __init__(self, ctx: ControllerContext) -> None:
        self.informer = ctx.informers.informer("v1", "configmaps")
        self.seen: dict[str, int] = {}

    def informers(self) -> Sequence[SharedIndexInformer]:
        return (self.informer,)

    def watch(self, queue: Enqueuer) -> None:
        def add(obj: Any) -> None:
            queue.add(f"{obj['metadata']['namespace']}/{obj['metadata']['name']}")
        self.informer.add_event_handler(EventHandlerFuncs(on_add_func=add))

    async def reconcile(self, key: str) -> Result | None:
        self.seen[key] = self.seen.get(key, 0) + 1
        return None


async def test_manager_runs_chosen_controllers(inproc_apiserver: InProcessAPIServer) -> None:
    built: list[ConfigMapCounter] = []

    def factory(ctx: ControllerContext) -> ConfigMapCounter:
        built.append(ConfigMapCounter(ctx))
        return built[-1]

    async with Client(load_config(str(inproc_apiserver.kubeconfig))) as client:
        cms = await client.resource("v1", "configmaps")
        await cms.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "namespace": "default"}})
        opts = ControllerManagerOptions(controllers=("replicaset",), leader_elect=False)
        manager = ControllerManager(client, opts, factories={"replicaset": factory, "job": factory})
        async with running(manager.run()):
            await wait_for(lambda: built and built[0].seen.get("default/a") == 1)
        assert len(built) == 1
        assert set(manager.runners) == {"replicaset"}


async def test_leader_election_one_leader_then_failover(inproc_apiserver: InProcessAPIServer) -> None:
    starts: list[str] = []

    def factory_for(who: str) -> Any:
        def factory(ctx: ControllerContext) -> ConfigMapCounter:
            starts.append(who)
            return ConfigMapCounter(ctx)
        return factory

    def opts(identity: str) -> ControllerManagerOptions:
        return ControllerManagerOptions(controllers=("replicaset",), identity=identity,
                                        leader_elect_lease_duration=1.0, leader_elect_renew_deadline=0.6,
                                        leader_elect_retry_period=0.1)

    async with Client(load_config(str(inproc_apiserver.kubeconfig))) as client:
        a = ControllerManager(client, opts("a"), factories={"replicaset": factory_for("a")})
        b = ControllerManager(client, opts("b"), factories={"replicaset": factory_for("b")})
        async with running(a.run()) as task_a:
            await wait_for(lambda: a.started.is_set())
            async with running(b.run()):
                await asyncio.sleep(0.5)  # b gets several chances to (wrongly) take over
                assert starts == ["a"]
                assert not b.is_leader()
                task_a.cancel()  # a releases the lease on the way out
                await wait_for(lambda: b.started.is_set())
                assert starts == ["a", "b"]
        leases = await client.resource("coordination.k8s.io/v1", "leases")
        lease = await leases.get("kube-controller-manager", namespace="kube-system")
        assert lease["spec"]["leaseTransitions"] >= 1


async def test_losing_the_lease_stops_controllers(inproc_apiserver: InProcessAPIServer) -> None:
    def factory(ctx: ControllerContext) -> ConfigMapCounter:
        return ConfigMapCounter(ctx)

    opts = ControllerManagerOptions(controllers=("replicaset",), identity="a", leader_elect_lease_duration=1.0,
                                    leader_elect_renew_deadline=0.6, leader_elect_retry_period=0.1)
    async with Client(load_config(str(inproc_apiserver.kubeconfig))) as client:
        manager = ControllerManager(client, opts, factories={"replicaset": factory})
        task = asyncio.create_task(manager.run())
        try:
            await wait_for(lambda: manager.started.is_set())
            leases = await client.resource("coordination.k8s.io/v1", "leases")

            async def steal() -> bool:
                lease = await leases.get("kube-controller-manager", namespace="kube-system")
                spec = {**lease["spec"], "holderIdentity": "thief", "leaseDurationSeconds": 60,
                        "renewTime": "2099-01-01T00:00:00.000000Z"}
                try:
                    await leases.update({**lease, "spec": spec})
                except errors.Conflict:
                    pass
                return task.done()

            await wait_for(steal, timeout=10, message="the manager to give up")
            with pytest.raises(LeadershipLost):
                task.result()
            assert not manager.started.is_set()
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
