"""Fixtures shared by every test package.

* ``apiserver`` — a real ``sampan apiserver`` subprocess (memory storage by default; parametrize
  indirectly with ``"sqlite"`` for the embedded store). Has ``url``, ``kubeconfig``, ``data_dir``.
* ``inproc_apiserver`` — an API server in the test's event loop (async tests only), still HTTP on
  loopback. ``@pytest.mark.apiserver_config(default_watch_cache_size=5, ...)`` overrides config fields;
  indirect parametrization picks the storage backend.
* ``event_loop_policy`` (pytest-asyncio's) — with ``SAMPAN_EVENT_LOOP=uvloop`` in the environment the async
  tests run on uvloop (in-process servers and clients), and the ``sampan`` subprocesses inherit the
  variable; otherwise pytest-asyncio's default loop (and each subprocess its command's default,
  ``sampan._lib.eventloop``).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from tests.support import host_tests
from tests.support.apiserver import APIServerHandle, InProcessAPIServer, run_apiserver_inprocess, run_apiserver_process

# Generated inputs are checked for correctness, not speed: on a loaded machine drawing one example can
# take seconds, which is no failure.
settings.register_profile("sampan", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("sampan")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "apiserver_config(**fields): APIServerConfig overrides for inproc_apiserver")
    # under xdist (`make test` runs `-n 2`): tests that program the kernel or start clusters never overlap
    host_tests.register(config)


if os.environ.get("SAMPAN_EVENT_LOOP", "").strip().lower() == "uvloop":  # only then: the override is deprecated
    @pytest.fixture(scope="session")
    def event_loop_policy() -> asyncio.AbstractEventLoopPolicy:
        import uvloop

        return uvloop.EventLoopPolicy()


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
