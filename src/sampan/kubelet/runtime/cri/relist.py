"""One node-wide ListContainers shared by every pod worker: the kubelet's PLEG relist, for a CRI runtime.

Each pod worker lists its sandbox's containers at every sync (once a second per pod). Asked one by one,
that is one ListContainers RPC per pod per second — with 100 pods, most of the kubelet's and much of
containerd's CPU (measured: ~1 ms of each per call, ahead of the work of starting pods). Upstream's kubelet
relists once per period for the whole node (PLEG); :class:`SharedListing` does the same underneath the
per-sandbox calls:

* A listing is one ``ListContainers`` of the node's containers. A caller asking for sandbox S gets the
  newest listing that *started* after the last change this kubelet made to S (create, start, stop,
  remove) and is at most ``max_age`` old; else it joins a listing in flight that qualifies, or starts
  one. So a worker always sees its own actions, and a change nobody here made (an exit, an OOM kill) is
  seen at most ``max_age`` late — upstream's relist period.
* A caller without a sandbox (all containers: image GC, re-adoption) always gets a fresh listing.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any


class SharedListing:
    """``fetch()`` lists every container of the node; :meth:`changed` marks a sandbox this kubelet touched."""

    def __init__(self, fetch: Callable[[], Awaitable[list[Any]]], *, max_age: float) -> None:
        self._fetch = fetch
        self.max_age = max_age
        self._latest: tuple[float, list[Any]] | None = None
        """(when it started, the items) of the newest completed listing."""
        self._inflight: tuple[float, asyncio.Future[list[Any]]] | None = None
        """(when it started, its task) of the listing in flight, if any."""
        self._changed: dict[str, float] = {}
        """sandbox id -> when this kubelet last changed it ("" = a change of unknown sandbox: all)."""
        self.fetches = 0
        """ListContainers calls made (observability and tests)."""

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    def changed(self, sandbox_id: str) -> None:
        """Call after a mutation returns; ``""`` when the sandbox is not known (every sandbox is stale)."""
        self._changed[sandbox_id] = self._now()

    def forget(self, sandbox_id: str) -> None:
        self._changed.pop(sandbox_id, None)

    def _fresh_after(self, sandbox_id: str) -> float:
        return max(self._changed.get(sandbox_id, float("-inf")), self._changed.get("", float("-inf")))

    async def get(self, sandbox_id: str) -> list[Any]:
        """The node's containers as seen by a listing fit for ``sandbox_id`` (see the module doc)."""
        now = self._now()
        if sandbox_id and self.max_age > 0:
            after = self._fresh_after(sandbox_id)
            if self._latest is not None and self._latest[0] > after and now - self._latest[0] <= self.max_age:
                return self._latest[1]
            if self._inflight is not None and self._inflight[0] > after:
                return await asyncio.shield(self._inflight[1])
        return await self._start(now)

    async def _start(self, started: float) -> list[Any]:
        """A new listing, as a task of its own: a caller cancelled meanwhile leaves it to the others."""
        task = asyncio.ensure_future(self._fetch())
        self._inflight = (started, task)
        self.fetches += 1
        task.add_done_callback(lambda t: self._done(started, t))
        return await asyncio.shield(task)

    def _done(self, started: float, task: asyncio.Future[list[Any]]) -> None:
        if self._inflight is not None and self._inflight[1] is task:
            self._inflight = None
        if task.cancelled() or task.exception() is not None:
            return  # the callers that awaited it got the error; nothing is kept
        if self._latest is None or self._latest[0] < started:
            self._latest = (started, task.result())

    async def close(self) -> None:
        """Cancel a listing in flight (the runtime is closing)."""
        if self._inflight is not None:
            task = self._inflight[1]
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
