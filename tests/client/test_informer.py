"""Informers against a real API server (in-process, HTTP on loopback)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from sampan._lib.backoff import BackoffPolicy
from sampan.api import errors
from sampan.client.cache.handlers import EventHandlerFuncs
from sampan.client.cache.reflector import ReflectorOptions
from sampan.client.cache.store import DeletedFinalStateUnknown
from sampan.client.config import RESTConfig
from sampan.client.dynamic import Client, ResourceClient
from sampan.client.informers import SharedInformerFactory
from sampan.client.kubeconfig import load_kubeconfig
from tests.client.proxy import chaos_proxy
from tests.support.apiserver import InProcessAPIServer

FAST = ReflectorOptions(min_watch_timeout=2.0, backoff=BackoffPolicy(initial=0.05, maximum=0.2))


def cm(name: str, ns: str = "default", **labels: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": ns, "labels": labels},
            "data": {}}


class Recorder:
    """A handler recording (event, key, resourceVersion)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, str]] = []

    @staticmethod
    def _key(obj: Any) -> str:
        if isinstance(obj, DeletedFinalStateUnknown):
            return obj.key
        return f"{obj['metadata']['namespace']}/{obj['metadata']['name']}"

    def handler(self) -> EventHandlerFuncs:
        return EventHandlerFuncs(
            on_add_func=lambda o: self.events.append(("add", self._key(o), o["metadata"]["resourceVersion"])),
            on_update_func=lambda a, b: self.events.append(("update", self._key(b), b["metadata"]["resourceVersion"])),
            on_delete_func=lambda o: self.events.append(("delete", self._key(o), "")),
        )


async def eventually(pred: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll ``pred`` until true; fail after ``timeout`` seconds (a generous bound, not a timing assert)."""
    for _ in range(int(timeout / 0.01)):
        if pred():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"condition not reached in {timeout}s")


@pytest.fixture
async def client(inproc_apiserver: InProcessAPIServer) -> AsyncIterator[Client]:
    async with Client(load_kubeconfig(str(inproc_apiserver.kubeconfig))) as c:
        yield c


@pytest.fixture
async def cms(client: Client) -> ResourceClient:
    return await client.resource("v1", "configmaps")


async def test_informer_lists_watches_and_feeds_handlers_and_listers(client: Client, cms: ResourceClient) -> None:
    await cms.create(cm("before", app="web"))
    factory = SharedInformerFactory(client, reflector_options=FAST)
    informer = factory.informer("v1", "configmaps")
    assert factory.informer("v1", "ConfigMaps") is informer  # shared
    rec = Recorder()
    informer.add_event_handler(rec.handler())
    factory.start()
    try:
        assert (await factory.wait_for_cache_sync(timeout=10)) == {("", "v1", "configmaps"): True}
        lister = factory.lister("v1", "configmaps")
        assert lister.namespaced("default").get("before")["metadata"]["labels"] == {"app": "web"}
        with pytest.raises(errors.NotFound, match='configmaps "nope" not found'):
            lister.namespaced("default").get("nope")
        created = await cms.create(cm("after", app="db"))
        await eventually(lambda: any(e[1] == "default/after" for e in rec.events))
        created["metadata"]["labels"] = {"app": "web"}
        await cms.update(created)
        await cms.delete("before", namespace="default")
        await eventually(lambda: ("delete", "default/before", "") in rec.events)
        await eventually(lambda: [o["metadata"]["name"] for o in lister.list("app=web")] == ["after"])
        kinds = [(e[0], e[1]) for e in rec.events]
        assert kinds == [("add", "default/before"), ("add", "default/after"), ("update", "default/after"),
                         ("delete", "default/before")]
        assert lister.list("app=web")[0]["kind"] == "ConfigMap"
    finally:
        await factory.shutdown()


async def test_late_handler_gets_replay_and_syncs(client: Client, cms: ResourceClient) -> None:
    for i in range(5):
        await cms.create(cm(f"o{i}"))
    factory = SharedInformerFactory(client, reflector_options=FAST)
    informer = factory.informer("v1", "configmaps")
    factory.start()
    try:
        await factory.wait_for_cache_sync(timeout=10)
        late = Recorder()
        reg = informer.add_event_handler(late.handler())
        await eventually(reg.has_synced)
        assert sorted(e[1] for e in late.events) == [f"default/o{i}" for i in range(5)]
    finally:
        await factory.shutdown()


@pytest.mark.apiserver_config(default_watch_cache_size=5)
async def test_reflector_resumes_after_cut_and_relists_on_410(inproc_apiserver: InProcessAPIServer,
                                                             cms: ResourceClient) -> None:
    """Watch connections cut through a proxy: the reflector resumes from its last version; when the
    server's window (5 events) has moved past that version meanwhile, it gets 410, relists, and reports
    objects deleted meanwhile as tombstone deletes."""
    async with chaos_proxy(inproc_apiserver.url) as proxy, Client(RESTConfig(host=proxy.url)) as client:
        factory = SharedInformerFactory(client, reflector_options=FAST)
        informer = factory.informer("v1", "configmaps")
        rec = Recorder()
        informer.add_event_handler(rec.handler())
        await cms.create(cm("keep"))
        await cms.create(cm("gone"))
        factory.start()
        try:
            await factory.wait_for_cache_sync(timeout=10)
            # 1. a plain cut: resume from the last version, no relist
            proxy.cut()
            await cms.create(cm("during-cut"))
            await eventually(lambda: informer.indexer.get_by_key("default/during-cut") is not None)
            assert informer.reflector.stats.lists == 1
            # 2. cut and stay away while the window overflows: 410, relist
            proxy.blocked = True
            proxy.cut()
            await cms.delete("gone", namespace="default")
            for i in range(10):
                await cms.create(cm(f"filler{i}", ns="kube-system"))
            proxy.blocked = False
            await eventually(lambda: informer.reflector.stats.expired >= 1)
            await eventually(lambda: ("delete", "default/gone", "") in rec.events)
            fresh = await cms.list_all()
            want = sorted(f"{o['metadata']['namespace']}/{o['metadata']['name']}" for o in fresh["items"])
            await eventually(lambda: sorted(informer.indexer.list_keys()) == want)
            assert informer.reflector.stats.lists >= 2
        finally:
            await factory.shutdown()
