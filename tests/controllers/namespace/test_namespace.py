"""The Namespace controller against a real API server: a deleted namespace is emptied, then finalized
and removed; content held by a finalizer keeps it Terminating (with NamespaceContentRemaining) until
the finalizer goes."""

from __future__ import annotations

from typing import Any

from sampan.api import errors
from sampan.client import Client
from tests.controllers.clients import unthrottled_client
from tests.controllers.support import fast_options, running_manager, wait_for
from tests.support.apiserver import InProcessAPIServer


def _cm(ns: str, name: str, **meta: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": ns, **meta},
            "data": {"k": "v"}}


async def _gone(client: Client, name: str) -> bool:
    nss = await client.resource("v1", "namespaces")
    try:
        await nss.get(name)
    except errors.NotFound:
        return True
    return False


async def test_deleting_a_namespace_deletes_its_content(inproc_apiserver: InProcessAPIServer) -> None:
    async with unthrottled_client(inproc_apiserver) as client:
        nss = await client.resource("v1", "namespaces")
        cms = await client.resource("v1", "configmaps")
        pods = await client.resource("v1", "pods")
        secrets = await client.resource("v1", "secrets")
        await nss.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "doomed"}})
        await nss.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kept"}})
        for i in range(3):
            await cms.create(_cm("doomed", f"cm-{i}"))
        await cms.create(_cm("kept", "cm-0"))
        await secrets.create({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "doomed"},
                              "stringData": {"a": "b"}})
        await pods.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "doomed"},
                           "spec": {"containers": [{"name": "c", "image": "busybox"}]}})
        async with running_manager(client, fast_options(("namespace",))):
            deleted = await nss.delete("doomed")
            assert deleted["status"]["phase"] == "Terminating"
            await wait_for(lambda: _gone(client, "doomed"), message="namespace doomed removed")
            assert (await cms.list(namespace="doomed"))["items"] == []
            assert (await pods.list(namespace="doomed"))["items"] == []
            assert (await secrets.list(namespace="doomed"))["items"] == []
            assert [c["metadata"]["name"] for c in (await cms.list(namespace="kept"))["items"]] == ["cm-0"]
            assert (await nss.get("kept"))["status"]["phase"] == "Active"


async def test_finalized_content_holds_the_namespace(inproc_apiserver: InProcessAPIServer) -> None:
    async with unthrottled_client(inproc_apiserver) as client:
        nss = await client.resource("v1", "namespaces")
        cms = await client.resource("v1", "configmaps")
        await nss.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "held"}})
        await cms.create(_cm("held", "stuck", finalizers=["example.com/hold"]))
        await cms.create(_cm("held", "free"))
        async with running_manager(client, fast_options(("namespace",))):
            await nss.delete("held")

            async def content_remaining() -> bool:
                ns = await nss.get("held")
                return any(c.get("type") == "NamespaceContentRemaining" and c.get("status") == "True"
                           for c in (ns.get("status") or {}).get("conditions") or [])

            await wait_for(content_remaining, message="NamespaceContentRemaining condition")
            left = (await cms.list(namespace="held"))["items"]
            assert [c["metadata"]["name"] for c in left] == ["stuck"]
            assert left[0]["metadata"].get("deletionTimestamp")
            assert (await nss.get("held"))["spec"]["finalizers"] == ["kubernetes"]
            stuck = left[0]
            await cms.update({**stuck, "metadata": {**stuck["metadata"], "finalizers": []}})
            await wait_for(lambda: _gone(client, "held"), message="namespace held removed")


async def test_active_namespace_untouched(inproc_apiserver: InProcessAPIServer) -> None:
    async with unthrottled_client(inproc_apiserver) as client:
        nss = await client.resource("v1", "namespaces")
        cms = await client.resource("v1", "configmaps")
        await nss.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "alive"}})
        await cms.create(_cm("alive", "cm"))
        async with running_manager(client, fast_options(("namespace",))) as manager:
            runner = manager.runners["namespace"]
            await wait_for(lambda: runner.reconciles >= 1, message="namespace reconciled")
            await wait_for(lambda: len(runner.queue) == 0 and not runner.queue.processing(), message="queue idle")
            assert (await cms.get("cm", namespace="alive"))["data"] == {"k": "v"}
            assert (await nss.get("alive"))["spec"]["finalizers"] == ["kubernetes"]
