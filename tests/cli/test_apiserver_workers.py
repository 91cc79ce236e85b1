"""``sampan apiserver --workers`` / ``sampan up --apiserver-workers``: each worker's configuration (its
share of the in-flight limits, the shared store, SO_REUSEPORT) and the flags reaching the API server.
The processes themselves are tested in tests/apiserver/test_workers.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from sampan.apiserver.config import APIServerConfig, StorageOptions
from sampan.cli.apiserver_workers import reserve_port, worker_config
from sampan.cli.up import UpOptions, component_specs


def test_worker_config_shares_the_store_and_splits_the_limits() -> None:
    config = APIServerConfig(max_requests_inflight=401, max_mutating_requests_inflight=200)
    worker = worker_config(config, workers=2)
    assert worker.reuse_port
    assert worker.storage.shared
    assert worker.storage.backend == "sqlite"
    assert (worker.max_requests_inflight, worker.max_mutating_requests_inflight) == (201, 100)
    etcd = worker_config(APIServerConfig(storage=StorageOptions(backend="etcd", etcd_servers=("http://x",))),
                         workers=3)
    assert not etcd.storage.shared  # etcd needs nothing: each worker is one more client


def test_memory_store_is_refused() -> None:
    with pytest.raises(ValueError, match="--workers needs a store"):
        worker_config(APIServerConfig(storage=StorageOptions(backend="memory")), workers=2)


def test_reserved_port_can_be_shared_by_listeners() -> None:
    import socket

    port, held = reserve_port("127.0.0.1", 0)
    try:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        listener.bind(("127.0.0.1", port))  # what each worker's SO_REUSEPORT listener does
        listener.close()
    finally:
        held.close()


def test_up_passes_workers_to_the_apiserver(tmp_path: Path) -> None:
    specs, _ = component_specs(UpOptions(data_dir=tmp_path, apiserver_workers=2), {"apiserver"})
    argv = {spec.name: spec.argv for spec in specs}["apiserver"]
    assert argv[argv.index("--workers") + 1] == "2"
    specs, _ = component_specs(UpOptions(data_dir=tmp_path), {"apiserver"})
    assert "--workers" not in {spec.name: spec.argv for spec in specs}["apiserver"]


def test_bad_worker_counts_are_one_line_errors() -> None:
    from sampan.cli.main import main

    assert main(["apiserver", "--port", "0", "--workers", "0"]) == 2
    assert main(["apiserver", "--port", "0", "--storage", "memory", "--workers", "2"]) == 2
