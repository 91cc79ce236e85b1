"""Unit tests of the API wiring's pure parts: tombstone unwrapping into the handlers, the Binding body,
the PodScheduled condition update, and the status-only update that must not requeue a pod."""

from __future__ import annotations

from typing import Any

from sampan._lib.clock import FakeClock
from sampan.client import DeletedFinalStateUnknown, SharedIndexInformer
from sampan.client.cache.listwatch import ListWatch
from sampan.scheduler.api_seams import binding_for, with_condition
from sampan.scheduler.framework.pod_info import PodInfo
from sampan.scheduler.informers import connect, unwrap
from sampan.scheduler.scheduler import Scheduler
from tests.scheduler.builders import node, pod


def _informer(name: str) -> SharedIndexInformer:
    async def never() -> Any:
        raise AssertionError("not started in this test")
    return SharedIndexInformer(ListWatch(never), name=name)


def test_unwrap() -> None:
    p = pod("a")
    assert unwrap(p) is p
    assert unwrap(DeletedFinalStateUnknown("default/a", p)) is p
    assert unwrap(DeletedFinalStateUnknown("default/a", "garbage")) is None


def test_tombstone_deletes_reach_the_cache() -> None:
    sched = Scheduler(clock=FakeClock())
    pods, nodes = _informer("pods"), _informer("nodes")
    regs = connect(sched.handlers, pods=pods, nodes=nodes)
    node_handler, pod_handler = (r.listener.handler for r in regs)
    node_handler.on_add(node("n1"), False)
    pod_handler.on_add(pod("a", cpu="1", node_name="n1"), False)
    assert sched.cache.get_pod("uid-default-a") is not None
    pod_handler.on_delete(DeletedFinalStateUnknown("default/a", pod("a", cpu="1", node_name="n1")))
    assert sched.cache.get_pod("uid-default-a") is None
    node_handler.on_delete(DeletedFinalStateUnknown("n1", node("n1")))
    assert sched.cache.node_count == 0
    pod_handler.on_delete(DeletedFinalStateUnknown("default/x", None))  # logged and ignored


def test_binding_body() -> None:
    body = binding_for(PodInfo.parse(pod("web", ns="prod")), "n7")
    assert body == {"apiVersion": "v1", "kind": "Binding",
                    "metadata": {"name": "web", "namespace": "prod", "uid": "uid-prod-web"},
                    "target": {"apiVersion": "v1", "kind": "Node", "name": "n7"}}


def test_with_condition() -> None:
    cond = {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "m1"}
    status, changed = with_condition({"phase": "Pending"}, cond, now=0.0)
    assert changed
    assert status["conditions"][0]["lastTransitionTime"] == "1970-01-01T00:00:00Z"
    again, changed = with_condition(status, cond, now=100.0)
    assert not changed
    assert again is status
    newer, changed = with_condition(status, {**cond, "message": "m2"}, now=100.0)
    assert changed
    assert newer["conditions"] == [{**cond, "message": "m2", "lastTransitionTime": "1970-01-01T00:00:00Z",
                                    "lastProbeTime": None}]


async def test_status_only_update_keeps_an_unschedulable_pod_waiting() -> None:
    sched = Scheduler(clock=FakeClock())
    p = pod("a", cpu="100")
    p["metadata"]["resourceVersion"] = "1"
    sched.handlers.add_pod(p)
    q = await sched.queue.pop()  # as if its attempt found it unschedulable
    q.unschedulable_plugins = {"NodeResourcesFit"}
    sched.queue.add_unschedulable(q, pod_scheduling_cycle=sched.queue.scheduling_cycle)
    assert sched.queue.where("uid-default-a") == "unschedulable"
    with_status = {**p, "metadata": {**p["metadata"], "resourceVersion": "2"},
                   "status": {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False"}]}}
    sched.handlers.update_pod(p, with_status)
    assert sched.queue.where("uid-default-a") == "unschedulable"
    relabelled = {**with_status, "metadata": {**with_status["metadata"], "resourceVersion": "3",
                                              "labels": {"x": "y"}}}
    sched.handlers.update_pod(with_status, relabelled)
    assert sched.queue.where("uid-default-a") in ("active", "backoff")
