"""The CustomResourceDefinition strategy: defaults, validation, status (naming) and table."""

from __future__ import annotations

import copy
from typing import Any

from sampan.api.crd import naming, openapi, scale
from sampan.api.crd import spec as crdspec
from sampan.apiserver.registry.catalog import Catalog
from sampan.apiserver.registry.customresourcedefinitions import (
    CustomResourceDefinitionStrategy,
    compute_status,
    served_kinds,
)

S = CustomResourceDefinitionStrategy()
NOW = "2024-01-01T00:00:00Z"
LATER = "2024-01-02T00:00:00Z"


def crd(plural: str = "widgets", kind: str = "Widget", group: str = "example.com", **names: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}", "creationTimestamp": NOW},
        "spec": {
            "group": group, "scope": "Namespaced",
            "names": {"plural": plural, "kind": kind, **names},
            "versions": [{
                "name": "v1", "served": True, "storage": True,
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "properties": {"replicas": {"type": "integer"}}},
                    "status": {"type": "object", "properties": {"replicas": {"type": "integer"}}}}}},
                "subresources": {"status": {}, "scale": {"specReplicasPath": ".spec.replicas",
                                                         "statusReplicasPath": ".status.replicas"}},
                "additionalPrinterColumns": [{"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"}],
            }],
        },
    }


def created(obj: dict[str, Any]) -> dict[str, Any]:
    S.prepare_for_create(obj)
    return obj


def fields(obj: dict[str, Any]) -> list[str]:
    return [c.field for c in S.validate(obj)]


def test_registered_in_catalog() -> None:
    found = Catalog.builtin().lookup("apiextensions.k8s.io", "v1", "customresourcedefinitions")
    assert found is not None
    assert found.info.short_names == ("crd", "crds")
    assert not found.info.namespaced
    assert found.info.subresources == ("status",)


def test_defaults_and_initial_status() -> None:
    obj = created(crd())
    names = obj["spec"]["names"]
    assert names["singular"] == "widget"
    assert names["listKind"] == "WidgetList"
    assert obj["spec"]["conversion"] == {"strategy": "None"}
    assert obj["status"] == {"conditions": [], "acceptedNames": {"plural": "", "kind": ""}, "storedVersions": ["v1"]}
    assert S.validate(obj) == []


def test_name_must_be_plural_dot_group() -> None:
    obj = created(crd())
    obj["metadata"]["name"] = "widgets.other.com"
    causes = S.validate(obj)
    assert [(c.field, c.message) for c in causes] == [
        ("metadata.name", 'Invalid value: "widgets.other.com": must be spec.names.plural+"."+spec.group')]


def test_group_and_names() -> None:
    assert "spec.group" in fields(created(crd(group="example")))
    protected = created(crd(group="foo.k8s.io"))
    assert fields(protected) == ["metadata.annotations[api-approved.kubernetes.io]"]
    protected["metadata"]["annotations"] = {"api-approved.kubernetes.io": "https://github.com/kubernetes/x/1"}
    assert fields(protected) == []
    bad = created(crd(plural="Widgets", shortNames=["w", "w", "W"], categories=["all"]))
    bad["metadata"]["name"] = "Widgets.example.com"
    assert {"spec.names.plural", "spec.names.shortNames[1]", "spec.names.shortNames[2]"} <= set(fields(bad))
    same = created(crd(listKind="Widget"))
    assert [c.message for c in S.validate(same)] == [
        'Invalid value: "Widget": kind and listKind may not be the same or parsing become ambiguous']
    odd_kind = created(crd(kind="Wid_get"))
    assert any(c.message.startswith('Invalid value: "Wid_get": may have mixed case, but should otherwise match:')
               for c in S.validate(odd_kind))


def test_versions_scope_conversion() -> None:
    obj = created(crd())
    obj["spec"]["versions"].append(copy.deepcopy(obj["spec"]["versions"][0]))
    causes = {c.field: c.message for c in S.validate(obj)}
    assert causes["spec.versions[1].name"] == 'Duplicate value: "v1"'
    assert causes["spec.versions"].endswith("must have exactly one version marked as storage version")
    obj = created(crd())
    obj["spec"]["scope"] = "Global"
    obj["spec"]["conversion"] = {"strategy": "Webhook", "webhook": {}}
    causes = {c.field: c.message for c in S.validate(obj)}
    assert causes["spec.scope"] == 'Unsupported value: "Global": supported values: "Cluster", "Namespaced"'
    assert causes["spec.conversion.webhook.conversionReviewVersions"] == \
        "Required value: must specify one of v1, v1beta1"
    assert causes["spec.conversion.webhook.clientConfig"] == "Required value: required when strategy is set to Webhook"
    obj["spec"]["conversion"] = {"strategy": "Webhook", "webhook": {"conversionReviewVersions": ["v1"],
                                                                    "clientConfig": {"url": "http://x/"}}}
    causes = {c.field: c.message for c in S.validate(obj)}
    assert causes["spec.conversion.webhook.clientConfig.url"].endswith("'https' is the only allowed URL scheme")
    obj = created(crd())
    del obj["spec"]["versions"][0]["schema"]
    assert fields(obj) == ["spec.versions[0].schema.openAPIV3Schema"]
    obj = created(crd())
    obj["spec"]["preserveUnknownFields"] = True
    assert fields(obj) == ["spec.preserveUnknownFields"]


