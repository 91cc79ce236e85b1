"""``sampan.testing.Cluster``: a real, throw-away cluster for tests, with or without pytest.

::

    with Cluster() as cluster:                    # or: async with Cluster() as cluster:
        cluster.apply("crds/")                    # CRDs wait until Established
        cluster.apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}})
        cluster.wait_for({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}, "exists")
        # KUBECONFIG points at cluster.kubeconfig: kubectl, kopf, kr8s, lightkube, kubernetes find it

The API server (memory store by default; ``storage="sqlite"`` or ``"etcd"``) and, on request, the
controller-manager, the scheduler and simulated kubelets run in one child process of the caller
(:mod:`sampan.testing.process`), which dies with it: no process, port or directory outlives the caller,
even after ``kill -9``. Helpers exist twice: ``cluster.apply(...)`` blocks, ``await cluster.aio.apply(...)``
does not; ``cluster.client`` is a :class:`sampan.client.Client` for the running event loop.

States: created -> launched (child starting) -> running -> stopped. ``launch`` may come early (the pytest
plugin launches while tests are still being collected); ``start`` waits for it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from sampan.testing.process import ClusterError, HostProcess

if TYPE_CHECKING:
    import asyncio

    from sampan.client import Client
    from sampan.testing.helper_loop import HelperLoop
    from sampan.testing.objects import Condition, Manifest

#: Modules that read ``$KUBECONFIG`` once, when imported: their default is pointed at the cluster too.
_KUBECONFIG_DEFAULTS = ("kubernetes.config.kube_config", "kubernetes_asyncio.config.kube_config")


class Cluster:
    """See the module docstring. ``scheduler`` defaults to on when nodes or controllers are asked for."""

    def __init__(
        self,
        *,
        storage: str = "memory",
        crds: Iterable[str | os.PathLike[str]] = (),
        controllers: bool = False,
        scheduler: bool | None = None,
        nodes: int = 0,
        start_timeout: float = 30.0,
        set_env: bool = True,
    ) -> None:
        if storage not in ("memory", "sqlite", "etcd"):
            raise ValueError(f"storage must be memory, sqlite or etcd, got {storage!r}")
        if nodes < 0:
            raise ValueError(f"nodes must be >= 0, got {nodes}")
        self.storage = storage
        self.crds = tuple(Path(p) for p in crds)
        self.start_timeout = start_timeout
        self._wanted = (controllers, scheduler, nodes)
        self._set_env = set_env
        self._host: HostProcess | None = None
        self._helper: HelperLoop | None = None
        self._saved_env: dict[str, Any] = {}
        self._loop_clients: dict[asyncio.AbstractEventLoop, tuple[Client, asyncio.Task[None]]] = {}
        self.aio = AsyncHelpers(self)
        self.nodes: list[str] = []

    # -- life cycle ---------------------------------------------------------------------------------

    def launch(self) -> Cluster:
        """Start the child process without waiting for it (idempotent)."""
        if self._host is None:
            self._host = HostProcess(storage=self.storage)
        return self

    def start(self) -> Cluster:
        """Launch if needed, wait until the API server serves, point ``KUBECONFIG`` at it, apply the CRDs
        and start the components asked for."""
        host = self.launch()._host
        assert host is not None
        if host.server:
            return self
        try:
            host.wait_ready(self.start_timeout)
        except ClusterError:
            self._host = None
            raise
        if self._set_env:
            self._point_env_here()
        if self.crds:
            self.install_crds(*self.crds)
        controllers, scheduler, nodes = self._wanted
        if controllers or scheduler or nodes:
            self.ensure(controllers=controllers, scheduler=scheduler, nodes=nodes)
        return self

    def stop(self) -> None:
        """Stop everything and restore the environment (idempotent)."""
        for _client, keeper in list(self._loop_clients.values()):
            loop = keeper.get_loop()
            if not loop.is_closed():
                loop.call_soon_threadsafe(keeper.cancel)
        if self._helper is not None:
            self._helper.close()
            self._helper = None
        if self._host is not None:
            self._host.stop()
            self._host = None
        self._restore_env()

    @property
    def running(self) -> bool:
        return self._host is not None and bool(self._host.server)

    def _running_host(self) -> HostProcess:
        if self._host is None or not self._host.server:
            raise ClusterError("the cluster is not running: call start() or use it as a context manager")
        return self._host

    @property
    def server(self) -> str:
        """The API server URL (``http://127.0.0.1:PORT``)."""
        return self._running_host().server

    @property
    def kubeconfig(self) -> Path:
        """A kubeconfig file for the cluster (context ``sampan``, namespace ``default``)."""
        return self._running_host().kubeconfig

    @property
    def pid(self) -> int:
        """The child process's pid."""
        return self._running_host().pid

    def _point_env_here(self) -> None:
        path = str(self.kubeconfig)
        self._saved_env = {"KUBECONFIG": os.environ.get("KUBECONFIG")}
        os.environ["KUBECONFIG"] = path
        for name in _KUBECONFIG_DEFAULTS:
            module = sys.modules.get(name)
            if module is not None and hasattr(module, "KUBE_CONFIG_DEFAULT_LOCATION"):
                self._saved_env[name] = getattr(module, "KUBE_CONFIG_DEFAULT_LOCATION")  # noqa: B009
                setattr(module, "KUBE_CONFIG_DEFAULT_LOCATION", path)  # noqa: B010

    def _restore_env(self) -> None:
        for key, value in self._saved_env.items():
            if key == "KUBECONFIG":
                if value is None:
                    os.environ.pop("KUBECONFIG", None)
                else:
                    os.environ["KUBECONFIG"] = value
            elif (module := sys.modules.get(key)) is not None:
                setattr(module, "KUBE_CONFIG_DEFAULT_LOCATION", value)  # noqa: B010
        self._saved_env = {}

    def __enter__(self) -> Cluster:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # asyncio is imported where used: the pytest plugin imports this module in every session, and code that
    # runs a coroutine has asyncio loaded already.

    async def __aenter__(self) -> Cluster:
        import asyncio

        await asyncio.to_thread(self.start)
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        import asyncio

        await asyncio.to_thread(self.stop)

    # -- components ---------------------------------------------------------------------------------

    def ensure(self, *, controllers: bool = False, scheduler: bool | None = None, nodes: int = 0,
               timeout: float = 60.0) -> list[str]:
        """Start what is not running yet: every controller (the namespace controller always runs), the
        scheduler (default: on when ``controllers`` or ``nodes``), and simulated nodes
        ``sampan-node-1``… up to ``nodes`` in total; waits until each node is Ready. Returns the nodes."""
        if scheduler is None:
            scheduler = bool(controllers or nodes)
        answer = self._running_host().request(
            {"op": "ensure", "controllers": controllers, "scheduler": scheduler, "nodes": nodes}, timeout=timeout)
        self.nodes = list(answer.get("nodes") or [])
        for name in self.nodes:
            self.wait_for({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}}, "condition=Ready",
                          timeout=timeout)
        return self.nodes

    def install_crds(self, *paths: str | os.PathLike[str], timeout: float = 30.0) -> list[dict[str, Any]]:
        """Apply CRD files or directories and wait until every CRD is Established."""
        installed: list[dict[str, Any]] = []
        for path in paths:
            installed += self.apply(Path(path), wait_crds=timeout)
        return installed

    # -- object helpers (blocking; ``aio`` has the same as coroutines) ------------------------------

    def _helpers(self) -> HelperLoop:
        if self._helper is None:
            from sampan.testing.helper_loop import HelperLoop

            self._helper = HelperLoop(str(self.kubeconfig))
        return self._helper

    def apply(self, manifest: Manifest, *, namespace: str | None = None, wait_crds: float = 30.0
              ) -> list[dict[str, Any]]:
        """Server-side apply YAML text, a file, a directory, a dict or dicts; returns the stored objects."""
        return self._helpers().call(lambda o: o.apply(manifest, namespace=namespace, wait_crds=wait_crds))

    def get(self, obj: dict[str, Any], *, namespace: str | None = None) -> dict[str, Any] | None:
        return self._helpers().call(lambda o: o.get(obj, namespace=namespace))

    def wait_for(self, obj: dict[str, Any], condition: Condition = "exists", timeout: float = 30.0, *,
                 namespace: str | None = None) -> dict[str, Any] | None:
        """Block until ``condition`` holds for ``obj`` (see :mod:`sampan.testing.objects`)."""
        return self._helpers().call(lambda o: o.wait_for(obj, condition, timeout=timeout, namespace=namespace))

    def delete(self, obj: dict[str, Any], *, namespace: str | None = None, wait: bool = False,
               timeout: float = 30.0) -> None:
        self._helpers().call(lambda o: o.delete(obj, namespace=namespace, wait=wait, timeout=timeout))

    def create_namespace(self, name: str, *, labels: dict[str, str] | None = None) -> dict[str, Any]:
        return self._helpers().call(lambda o: o.create_namespace(name, labels=labels))

    @property
    def client(self) -> Client:
        """A :class:`sampan.client.Client` for the running event loop (one per loop, closed when that loop's
        runner cancels its leftover tasks, as ``asyncio.run`` and pytest-asyncio do; no client-side rate
        limit)."""
        import asyncio

        loop = asyncio.get_running_loop()  # RuntimeError outside a coroutine: the client is asyncio
        for closed in [other for other in self._loop_clients if other.is_closed()]:
            del self._loop_clients[closed]  # its runner cancelled the keeper, which closed the client
        entry = self._loop_clients.get(loop)
        if entry is None:
            from sampan.client import Client
            from sampan.testing.helper_loop import unthrottled_config

            client = Client(unthrottled_config(str(self.kubeconfig)))
            entry = (client, loop.create_task(_keep_open(client), name="sampan-testing-client"))
            self._loop_clients[loop] = entry
        return entry[0]


