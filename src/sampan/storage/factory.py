"""Open a backend by name: the one place that knows every backend."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sampan.storage.interface import Storage
from sampan.storage.keys import DEFAULT_ROOT

BACKENDS = ("sqlite", "etcd", "memory")


@dataclass(frozen=True)
class StorageOptions:
    backend: str = "sqlite"
    """One of :data:`BACKENDS`."""
    data_dir: Path = Path(".sampan")
    """Where ``sqlite`` keeps ``state.db``."""
    etcd_servers: tuple[str, ...] = field(default_factory=tuple)
    """etcd client URLs (``http://127.0.0.1:2379``, ``https://`` with ``etcd_tls``), for ``etcd``."""
    root: str = DEFAULT_ROOT
    etcd_tls: tuple[str, str, str] | None = None
    """(CA file, client certificate file, client key file) for ``https`` etcd members."""
    shared: bool = False
    """``sqlite``: open ``state.db`` as one of several processes sharing it (API server workers)."""


async def open_storage(options: StorageOptions) -> Storage:
    """Open (and for sqlite, create) the configured store. Raises ValueError for a bad configuration."""
    if options.backend == "memory":
        from sampan.storage.memory import MemoryStorage

        return MemoryStorage(options.root)
    if options.backend == "sqlite":
        from sampan.storage.sqlite import SqliteStorage

        options.data_dir.mkdir(parents=True, exist_ok=True)
        return await SqliteStorage.open(options.data_dir / "state.db", root=options.root, shared_store=options.shared)
    if options.backend == "etcd":
        from sampan.storage.etcd import EtcdStorage

        if not options.etcd_servers:
            raise ValueError("--storage etcd needs --etcd-servers")
        from sampan.storage.etcd import EtcdTLS

        tls = EtcdTLS(*options.etcd_tls) if options.etcd_tls is not None else None
        return await EtcdStorage.open(list(options.etcd_servers), root=options.root, tls=tls)
    raise ValueError(f"unknown storage backend {options.backend!r}; expected one of {', '.join(BACKENDS)}")
