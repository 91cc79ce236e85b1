"""The clusterrole-aggregation controller against a real API server: a labelled ClusterRole's rules join
every ClusterRole whose aggregationRule selects it, and leave when the label goes."""

from __future__ import annotations

from typing import Any

from sampan.client import Client
from sampan.controllers.clusterroleaggregation.controller import aggregated_rules
from tests.controllers.support import fast_options, running_manager, unthrottled_client, wait_for
from tests.support.apiserver import InProcessAPIServer

RBAC = "rbac.authorization.k8s.io/v1"
WIDGETS = {"apiGroups": ["example.com"], "resources": ["widgets"], "verbs": ["get"]}


def _role(name: str, rules: list[Any], labels: dict[str, str] | None = None,
          selects: dict[str, str] | None = None) -> dict[str, Any]:
    obj: dict[str, Any] = {"apiVersion": RBAC, "kind": "ClusterRole",
                           "metadata": {"name": name, "labels": labels or {}}, "rules": rules}
    if selects is not None:
        obj["aggregationRule"] = {"clusterRoleSelectors": [{"matchLabels": selects}]}
    return obj


def test_aggregated_rules_in_name_order_each_once() -> None:
    target = _role("t", [], selects={"a": "1"})
    roles = [target, _role("b", [WIDGETS], {"a": "1"}), _role("a", [{"verbs": ["x"]}, WIDGETS], {"a": "1"}),
             _role("c", [{"verbs": ["y"]}], {"a": "2"})]
    assert aggregated_rules(target, roles) == [{"verbs": ["x"]}, WIDGETS]


async def _rules(client: Client, name: str) -> list[Any]:
    roles = await client.resource(RBAC, "clusterroles")
    return list((await roles.get(name)).get("rules") or [])


async def test_aggregation_follows_labels(inproc_apiserver: InProcessAPIServer) -> None:
    client = unthrottled_client(inproc_apiserver.kubeconfig)
    try:
        roles = await client.resource(RBAC, "clusterroles")
        await roles.create(_role("gather", [], selects={"example.com/aggregate": "true"}))
        async with running_manager(client, fast_options(("clusterrole-aggregation",))):
            await roles.create(_role("widgets", [WIDGETS], {"example.com/aggregate": "true"}))

            async def has_widgets() -> bool:
                return WIDGETS in await _rules(client, "gather")

            await wait_for(has_widgets, message="widgets rule aggregated")
            widgets = await roles.get("widgets")
            widgets["metadata"]["labels"] = {}
            await roles.update(widgets)

            async def emptied() -> bool:
                return await _rules(client, "gather") == []

            await wait_for(emptied, message="rule removed with the label")
    finally:
        await client.close()
