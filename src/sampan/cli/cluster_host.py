"""The process behind :class:`sampan.testing.Cluster`: one API server, and on request the controller-manager,
the scheduler and simulated kubelets, all as tasks of one event loop in one process.

``python -m sampan.cli.cluster_host --workdir DIR [--storage memory|sqlite|etcd]``

The parent talks to it in JSON lines:

- stdout, once: ``{"server": URL}`` when the API server answers (port picked by the kernel: no race with
  other processes), or ``{"error": TEXT}`` before exiting 1.
- stdin: ``{"op": "ensure", "controllers": BOOL, "scheduler": BOOL, "nodes": N}`` starts whatever of
  that is not running yet (nodes only ever grow) and answers ``{"ok": true, "nodes": [NAMES]}`` or
  ``{"error": TEXT}``.
- stdin at EOF, SIGINT or SIGTERM: stop every task, remove ``DIR``, exit 0. The parent holds the only
  write end of stdin, so when it exits for any reason (``kill -9`` of a pytest-xdist worker included)
  the kernel closes it and this process cleans up after itself: the parent-death guard.

The namespace controller always runs, so deleting a namespace deletes its objects as on a real cluster even
without ``controllers``. It starts :data:`NAMESPACE_CONTROLLER_DELAY` after the ready line (importing it
and listing every resource would otherwise slow the first API calls by a third); it is level-based, so a
namespace deleted before then is finished as soon as it runs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import gc
import json
import logging
import shutil
import signal
import sys
from pathlib import Path
from typing import Any

from sampan.apiserver.app import APIServer
from sampan.apiserver.config import APIServerConfig, StorageOptions
from sampan.cli.kubeconfig import render_kubeconfig
from sampan.cli.main import GC_THRESHOLDS

log = logging.getLogger(__name__)

#: Client rate limits of the in-host components: tests want reactions, not upstream's 20 QPS.
COMPONENT_QPS = 1000.0
COMPONENT_BURST = 2000
# The garbage collector sees a CRD created mid-test (and so deletes what its objects own) within this many
# seconds, not upstream's 30: tests create CRDs and owners seconds before they expect the cascade.
TEST_GC_DISCOVERY_PERIOD = 2.0
#: Node heartbeats in a test cluster (upstream 10 s): nodes turn Ready within a second.
NODE_STATUS_FREQUENCY = 1.0
NODE_PREFIX = "sampan-node-"
#: Seconds between the ready line and the start of the namespace controller (see the module docstring).
NAMESPACE_CONTROLLER_DELAY = 1.0


class Components:
    """The in-host components. Invariant: each entry of ``tasks`` is a running (or finishing) task this
    object owns; :meth:`stop` cancels and awaits them all, newest first."""

    def __init__(self, kubeconfig: Path, workdir: Path) -> None:
        self.kubeconfig = kubeconfig
        self.workdir = workdir
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.nodes: list[str] = []
        self.controllers = "none"  # none -> namespace -> all

    def _start(self, name: str, main: Any) -> None:
        self.tasks[name] = asyncio.create_task(_logged(name, main), name=name)

    async def _client(self, agent: str) -> Any:
        from sampan.client import Client, load_kubeconfig

        config = dataclasses.replace(load_kubeconfig(str(self.kubeconfig)), qps=COMPONENT_QPS,
                                     burst=COMPONENT_BURST, user_agent=agent)
        return Client(config)

    async def ensure_controllers(self, *, everything: bool) -> None:
        """The namespace controller alone, or (``everything``) every controller; never downgrades."""
        want = "all" if everything else "namespace"
        if self.controllers == "all" or self.controllers == want:
            return
        await self._cancel("controller-manager")
        from sampan.controllers.manager import ControllerManager
        from sampan.controllers.options import ControllerManagerOptions

        options = ControllerManagerOptions(controllers=("*",) if everything else ("namespace",),
                                           leader_elect=False, kube_api_qps=COMPONENT_QPS,
                                           kube_api_burst=COMPONENT_BURST,
                                           garbage_collector_discovery_period=TEST_GC_DISCOVERY_PERIOD)
        client = await self._client("kube-controller-manager/sampan")
        self._start("controller-manager", _closing(client, ControllerManager(client, options).run()))
        self.controllers = want

    def ensure_scheduler(self) -> None:
        if "scheduler" in self.tasks:
            return
        from sampan.client import load_kubeconfig
        from sampan.scheduler.app import SchedulerApp, SchedulerAppOptions

        rest = dataclasses.replace(load_kubeconfig(str(self.kubeconfig)), qps=COMPONENT_QPS, burst=COMPONENT_BURST,
                                   user_agent="kube-scheduler/sampan")
        self._start("scheduler", SchedulerApp(SchedulerAppOptions(rest=rest, leader_elect=False,
                                                                  metrics_port=None)).run())

    async def ensure_nodes(self, count: int) -> None:
        from sampan.kubelet.kubelet import Kubelet, KubeletOptions

        while len(self.nodes) < count:
            name = f"{NODE_PREFIX}{len(self.nodes) + 1}"
            options = KubeletOptions(node_name=name, root_dir=self.workdir / "kubelet" / name, runtime="simulated",
                                     port=0, pod_network="host", node_status_update_frequency=NODE_STATUS_FREQUENCY)
            client = await self._client(f"kubelet/sampan ({name})")
            self._start(f"kubelet-{name}", _closing(client, Kubelet(client, options).run()))
            self.nodes.append(name)

    async def _cancel(self, name: str) -> None:
        task = self.tasks.pop(name, None)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):  # a failure was logged by _logged
                await task

    async def stop(self) -> None:
        for name in reversed(list(self.tasks)):
            await self._cancel(name)


async def _closing(client: Any, main: Any) -> None:
    """Run ``main`` and close ``client`` however it ends."""
    try:
        await main
    finally:
        await client.close()


async def _logged(name: str, main: Any) -> None:
    """A component that dies is logged (to the host's log file), not silently lost."""
    try:
        await main
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("component failed component=%s", name)
        raise


def _emit(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


async def _start_server(args: argparse.Namespace, stack: contextlib.AsyncExitStack) -> APIServer:
    workdir = Path(args.workdir)
    etcd_servers: tuple[str, ...] = ()
    if args.storage == "etcd":
        from sampan.testing.etcd import EtcdCluster

        cluster = await EtcdCluster.start(workdir / "etcd", size=1)
        stack.push_async_exit(cluster)
        etcd_servers = tuple(cluster.client_urls)
    storage = StorageOptions(backend=args.storage, data_dir=workdir / "data", etcd_servers=etcd_servers)
    server = APIServer(APIServerConfig(port=0, storage=storage))
    await server.start()
    stack.push_async_callback(server.stop)
    return server


async def _handle(components: Components, request: dict[str, Any]) -> dict[str, Any]:
    if request.get("op") != "ensure":
        return {"error": f"unknown op {request.get('op')!r}"}
    nodes = int(request.get("nodes") or 0)
    if nodes < 0:
        return {"error": f"nodes must be >= 0, got {nodes}"}
    await components.ensure_controllers(everything=bool(request.get("controllers")))
    if request.get("scheduler"):
        components.ensure_scheduler()
    await components.ensure_nodes(nodes)
    return {"ok": True, "nodes": list(components.nodes)}


async def _serve(args: argparse.Namespace) -> int:
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    workdir = Path(args.workdir)
    async with contextlib.AsyncExitStack() as stack:
        try:
            server = await _start_server(args, stack)
        except Exception as e:  # reported to the parent in one line; details in the log
            log.exception("test cluster failed to start")
            _emit({"error": f"{type(e).__name__}: {e}"})
            return 1
        kubeconfig = workdir / "kubeconfig"
        kubeconfig.write_text(render_kubeconfig(server.url))
        _emit({"server": server.url})
        components = Components(kubeconfig, workdir)
        stack.push_async_callback(components.stop)
        tasks = [asyncio.create_task(_commands(reader, components, stopping), name="commands"),
                 asyncio.create_task(_namespace_controller_later(components), name="namespace-controller-later")]
        try:
            await stopping.wait()
        finally:
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
    return 0


async def _namespace_controller_later(components: Components) -> None:
    await asyncio.sleep(NAMESPACE_CONTROLLER_DELAY)
    await components.ensure_controllers(everything=False)


async def _commands(reader: asyncio.StreamReader, components: Components, stopping: asyncio.Event) -> None:
    """Answer requests until stdin ends (the parent is gone), then ask for the stop."""
    try:
        while line := await reader.readline():
            try:
                request = json.loads(line)
                answer = await _handle(components, request if isinstance(request, dict) else {})
            except Exception as e:
                log.exception("request failed")
                answer = {"error": f"{type(e).__name__}: {e}"}
            _emit(answer)
    finally:
        stopping.set()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sampan.cli.cluster_host")
    parser.add_argument("--workdir", required=True, help="the cluster's files; removed on exit")
    parser.add_argument("--storage", choices=("memory", "sqlite", "etcd"), default="memory")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    gc.set_threshold(*GC_THRESHOLDS)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return asyncio.run(_serve(args))
    finally:
        shutil.rmtree(args.workdir, ignore_errors=True)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
