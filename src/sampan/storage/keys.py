"""Input checks every backend applies before touching its data."""

from __future__ import annotations

from sampan.storage.errors import InvalidKey, ValueTooLarge
from sampan.storage.interface import MAX_VALUE_BYTES

DEFAULT_ROOT = "/registry/"


def check_key(root: str, key: str) -> None:
    """Raise InvalidKey unless ``key`` is a non-empty key strictly inside ``root``."""
    if not key:
        raise InvalidKey(key, "empty key")
    if not key.startswith(root) or key == root:
        raise InvalidKey(key, f"outside the store root {root!r}")
    if "\x00" in key:
        raise InvalidKey(key, "NUL byte in key")


def check_prefix(root: str, prefix: str) -> None:
    """Raise InvalidKey unless ``prefix`` lies within ``root`` (the root itself is allowed)."""
    if not prefix.startswith(root):
        raise InvalidKey(prefix, f"prefix outside the store root {root!r}")


def check_value(key: str, value: bytes) -> None:
    if len(value) > MAX_VALUE_BYTES:
        raise ValueTooLarge(key, len(value), MAX_VALUE_BYTES)


def prefix_end(prefix: str) -> str:
    """The smallest string greater than every string starting with ``prefix`` (etcd's range_end)."""
    if not prefix:
        return "\x00"
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)
