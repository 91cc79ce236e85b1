"""A small cluster for scheduler integration tests: a real API server (in this event loop, HTTP on
loopback), nodes and pods created as API objects (no kubelet), and schedulers run as tasks through
:class:`~sampan.scheduler.app.SchedulerApp`, exactly as ``sampan scheduler`` runs them.

Waiting is done with watches (``wait_pod``), bounded by a generous timeout so a broken scheduler fails
the test instead of hanging it; nothing asserts on timing.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from sampan.api import errors
from sampan.client import Client, ResourceClient, load_config
from sampan.client.leaderelection import LeaderElectionConfig
from sampan.scheduler.app import SchedulerApp, SchedulerAppOptions
from sampan.scheduler.framework.config import load_config as load_scheduler_config
from sampan.scheduler.scheduler import SchedulerOptions

WAIT = 30.0


def node(name: str, *, cpu: str = "4", memory: str = "16Gi", pods: str = "110", labels: dict[str, str] | None = None,
         taints: list[dict[str, str]] | None = None) -> dict[str, Any]:
    alloc = {"cpu": cpu, "memory": memory, "pods": pods}
    spec: dict[str, Any] = {"taints": taints} if taints else {}
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, **(labels or {})}},
            "spec": spec, "status": {"capacity": alloc, "allocatable": alloc,
                                     "conditions": [{"type": "Ready", "status": "True"}]}}


def pod(name: str, *, cpu: str | None = None, memory: str | None = None, labels: dict[str, str] | None = None,
        node_name: str = "", priority: int | None = None, **spec_fields: Any) -> dict[str, Any]:
    requests = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v}
    container: dict[str, Any] = {"name": "c", "image": "pause:3.10"}
    if requests:
        container["resources"] = {"requests": requests}
    spec: dict[str, Any] = {"containers": [container], **spec_fields}
    if node_name:
        spec["nodeName"] = node_name
    if priority is not None:
        spec["priorityClassName"] = priority_class_name(priority)  # Priority admission sets spec.priority
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels or {}}, "spec": spec}


def priority_class_name(value: int) -> str:
    return f"prio-{value}"


class Cluster:
    def __init__(self, client: Client, kubeconfig: Path, pods: ResourceClient, nodes: ResourceClient,
                 events: ResourceClient) -> None:
        self.client = client
        self.kubeconfig = kubeconfig
        self.pods = pods
        self.nodes = nodes
        self.events = events
        self._priority_classes: set[str] = set()

    async def add_nodes(self, *nodes: dict[str, Any]) -> None:
        for n in nodes:
            await self.nodes.create(n)

    async def add_pods(self, *pods: dict[str, Any], namespace: str = "default") -> None:
        for p in pods:
            await self.ensure_priority_class(p["spec"].get("priorityClassName"))
            await self.pods.create(p, namespace=namespace)

    async def ensure_priority_class(self, name: str | None) -> None:
        """Create the PriorityClass ``prio-<value>`` that :func:`pod` refers to (once)."""
        if not name or not name.startswith("prio-") or name in self._priority_classes:
            return
        classes = await self.client.resource("scheduling.k8s.io/v1", "priorityclasses")
        with contextlib.suppress(errors.AlreadyExists):
            await classes.create({"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
                                  "metadata": {"name": name}, "value": int(name.removeprefix("prio-"))})
        self._priority_classes.add(name)

    async def wait_pod(self, name: str, predicate: Callable[[dict[str, Any]], bool], *, namespace: str = "default",
                       timeout: float = WAIT) -> dict[str, Any]:
        """The pod once ``predicate`` holds for it, seen through a watch (TimeoutError otherwise)."""
        async def watch() -> dict[str, Any]:
            while True:
                lst = await self.pods.list(namespace=namespace, field_selector=f"metadata.name={name}")
                for item in lst.get("items") or []:
                    if predicate(item):
                        return dict(item)
                rv = lst["metadata"]["resourceVersion"]
                async for event in self.pods.watch(namespace=namespace, resource_version=rv,
                                                   field_selector=f"metadata.name={name}", timeout_seconds=60):
                    if event["type"] in ("ADDED", "MODIFIED") and predicate(event["object"]):
                        return dict(event["object"])
        return await asyncio.wait_for(watch(), timeout)

    async def wait_bound(self, name: str, *, namespace: str = "default", timeout: float = WAIT) -> str:
        """The node ``name`` got bound to."""
        p = await self.wait_pod(name, lambda o: bool(o["spec"].get("nodeName")), namespace=namespace,
                                timeout=timeout)
        return str(p["spec"]["nodeName"])

    async def wait_unschedulable(self, name: str, *, namespace: str = "default") -> dict[str, Any]:
        """The pod's PodScheduled condition once the scheduler marked it unschedulable."""
        p = await self.wait_pod(name, lambda o: _scheduled_condition(o).get("reason") == "Unschedulable",
                                namespace=namespace)
        return _scheduled_condition(p)

    async def node_of(self, name: str, *, namespace: str = "default") -> str:
        return str((await self.pods.get(name, namespace=namespace))["spec"].get("nodeName") or "")

    async def events_for(self, name: str, *, namespace: str = "default") -> list[dict[str, Any]]:
        lst = await self.events.list(namespace=namespace)
        return [e for e in lst.get("items") or [] if e["involvedObject"].get("name") == name]

    async def wait_event(self, name: str, reason: str, *, namespace: str = "default") -> dict[str, Any]:
        """The first event about pod ``name`` with ``reason`` (events are written asynchronously)."""
        async def poll() -> dict[str, Any]:
            while True:
                for e in await self.events_for(name, namespace=namespace):
                    if e.get("reason") == reason:
                        return e
                await asyncio.sleep(0.05)
        return await asyncio.wait_for(poll(), WAIT)

    async def wait_gone(self, name: str, *, namespace: str = "default") -> None:
        async def poll() -> None:
            while True:
                lst = await self.pods.list(namespace=namespace, field_selector=f"metadata.name={name}")
                if not lst.get("items"):
                    return
                await asyncio.sleep(0.05)
        await asyncio.wait_for(poll(), WAIT)

    @contextlib.asynccontextmanager
    async def scheduler(self, config: str = "", *, leader_elect: bool = False, identity: str = "",
                        metrics: bool = False) -> AsyncIterator[SchedulerApp]:
        """Run a scheduler (as ``sampan scheduler`` would) until the block ends; yields once it is
        scheduling (or, with leader election, once it is running: it may be waiting for the lease)."""
        opts = SchedulerAppOptions(
            rest=load_config(str(self.kubeconfig)),
            scheduler=SchedulerOptions(config=load_scheduler_config(config), backoff_flush_period=0.2),
            leader_elect=leader_elect, identity=identity, metrics_port=0 if metrics else None,
            leader_election=LeaderElectionConfig(lease_duration=3.0, renew_deadline=2.0, retry_period=0.2),
        )
        app = SchedulerApp(opts)
        task = asyncio.create_task(app.run())
        try:
            if not leader_elect:
                ready = asyncio.create_task(app.ready.wait())
                done, _ = await asyncio.wait({task, ready}, timeout=WAIT, return_when=asyncio.FIRST_COMPLETED)
                if ready not in done:
                    ready.cancel()
                    if task.done():
                        task.result()
                    raise TimeoutError("scheduler did not become ready")
            yield app
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def _scheduled_condition(p: dict[str, Any]) -> dict[str, Any]:
    for c in (p.get("status") or {}).get("conditions") or []:
        if c.get("type") == "PodScheduled":
            return dict(c)
    return {}


@contextlib.asynccontextmanager
async def open_cluster(kubeconfig: Path) -> AsyncIterator[Cluster]:
    async with Client(load_config(str(kubeconfig))) as client:
        yield Cluster(client, kubeconfig, await client.resource("v1", "pods"), await client.resource("v1", "nodes"),
                      await client.resource("v1", "events"))
