"""CRDs through the generic REST handlers (no dynamic routes yet): create, 422 causes, status, table."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from sampan.api.crd import naming
from sampan.apiserver.registry.customresourcedefinitions import compute_status
from tests.apiserver.conftest import API

# The generic handlers alone: the server's CRD controller would race these writes (adding its finalizer,
# writing status), turning the resourceVersion preconditions below into legitimate 409s.
pytestmark = pytest.mark.apiserver_config(custom_resources=False)

BASE = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.example.com"},
    "spec": {"group": "example.com", "scope": "Namespaced", "names": {"plural": "widgets", "kind": "Widget"},
             "versions": [{"name": "v1", "served": True, "storage": True, "subresources": {"status": {}},
                           "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                               "spec": {"type": "object", "properties": {"size": {"type": "integer"}}}}}}}]},
}


async def test_create_defaults_and_status(api: API) -> None:
    r = await api.post(BASE, CRD)
    assert r.status == 201, r.body
    assert r.body["spec"]["names"]["listKind"] == "WidgetList"
    assert r.body["spec"]["conversion"] == {"strategy": "None"}
    assert r.body["status"]["storedVersions"] == ["v1"]
    assert r.body["metadata"]["generation"] == 1
    table = await api.request("GET", BASE, headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"})
    assert [c["name"] for c in table.body["columnDefinitions"]] == ["Name", "Created At"]
    assert table.body["rows"][0]["cells"][0] == "widgets.example.com"


async def test_invalid_crd_is_422_with_causes(api: API) -> None:
    bad = copy.deepcopy(CRD)
    bad["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["x"] = {}
    bad["spec"]["conversion"] = {"strategy": "Webhook"}
    r = await api.post(BASE, bad)
    assert r.status == 422, r.body
    fields = {c["field"] for c in r.body["details"]["causes"]}
    assert fields == {"spec.versions[0].schema.openAPIV3Schema.properties[spec].properties[x].type",
                      "spec.conversion.webhook"}


async def test_naming_status_written_through_status_subresource(api: API) -> None:
    created = (await api.post(BASE, CRD)).body
    created["status"] = compute_status(created, [created], now="2024-01-01T00:00:00Z")
    r = await api.put(f"{BASE}/widgets.example.com/status", created)
    assert r.status == 200, r.body
    assert naming.is_established(r.body)
    assert r.body["status"]["acceptedNames"]["kind"] == "Widget"
    spec_change = copy.deepcopy(r.body)
    spec_change["spec"]["names"]["shortNames"] = ["wd"]
    spec_change["status"] = {}
    r = await api.put(f"{BASE}/widgets.example.com", spec_change)
    assert r.status == 200, r.body
    assert naming.is_established(r.body)  # a main-resource write keeps the status
    assert r.body["metadata"]["generation"] == 2
