"""ValidatingAdmissionPolicy and its bindings over real HTTP (served with validation and Tables, CEL
validations with messages, params, match conditions, variables, selectors, Deny/Warn/Audit) and with the
real kubectl (the 422 and the ``Warning:`` it prints). Policies are read from the watch cache: tests
wait until a new policy is in force by probing with server-side dry runs."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.apiserver.conftest import API
from tests.apiserver.test_kubectl import Kubectl
from tests.support.apiserver import APIServerHandle, run_apiserver_process

ARG = "/apis/admissionregistration.k8s.io/v1"
DEPLOYMENTS = "/apis/apps/v1/namespaces/default/deployments"


def policy(name: str, *validations: dict[str, Any], **spec: Any) -> dict[str, Any]:
    spec.setdefault("matchConstraints", {"resourceRules": [
        {"apiGroups": ["apps"], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"],
         "resources": ["deployments"]}]})
    return {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
            "metadata": {"name": name}, "spec": {"validations": list(validations), **spec}}


def binding(name: str, policy_name: str, actions: list[str], **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicyBinding",
            "metadata": {"name": name}, "spec": {"policyName": policy_name, "validationActions": actions, **spec}}


def deployment(name: str, replicas: int, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "labels": labels or {}},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"a": "b"}}, "template": {
                "metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}}


def warnings_of(headers: Any) -> list[str]:
    return [w.removeprefix('299 - "').removesuffix('"').replace('\\"', '"') for w in headers.getall("Warning", [])]


async def install(api: API, *objects: dict[str, Any]) -> None:
    for obj in objects:
        plural = "validatingadmissionpolicies" if obj["kind"] == "ValidatingAdmissionPolicy" else \
            "validatingadmissionpolicybindings"
        r = await api.post(f"{ARG}/{plural}", obj)
        assert r.status == 201, r.body


async def until(api: API, probe: dict[str, Any], status: int) -> Any:
    """Dry-run ``probe`` until it answers ``status`` (the policy reached the watch cache)."""
    for _ in range(300):
        r = await api.post(DEPLOYMENTS, probe, dryRun="All")
        if r.status == status and (status != 201 or warnings_of(r.headers)):
            return r
        await asyncio.sleep(0.01)
    raise AssertionError(f"the policy never took effect: {r.status} {r.body}")


MAX5 = {"expression": "object.spec.replicas <= 5", "message": "replicas must be no greater than 5"}


async def test_deny_is_422_with_the_policys_message(api: API) -> None:
    await install(api, policy("max-replicas", MAX5), binding("max-replicas-b", "max-replicas", ["Deny"]))
    r = await until(api, deployment("big", 6), 422)
    r = await api.post(DEPLOYMENTS, deployment("big", 6))
    assert r.status == 422
    assert r.reason == "Invalid"
    message = ("ValidatingAdmissionPolicy 'max-replicas' with binding 'max-replicas-b' denied request: "
               "replicas must be no greater than 5")
    assert r.body["message"] == f'deployments.apps "big" is forbidden: {message}'
    assert r.body["details"]["causes"] == [{"message": message}]
    assert (await api.post(DEPLOYMENTS, deployment("small", 5))).status == 201
    # a policy change applies without restart: the next request sees it
    r = await api.get(f"{ARG}/validatingadmissionpolicies/max-replicas")
    body = r.body
    body["spec"]["validations"] = [{"expression": "object.spec.replicas <= 7"}]
    assert (await api.put(f"{ARG}/validatingadmissionpolicies/max-replicas", body)).status == 200
    for _ in range(300):
        if (await api.post(DEPLOYMENTS, deployment("big", 6), dryRun="All")).status == 201:
            break
        await asyncio.sleep(0.01)
    r = await api.post(DEPLOYMENTS, deployment("huge", 8))
    assert r.status == 422
    assert r.body["message"].endswith("denied request: failed expression: object.spec.replicas <= 7")


async def test_warn_and_audit_let_the_request_in(api: API) -> None:
    await install(api, policy("p", MAX5), binding("b", "p", ["Warn", "Audit"]))
    r = await until(api, deployment("probe", 6), 201)
    r = await api.post(DEPLOYMENTS, deployment("big", 6))
    assert r.status == 201
    assert warnings_of(r.headers) == [
        "Validation failed for ValidatingAdmissionPolicy 'p' with binding 'b': replicas must be no greater than 5"]


async def test_params_variables_conditions_message_expression_and_reason(api: API) -> None:
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "limits", "namespace": "default"},
          "data": {"max": "3"}}
    assert (await api.post("/api/v1/namespaces/default/configmaps", cm)).status == 201
    await install(api, policy(
        "p",
        {"expression": "variables.replicas <= int(params.data.max)",
         "messageExpression": "'replicas ' + string(variables.replicas) + ' over ' + params.data.max",
         "reason": "Forbidden"},
        paramKind={"apiVersion": "v1", "kind": "ConfigMap"},
        variables=[{"name": "replicas", "expression": "object.spec.replicas"}],
        matchConditions=[{"name": "not-exempt", "expression": "!('exempt' in object.metadata.labels)"}]),
        binding("b", "p", ["Deny"], paramRef={"name": "limits", "parameterNotFoundAction": "Deny"},
                matchResources={"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "default"}}}))
    await until(api, deployment("probe", 4), 403)
    r = await api.post(DEPLOYMENTS, deployment("d", 4))
    assert r.status == 403
    assert r.reason == "Forbidden"
    assert r.body["message"] == ('deployments.apps "d" is forbidden: ValidatingAdmissionPolicy \'p\' with binding '
                                 "'b' denied request: replicas 4 over 3")
    assert (await api.post(DEPLOYMENTS, deployment("e", 4, {"exempt": "yes"}))).status == 201
    assert (await api.post(DEPLOYMENTS, deployment("f", 3))).status == 201
    assert (await api.delete("/api/v1/namespaces/default/configmaps/limits")).status == 200
    for _ in range(300):
        r = await api.post(DEPLOYMENTS, deployment("g", 1), dryRun="All")
        if r.status == 422:
            break
        await asyncio.sleep(0.01)
    assert r.body["message"].endswith("denied request: failed to configure binding: no params found for policy "
                                      "binding with `Deny` parameterNotFoundAction")


async def test_validation_and_tables(api: API) -> None:
    bad = policy("bad", {"expression": "object.spec.replicas <="}, failurePolicy="Sometimes")
    bad["spec"]["matchConstraints"] = {}
    r = await api.post(f"{ARG}/validatingadmissionpolicies", bad)
    assert r.status == 422
    msg = r.body["message"]
    assert "spec.failurePolicy: Unsupported value: \"Sometimes\"" in msg
    assert "spec.matchConstraints.resourceRules: Required value" in msg
    assert "spec.validations[0].expression: Invalid value" in msg
    assert "compilation failed" in msg
    r = await api.post(f"{ARG}/validatingadmissionpolicybindings", binding("b", "p", ["Deny", "Warn", "Nope"]))
    assert r.status == 422
    assert 'spec.validationActions[2]: Unsupported value: "Nope"' in r.body["message"]
    await install(api, policy("p", MAX5, paramKind={"apiVersion": "v1", "kind": "ConfigMap"}),
                  binding("b", "p", ["Deny"], paramRef={"name": "x", "namespace": "default"}))
    table = {"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"}
    r = await api.request("GET", f"{ARG}/validatingadmissionpolicies", headers=table)
    assert [c["name"] for c in r.body["columnDefinitions"]] == ["Name", "Validations", "ParamKind", "Age"]
    assert r.body["rows"][0]["cells"][:3] == ["p", 1, "v1/ConfigMap"]
    r = await api.request("GET", f"{ARG}/validatingadmissionpolicybindings", headers=table)
    assert [c["name"] for c in r.body["columnDefinitions"]] == ["Name", "PolicyName", "ParamRef", "Age"]
    assert r.body["rows"][0]["cells"][:3] == ["b", "p", "default/x"]
    stored = (await api.get(f"{ARG}/validatingadmissionpolicies/p")).body
    assert stored["spec"]["failurePolicy"] == "Fail"
    assert stored["spec"]["matchConstraints"]["matchPolicy"] == "Equivalent"


# ---- the real kubectl ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[APIServerHandle]:
    with run_apiserver_process(tmp_path_factory.mktemp("vap"), storage="memory") as handle:
        yield handle


@pytest.fixture
def kubectl(server: APIServerHandle, tmp_path: Path) -> Kubectl:
    return Kubectl("kubectl", server, tmp_path / "cache")


POLICY_YAML = """\
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: max-replicas}
spec:
  failurePolicy: Fail
  matchConstraints:
    resourceRules:
    - apiGroups: [apps]
      apiVersions: [v1]
      operations: [CREATE, UPDATE]
      resources: [deployments]
  validations:
  - expression: object.spec.replicas <= 5
    message: replicas must be no greater than 5
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {name: max-replicas-binding}
spec:
  policyName: max-replicas
  validationActions: [ACTION]
  matchResources:
    namespaceSelector:
      matchLabels: {env: test}
