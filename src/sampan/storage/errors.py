"""Storage errors. The API server maps each to one HTTP status (see ``sampan.apiserver``).

StorageError
 ├── KeyExists        create of a key that exists                      -> 409 AlreadyExists
 ├── KeyNotFound      get/update/delete of a missing key               -> 404 NotFound
 ├── Conflict         compare-and-swap saw another mod revision        -> 409 Conflict
 ├── Compacted        read or watch below the compacted revision       -> 410 Expired
 ├── InvalidKey       empty key, or key outside the store's root       -> 400/500 (a caller bug)
 ├── ValueTooLarge    value over the 1.5 MiB limit                     -> 413/422
 ├── WatchClosed      a watcher fell behind, or the store closed       -> client re-watches
 └── Unavailable      the backend cannot be reached                    -> 503/504
"""

from __future__ import annotations


class StorageError(Exception):
    """Base of every error the store raises."""


class KeyExists(StorageError):
    def __init__(self, key: str) -> None:
        super().__init__(f"key already exists: {key}")
        self.key = key


class KeyNotFound(StorageError):
    def __init__(self, key: str) -> None:
        super().__init__(f"key not found: {key}")
        self.key = key


class Conflict(StorageError):
    """The key's mod revision was not the expected one; ``actual`` is 0 when the key is gone."""

    def __init__(self, key: str, *, expected: int, actual: int) -> None:
        super().__init__(f"conflict on {key}: expected mod revision {expected}, found {actual}")
        self.key = key
        self.expected = expected
        self.actual = actual


class Compacted(StorageError):
    """The requested revision is older than the oldest the store still holds."""

    def __init__(self, requested: int, compacted: int) -> None:
        super().__init__(
            f"revision {requested} has been compacted; the oldest available revision is {compacted}"
        )
        self.requested = requested
        self.compacted = compacted


class InvalidKey(StorageError):
    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"invalid key {key!r}: {reason}")
        self.key = key


class ValueTooLarge(StorageError):
    def __init__(self, key: str, size: int, limit: int) -> None:
        super().__init__(f"value for {key} is {size} bytes; the limit is {limit}")
        self.key = key
        self.size = size
        self.limit = limit


class WatchClosed(StorageError):
    """The watch ended for a reason other than the caller closing it (slow consumer, store closed)."""


class Unavailable(StorageError):
    """The backend did not answer; the operation may or may not have happened."""
