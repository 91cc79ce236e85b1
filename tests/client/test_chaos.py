"""Convergence under chaos: informers behind a connection-cutting proxy, against a real API server whose
watch window is tiny, while thousands of random writes run. Afterwards every informer's cache equals a
fresh LIST exactly, and every handler saw a consistent sequence of notifications."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import random
from pathlib import Path
from typing import Any

import pytest

from sampan._lib.backoff import BackoffPolicy
from sampan.api import errors
from sampan.client.cache.handlers import EventHandlerFuncs
from sampan.client.cache.reflector import ReflectorOptions
from sampan.client.cache.shared_informer import SharedIndexInformer
from sampan.client.cache.store import DeletedFinalStateUnknown, meta_namespace_key
from sampan.client.config import RESTConfig
from sampan.client.dynamic import Client, ResourceClient
from sampan.client.informers import SharedInformerFactory
from sampan.client.kubeconfig import load_kubeconfig
from tests.client.proxy import ChaosProxy, chaos_proxy
from tests.support.apiserver import InProcessAPIServer, run_apiserver_process

OPS = int(os.environ.get("SAMPAN_CHAOS_OPS", "2000"))
WINDOW = 100
NAMESPACES = ("default", "kube-system", "kube-public")
OPTIONS = ReflectorOptions(page_size=25, min_watch_timeout=3.0, backoff=BackoffPolicy(initial=0.005, maximum=0.05))


class ConsistencyChecker:
    """Tracks what one handler was told; records every violation of add → update* → delete per key."""

    def __init__(self) -> None:
        self.state: dict[str, str] = {}
        self.violations: list[str] = []
        self.notifications = 0

    def handler(self) -> EventHandlerFuncs:
        return EventHandlerFuncs(on_add_func=self.on_add, on_update_func=self.on_update,
                                 on_delete_func=self.on_delete)

    def on_add(self, obj: Any) -> None:
        self.notifications += 1
        key = meta_namespace_key(obj)
        if key in self.state:
            self.violations.append(f"add of {key} already present")
        self.state[key] = obj["metadata"]["resourceVersion"]

    def on_update(self, old: Any, new: Any) -> None:
        self.notifications += 1
        key = meta_namespace_key(new)
        if key not in self.state:
            self.violations.append(f"update of {key} never added")
        elif self.state[key] != old["metadata"]["resourceVersion"]:
            self.violations.append(f"update of {key}: old rv {old['metadata']['resourceVersion']} "
                                   f"but handler last saw {self.state[key]}")
        self.state[key] = new["metadata"]["resourceVersion"]

    def on_delete(self, obj: Any) -> None:
        self.notifications += 1
        key = obj.key if isinstance(obj, DeletedFinalStateUnknown) else meta_namespace_key(obj)
        if self.state.pop(key, None) is None:
            self.violations.append(f"delete of {key} never added")


async def workload(cms: ResourceClient, proxy: ChaosProxy, rng: random.Random) -> dict[str, int]:
    """OPS random creates/updates/deletes; cuts connections at random moments and, twice per 1000
    operations, keeps informers away for more writes than the server's watch window holds."""
    live: dict[str, dict[str, Any]] = {}
    stats = {"create": 0, "update": 0, "delete": 0, "cuts": 0, "outages": 0}
    names = [f"{ns}/cm{i}" for ns in NAMESPACES for i in range(25)]
    for i in range(OPS):
        if rng.random() < 0.02:
            stats["cuts"] += proxy.cut()
        phase = i % 500
        if phase == 100:
            proxy.blocked = True
            proxy.cut()
            stats["outages"] += 1
        elif phase == 100 + 3 * WINDOW:
            proxy.blocked = False
        if rng.random() < 0.5:
            await asyncio.sleep(0.001)  # let the informers' watches keep up part of the time
        key = rng.choice(names)
        ns, name = key.split("/")
        try:
            if key not in live:
                body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": ns},
                        "data": {"v": "0"}}
                live[key] = await cms.create(body)
                stats["create"] += 1
            elif rng.random() < 0.7:
                obj = live[key]
                obj["data"] = {"v": str(i)}
                live[key] = await cms.update(obj)
                stats["update"] += 1
            else:
                await cms.delete(name, namespace=ns)
                del live[key]
                stats["delete"] += 1
        except errors.APIError as e:  # the workload is the only writer: every write must succeed
            pytest.fail(f"unexpected API error in workload: {e}")
    proxy.blocked = False
    return stats