"""
DEPLOYMENT_YAML = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: NAME}
spec:
  replicas: 6
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: nginx}]}
"""


def _create_until(kubectl: Kubectl, ns: str, *, want_rc: int) -> None:
    for _ in range(100):
        proc = kubectl.run("-n", ns, "create", "--dry-run=server", "-f", "-", stdin=DEPLOYMENT_YAML.replace(
            "NAME", "probe"), check=False)
        if proc.returncode == want_rc and (want_rc or "Warning" in proc.stderr):
            return
    raise AssertionError("the policy never took effect")


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kubectl_deny_then_warn(kubectl: Kubectl) -> None:
    kubectl.out("create", "namespace", "vap")
    kubectl.out("label", "namespace", "vap", "env=test")
    kubectl.out("apply", "-f", "-", stdin=POLICY_YAML.replace("ACTION", "Deny"))
    assert "max-replicas" in kubectl.out("get", "validatingadmissionpolicies")
    _create_until(kubectl, "vap", want_rc=1)
    proc = kubectl.run("-n", "vap", "create", "-f", "-", stdin=DEPLOYMENT_YAML.replace("NAME", "web"), check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip() == (
        'The deployments "web" is invalid: : ValidatingAdmissionPolicy \'max-replicas\' with binding '
        "'max-replicas-binding' denied request: replicas must be no greater than 5")
    kubectl.out("apply", "-f", "-", stdin=POLICY_YAML.replace("ACTION", "Warn"))
    _create_until(kubectl, "vap", want_rc=0)
    proc = kubectl.run("-n", "vap", "create", "-f", "-", stdin=DEPLOYMENT_YAML.replace("NAME", "web"))
    assert proc.stdout.strip() == "deployment.apps/web created"
    assert ("Warning: Validation failed for ValidatingAdmissionPolicy 'max-replicas' with binding "
            "'max-replicas-binding': replicas must be no greater than 5") in proc.stderr


def test_runtime_errors_read_as_upstream_not_as_python_reprs() -> None:
    import celpy

    from sampan.apiserver.admission.validatingadmissionpolicy import PolicyError, _eval

    activation = {"object": celpy.json_to_cel({"spec": {}})}
    with pytest.raises(PolicyError) as err:
        _eval("object.spec.replicas <= 5", activation)
    assert str(err.value) == "expression 'object.spec.replicas <= 5' resulted in error: no such key: replicas"