def test_subresources_columns_and_schema_paths() -> None:
    obj = created(crd())
    v = obj["spec"]["versions"][0]
    v["subresources"]["scale"] = {"specReplicasPath": ".status.replicas", "statusReplicasPath": "",
                                  "labelSelectorPath": ".metadata.x"}
    v["additionalPrinterColumns"] = [{"name": "", "type": "color", "format": "hex", "jsonPath": "spec[",
                                      "priority": -1}]
    v["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["x"] = {}
    causes = {c.field: c.message for c in S.validate(obj)}
    sub, col = "spec.versions[0].subresources.scale", "spec.versions[0].additionalPrinterColumns[0]"
    assert causes[f"{sub}.specReplicasPath"] == 'Invalid value: ".status.replicas": should be a json path under .spec'
    assert causes[f"{sub}.statusReplicasPath"] == "Required value"
    assert causes[f"{sub}.labelSelectorPath"].endswith("should be a json path under either .spec or .status")
    assert {f"{col}.name", f"{col}.type", f"{col}.format", f"{col}.jsonPath", f"{col}.priority"} <= set(causes)
    assert causes["spec.versions[0].schema.openAPIV3Schema.properties[spec].properties[x].type"] == (
        "Required value: must not be empty for specified object fields")


def test_update_rules_and_stored_versions() -> None:
    old = created(crd())
    new = copy.deepcopy(old)
    new["spec"]["scope"] = "Cluster"
    new["spec"]["group"] = "other.com"
    fields_ = [c.field for c in S.validate_update(new, old)]
    assert "spec.scope" in fields_
    assert "spec.group" in fields_
    new = copy.deepcopy(old)
    new["spec"]["versions"][0]["storage"] = False
    new["spec"]["versions"].append({**copy.deepcopy(old["spec"]["versions"][0]), "name": "v2", "storage": True})
    S.prepare_for_update(new, old)
    assert new["status"]["storedVersions"] == ["v1", "v2"]
    assert S.validate_update(new, old) == []
    assert S.spec_changed(new, old)
    dropped = copy.deepcopy(new)
    dropped["spec"]["versions"] = dropped["spec"]["versions"][1:]
    assert [c.field for c in S.validate_update(dropped, new)] == ["status.storedVersions[0]"]


def test_status_names_accepted_and_established() -> None:
    first = created(crd(shortNames=["wd"]))
    first["status"] = compute_status(first, [first], now=NOW)
    conds = {c["type"]: c for c in first["status"]["conditions"]}
    assert conds["NamesAccepted"] == {"type": "NamesAccepted", "status": "True", "lastTransitionTime": NOW,
                                      "reason": "NoConflicts", "message": "no conflicts found"}
    assert conds["Established"]["status"] == "True"
    assert conds["Established"]["reason"] == "InitialNamesAccepted"
    assert first["status"]["acceptedNames"]["plural"] == "widgets"
    assert first["status"]["acceptedNames"]["shortNames"] == ["wd"]
    assert naming.is_established(first)
    assert served_kinds([first]) == [(first, "v1")]

    both = created(crd(plural="gadgets", kind="Widget"))
    status = compute_status(both, [first], now=NOW)  # kind and listKind clash: the last conflict is reported
    assert [c["message"] for c in status["conditions"] if c["type"] == "NamesAccepted"] == [
        '"WidgetList" is already in use']
    clash = created(crd(plural="gadgets", kind="Widget", listKind="GadgetList"))
    clash["status"] = compute_status(clash, [first, clash], now=NOW)
    conds = {c["type"]: c for c in clash["status"]["conditions"]}
    assert (conds["NamesAccepted"]["status"], conds["NamesAccepted"]["reason"], conds["NamesAccepted"]["message"]) == (
        "False", "KindConflict", '"Widget" is already in use')
    assert (conds["Established"]["status"], conds["Established"]["reason"]) == ("False", "NotAccepted")
    assert clash["status"]["acceptedNames"]["kind"] == ""
    assert clash["status"]["acceptedNames"]["plural"] == "gadgets"
    assert served_kinds([clash]) == []

    plural = created(crd(plural="widgets", kind="Thing"))
    plural["metadata"]["name"] = "widgets.example.com-2"
    status = compute_status(plural, [first], now=NOW)
    assert [c["reason"] for c in status["conditions"] if c["type"] == "NamesAccepted"] == ["PluralConflict"]
    short = created(crd(plural="things", kind="Thing", shortNames=["wd"]))
    status = compute_status(short, [first], now=NOW)
    assert [c["message"] for c in status["conditions"] if c["type"] == "NamesAccepted"] == ['"wd" is already in use']
    other_group = created(crd(group="other.com"))
    assert naming.condition({"status": compute_status(other_group, [first], now=NOW)}, "NamesAccepted")["status"] == (  # type: ignore[index]
        "True")


def test_status_transition_times_and_established_sticks() -> None:
    obj = created(crd())
    obj["status"] = compute_status(obj, [], now=NOW)
    again = compute_status(obj, [], now=LATER)
    assert [c["lastTransitionTime"] for c in again["conditions"]] == [NOW, NOW]
    rival = created(crd(plural="gadgets"))
    rival["status"] = {"acceptedNames": {"plural": "gadgets", "kind": "Widget"}}
    # A conflict that appears later does not un-establish an established CRD.
    obj["spec"]["names"]["kind"] = "Widget2"
    obj["status"]["acceptedNames"]["kind"] = "Widget2"
    obj["spec"]["names"]["kind"] = "Widget"
    later = compute_status(obj, [rival], now=LATER)
    conds = {c["type"]: c for c in later["conditions"]}
    assert conds["NamesAccepted"]["status"] == "False"
    assert conds["NamesAccepted"]["lastTransitionTime"] == LATER
    assert conds["Established"]["status"] == "True"
    obj["metadata"]["deletionTimestamp"] = LATER
    assert any(c["type"] == "Terminating" for c in compute_status(obj, [], now=LATER)["conditions"])


def test_table() -> None:
    obj = created(crd())
    assert [c.name for c in S.table_columns()] == ["Name", "Created At"]
    assert S.table_row(obj, 0.0) == ["widgets.example.com", NOW]


def test_scale_paths_and_view() -> None:
    obj = created(crd())
    obj["spec"]["versions"][0]["subresources"]["scale"]["specReplicasPath"] = ".spec.items[0].replicas"
    assert [c.message for c in S.validate(obj)] == [
        'Invalid value: ".spec.items[0].replicas": must be a simple json path without array notation '
        "(e.g. .spec.replicas)"]
    paths = {"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas",
             "labelSelectorPath": ".status.selector"}
    widget = {"metadata": {"name": "w", "namespace": "ns", "uid": "u", "labels": {"a": "b"}},
              "spec": {"replicas": 3}, "status": {"replicas": 2, "selector": "app=w"}}
    assert scale.to_scale(widget, paths) == {
        "apiVersion": "autoscaling/v1", "kind": "Scale", "metadata": {"name": "w", "namespace": "ns", "uid": "u"},
        "spec": {"replicas": 3}, "status": {"replicas": 2, "selector": "app=w"}}
    assert scale.to_scale({"spec": {"replicas": "x"}}, paths)["spec"]["replicas"] == 0
    empty: dict[str, Any] = {}
    scale.set_replicas(empty, ".spec.deep.replicas", 5)
    assert empty == {"spec": {"deep": {"replicas": 5}}}
    assert scale.read(empty, ".spec.deep.replicas") == 5


def test_published_openapi_schemas() -> None:
    obj = created(crd())
    schemas = openapi.kind_schemas(obj, "v1")
    assert sorted(schemas) == ["com.example.v1.Widget", "com.example.v1.WidgetList"]
    kind = schemas["com.example.v1.Widget"]
    assert kind["x-kubernetes-group-version-kind"] == [{"group": "example.com", "version": "v1", "kind": "Widget"}]
    assert kind["properties"]["metadata"]["allOf"] == [
        {"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}]
    assert kind["properties"]["spec"]["properties"]["replicas"] == {"type": "integer"}
    assert "metadata" not in obj["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]  # not mutated
    listed = schemas["com.example.v1.WidgetList"]
    assert listed["properties"]["items"]["items"] == {"allOf": [{"$ref": "#/components/schemas/com.example.v1.Widget"}]}
    assert openapi.definition_name("stable.example.com", "v1beta1", "CronTab") == "com.example.stable.v1beta1.CronTab"


def test_none_conversion_rewrites_only_api_version() -> None:
    stored = {"apiVersion": "example.com/v1", "kind": "Widget", "spec": {"a": 1}}
    assert crdspec.convert(stored, "example.com/v2") == {"apiVersion": "example.com/v2", "kind": "Widget",
                                                         "spec": {"a": 1}}
    assert stored["apiVersion"] == "example.com/v1"