async def _keep_open(client: Client) -> None:
    """Owns a loop's client: waits until cancelled, then closes it."""
    import asyncio

    try:
        await asyncio.Event().wait()
    finally:
        await client.close()


class AsyncHelpers:
    """``cluster.aio``: the object helpers as coroutines (run on the cluster's helper loop, so they work
    from any event loop and never block it)."""

    def __init__(self, cluster: Cluster) -> None:
        self._cluster = cluster

    async def apply(self, manifest: Manifest, *, namespace: str | None = None, wait_crds: float = 30.0
                    ) -> list[dict[str, Any]]:
        return await self._cluster._helpers().acall(
            lambda o: o.apply(manifest, namespace=namespace, wait_crds=wait_crds))

    async def get(self, obj: dict[str, Any], *, namespace: str | None = None) -> dict[str, Any] | None:
        return await self._cluster._helpers().acall(lambda o: o.get(obj, namespace=namespace))

    async def wait_for(self, obj: dict[str, Any], condition: Condition = "exists", timeout: float = 30.0, *,
                       namespace: str | None = None) -> dict[str, Any] | None:
        return await self._cluster._helpers().acall(
            lambda o: o.wait_for(obj, condition, timeout=timeout, namespace=namespace))

    async def delete(self, obj: dict[str, Any], *, namespace: str | None = None, wait: bool = False,
                     timeout: float = 30.0) -> None:
        await self._cluster._helpers().acall(lambda o: o.delete(obj, namespace=namespace, wait=wait,
                                                                timeout=timeout))

    async def ensure(self, *, controllers: bool = False, scheduler: bool | None = None, nodes: int = 0,
                     timeout: float = 60.0) -> list[str]:
        import asyncio

        return await asyncio.to_thread(self._cluster.ensure, controllers=controllers, scheduler=scheduler,
                                       nodes=nodes, timeout=timeout)
