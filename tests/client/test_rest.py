"""The REST client and discovery against a real API server (in-process, HTTP on loopback)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from sampan._lib.clock import FakeClock
from sampan.api import errors
from sampan.client.config import RESTConfig
from sampan.client.dynamic import Client, PatchType
from sampan.client.kubeconfig import load_kubeconfig
from sampan.client.rest import ConnectionFailed, RESTClient
from tests.support.apiserver import InProcessAPIServer, free_port


def cm(name: str, **data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": dict(data)}


@pytest.fixture
async def client(inproc_apiserver: InProcessAPIServer) -> Any:
    async with Client(load_kubeconfig(str(inproc_apiserver.kubeconfig))) as c:
        yield c


async def test_discovery_resolves_names_kinds_and_short_names(client: Client) -> None:
    cms = await client.resource("v1", "configmaps")
    assert cms.info.namespaced
    assert cms.info.kind == "ConfigMap"
    assert (await client.resource("v1", "ConfigMap")).info.resource == "configmaps"
    assert (await client.resource("v1", "cm")).info.resource == "configmaps"
    ns = await client.resource("v1", "namespaces")
    assert not ns.info.namespaced
    with pytest.raises(errors.NotFound, match="doesn't have a resource type"):
        await client.resource("v1", "nonsense")


async def test_crud_and_errors_decode_into_api_exceptions(client: Client) -> None:
    cms = await client.resource("v1", "configmaps")
    created = await cms.create(cm("a", k="1"), namespace="default")
    assert created["metadata"]["resourceVersion"]
    with pytest.raises(errors.AlreadyExists):
        await cms.create(cm("a"), namespace="default")
    got = await cms.get("a", namespace="default")
    assert got["data"] == {"k": "1"}
    got["data"]["k"] = "2"
    updated = await cms.update(got)
    assert updated["data"]["k"] == "2"
    with pytest.raises(errors.Conflict):
        await cms.update(got)  # stale resourceVersion
    with pytest.raises(errors.NotFound):
        await cms.get("missing", namespace="default")
    with pytest.raises(ValueError, match="namespaced"):
        await cms.get("a")
    await cms.delete("a", namespace="default")
    with pytest.raises(errors.NotFound):
        await cms.delete("a", namespace="default")


async def test_paged_list_and_watch_stream(client: Client) -> None:
    cms = await client.resource("v1", "configmaps")
    for i in range(7):
        await cms.create(cm(f"p{i}"), namespace="default")
    page = await cms.list(namespace="default", limit=3)
    assert len(page["items"]) == 3
    assert page["metadata"].get("continue")
    full = await cms.list_all(namespace="default", page_size=3)
    assert sorted(o["metadata"]["name"] for o in full["items"]) == [f"p{i}" for i in range(7)]
    rv = full["metadata"]["resourceVersion"]

    events: list[tuple[str, str]] = []

    async def watch() -> None:
        async for ev in cms.watch(namespace="default", resource_version=rv, timeout_seconds=30):
            if ev["type"] == "BOOKMARK":
                continue
            events.append((ev["type"], ev["object"]["metadata"]["name"]))
            if len(events) == 2:
                return

    task = asyncio.create_task(watch())
    await cms.create(cm("w1"), namespace="default")
    await cms.delete("p0", namespace="default")
    await asyncio.wait_for(task, 10)
    assert events == [("ADDED", "w1"), ("DELETED", "p0")]


async def test_patch_types(client: Client) -> None:
    cms = await client.resource("v1", "configmaps")
    await cms.create(cm("pt", a="1"), namespace="default")
    try:
        merged = await cms.patch("pt", {"data": {"b": "2"}}, namespace="default")
    except errors.MethodNotAllowed:
        pytest.skip("server does not serve PATCH yet")
    assert merged["data"] == {"a": "1", "b": "2"}
    jp = await cms.patch("pt", [{"op": "remove", "path": "/data/a"}], patch_type=PatchType.JSON, namespace="default")
    assert jp["data"] == {"b": "2"}
    with pytest.raises(ValueError, match="field_manager"):
        await cms.patch("pt", {}, patch_type=PatchType.APPLY, namespace="default")


async def test_dry_run_on_every_write_verb_stores_nothing(client: Client) -> None:
    """Like the official client's ``dry_run="All"`` on create/replace/patch/delete/deletecollection."""
    cms = await client.resource("v1", "configmaps")
    stored = await cms.create(cm("dry", a="1"), namespace="default")
    rv = stored["metadata"]["resourceVersion"]
    changed = {**stored, "data": {"a": "2"}}
    assert (await cms.update(changed, namespace="default", dry_run=True))["data"] == {"a": "2"}
    patched = await cms.patch("dry", {"data": {"b": "3"}}, namespace="default", dry_run=True)
    assert patched["data"] == {"a": "1", "b": "3"}
    applied = await cms.patch("dry", {**cm("dry", c="4"), "metadata": {"name": "dry"}}, namespace="default",
                              patch_type=PatchType.APPLY, field_manager="qa", force=True, dry_run=True)
    assert applied["data"]["c"] == "4"
    await cms.delete("dry", namespace="default", dry_run=True)
    await cms.delete_collection(namespace="default", field_selector="metadata.name=dry", dry_run=True)
    after = await cms.get("dry", namespace="default")
    assert after["data"] == {"a": "1"}
    assert after["metadata"]["resourceVersion"] == rv


async def test_connection_refused_is_a_clear_error() -> None:
    async with RESTClient(RESTConfig(host=f"http://127.0.0.1:{free_port()}"), max_retries=1) as rest:
        with pytest.raises(ConnectionFailed, match="cannot connect"):
            await rest.request("GET", "/version")


async def test_client_side_rate_limit_spaces_requests(inproc_apiserver: InProcessAPIServer) -> None:
    clock = FakeClock()
    cfg = RESTConfig(host=inproc_apiserver.url, qps=1, burst=2)
    async with Client(cfg, clock=clock) as c:
        for _ in range(2):
            await c.version()
        third = asyncio.create_task(c.version())
        for _ in range(50):
            await asyncio.sleep(0.01)
        assert not third.done()  # waits for a token on the (fake) clock
        await clock.advance(1.0)
        assert (await asyncio.wait_for(third, 5))["major"] == "1"


async def test_own_rate_limit_gives_a_view_a_budget_of_its_own(inproc_apiserver: InProcessAPIServer) -> None:
    """One controller's spent burst never holds another's request (upstream: a clientset per controller)."""
    clock = FakeClock()
    cfg = RESTConfig(host=inproc_apiserver.url, qps=1, burst=2)
    async with Client(cfg, clock=clock) as c:
        other = c.with_own_rate_limit()
        for _ in range(2):
            await c.version()
        held = asyncio.create_task(c.version())
        for _ in range(50):
            await asyncio.sleep(0.01)
        assert not held.done()  # c's bucket is empty
        for _ in range(2):  # the view's bucket is full, and it shares c's connections
            assert (await asyncio.wait_for(other.version(), 5))["major"] == "1"
        third = asyncio.create_task(other.version())
        for _ in range(50):
            await asyncio.sleep(0.01)
        assert not third.done()  # and it is limited too
        await other.close()  # a no-op: c owns the connections
        await clock.advance(1.0)
        assert (await asyncio.wait_for(held, 5))["major"] == "1"
        assert (await asyncio.wait_for(third, 5))["major"] == "1"
