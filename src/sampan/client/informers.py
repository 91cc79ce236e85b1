"""SharedInformerFactory: one informer per resource type per process, however many controllers ask.

Usage::

    factory = SharedInformerFactory(client, default_resync=0)
    pods = factory.informer("v1", "pods")          # same object for every caller
    lister = factory.lister("v1", "pods")
    pods.add_event_handler(EventHandlerFuncs(on_add_func=...))
    factory.start()                                 # starts informers not yet running
    await factory.wait_for_cache_sync(timeout=30)
    ...
    await factory.shutdown()

Resources are named by ``api_version`` and their lower-case plural (the identity of the informer);
discovery runs when an informer first lists, so asking for an informer never blocks. The factory owns the
informers' tasks; ``shutdown`` cancels and awaits them.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Mapping

from sampan._lib.clock import Clock, RealClock
from sampan.client.cache.index import IndexFunc
from sampan.client.cache.listers import Lister
from sampan.client.cache.listwatch import ListWatch
from sampan.client.cache.reflector import ReflectorOptions
from sampan.client.cache.shared_informer import SharedIndexInformer, wait_for_cache_sync
from sampan.client.cache.transforms import Transform
from sampan.client.discovery import split_api_version
from sampan.client.dynamic import Client, ResourceClient

log = logging.getLogger(__name__)

InformerKey = tuple[str, str, str]
"""(group, version, plural resource)."""


class SharedInformerFactory:
    def __init__(
        self,
        client: Client,
        *,
        default_resync: float = 0.0,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        reflector_options: ReflectorOptions | None = None,
        handler_buffer: int = 1024,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        transform: Transform | None = None,
    ) -> None:
        """``transform`` is applied by every informer of this factory to every object before caching it
        (upstream's ``WithTransform``; e.g. :func:`~sampan.client.cache.transforms.strip_managed_fields`)."""
        self._client = client
        self.transform = transform
        self._default_resync = default_resync
        self._namespace = namespace
        self._label_selector = label_selector
        self._field_selector = field_selector
        self._reflector_options = reflector_options
        self._handler_buffer = handler_buffer
        self._clock = clock or RealClock()
        self._rng = rng
        self._informers: dict[InformerKey, SharedIndexInformer] = {}
        self._tasks: dict[InformerKey, asyncio.Task[None]] = {}

    @staticmethod
    def _key(api_version: str, resource: str) -> InformerKey:
        group, version = split_api_version(api_version)
        return group, version, resource.lower()

    def informer(self, api_version: str, resource: str, *, resync_period: float | None = None,
                 indexers: Mapping[str, IndexFunc] | None = None) -> SharedIndexInformer:
        """The shared informer of ``resource`` (lower-case plural) in ``api_version``; created on first ask.
        Extra ``indexers`` are added to an existing informer (a name clash raises ValueError)."""
        key = self._key(api_version, resource)
        inf = self._informers.get(key)
        if inf is None:
            async def resolve() -> ResourceClient:
                rc = await self._client.resource(api_version, resource)
                if rc.info.resource != key[2]:
                    log.warning("informer named by a non-plural resource=%s plural=%s", resource, rc.info.resource)
                return rc

            lw = ListWatch(resolve, namespace=self._namespace, label_selector=self._label_selector,
                           field_selector=self._field_selector)
            inf = SharedIndexInformer(
                lw, name=f"{api_version}/{key[2]}", indexers=indexers,
                resync_period=self._default_resync if resync_period is None else resync_period,
                handler_buffer=self._handler_buffer, reflector_options=self._reflector_options, clock=self._clock,
                rng=self._rng, transform=self.transform,
            )
            self._informers[key] = inf
        elif indexers:
            new = {k: v for k, v in indexers.items() if k not in inf.indexer.indexers}
            if new:
                inf.indexer.add_indexers(new)
        return inf

    def lister(self, api_version: str, resource: str) -> Lister:
        key = self._key(api_version, resource)
        return Lister(self.informer(api_version, resource).indexer, key[2], group=key[0])

    def informers(self) -> dict[InformerKey, SharedIndexInformer]:
        return dict(self._informers)

    def start(self) -> None:
        """Start every informer not yet started (call again after asking for more informers)."""
        for key, inf in self._informers.items():
            if key in self._tasks:
                continue
            task = asyncio.get_running_loop().create_task(inf.run(), name=f"informer-{inf.name}")
            task.add_done_callback(_log_death)
            self._tasks[key] = task

    async def wait_for_cache_sync(self, timeout: float | None = None) -> dict[InformerKey, bool]:
        """Wait until every started informer synced (or ``timeout``); each informer's sync state."""
        started = [self._informers[k] for k in self._tasks]
        await wait_for_cache_sync(*started, timeout=timeout, clock=self._clock)
        return {k: self._informers[k].has_synced() for k in self._tasks}

    async def shutdown(self) -> None:
        """Cancel every informer and wait for it to stop."""
        tasks = list(self._tasks.values())
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _log_death(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("informer died", exc_info=task.exception())
