"""System randomness read in blocks: object UIDs and generated names without a ``getrandom`` call each.

Every pod create needs 16 random bytes for its UID and, with ``metadata.generateName``, a few more for the
name. ``uuid.uuid4()`` and ``secrets`` make one system call per use, which showed up as ~6% of the API
server's CPU per create. :class:`RandomBytes` reads ``os.urandom`` 4 KiB at a time and hands out slices, so
the bytes are as unpredictable as before (nothing is derived or reused).

Invariants: no byte is handed out twice in one process; a forked child (``apiserver --workers N`` forks its
workers) drops the block it inherited, so two processes never share bytes.
"""

from __future__ import annotations

import os
import threading

BLOCK = 4096
"""Bytes read from the system per refill."""


class RandomBytes:
    """A thread-safe pool of ``os.urandom`` bytes, emptied in a forked child."""

    def __init__(self, block: int = BLOCK) -> None:
        self._block = block
        self._buf = b""
        self._at = 0
        self._lock = threading.Lock()
        os.register_at_fork(after_in_child=self._forget)

    def _forget(self) -> None:
        self._lock = threading.Lock()  # a lock held by another thread at fork time stays held in the child
        self._buf, self._at = b"", 0

    def take(self, n: int) -> bytes:
        """``n`` fresh random bytes."""
        with self._lock:
            if self._at + n > len(self._buf):
                self._buf, self._at = os.urandom(max(self._block, n)), 0
            out = self._buf[self._at:self._at + n]
            self._at += n
            return out

    def below(self, bound: int) -> int:
        """A uniform integer in ``[0, bound)`` (``bound`` <= 2**32), by rejection: no modulo bias."""
        if not 0 < bound <= 1 << 32:
            raise ValueError(f"bound out of range: {bound}")
        limit = (1 << 32) - (1 << 32) % bound
        while True:
            x = int.from_bytes(self.take(4), "little")
            if x < limit:
                return x % bound

    def uuid4(self) -> str:
        """A random (version 4) UUID in its canonical text form, as ``str(uuid.uuid4())``."""
        b = bytearray(self.take(16))
        b[6] = (b[6] & 0x0F) | 0x40  # version 4
        b[8] = (b[8] & 0x3F) | 0x80  # RFC 4122 variant
        h = b.hex()
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


POOL = RandomBytes()
"""The process's pool."""
