"""ValidatingAdmissionPolicy type checking: the checker's messages (cel-go's format) on a schema, and the
status controller against a real API server writing ``status.typeChecking`` and ``observedGeneration`` for a
built-in kind (Deployment, schema from ``/openapi/v3``) and a CRD (its structural schema)."""

from __future__ import annotations

from typing import Any

import pytest

from sampan.api.structural.celcheck import DYN, check, from_schema
from sampan.client import Client
from tests.controllers.support import fast_options, running_manager, wait_for

AR = "admissionregistration.k8s.io/v1"
SCHEMA = {"type": "object", "properties": {
    "spec": {"type": "object", "properties": {
        "replicas": {"type": "integer"}, "name": {"type": "string"},
        "ports": {"type": "array", "items": {"type": "object", "properties": {"port": {"type": "integer"}}}},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "anything": {"x-kubernetes-preserve-unknown-fields": True},
        "size": {"x-kubernetes-int-or-string": True}}}}}


@pytest.mark.parametrize(("expr", "issue"), [
    ("object.spec.replicas <= 5", None),
    ("object.spec.labels.team == 'a' && object.spec.anything.x.y > 1 && object.spec.size != 3", None),
    ("object.spec.ports.all(p, p.port > 0) && size(object.spec.ports) < 3 &&\n has(object.spec.name)", None),
    ("params.whatever > 1", None),
    ("object.replicas > 1", "ERROR: <input>:1:7: undefined field 'replicas'\n | object.replicas > 1\n | ......^"),
    ("object.spec.name > 1",
     "ERROR: <input>:1:18: found no matching overload for '_>_' applied to '(string, int)'\n"
     " | object.spec.name > 1\n | .................^"),
    ("object.spec.ports.exists(p, p.prot == 80)", "ERROR: <input>:1:30: undefined field 'prot'"),
    ("has(object.spec.replica)", "ERROR: <input>:1:16: undefined field 'replica'"),
    ("replicas > 1", "ERROR: <input>:1:1: undeclared reference to 'replicas' (in container '')"),
    ("object.spec.replicas > 1 &&\n  object.spec.nme == 'x'",
     "ERROR: <input>:2:14: undefined field 'nme'\n |   object"),
])
def test_checker_reports_what_cel_go_reports(expr: str, issue: str | None) -> None:
    obj = from_schema(SCHEMA)
    found = check(expr, {"object": obj, "oldObject": obj, "params": DYN})
    if issue is None:
        assert found is None
    else:
        assert found is not None
        assert found.startswith(issue), found


def _policy(name: str, resources: list[tuple[str, str, str]], validations: list[dict[str, Any]]) -> dict[str, Any]:
    rules = [{"apiGroups": [g], "apiVersions": [v], "resources": [r], "operations": ["CREATE"]}
             for g, v, r in resources]
    return {"apiVersion": AR, "kind": "ValidatingAdmissionPolicy", "metadata": {"name": name},
            "spec": {"failurePolicy": "Fail", "matchConstraints": {"resourceRules": rules},
                     "validations": validations}}


WIDGET_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.example.com"},
    "spec": {"group": "example.com", "scope": "Namespaced",
             "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
             "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
                 "type": "object", "properties": {"spec": {"type": "object", "properties": {
                     "size": {"type": "integer"}}}}}}}]}}


