"""OpenAPI v3 as upstream publishes it, and server-side apply on ``/scale`` (issue 24).

IntOrString is ``oneOf: [integer, string]`` (``format: int-or-string``) and Quantity ``oneOf: [string,
number]`` in ``/openapi/v3``, so what the server returns (``targetPort: 80``, ``cpu: 1``) conforms to
the schema it publishes; custom resources' PATCH lists no strategic merge patch; an apply patch
(``application/apply-patch+yaml``) on ``deployments/<name>/scale`` is served (it is advertised).
"""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest

from tests.apiserver.conftest import API

APPS = "/apis/apps/v1/namespaces/default"
INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"
APPLY = {"Content-Type": "application/apply-patch+yaml"}


async def _document(api: API, path: str) -> dict[str, Any]:
    r = await api.get(f"/openapi/v3/{path}")
    assert r.status == 200
    doc: dict[str, Any] = r.body
    return doc


async def test_int_or_string_and_quantity_as_upstream(api: API) -> None:
    schemas = (await _document(api, "api/v1"))["components"]["schemas"]
    assert schemas[INT_OR_STRING]["oneOf"] == [{"type": "integer"}, {"type": "string"}]
    assert schemas[INT_OR_STRING]["format"] == "int-or-string"
    assert "type" not in schemas[INT_OR_STRING]
    assert schemas[QUANTITY]["oneOf"] == [{"type": "string"}, {"type": "number"}]
    assert "type" not in schemas[QUANTITY]


async def test_service_the_server_returns_conforms_to_its_schema(api: API) -> None:
    doc = await _document(api, "api/v1")
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
           "spec": {"ports": [{"port": 80, "targetPort": 8080}]}}
    r = await api.post("/api/v1/namespaces/default/services", svc)
    assert r.status == 201, r.body
    resolver_doc = {"components": doc["components"]}
    validator = jsonschema.Draft7Validator({"$ref": "#/components/schemas/io.k8s.api.core.v1.Service",
                                            **resolver_doc})
    errors = sorted(str(e.message) for e in validator.iter_errors(r.body))
    assert errors == []


async def test_scale_server_side_apply(api: API) -> None:
    deploy = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "w"},
              "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "w"}},
                       "template": {"metadata": {"labels": {"app": "w"}},
                                    "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}}
    assert (await api.post(f"{APPS}/deployments", deploy)).status == 201
    body = b"apiVersion: autoscaling/v1\nkind: Scale\nmetadata:\n  name: w\nspec:\n  replicas: 3\n"
    r = await api.request("PATCH", f"{APPS}/deployments/w/scale", data=body, headers=APPLY,
                          params={"fieldManager": "autoscaler"})
    assert r.status == 409, r.body  # the creator owns spec.replicas (an Update): conflicts as upstream
    assert r.body["details"]["causes"][0]["field"] == ".spec.replicas"
    r = await api.request("PATCH", f"{APPS}/deployments/w/scale", data=body, headers=APPLY,
                          params={"fieldManager": "autoscaler", "force": "true"})
    assert r.status == 200, r.body
    assert (r.body["kind"], r.body["spec"]) == ("Scale", {"replicas": 3})
    got = (await api.get(f"{APPS}/deployments/w")).body
    assert got["spec"]["replicas"] == 3
    entry = next(m for m in got["metadata"]["managedFields"] if m["manager"] == "autoscaler")
    assert (entry["operation"], entry["subresource"]) == ("Apply", "scale")
    assert entry["fieldsV1"] == {"f:spec": {"f:replicas": {}}}
    # another applier owning replicas conflicts unless it forces
    r = await api.request("PATCH", f"{APPS}/deployments/w/scale", data=body.replace(b"3", b"5"), headers=APPLY,
                          params={"fieldManager": "other"})
    assert r.status == 409, r.body
    r = await api.request("PATCH", f"{APPS}/deployments/w/scale", data=body.replace(b"3", b"5"), headers=APPLY,
                          params={"fieldManager": "other", "force": "true"})
    assert r.status == 200, r.body
    assert (await api.get(f"{APPS}/deployments/w")).body["spec"]["replicas"] == 5


@pytest.mark.parametrize(("body", "status"), [
    (b"apiVersion: apps/v1\nkind: Deployment\nspec:\n  replicas: 3\n", 400),
    (b"apiVersion: autoscaling/v1\nkind: Scale\nspec:\n  replicas: -1\n", 422),
    (b"apiVersion: autoscaling/v1\nkind: Scale\nspec:\n  replicas: three\n", 400),
])
async def test_scale_apply_rejects_bad_configurations(api: API, body: bytes, status: int) -> None:
    r = await api.request("PATCH", f"{APPS}/deployments/missing/scale", data=body, headers=APPLY,
                          params={"fieldManager": "m"})
    assert r.status == status, r.body
    r = await api.request("PATCH", f"{APPS}/deployments/missing/scale",
                          data=b"apiVersion: autoscaling/v1\nkind: Scale\nspec:\n  replicas: 1\n", headers=APPLY,
                          params={"fieldManager": "m"})
    assert r.status == 404
