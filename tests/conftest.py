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

from tests.support.apiserver import APIServerHandle, InProcessAPIServer, run_apiserver_inprocess, run_apiserver_process

# Tests that share the host's global state (network namespaces, bridges and nftables rules with fixed
# names, node ports, `sampan up` clusters and their supervisors, containerd, HAProxy, the process table)
# run one after another on a single xdist worker; every other test is spread over the workers.
HOST_DIRS = frozenset({"cli", "dns", "e2e", "ha", "kubelet", "metricsserver", "observability", "proxy",
                       "scale", "streaming", "testing"})
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
