"""The ``store`` fixture: every test in the conformance suite runs once per backend."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sampan.storage.etcd import EtcdStorage
from sampan.storage.interface import Storage
from sampan.storage.memory import MemoryStorage
from sampan.testing.etcd import EtcdCluster, EtcdOptions

BACKENDS = ["memory", "sqlite", "sqlite-shared", "etcd"]


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Storage]:
    backend = request.param
    s: Storage
    if backend == "memory":
        s = MemoryStorage()
    elif backend == "etcd":
        # A fresh single-member etcd per test (~0.1 s with short raft timers): an empty keyspace and
        # revisions, compactions and watches of its own.
        cluster = await EtcdCluster.start(tmp_path / "etcd", options=EtcdOptions(heartbeat_ms=20, election_ms=200))
        request.addfinalizer(cluster.kill_all)  # noqa: PT021 - runs even if opening the store fails
        s = await EtcdStorage.open(cluster.client_urls)
    elif backend == "sqlite":
        from sampan.storage.sqlite import SqliteStorage

        s = await SqliteStorage.open(tmp_path / "state.db")
    elif backend == "sqlite-shared":  # one member of a group of two (API server workers), the other idle
        from sampan.storage.sqlite import SqliteStorage

        s = await SqliteStorage.open(tmp_path / "state.db", shared_store=True)
        other = await SqliteStorage.open(tmp_path / "state.db", shared_store=True)
        try:
            yield s
        finally:
            await s.close()
            await other.close()
        return
    else:  # pragma: no cover - every backend is listed above
        raise AssertionError(backend)
    try:
        yield s
    finally:
        await s.close()