def cache_view(informer: SharedIndexInformer) -> dict[str, str]:
    return {meta_namespace_key(o): o["metadata"]["resourceVersion"] for o in informer.indexer.list()}


async def eventually_equal(get: Any, want: dict[str, str], timeout: float = 60.0) -> None:
    for _ in range(int(timeout / 0.05)):
        if get() == want:
            return
        await asyncio.sleep(0.05)
    got = get()
    missing = sorted(set(want) - set(got))[:5]
    extra = sorted(set(got) - set(want))[:5]
    stale = sorted(k for k in set(want) & set(got) if want[k] != got[k])[:5]
    raise AssertionError(f"did not converge: missing={missing} extra={extra} stale={stale}")


@pytest.mark.apiserver_config(default_watch_cache_size=WINDOW, bookmark_interval=0.5)
@pytest.mark.parametrize("seed", [1, pytest.param(2, marks=pytest.mark.slow), pytest.param(3, marks=pytest.mark.slow)])
async def test_informers_converge_under_chaos(inproc_apiserver: InProcessAPIServer, seed: int) -> None:
    await chaos_run(inproc_apiserver.url, str(inproc_apiserver.kubeconfig), seed)


@pytest.mark.slow
async def test_informers_converge_under_chaos_against_apiserver_process(tmp_path: Path) -> None:
    """The same, against a ``sampan apiserver`` subprocess on the sqlite store."""
    args = ["--default-watch-cache-size", str(WINDOW), "--watch-bookmark-interval", "500ms"]
    with run_apiserver_process(tmp_path / "apiserver", storage="sqlite", extra_args=args) as server:
        await chaos_run(server.url, str(server.kubeconfig), 7)


async def chaos_run(url: str, kubeconfig: str, seed: int) -> None:
    rng = random.Random(seed)
    async with (
        chaos_proxy(url) as proxy,
        Client(dataclasses.replace(load_kubeconfig(kubeconfig), qps=0)) as direct,
        Client(RESTConfig(host=proxy.url, qps=0)) as via_proxy_a,
        Client(RESTConfig(host=proxy.url, qps=0)) as via_proxy_b,
    ):
        cms = await direct.resource("v1", "configmaps")
        factories = [
            SharedInformerFactory(via_proxy_a, reflector_options=OPTIONS, rng=random.Random(seed * 10 + 1)),
            SharedInformerFactory(via_proxy_b, reflector_options=OPTIONS, rng=random.Random(seed * 10 + 2),
                                  handler_buffer=8),  # a small buffer exercises the blocking overflow policy
        ]
        informers = [f.informer("v1", "configmaps") for f in factories]
        checkers = [ConsistencyChecker() for _ in range(3)]
        informers[0].add_event_handler(checkers[0].handler())
        informers[1].add_event_handler(checkers[1].handler())
        informers[1].add_event_handler(checkers[2].handler())
        for f in factories:
            f.start()
        try:
            for f in factories:
                assert all((await f.wait_for_cache_sync(timeout=30)).values())
            stats = await workload(cms, proxy, rng)
            fresh = await cms.list_all()
            want = {meta_namespace_key(o): o["metadata"]["resourceVersion"] for o in fresh["items"]}
            for informer in informers:
                await eventually_equal(lambda inf=informer: cache_view(inf), want)
            for checker in checkers:
                await eventually_equal(lambda c=checker: dict(c.state), want)
                assert checker.violations == []
            assert stats["cuts"] > 0
            assert sum(i.reflector.stats.expired for i in informers) >= 1, "no reflector ever saw a 410"
            assert all(i.reflector.stats.lists >= 2 for i in informers)
            assert all(i.reflector.stats.watch_errors > i.reflector.stats.expired for i in informers), \
                "no watch ever resumed from its last version"
        finally:
            for f in factories:
                await f.shutdown()
