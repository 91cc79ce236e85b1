"""Fixtures shared by every test package.

* ``apiserver`` — a real ``sampan apiserver`` subprocess (memory storage by default; parametrize
  indirectly with ``"sqlite"`` for the embedded store). Has ``url``, ``kubeconfig``, ``data_dir``.
* ``inproc_apiserver`` — an API server in the test's event loop (async tests only), still HTTP on
  loopback. ``@pytest.mark.apiserver_config(default_watch_cache_size=5, ...)`` overrides config fields;
  indirect parametrization picks the storage backend.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from tests.support.apiserver import APIServerHandle, InProcessAPIServer, run_apiserver_inprocess, run_apiserver_process

# Generated inputs are checked for correctness, not speed: on a loaded CI machine (two xdist workers and the
# servers they start share 2 cores) drawing one example can take seconds, which is no failure.
settings.register_profile("sampan", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("sampan")

# Tests that share the host's global state (network namespaces, bridges and nftables rules with fixed
# names, the DNS device, node ports, containerd, process-runtime `sampan up` clusters) run one after another
# on one xdist worker ("host"). Tests that start whole simulated clusters (HA with etcd and HAProxy, hollow
# nodes, the pytest plugin's clusters, the walkthroughs and the live view) touch no global kernel state but
# load the machine: they too run one at a time ("clusters"), beside the host group. Every other test is
# spread over the workers.
HOST_DIRS = frozenset({"cli", "dns", "e2e", "kubelet", "metricsserver", "proxy", "streaming"})
CLUSTER_DIRS = frozenset({"ha", "observability", "scale", "testing"})
HOST_MODULES = frozenset({
    "tests/apiserver/encryption/test_encryption.py",
    "tests/apiserver/test_customresources.py",
    "tests/apiserver/test_customresources_kopf.py",
    "tests/controllers/daemonset/test_up_acceptance.py",
    "tests/controllers/disruption/test_drain.py",
})


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "apiserver_config(**fields): APIServerConfig overrides for inproc_apiserver")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    root = Path(str(config.rootpath))
    for item in items:
        relative = Path(str(item.path)).relative_to(root)
        if relative.parts[1] in HOST_DIRS or relative.as_posix() in HOST_MODULES:
            item.add_marker(pytest.mark.xdist_group("host"))
        elif relative.parts[1] in CLUSTER_DIRS:
            item.add_marker(pytest.mark.xdist_group("clusters"))


@pytest.fixture
def apiserver(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[APIServerHandle]:
    storage = getattr(request, "param", "memory")
    with run_apiserver_process(tmp_path / "apiserver", storage=storage) as handle:
        yield handle


@pytest.fixture
async def inproc_apiserver(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[InProcessAPIServer]:
    storage = getattr(request, "param", "memory")
    marker = request.node.get_closest_marker("apiserver_config")
    overrides = dict(marker.kwargs) if marker is not None else {}
    async with run_apiserver_inprocess(tmp_path / "apiserver", storage=storage, **overrides) as server:
        yield server
