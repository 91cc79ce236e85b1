"""Idle detection for streaming connections (``--streaming-connection-idle-timeout``)."""

from __future__ import annotations

import asyncio
import time


class IdleWatch:
    """Remembers the last traffic; :meth:`expired` returns once none was seen for ``timeout`` seconds.
    ``timeout`` <= 0 disables it (``expired`` never returns)."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._last = time.monotonic()

    def touch(self) -> None:
        self._last = time.monotonic()

    async def expired(self) -> None:
        if self.timeout <= 0:
            await asyncio.Event().wait()
        while True:
            left = self._last + self.timeout - time.monotonic()
            if left <= 0:
                return
            await asyncio.sleep(left)
