"""Test helpers for controller tests (CM1 and CM2 share them).

* :class:`FakeKubelet` plays the kubelet's part: it watches pods and writes their status through the
  ``status`` subresource — by default Running with Ready=True (with podIP/hostIP/startTime and container
  statuses), or whatever the ``decide`` callback says (``"Pending"``, ``"Running"`` (not ready),
  ``"Ready"``, ``"Succeeded"``, ``"Failed"``, or None to leave the pod alone). A pod being deleted
  gracefully (``deletionTimestamp`` set) is deleted for good with grace period 0, as a kubelet does,
  unless ``decide`` returns None for it.
  ``decide`` is asked again whenever a pod changes; ``kubelet.refresh()`` re-applies it to every pod
  (after you changed the policy).
* :func:`running_manager` runs a :class:`~sampan.controllers.manager.ControllerManager` in the test's event
  loop (leader election off unless asked) and yields it once its controllers started.
* :func:`wait_for` polls a (sync or async) predicate until it is truthy or a deadline passes, then fails
  with a message: never use sleeps as assertions.
* :func:`create_nodes` creates Ready nodes; :func:`unthrottled_client` a client without a QPS limit (the
  ``client`` fixture of ``tests/controllers/conftest.py`` is one, on the in-process API server).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, Literal

from sampan._lib.clock import Clock
from sampan.api import errors
from sampan.client import Client, EventHandlerFuncs, SharedInformerFactory, load_config
from sampan.client.cache import DeletedFinalStateUnknown
from sampan.controllers.manager import ControllerManager
from sampan.controllers.options import ControllerManagerOptions

log = logging.getLogger(__name__)

Phase = Literal["Pending", "Running", "Ready", "Succeeded", "Failed"]
Decide = Callable[[dict[str, Any]], Phase | None]


def always_ready(pod: dict[str, Any]) -> Phase | None:
    return "Ready"


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _status_for(pod: dict[str, Any], phase: Phase, ip: str) -> dict[str, Any]:
    """The status a kubelet would report for ``pod`` in ``phase``."""
    old = dict(pod.get("status") or {})
    ready = phase == "Ready"
    kube_phase = "Running" if phase in ("Running", "Ready") else phase
    now = _now()
    containers = (pod.get("spec") or {}).get("containers") or []
    terminated = phase in ("Succeeded", "Failed")
    cstatuses = []
    for c in containers:
        if terminated:
            state: dict[str, Any] = {"terminated": {"exitCode": 0 if phase == "Succeeded" else 1,
                                                    "reason": "Completed" if phase == "Succeeded" else "Error",
                                                    "startedAt": now, "finishedAt": now}}
        elif kube_phase == "Running":
            state = {"running": {"startedAt": now}}
        else:
            state = {"waiting": {"reason": "ContainerCreating"}}
        cstatuses.append({"name": c.get("name", ""), "image": c.get("image", ""), "imageID": "",
                          "ready": ready, "started": kube_phase == "Running", "restartCount": 0, "state": state})

    def cond(type_: str, value: bool) -> dict[str, Any]:
        prev = {c.get("type"): c for c in old.get("conditions") or []}.get(type_)
        status = "True" if value else "False"
        since = prev["lastTransitionTime"] if prev and prev.get("status") == status else now
        return {"type": type_, "status": status, "lastProbeTime": None, "lastTransitionTime": since}

    status: dict[str, Any] = {
        "phase": kube_phase,
        "conditions": [cond("PodScheduled", True), cond("Initialized", True), cond("ContainersReady", ready),
                       cond("Ready", ready)],
        "hostIP": "10.0.0.1", "podIP": ip, "podIPs": [{"ip": ip}],
        "startTime": old.get("startTime") or now, "containerStatuses": cstatuses,
    }
    return status


def _matches(pod: dict[str, Any], phase: Phase) -> bool:
    status = pod.get("status") or {}
    kube_phase = "Running" if phase in ("Running", "Ready") else phase
    if status.get("phase") != kube_phase or not status.get("podIP"):
        return False
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])
    return ready == (phase == "Ready")


class FakeKubelet:
    """Writes pod statuses the way a kubelet would (see the module docstring). Runs until cancelled."""

    def __init__(self, client: Client, *, decide: Decide = always_ready, workers: int = 4,
                 namespace: str | None = None) -> None:
        self.client = client
        self.decide = decide
        self.factory = SharedInformerFactory(client, namespace=namespace)
        self.informer = self.factory.informer("v1", "pods")
        self.lister = self.factory.lister("v1", "pods")
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._pending: set[str] = set()
        self._workers = workers
        self._ips = itertools.count(1)
        self.writes = 0
        self.informer.add_event_handler(EventHandlerFuncs(
            on_add_func=self._enqueue, on_update_func=lambda old, new: self._enqueue(new)))

    def _enqueue(self, pod: Any) -> None:
        if isinstance(pod, DeletedFinalStateUnknown):
            return
        key = f"{pod['metadata']['namespace']}/{pod['metadata']['name']}"
        if key not in self._pending:
            self._pending.add(key)
            self._queue.put_nowait(key)

    def refresh(self) -> None:
        """Ask ``decide`` again for every cached pod."""
        for pod in self.lister.list():
            self._enqueue(pod)

    async def _worker(self) -> None:
        pods = await self.client.resource("v1", "pods")
        while True:
            key = await self._queue.get()
            self._pending.discard(key)
            ns, name = key.split("/", 1)
            try:
                pod = self.lister.namespaced(ns).get(name)
            except errors.NotFound:
                continue
            if pod["metadata"].get("deletionTimestamp"):
                # graceful deletion: the kubelet stops the containers, then removes the pod for good;
                # a pod ``decide`` leaves alone (its node is "dead") stays Terminating
                if self.decide(pod) is None:
                    continue
                with contextlib.suppress(errors.NotFound, errors.Conflict):
                    await pods.delete(name, namespace=ns, grace_period_seconds=0,
                                      uid=pod["metadata"].get("uid"))
                continue
            phase = self.decide(pod)
            if phase is None or _matches(pod, phase):
                continue
            if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
                continue  # terminal phases never change
            n = next(self._ips)
            ip = (pod.get("status") or {}).get("podIP") or f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"
            body = {**pod, "status": _status_for(pod, phase, ip)}
            try:
                await pods.update_status(body)
                self.writes += 1
            except (errors.Conflict, errors.NotFound):
                pass  # a newer version (or the deletion) is on its way through the informer
            except errors.APIError as e:
                log.warning("fake kubelet could not write status pod=%s error=%s", key, e)

    async def run(self) -> None:
        self.factory.start()
        try:
            async with asyncio.TaskGroup() as tg:
                for _ in range(self._workers):
                    tg.create_task(self._worker())
        finally:
            await self.factory.shutdown()


@contextlib.asynccontextmanager
async def running(coro: Awaitable[None]) -> AsyncIterator[asyncio.Task[None]]:
    """Run ``coro`` as a task for the ``async with`` body; cancel it afterwards, re-raising its failure."""
    task = asyncio.ensure_future(coro)
    try:
        yield task
        error = task.exception() if task.done() and not task.cancelled() else None
        if error is not None:
            raise error
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@contextlib.asynccontextmanager
async def running_kubelet(client: Client, *, decide: Decide = always_ready) -> AsyncIterator[FakeKubelet]:
    kubelet = FakeKubelet(client, decide=decide)
    async with running(kubelet.run()):
        yield kubelet


def unthrottled_client(kubeconfig: str | Path) -> Client:
    """A client without client-side rate limiting (tests share one client between the manager, the fake
    kubelet and observers; the default 5 qps would starve them)."""
    return Client(dataclasses.replace(load_config(str(kubeconfig)), qps=0))


def fast_options(controllers: tuple[str, ...], **overrides: Any) -> ControllerManagerOptions:
    """Options with leader election off and every period shrunk for tests."""
    fields: dict[str, Any] = {"controllers": controllers, "leader_elect": False, "node_monitor_period": 0.2,
                              "node_monitor_grace_period": 2.0, "node_startup_grace_period": 2.0,
                              "job_backoff_base": 0.05, "job_backoff_max": 0.2, "namespace_sync_period": 1.0}
    fields.update(overrides)
    return ControllerManagerOptions(**fields)


@contextlib.asynccontextmanager
async def running_manager(client: Client, options: ControllerManagerOptions,
                          *, timeout: float = 30.0, clock: Clock | None = None) -> AsyncIterator[ControllerManager]:
    manager = ControllerManager(client, options, clock=clock)
    async with running(manager.run()) as task:
        started = asyncio.ensure_future(manager.started.wait())
        done, _ = await asyncio.wait({task, started}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        started.cancel()
        if task in done:
            task.result()
            raise AssertionError("controller manager stopped before starting")
        if not manager.started.is_set():
            raise AssertionError(f"controller manager did not start within {timeout}s")
        yield manager


async def wait_for(predicate: Callable[[], Any], *, timeout: float = 20.0, interval: float = 0.05,
                   message: str | Callable[[], str] = "condition") -> Any:
    """Poll ``predicate`` (sync or async) until truthy; its value. AssertionError after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        last = predicate()
        if asyncio.iscoroutine(last):
            last = await last
        if last:
            return last
        if time.monotonic() >= deadline:
            text = message() if callable(message) else message
            raise AssertionError(f"timed out after {timeout}s waiting for {text}")
        await asyncio.sleep(interval)


async def create_nodes(client: Client, count: int, *, prefix: str = "node-") -> list[dict[str, Any]]:
    """``count`` Ready nodes named ``<prefix>0``…"""
    nodes = await client.resource("v1", "nodes")
    out = []
    for i in range(count):
        body = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": f"{prefix}{i}",
                                                               "labels": {"kubernetes.io/hostname": f"{prefix}{i}"}},
                "spec": {}}
        node = await nodes.create(body)
        status = {"conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                                  "lastHeartbeatTime": _now(), "lastTransitionTime": _now()}],
                  "capacity": {"cpu": "8", "memory": "32Gi", "pods": "110"},
                  "allocatable": {"cpu": "8", "memory": "32Gi", "pods": "110"}}
        out.append(await nodes.update_status({**node, "status": status}))
    return out
