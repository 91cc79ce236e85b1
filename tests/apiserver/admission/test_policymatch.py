"""Unit tests of the ValidatingAdmissionPolicy matcher: resource patterns, scope, excludes, selectors."""

from __future__ import annotations

from typing import Any

from sampan.apiserver.admission.interface import Attributes, Operation
from sampan.apiserver.admission.policymatch import matches, rule_matches


def attrs(resource: str = "deployments", *, group: str = "apps", subresource: str = "", namespace: str = "ns",
          op: Operation = "CREATE", labels: dict[str, str] | None = None) -> Attributes:
    obj = {"metadata": {"labels": labels or {}}}
    return Attributes(operation=op, group=group, version="v1", resource=resource, kind="X", namespace=namespace,
                      name="x", obj=obj, subresource=subresource)


def rule(resources: list[str], **extra: Any) -> dict[str, Any]:
    return {"apiGroups": ["*"], "apiVersions": ["*"], "operations": ["*"], "resources": resources, **extra}


def test_resource_patterns() -> None:
    assert rule_matches(rule(["deployments"]), attrs())
    assert not rule_matches(rule(["deployments"]), attrs(subresource="scale"))
    assert rule_matches(rule(["deployments/scale"]), attrs(subresource="scale"))
    assert rule_matches(rule(["deployments/*"]), attrs(subresource="status"))
    assert not rule_matches(rule(["deployments/*"]), attrs())
    assert rule_matches(rule(["*/scale"]), attrs("replicasets", subresource="scale"))
    assert rule_matches(rule(["*"]), attrs("pods", group=""))
    assert not rule_matches(rule(["*"]), attrs("pods", group="", subresource="status"))
    assert rule_matches(rule(["*/*"]), attrs("pods", group="", subresource="status"))


def test_operations_groups_versions_and_scope() -> None:
    assert not rule_matches(rule(["*"], operations=["UPDATE"]), attrs())
    assert not rule_matches(rule(["*"], apiGroups=[""]), attrs())
    assert not rule_matches(rule(["*"], apiVersions=["v2"]), attrs())
    assert rule_matches(rule(["*"], scope="Namespaced"), attrs())
    assert not rule_matches(rule(["*"], scope="Cluster"), attrs())
    assert rule_matches(rule(["*"], scope="Cluster"), attrs("nodes", group="", namespace=""))
    assert rule_matches(rule(["*"], scope="Cluster"), attrs("namespaces", group="", namespace="ns"))


def test_excludes_and_selectors() -> None:
    match = {"resourceRules": [rule(["*"])], "excludeResourceRules": [rule(["secrets"])],
             "namespaceSelector": {"matchLabels": {"env": "prod"}}, "objectSelector": {"matchLabels": {"a": "b"}}}
    prod = {"metadata": {"labels": {"env": "prod"}}}
    assert matches(match, attrs(labels={"a": "b"}), prod)
    assert not matches(match, attrs(labels={"a": "c"}), prod)
    assert not matches(match, attrs(labels={"a": "b"}), {"metadata": {"labels": {"env": "dev"}}})
    assert not matches(match, attrs("secrets", group="", labels={"a": "b"}), prod)
    assert matches(match, attrs("nodes", group="", namespace="", labels={"a": "b"}), None)  # cluster-scoped
    assert matches({"namespaceSelector": {}}, attrs(), None)  # a binding's match without rules
