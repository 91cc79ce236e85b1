"""The pytest plugin (entry point ``pytest11: sampan``): a real cluster per test session, no conftest needed.

Fixtures (none is autouse; nothing starts unless a test asks for it):

- ``k8s`` (session): a running :class:`sampan.testing.Cluster` — ``.kubeconfig``, ``.server``, ``.client``,
  ``.apply()``, ``.wait_for()``, ``.aio``… ``KUBECONFIG`` points at it for the session. One per
  pytest-xdist worker.
- ``k8s_namespace`` (function): the name of a fresh namespace, deleted (with its objects) after the test.
- ``sampan_crds`` (session): the CRD files/directories installed before ``k8s`` is handed out; the
  ``--sampan-crds`` paths by default, override it in a conftest to choose them in code.

Marker ``@pytest.mark.sampan(controllers=True, scheduler=None, nodes=1, crds=[...])``: before the test, the
session cluster also runs every controller, the scheduler and N simulated nodes (they keep running for
the rest of the session; nodes only grow), and the CRDs given are installed.

Options (each also an ini key without the dashes): ``--sampan-storage memory|sqlite|etcd``,
``--sampan-crds PATH`` (repeatable), ``--sampan-prestart auto|yes|no``. With ``auto`` the cluster process
is launched early so that its start-up overlaps collection: at session start when the previous run of
this project used it (remembered in pytest's cache) or sampan options are given; else as soon as a file
being collected names ``k8s``/``k8s_namespace`` as a parameter, or collection shows a test needs it. A
launched cluster no collected test needs is stopped after collection.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sampan.testing.cluster import Cluster

CLUSTER_FIXTURES = ("k8s", "k8s_namespace")
#: A fixture parameter named like ours (``def test_x(k8s, k8s_namespace):``) in a file's source: a cheap sign,
#: before the module is imported, that the session will need the cluster.
_REQUESTS_FIXTURE = re.compile(rb"[(,]\s*k8s(?:_namespace)?\s*[,):=]")
MARKER_FIXTURE = "sampan_marked_components"
CACHE_KEY = "sampan/cluster-used"
PLUGIN_NAME = "sampan-session-cluster"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("sampan", "sampan test cluster (fixtures k8s, k8s_namespace)")
    group.addoption("--sampan-storage", choices=("memory", "sqlite", "etcd"), default=None,
                    help="store of the session's API server (default memory)")
    group.addoption("--sampan-crds", action="append", default=[], metavar="PATH",
                    help="CRD file or directory to install before tests run (repeatable)")
    group.addoption("--sampan-prestart", choices=("auto", "yes", "no"), default=None,
                    help="launch the cluster before a test asks for it (default auto)")
    parser.addini("sampan_storage", "store of the session's API server (memory, sqlite, etcd)", default="memory")
    parser.addini("sampan_crds", "CRD files or directories to install before tests run", type="paths", default=[])
    parser.addini("sampan_prestart", "auto, yes or no (see --sampan-prestart)", default="auto")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "sampan(controllers=False, scheduler=None, nodes=0, crds=()): components and CRDs the "
        "session's test cluster must have for this test")
    config.pluginmanager.register(SessionCluster(config), PLUGIN_NAME)


def _uses_cluster(item: pytest.Item) -> bool:
    return any(name in getattr(item, "fixturenames", ()) for name in CLUSTER_FIXTURES)


class SessionCluster:
    """The session's cluster, created lazily. Invariant: at most one :class:`Cluster` per process
    (xdist worker), stopped at session end whatever happened."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.cluster: Cluster | None = None
        option = config.getoption("sampan_storage") or config.getini("sampan_storage")
        self.storage = str(option or "memory")
        self.prestart = str(config.getoption("sampan_prestart") or config.getini("sampan_prestart") or "auto")

    def _option_crds(self) -> list[Path]:
        return [Path(p) for p in self.config.getoption("sampan_crds")] + list(self.config.getini("sampan_crds"))

    def _is_xdist_controller(self) -> bool:
        """The pytest-xdist process that hands tests to workers (it neither collects nor runs any)."""
        return self.config.getoption("dist", "no") != "no" and not hasattr(self.config, "workerinput")

    def _may_prestart(self) -> bool:
        return (self.prestart != "no" and not self._is_xdist_controller()
                and not self.config.getoption("collectonly"))

    def _get(self) -> Cluster:
        if self.cluster is None:
            self.cluster = Cluster(storage=self.storage)
        return self.cluster

    def _expects_cluster(self) -> bool:
        """Signs, before collection, that this session will use the cluster: the previous run of the project
        did (pytest's cache), or sampan options were given (CRDs, a storage)."""
        cache = getattr(self.config, "cache", None)
        remembered = bool(cache.get(CACHE_KEY, False)) if cache is not None else False
        return remembered or bool(self._option_crds()) or self.config.getoption("sampan_storage") is not None

    @pytest.hookimpl(trylast=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        if self._may_prestart() and (self.prestart == "yes" or self._expects_cluster()):
            self._get().launch()

    def pytest_collect_file(self, file_path: Path) -> None:
        """Launch as soon as a Python file about to be collected names our fixtures as parameters, so the
        start-up overlaps the (often slow) import of test modules; a false alarm is undone after collection."""
        if self.cluster is not None or file_path.suffix != ".py" or not self._may_prestart():
            return
        try:
            mentions = _REQUESTS_FIXTURE.search(file_path.read_bytes()) is not None
        except OSError:
            return
        if mentions:
            self._get().launch()

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        for item in items:
            if item.get_closest_marker("sampan") is not None and _uses_cluster(item):
                fixturenames: list[str] = item.fixturenames  # type: ignore[attr-defined]
                if MARKER_FIXTURE not in fixturenames:
                    fixturenames.insert(0, MARKER_FIXTURE)

    @pytest.hookimpl(trylast=True)
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        needed = any(_uses_cluster(item) for item in session.items)
        cache = getattr(self.config, "cache", None)
        worker = getattr(self.config, "workerinput", {}).get("workerid", "gw0")
        if cache is not None and worker == "gw0" and not self._is_xdist_controller():
            cache.set(CACHE_KEY, needed)  # one writer: the only process, or the first xdist worker
        if needed and self._may_prestart():
            self._get().launch()
        elif not needed and self.cluster is not None:
            self.stop()

    def start(self, crds: list[Path]) -> Cluster:
        cluster = self._get()
        if not cluster.running:
            cluster.start()
            if crds:
                cluster.install_crds(*crds)
        return cluster

    def stop(self) -> None:
        if self.cluster is not None:
            cluster, self.cluster = self.cluster, None
            cluster.stop()

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        self.stop()

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        self.stop()


def _session_cluster(config: pytest.Config) -> SessionCluster:
    plugin = config.pluginmanager.get_plugin(PLUGIN_NAME)
    assert isinstance(plugin, SessionCluster), "the sampan plugin was not configured"
    return plugin


@pytest.fixture(scope="session")
def sampan_crds(pytestconfig: pytest.Config) -> list[Path]:
    """CRD files or directories installed (and Established) before ``k8s`` is handed out."""
    return _session_cluster(pytestconfig)._option_crds()


@pytest.fixture(scope="session")
def k8s(pytestconfig: pytest.Config, sampan_crds: list[Path]) -> Iterator[Cluster]:
    """The session's cluster (see :mod:`sampan.testing.plugin`)."""
    plugin = _session_cluster(pytestconfig)
    yield plugin.start([Path(p) for p in sampan_crds])
    plugin.stop()


_NOT_DNS = re.compile(r"[^a-z0-9-]+")


def namespace_name(test_name: str) -> str:
    """``<test name as a DNS label, at most 50 chars>-<8 hex>``: unique, and telling whose it is."""
    base = _NOT_DNS.sub("-", test_name.lower()).strip("-")[:50].strip("-") or "test"
    return f"{base}-{secrets.token_hex(4)}"


@pytest.fixture
def k8s_namespace(k8s: Cluster, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace for this test; deleted afterwards, and the namespace controller deletes what is
    in it (the teardown does not wait for that)."""
    name = namespace_name(request.node.name)
    k8s.create_namespace(name, labels={"sampan.io/test": "true"})
    yield name
    k8s.delete({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})


@pytest.fixture
def sampan_marked_components(k8s: Cluster, request: pytest.FixtureRequest) -> None:
    """Added to tests carrying ``@pytest.mark.sampan``: makes the session cluster run what it asks for."""
    marker = request.node.get_closest_marker("sampan")
    if marker is None:
        return
    kwargs: dict[str, Any] = dict(marker.kwargs)
    unknown = set(kwargs) - {"controllers", "scheduler", "nodes", "crds"}
    if unknown or marker.args:
        raise pytest.UsageError(f"@pytest.mark.sampan takes controllers=, scheduler=, nodes=, crds=; "
                                f"got {sorted(unknown) or marker.args}")
    crds = kwargs.pop("crds", ())
    if crds:
        k8s.install_crds(*([crds] if isinstance(crds, str | Path) else crds))
    if kwargs:
        k8s.ensure(**kwargs)
