"""A private event loop on a daemon thread, so that synchronous code (and async code on any loop) can use
the asyncio client library: :meth:`HelperLoop.call` blocks on a coroutine run there, :meth:`HelperLoop.acall`
awaits it from another loop. The loop owns one :class:`~sampan.client.Client` and its
:class:`~sampan.testing.objects.Objects` helpers, created on first use and closed by :meth:`close`.

States: idle (no thread) -> running (thread + loop + client) -> closed; ``call`` after ``close`` raises.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from sampan.client import Client, RESTConfig, load_kubeconfig
from sampan.testing.objects import Objects

T = TypeVar("T")


def unthrottled_config(kubeconfig: str) -> RESTConfig:
    """The kubeconfig's client settings without client-side rate limiting (client-go's 5 QPS would make
    every test wait): a test cluster serves one test run."""
    return dataclasses.replace(load_kubeconfig(kubeconfig), qps=0.0, user_agent="sampan-testing")


class HelperLoop:
    def __init__(self, kubeconfig: str) -> None:
        self._kubeconfig = kubeconfig
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._objects: Objects | None = None
        self._closed = False

    def _ensure(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._closed:
                raise RuntimeError("the cluster was stopped")
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=loop.run_forever, name="sampan-testing-helper", daemon=True)
                thread.start()
                self._loop, self._thread = loop, thread
            return self._loop

    async def _objects_here(self) -> Objects:
        if self._objects is None:
            self._objects = Objects(Client(unthrottled_config(self._kubeconfig)))
        return self._objects

    def _submit(self, work: Callable[[Objects], Coroutine[Any, Any, T]]) -> concurrent.futures.Future[T]:
        async def run() -> T:
            return await work(await self._objects_here())

        return asyncio.run_coroutine_threadsafe(run(), self._ensure())

    def call(self, work: Callable[[Objects], Coroutine[Any, Any, T]]) -> T:
        """Run ``work(objects)`` on the helper loop and wait for its result."""
        return self._submit(work).result()

    async def acall(self, work: Callable[[Objects], Coroutine[Any, Any, T]]) -> T:
        """Same, awaited from the caller's loop (which stays free meanwhile)."""
        return await asyncio.wrap_future(self._submit(work))

    def close(self) -> None:
        with self._lock:
            self._closed = True
            loop, thread, objects = self._loop, self._thread, self._objects
            self._loop = self._thread = self._objects = None
        if loop is None or thread is None:
            return
        if objects is not None:
            asyncio.run_coroutine_threadsafe(objects.client.close(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
