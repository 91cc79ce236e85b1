"""Unit tests of the pure webhook predicates: resource patterns with subresources, scope, operations,
matchPolicy, selectors, and CEL match conditions."""

from __future__ import annotations

from typing import Any

import pytest

from sampan.apiserver.admission import Attributes
from sampan.apiserver.admission.webhooks import conditions, matching


@pytest.mark.parametrize(("resource", "subresource", "patterns", "expected"), [
    ("pods", "", ["pods"], True),
    ("pods", "status", ["pods"], False),
    ("pods", "status", ["pods/*"], True),
    ("pods", "", ["pods/*"], True),  # upstream: "*" subresource matches none too
    ("pods", "status", ["*/status"], True),
    ("deployments", "scale", ["*/status"], False),
    ("pods", "", ["*"], True),
    ("pods", "exec", ["*"], False),
    ("pods", "exec", ["*/*"], True),
    ("configmaps", "", ["pods", "configmaps"], True),
])
def test_resource_patterns(resource: str, subresource: str, patterns: list[str], expected: bool) -> None:
    assert matching.resource_matches(resource, subresource, patterns) is expected


def attrs(**kw: Any) -> Attributes:
    base: dict[str, Any] = {"operation": "CREATE", "group": "apps", "version": "v1", "resource": "deployments",
                            "kind": "Deployment", "namespace": "ns", "name": "d",
                            "obj": {"metadata": {"name": "d", "labels": {"tier": "web"}}}}
    base.update(kw)
    return Attributes(**base)


def test_rules_scope_operations_and_match_policy() -> None:
    rule = {"operations": ["UPDATE"], "apiGroups": ["apps"], "apiVersions": ["v1"], "resources": ["deployments"]}
    assert not matching.rule_matches(rule, attrs(), version="v1", namespaced=True)
    rule["operations"] = ["*"]
    assert matching.rule_matches(rule, attrs(), version="v1", namespaced=True)
    assert not matching.rule_matches({**rule, "scope": "Cluster"}, attrs(), version="v1", namespaced=True)
    assert matching.rule_matches({**rule, "scope": "Namespaced"}, attrs(), version="v1", namespaced=True)
    other = {"rules": [{**rule, "apiVersions": ["v1beta1"]}]}
    assert matching.matching_version(other, attrs(), namespaced=True, served_versions=["v1", "v1beta1"]) == "v1beta1"
    assert matching.matching_version({**other, "matchPolicy": "Exact"}, attrs(), namespaced=True,
                                     served_versions=["v1", "v1beta1"]) is None


def test_selectors() -> None:
    hook = {"objectSelector": {"matchLabels": {"tier": "web"}},
            "namespaceSelector": {"matchExpressions": [{"key": "env", "operator": "In", "values": ["prod"]}]}}
    assert matching.object_selector_matches(hook, attrs())
    assert not matching.object_selector_matches(hook, attrs(obj={"metadata": {"labels": {}}}))
    assert matching.object_selector_matches(hook, attrs(obj=None, old={"metadata": {"labels": {"tier": "web"}}}))
    assert matching.namespace_selector_matches(hook, attrs(), namespaced=True, namespace_labels={"env": "prod"})
    assert not matching.namespace_selector_matches(hook, attrs(), namespaced=True, namespace_labels={})
    assert matching.namespace_selector_matches(hook, attrs(namespace=""), namespaced=False, namespace_labels=None)
    ns = attrs(group="", resource="namespaces", obj={"metadata": {"labels": {"env": "prod"}}})
    assert matching.namespace_selector_matches(hook, ns, namespaced=False, namespace_labels=None)


def test_match_conditions() -> None:
    obj = {"metadata": {"name": "x", "labels": {"a": "b"}}}
    ok = [{"name": "named-x", "expression": "object.metadata.name == 'x'"}]
    assert conditions.evaluate(ok, {"object": obj, "oldObject": None, "request": {"operation": "CREATE"}})
    no = [*ok, {"name": "is-update", "expression": "request.operation == 'UPDATE'"}]
    assert not conditions.evaluate(no, {"object": obj, "oldObject": None, "request": {"operation": "CREATE"}})
    broken = [{"name": "missing", "expression": "object.spec.replicas > 1"}]
    with pytest.raises(conditions.ConditionError, match="failed to evaluate match condition 'missing'"):
        conditions.evaluate(broken, {"object": obj, "oldObject": None, "request": {}})
    # a false condition wins over an erring one
    assert not conditions.evaluate([*broken, *no[1:]], {"object": obj, "oldObject": None,
                                                        "request": {"operation": "CREATE"}})
    assert conditions.compile_error("object.metadata.name ==") is not None
