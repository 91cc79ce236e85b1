"""The MVCC store: Kubernetes' source of truth.

Bytes in, bytes out; keys are strings under a configured root (``/registry/``). Every write gets the
next global revision, which the API server exposes as ``resourceVersion``. Backends implement
:class:`~sampan.storage.interface.Storage`: ``sqlite`` (embedded default), ``etcd`` (a real etcd v3
cluster) and ``memory`` (unit tests). Only ``sampan.apiserver`` may import this package.
"""

from sampan.storage.errors import (
    Compacted,
    Conflict,
    InvalidKey,
    KeyExists,
    KeyNotFound,
    StorageError,
    Unavailable,
    ValueTooLarge,
    WatchClosed,
)
from sampan.storage.interface import Event, EventType, KeyValue, ListResult, Storage, Watch

__all__ = [
    "Compacted",
    "Conflict",
    "Event",
    "EventType",
    "InvalidKey",
    "KeyExists",
    "KeyNotFound",
    "KeyValue",
    "ListResult",
    "Storage",
    "StorageError",
    "Unavailable",
    "ValueTooLarge",
    "Watch",
    "WatchClosed",
]
