"""The garbage collector against a real API server: Background (dependents go after their owner), dangling
and partly dangling owner references, Foreground (the owner waits, with ``foregroundDeletion``, for its
blocking dependents) and Orphan (owner references are removed, then the ``orphan`` finalizer).

The finalizer-driven cases set the finalizer on the owner themselves; the ``propagationPolicy`` variants
let the API server add them on DELETE."""

from __future__ import annotations

from typing import Any

import pytest

from sampan.api import errors
from sampan.client import Client
from sampan.controllers.garbagecollector.controller import AbsentOwners, GarbageCollector
from sampan.controllers.garbagecollector.graph import Graph, delete_key, orphan_key
from sampan.controllers.namespace.discovery import preferred_resources
from tests.controllers.clients import unthrottled_client
from tests.controllers.support import fast_options, running_manager, wait_for
from tests.support.apiserver import InProcessAPIServer


def _owner_ref(owner: dict[str, Any], *, block: bool = False, kind: str = "ConfigMap") -> dict[str, Any]:
    ref = {"apiVersion": "v1", "kind": kind, "name": owner["metadata"]["name"], "uid": owner["metadata"]["uid"]}
    if block:
        ref["blockOwnerDeletion"] = True
    return ref


async def _cm(client: Client, name: str, *, owners: list[dict[str, Any]] | None = None,
              finalizers: list[str] | None = None) -> dict[str, Any]:
    cms = await client.resource("v1", "configmaps")
    md: dict[str, Any] = {"name": name, "namespace": "default"}
    if owners:
        md["ownerReferences"] = list(owners)
    if finalizers:
        md["finalizers"] = list(finalizers)
    return await cms.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": md, "data": {}})


async def _secret(client: Client, name: str, owners: list[dict[str, Any]]) -> dict[str, Any]:
    secrets = await client.resource("v1", "secrets")
    return await secrets.create({"apiVersion": "v1", "kind": "Secret",
                                 "metadata": {"name": name, "namespace": "default", "ownerReferences": owners}})


async def _exists(client: Client, resource: str, name: str) -> dict[str, Any] | None:
    rc = await client.resource("v1", resource)
    try:
        return await rc.get(name, namespace="default")
    except errors.NotFound:
        return None


async def _gone(client: Client, resource: str, name: str) -> bool:
    return await _exists(client, resource, name) is None


def gc_options() -> Any:
    return fast_options(("garbagecollector",))


async def test_background_deletes_dependents_of_any_kind(inproc_apiserver: InProcessAPIServer) -> None:
    async with unthrottled_client(inproc_apiserver) as client, running_manager(client, gc_options()):
        owner = await _cm(client, "owner")
        await _cm(client, "dep-cm", owners=[_owner_ref(owner)])
        await _secret(client, "dep-secret", [_owner_ref(owner)])
        unrelated = await _cm(client, "unrelated")
        cms = await client.resource("v1", "configmaps")
        await cms.delete("owner", namespace="default")
        await wait_for(lambda: _gone(client, "configmaps", "dep-cm"), message="configmap dependent deleted")
        await wait_for(lambda: _gone(client, "secrets", "dep-secret"), message="secret dependent deleted")
        assert (await _exists(client, "configmaps", "unrelated")) == unrelated


async def test_dangling_and_partly_dangling_owners(inproc_apiserver: InProcessAPIServer) -> None:
    async with unthrottled_client(inproc_apiserver) as client:
        alive = await _cm(client, "alive")
        ghost = {"apiVersion": "v1", "kind": "ConfigMap", "name": "ghost",
                 "uid": "00000000-dead-beef-0000-000000000000"}
        await _cm(client, "orphaned", owners=[ghost])
        await _cm(client, "half", owners=[ghost, _owner_ref(alive)])
        async with running_manager(client, gc_options()):
            await wait_for(lambda: _gone(client, "configmaps", "orphaned"), message="dangling dependent deleted")

            async def ghost_ref_dropped() -> bool:
                half = await _exists(client, "configmaps", "half")
                return half is not None and [r["name"] for r in half["metadata"].get("ownerReferences") or []] == \
                    ["alive"]

            await wait_for(ghost_ref_dropped, message="dangling owner reference removed, object kept")


