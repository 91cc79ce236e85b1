"""The admission chain over real HTTP: plugins run in order, mutating hooks before the strategy and
validating hooks after it, with the request's attributes; a refusal reaches the client as a Status and
nothing is stored."""

from __future__ import annotations

from typing import Any

from sampan.api import errors
from sampan.apiserver.admission import Attributes, Chain, PluginBase, chain_for, set_chain
from sampan.apiserver.admission.chain import ORDER
from sampan.apiserver.context import ServerContext
from tests.apiserver.conftest import API

CMS = "/api/v1/namespaces/default/configmaps"


class Recorder(PluginBase):
    def __init__(self, name: str, seen: list[tuple[str, str, str, Any]]) -> None:
        self.name = name
        self.seen = seen

    def handles(self, attrs: Attributes) -> bool:
        return attrs.resource == "configmaps"

    async def admit(self, ctx: ServerContext, attrs: Attributes) -> None:
        self.seen.append((self.name, "admit", attrs.operation, attrs.dry_run))
        if attrs.obj is not None:
            attrs.obj.setdefault("data", {})[self.name] = "admitted"

    async def validate(self, ctx: ServerContext, attrs: Attributes) -> None:
        self.seen.append((self.name, "validate", attrs.operation, attrs.old is not None))
        assert attrs.obj is None or "uid" in attrs.obj["metadata"]
        if attrs.obj is not None and attrs.obj.get("data", {}).get("deny") == "yes":
            raise errors.Forbidden(f'configmaps "{attrs.name}" is forbidden: denied by {self.name}',
                                   details={"name": attrs.name, "kind": "configmaps"})
        attrs.warnings.append(f"{self.name} saw it")


def test_default_chain_is_in_upstream_order(api: API) -> None:
    names = chain_for(api.server.context).names
    assert names == tuple(n for n in ORDER if n in names)
    assert names.index("Priority") < names.index("DefaultTolerationSeconds")


async def test_hooks_run_in_order_with_attributes(api: API) -> None:
    seen: list[tuple[str, str, str, Any]] = []
    set_chain(api.server.context, Chain([Recorder("a", seen), Recorder("b", seen)]))
    r = await api.post(CMS, {"metadata": {"name": "x"}})
    assert r.status == 201, r.body
    assert r.body["data"] == {"a": "admitted", "b": "admitted"}
    assert r.headers.getall("Warning") == ['299 - "a saw it"', '299 - "b saw it"']
    assert seen == [("a", "admit", "CREATE", False), ("b", "admit", "CREATE", False),
                    ("a", "validate", "CREATE", False), ("b", "validate", "CREATE", False)]
    seen.clear()
    r.body["data"]["deny"] = "yes"
    r2 = await api.put(f"{CMS}/x", r.body)
    assert r2.status == 403
    assert r2.body["message"] == 'configmaps "x" is forbidden: denied by a'
    assert seen == [("a", "admit", "UPDATE", False), ("b", "admit", "UPDATE", False),
                    ("a", "validate", "UPDATE", True)]
    assert "deny" not in (await api.get(f"{CMS}/x")).body["data"]
    seen.clear()
    assert (await api.delete(f"{CMS}/x")).status == 200
    assert [s[:3] for s in seen] == [("a", "admit", "DELETE"), ("b", "admit", "DELETE"),
                                     ("a", "validate", "DELETE"), ("b", "validate", "DELETE")]


async def test_refused_create_stores_nothing(api: API) -> None:
    seen: list[tuple[str, str, str, Any]] = []
    set_chain(api.server.context, Chain([Recorder("a", seen)]))
    r = await api.post(CMS, {"metadata": {"name": "y"}, "data": {"deny": "yes"}})
    assert r.status == 403
    assert r.reason == "Forbidden"
    assert (await api.get(f"{CMS}/y")).status == 404
    r = await api.post(f"{CMS}?dryRun=All", {"metadata": {"name": "z"}})
    assert r.status == 201
    assert seen[-2] == ("a", "admit", "CREATE", True)


async def test_namespace_lifecycle_runs_before_validation(api: API) -> None:
    invalid = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "Not_Valid"}}
    r = await api.post("/api/v1/namespaces/missing/configmaps", invalid)
    assert r.status == 404
    assert r.body["message"] == 'namespaces "missing" not found'
    assert (await api.post(CMS, invalid)).status == 422
    r = await api.delete("/api/v1/namespaces/kube-system")
    assert r.status == 403
    assert r.body["message"] == 'namespaces "kube-system" is forbidden: this namespace may not be deleted'
    assert (await api.get("/api/v1/namespaces/kube-system")).body["metadata"].get("deletionTimestamp") is None