async def test_status_controller_writes_type_checking(client: Client) -> None:
    crds = await client.resource("apiextensions.k8s.io/v1", "customresourcedefinitions")
    await crds.create(WIDGET_CRD)
    policies = await client.resource(AR, "validatingadmissionpolicies")
    await policies.create(_policy("replicas", [("apps", "v1", "deployments")], [
        {"expression": "object.spec.replicas <= 5"},
        {"expression": "object.replicas > 1", "messageExpression": "'too many: ' + object.spec.replicas"}]))
    await policies.create(_policy("widgets", [("example.com", "v1", "widgets"), ("apps", "v1", "deployments")],
                                  [{"expression": "object.spec.size < 10"}]))
    await policies.create(_policy("clean", [("apps", "v1", "deployments")],
                                  [{"expression": "object.spec.template.spec.containers.all(c, c.image != '')"}]))

    async def checked(name: str, generation: int) -> dict[str, Any] | None:
        status = (await policies.get(name)).get("status") or {}
        return status if status.get("observedGeneration") == generation else None

    async with running_manager(client, fast_options(("validatingadmissionpolicy-status-controller",))):
        status = await wait_for(lambda: checked("replicas", 1), message="replicas policy type-checked")
        warnings = status["typeChecking"]["expressionWarnings"]
        assert [w["fieldRef"] for w in warnings] == ["spec.validations[1].expression",
                                                     "spec.validations[1].messageExpression"]
        assert warnings[0]["warning"] == ("apps/v1, Kind=Deployment: ERROR: <input>:1:7: undefined field "
                                          "'replicas'\n | object.replicas > 1\n | ......^\n")
        assert "found no matching overload for '_+_' applied to '(string, int)'" in warnings[1]["warning"]

        # the CRD's structural schema: size is an integer there, but Deployment's spec has no size
        status = await wait_for(lambda: checked("widgets", 1), message="widgets policy type-checked")
        [warning] = status["typeChecking"]["expressionWarnings"]
        assert warning["warning"].startswith("apps/v1, Kind=Deployment: ERROR: <input>:1:12: undefined field 'size'")
        assert "example.com/v1, Kind=Widget" not in warning["warning"]

        status = await wait_for(lambda: checked("clean", 1), message="clean policy type-checked")
        assert status["typeChecking"] == {}

        # a new generation is checked again
        policy = await policies.get("replicas")
        policy["spec"]["validations"] = [{"expression": "object.spec.replicas <= 5"}]
        await policies.update(policy)
        status = await wait_for(lambda: checked("replicas", 2), message="the new generation type-checked")
        assert status["typeChecking"] == {}

        # a CRD's changed schema is used for the next generation checked (documents cached by hash)
        await policies.create(_policy("colors", [("example.com", "v1", "widgets")],
                                      [{"expression": "object.spec.color == 'red'"}]))
        status = await wait_for(lambda: checked("colors", 1), message="colors policy type-checked")
        assert "undefined field 'color'" in status["typeChecking"]["expressionWarnings"][0]["warning"]
        crd = await crds.get("widgets.example.com")
        props = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
        props["color"] = {"type": "string"}
        await crds.update(crd)

        async def schema_served() -> bool:
            doc = await client.rest.request("GET", "/openapi/v3/apis/example.com/v1")
            return "color" in str(doc)

        await wait_for(schema_served, message="the new schema served")
        policy = await policies.get("colors")
        policy["spec"]["validations"][0]["message"] = "must be red"
        await policies.update(policy)
        status = await wait_for(lambda: checked("colors", 2), message="colors generation 2 type-checked")
        assert status["typeChecking"] == {}


def test_variables_are_typed_by_their_expressions() -> None:
    from sampan.controllers.validatingadmissionpolicystatus.controller import warnings_for

    policy = _policy("v", [("apps", "v1", "deployments")], [
        {"expression": "variables.replicas > 'three'"},
        {"expression": "variables.missing == 1"},
        {"expression": "variables.ports.all(p, p.port > 0) && variables.replicas < 10"}])
    policy["spec"]["variables"] = [{"name": "replicas", "expression": "object.spec.replicas"},
                                   {"name": "ports", "expression": "object.spec.ports"}]
    warnings = warnings_for(policy, [(("apps", "v1", "Deployment"), from_schema(SCHEMA))])
    assert [w["fieldRef"] for w in warnings] == ["spec.validations[0].expression", "spec.validations[1].expression"]
    assert "found no matching overload for '_>_' applied to '(int, string)'" in warnings[0]["warning"]
    assert "undefined field 'missing'" in warnings[1]["warning"]