async def test_an_owner_found_absent_is_looked_up_once(inproc_apiserver: InProcessAPIServer) -> None:
    """Dependents of one deleted owner: the first dependent's check finds the owner absent through the API,
    the others read that from the absent-owner cache (upstream's ``absentOwnerCache``) — one GET, not one
    per dependent — and all are still deleted. One worker, so no two checks race to the first lookup (with
    N workers up to N may, as upstream's)."""
    ghost = {"apiVersion": "v1", "kind": "ConfigMap", "name": "ghost", "uid": "00000000-dead-beef-0000-00000000abcd"}
    async with unthrottled_client(inproc_apiserver) as client:
        for i in range(6):
            await _cm(client, f"dep-{i}", owners=[ghost])
        options = fast_options(("garbagecollector",), concurrency={"garbagecollector": 1})
        async with running_manager(client, options) as manager:
            for i in range(6):
                await wait_for(lambda i=i: _gone(client, "configmaps", f"dep-{i}"), message=f"dep-{i} deleted")
            gc = manager.runners["garbagecollector"].controller
            assert isinstance(gc, GarbageCollector)
            assert gc.owner_lookups == 1
            assert ("00000000-dead-beef-0000-00000000abcd", "default") in gc.absent_owners


def test_absent_owners_is_a_bounded_lru() -> None:
    absent = AbsentOwners(size=2)
    absent.add("a", "ns")
    absent.add("b", "ns")
    assert ("a", "ns") in absent  # touched: "b" is now the oldest
    absent.add("c", "")
    assert len(absent) == 2
    assert ("b", "ns") not in absent
    assert ("a", "ns") in absent
    assert ("c", "") in absent
    assert ("a", "other") not in absent  # absence in one namespace says nothing of another


async def test_foreground_finalizer_waits_for_blocking_dependents(inproc_apiserver: InProcessAPIServer) -> None:
    async with unthrottled_client(inproc_apiserver) as client, running_manager(client, gc_options()):
        owner = await _cm(client, "owner", finalizers=["foregroundDeletion"])
        await _cm(client, "blocker", owners=[_owner_ref(owner, block=True)],
                  finalizers=["example.com/slow"])
        await _cm(client, "plain", owners=[_owner_ref(owner)])
        cms = await client.resource("v1", "configmaps")
        await cms.delete("owner", namespace="default")
        # the blocking dependent is being deleted but held by its own finalizer: the owner must wait
        await wait_for(lambda: _deleting(client, "blocker"), message="blocking dependent being deleted")
        await wait_for(lambda: _gone(client, "configmaps", "plain"), message="non-blocking dependent deleted")
        still = await _exists(client, "configmaps", "owner")
        assert still is not None
        assert still["metadata"]["finalizers"] == ["foregroundDeletion"]
        blocker = await _exists(client, "configmaps", "blocker")
        assert blocker is not None
        await cms.update({**blocker, "metadata": {**blocker["metadata"], "finalizers": []}})
        await wait_for(lambda: _gone(client, "configmaps", "owner"), message="owner deleted after its dependents")


async def _deleting(client: Client, name: str) -> bool:
    obj = await _exists(client, "configmaps", name)
    return obj is not None and bool(obj["metadata"].get("deletionTimestamp"))


async def test_orphan_finalizer_strips_owner_references(inproc_apiserver: InProcessAPIServer) -> None:
    async with unthrottled_client(inproc_apiserver) as client, running_manager(client, gc_options()):
        owner = await _cm(client, "owner", finalizers=["orphan"])
        other = await _cm(client, "other-owner")
        await _cm(client, "dep", owners=[_owner_ref(owner), _owner_ref(other)])
        await _secret(client, "dep-secret", [_owner_ref(owner)])
        cms = await client.resource("v1", "configmaps")
        await cms.delete("owner", namespace="default")
        await wait_for(lambda: _gone(client, "configmaps", "owner"), message="owner deleted")
        dep = await _exists(client, "configmaps", "dep")
        assert dep is not None
        assert [r["name"] for r in dep["metadata"]["ownerReferences"]] == ["other-owner"]
        secret = await _exists(client, "secrets", "dep-secret")
        assert secret is not None
        assert "ownerReferences" not in secret["metadata"]  # removed, not left as [] (Go omits it)


@pytest.mark.parametrize("policy", ["Foreground", "Orphan"])
async def test_propagation_policy_through_the_api(inproc_apiserver: InProcessAPIServer, policy: str) -> None:
    async with unthrottled_client(inproc_apiserver) as client, running_manager(client, gc_options()):
        owner = await _cm(client, "owner")
        await _cm(client, "dep", owners=[_owner_ref(owner, block=True)])
        cms = await client.resource("v1", "configmaps")
        marked = await cms.delete("owner", namespace="default", propagation_policy=policy)
        assert marked["metadata"].get("deletionTimestamp"), "owner removed at once: policy not applied"
        await wait_for(lambda: _gone(client, "configmaps", "owner"), timeout=10, message="owner deleted")
        dep = await _exists(client, "configmaps", "dep")
        if policy == "Orphan":
            assert dep is not None
            assert not dep["metadata"].get("ownerReferences")
        else:
            assert dep is None


