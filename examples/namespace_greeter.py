"""A complete controller: every namespace gets a ConfigMap "greeting" saying hello to it.

Runs unchanged against any cluster (``sampan up``, kind, a cloud cluster)::

    python examples/namespace_greeter.py --kubeconfig .sampan/kubeconfig
Handlers only enqueue keys; workers reconcile each key from listers (the informers' caches) and write
through the client; failures are retried with per-key exponential back-off.
"""

from __future__ import annotations

import argparse
import asyncio
import logging

from sampan.api import errors
from sampan.client import Client, EventHandlerFuncs, SharedInformerFactory, load_config
from sampan.client.cache import meta_namespace_key, split_meta_namespace_key
from sampan.client.workqueue import RateLimitingQueue, ShutDown

log = logging.getLogger("greeter")
NAME = "greeting"


class Greeter:
    def __init__(self, client: Client) -> None:
        self.client = client
        self.factory = SharedInformerFactory(client)
        self.queue: RateLimitingQueue[str] = RateLimitingQueue("greeter")
        self.namespaces = self.factory.lister("v1", "namespaces")
        self.configmaps = self.factory.lister("v1", "configmaps")
        enqueue_ns = EventHandlerFuncs(on_add_func=lambda ns: self.queue.add(ns["metadata"]["name"]),
                                       on_update_func=lambda old, new: self.queue.add(new["metadata"]["name"]))
        self.factory.informer("v1", "namespaces").add_event_handler(enqueue_ns)
        # our ConfigMap changed or vanished: reconcile its namespace again
        enqueue_cm = EventHandlerFuncs(on_update_func=lambda old, new: self._cm_changed(new),
                                       on_delete_func=self._cm_changed)
        self.factory.informer("v1", "configmaps").add_event_handler(enqueue_cm)

    def _cm_changed(self, obj: object) -> None:  # obj may be a DeletedFinalStateUnknown tombstone
        namespace, name = split_meta_namespace_key(meta_namespace_key(obj))
        if name == NAME:
            self.queue.add(namespace)

    async def reconcile(self, namespace: str) -> None:
        try:
            ns = self.namespaces.get(namespace)
        except errors.NotFound:
            return  # namespace gone: nothing to do
        if ns["metadata"].get("deletionTimestamp"):
            return
        want = {"message": f"hello, {namespace}!"}
        cms = await self.client.resource("v1", "configmaps")
        try:
            current = self.configmaps.namespaced(namespace).get(NAME)
        except errors.NotFound:
            body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": NAME, "namespace": namespace},
                    "data": want}
            await cms.create(body)
            return
        if current.get("data") != want:
            await cms.update({**current, "data": want})  # the cached object is read-only: build a new one

    async def worker(self) -> None:
        while True:
            try:
                key = await self.queue.get()
            except ShutDown:
                return
            try:
                await self.reconcile(key)
                self.queue.forget(key)
            except (errors.APIError, OSError) as e:
                log.warning("reconcile failed namespace=%s error=%s; retrying", key, e)
                self.queue.add_rate_limited(key)
            finally:
                self.queue.done(key)

    async def run(self, workers: int = 2) -> None:
        self.factory.start()
        await self.factory.wait_for_cache_sync()
        try:
            await asyncio.gather(*(self.worker() for _ in range(workers)))
        finally:
            self.queue.shut_down()
            await self.factory.shutdown()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kubeconfig", default=None)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    async with Client(load_config(args.kubeconfig)) as client:
        await Greeter(client).run()


if __name__ == "__main__":
    asyncio.run(main())
