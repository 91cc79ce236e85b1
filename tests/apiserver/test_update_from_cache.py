"""Updates and bindings start from the watch cache's state (upstream's cachedExistingObject) and judge
again on the store's state whenever the cached one is stale: a lagging cache never turns a valid write
into a 409, a lost write or a refused binding.

The cache is made to lag by putting an older cached version of the object back into it (as if the
newer event had not arrived yet)."""

from __future__ import annotations

from typing import Any

from sampan.apiserver.cacher.objects import CachedObject
from sampan.apiserver.cacher.resource_cache import ResourceCache
from tests.apiserver.conftest import API

PODS = "/api/v1/namespaces/default/pods"
LEASES = "/apis/coordination.k8s.io/v1/namespaces/default/leases"


async def cached(api: API, suffix: str) -> tuple[ResourceCache, str, CachedObject]:
    """The cache holding the object whose key ends with ``suffix`` once it is fresh, and that entry."""
    ctx = api.server.context
    assert await ctx.watch_cache.wait_fresh(30)
    for cache in ctx.watch_cache.caches:
        for key, obj in cache.objects.items():
            if key.endswith(suffix):
                return cache, key, obj
    raise AssertionError(f"nothing cached under {suffix}")


async def lag(api: API, suffix: str, old: CachedObject) -> None:
    """Once the newer version is cached, put ``old`` back: the cache now lags the store."""
    cache, key, _ = await cached(api, suffix)
    cache.objects[key] = old


def pod(name: str) -> dict[str, Any]:
    return {"metadata": {"name": name}, "spec": {"containers": [{"name": "c", "image": "i"}]}}


async def test_a_stale_cache_never_fails_or_loses_an_update(api: API) -> None:
    lease = (await api.post(LEASES, {"metadata": {"name": "n1"}, "spec": {"holderIdentity": "a"}})).body
    _, _, first = await cached(api, "/leases/default/n1")
    lease["spec"]["holderIdentity"] = "b"
    renewed = (await api.put(f"{LEASES}/n1", lease)).body
    await lag(api, "/leases/default/n1", first)
    # a PUT carrying the newest resourceVersion: against the stale cached version it would be a conflict
    renewed["spec"]["holderIdentity"] = "c"
    r = await api.put(f"{LEASES}/n1", renewed)
    assert r.status == 200, r.body
    assert r.body["spec"]["holderIdentity"] == "c"
    # a PUT with an old resourceVersion is still refused
    r = await api.put(f"{LEASES}/n1", lease)
    assert r.status == 409, r.body

    await api.post(PODS, pod("p"))
    assert (await status(api, "p", "first")).status == 200
    _, _, first_status = await cached(api, "/pods/default/p")
    assert (await status(api, "p", "second")).status == 200
    # the cache says "first" again: writing "first" looks like a no-op against it, but is not
    await lag(api, "/pods/default/p", first_status)
    r = await status(api, "p", "first")
    assert r.status == 200, r.body
    assert (await api.get(f"{PODS}/p")).body["status"]["message"] == "first"


async def status(api: API, name: str, message: str) -> Any:
    return await api.request("PATCH", f"{PODS}/{name}/status", {"status": {"message": message}},
                             headers={"Content-Type": "application/merge-patch+json"})


async def test_a_stale_cache_never_refuses_a_binding(api: API) -> None:
    await api.post(PODS, pod("q"))
    r = await api.post(f"{PODS}/q/binding", {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "q"},
                                             "target": {"apiVersion": "v1", "kind": "Node", "name": "n1"}})
    assert r.status == 201, r.body
    _, _, bound = await cached(api, "/pods/default/q")
    assert bound.obj["spec"]["nodeName"] == "n1"
    # the pod is deleted and created again under the same name; the cache still shows the bound one
    r = await api.delete(f"{PODS}/q", {"gracePeriodSeconds": 0})
    assert r.status == 200, r.body
    await api.post(PODS, pod("q"))
    await lag(api, "/pods/default/q", bound)
    r = await api.post(f"{PODS}/q/binding", {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "q"},
                                             "target": {"apiVersion": "v1", "kind": "Node", "name": "n2"}})
    assert r.status == 201, r.body
    assert (await api.get(f"{PODS}/q")).body["spec"]["nodeName"] == "n2"