def test_graph_edges_and_keys() -> None:
    info = _cm_info()
    graph = Graph()
    owner = {"metadata": {"uid": "o", "name": "owner", "namespace": "ns"}}
    dep = {"metadata": {"uid": "d", "name": "dep", "namespace": "ns",
                        "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": "o"}]}}
    keys = graph.upsert(dep, info)
    owner_node = graph.get("o")
    assert owner_node is not None
    assert not owner_node.observed  # virtual until its informer delivers it
    assert delete_key("o") in keys  # verify the virtual owner
    assert graph.upsert(owner, info) == {delete_key("o")}
    assert graph.get("o").dependents == {"d"}  # type: ignore[union-attr]
    # owner deleted: the dependent is re-checked; a placeholder keeps the edge until the dependent changes
    assert graph.remove(owner) == {delete_key("d")}
    assert graph.get("o") is not None
    assert not graph.get("o").observed  # type: ignore[union-attr]
    graph.remove(dep)
    assert graph.get("o") is None  # the virtual owner without dependents is dropped
    assert graph.nodes == {}
    marked = {"metadata": {"uid": "x", "name": "x", "namespace": "ns", "deletionTimestamp": "t",
                           "finalizers": ["orphan"]}}
    assert orphan_key("x") in graph.upsert(marked, info)


def test_graph_checks_a_new_dependent_only_when_its_reference_may_be_wrong() -> None:
    """Upstream's graph builder: a dependent whose owner is observed under the coordinates its reference
    names is not checked through the API (one GET per new pod at scale); a reference naming an observed
    uid under another name, kind, group or namespace is."""
    info = _cm_info()
    graph = Graph()
    graph.upsert({"metadata": {"uid": "o", "name": "owner", "namespace": "ns"}}, info)

    def dep(uid: str, *, namespace: str = "ns", **ref: str) -> dict[str, Any]:
        owner_ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": "o", **ref}
        return {"metadata": {"uid": uid, "name": uid, "namespace": namespace, "ownerReferences": [owner_ref]}}

    assert graph.upsert(dep("good"), info) == set()
    assert graph.upsert(dep("good"), info) == set()  # an update with the same owners
    assert graph.upsert(dep("renamed", name="other"), info) == {delete_key("renamed")}
    assert graph.upsert(dep("kind", kind="Secret"), info) == {delete_key("kind")}
    assert graph.upsert(dep("group", apiVersion="apps/v1"), info) == {delete_key("group")}
    assert graph.upsert(dep("elsewhere", namespace="other"), info) == {delete_key("elsewhere")}
    assert graph.get("o").dependents == {"good", "renamed", "kind", "group", "elsewhere"}  # type: ignore[union-attr]


def _cm_info() -> Any:
    from sampan.apiserver.registry.configmaps import ConfigMapStrategy

    return ConfigMapStrategy.info


async def test_discovery_lists_preferred_resources(inproc_apiserver: InProcessAPIServer) -> None:
    async with unthrottled_client(inproc_apiserver) as client:
        infos = await preferred_resources(client, verbs=frozenset({"list", "watch", "delete"}))
        names = {(i.group, i.resource) for i in infos}
        assert {("", "pods"), ("", "configmaps"), ("apps", "replicasets"), ("", "namespaces")} <= names
        assert ("events.k8s.io", "events") not in names
        namespaced = await preferred_resources(client, verbs=frozenset({"list"}), namespaced=True)
        assert ("", "namespaces") not in {(i.group, i.resource) for i in namespaced}


async def test_cascade_across_groups(inproc_apiserver: InProcessAPIServer) -> None:
    """A ReplicaSet (apps) owning a Pod (core): deleting the ReplicaSet deletes the Pod."""
    async with unthrottled_client(inproc_apiserver) as client, running_manager(client, gc_options()):
        rss = await client.resource("apps/v1", "replicasets")
        pods = await client.resource("v1", "pods")
        rs = await rss.create({
            "apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "rs", "namespace": "default"},
            "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "x"}},
                     "template": {"metadata": {"labels": {"app": "x"}},
                                  "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}})
        ref = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": rs["metadata"]["uid"],
               "controller": True, "blockOwnerDeletion": True}
        await pods.create({"apiVersion": "v1", "kind": "Pod",
                           "metadata": {"name": "rs-pod", "namespace": "default", "labels": {"app": "x"},
                                        "ownerReferences": [ref]},
                           "spec": {"containers": [{"name": "c", "image": "nginx"}]}})
        await rss.delete("rs", namespace="default")
        await wait_for(lambda: _gone(client, "pods", "rs-pod"), message="pod deleted with its ReplicaSet")
