"""Strategies made from CRDs: info, pruning/defaulting, validation, status, generation, fields, tables."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sampan.api import humanize
from sampan.apiserver.registry.custom import cell, custom_strategy
from sampan.apiserver.registry.customresourcedefinitions import CustomResourceDefinitionStrategy

NOW = "2024-01-01T00:00:00Z"
NOW_EPOCH = humanize.parse_rfc3339(NOW) or 0.0

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "spec": {"type": "object", "required": ["size"], "properties": {
            "size": {"type": "integer", "minimum": 1, "default": 1},
            "color": {"type": "string", "default": "red", "enum": ["red", "blue"]},
            "mode": {"type": "string", "x-kubernetes-validations": [
                {"rule": "self == oldSelf", "message": "mode is immutable"}]},
        }},
        "status": {"type": "object", "properties": {
            "replicas": {"type": "integer"},
            "conditions": {"type": "array", "items": {"type": "object", "properties": {
                "type": {"type": "string"}, "status": {"type": "string"},
                "lastTransitionTime": {"type": "string", "format": "date-time"}}}},
        }},
    },
}


def make_crd(*, status: bool = True, columns: list[dict[str, Any]] | None = None,
             scope: str = "Namespaced") -> dict[str, Any]:
    version: dict[str, Any] = {"name": "v1", "served": True, "storage": True,
                               "schema": {"openAPIV3Schema": SCHEMA},
                               "selectableFields": [{"jsonPath": ".spec.color"}]}
    if status:
        version["subresources"] = {"status": {}, "scale": {"specReplicasPath": ".spec.size",
                                                           "statusReplicasPath": ".status.replicas"}}
    if columns is not None:
        version["additionalPrinterColumns"] = columns
    crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
           "metadata": {"name": "widgets.example.com"},
           "spec": {"group": "example.com", "scope": scope, "versions": [version],
                    "names": {"plural": "widgets", "kind": "Widget", "shortNames": ["wd"], "categories": ["all"]}}}
    CustomResourceDefinitionStrategy().prepare_for_create(crd)
    assert CustomResourceDefinitionStrategy().validate(crd) == []
    return crd


COLUMNS = [
    {"name": "Size", "type": "integer", "jsonPath": ".spec.size"},
    {"name": "Color", "type": "string", "jsonPath": ".spec.color", "priority": 1, "description": "the color"},
    {"name": "Ready", "type": "string", "jsonPath": '.status.conditions[?(@.type=="Ready")].status'},
    {"name": "Since", "type": "date", "jsonPath": '.status.conditions[?(@.type=="Ready")].lastTransitionTime'},
]
S = custom_strategy(make_crd(columns=COLUMNS), "v1")
PLAIN = custom_strategy(make_crd(status=False, scope="Cluster"), "v1")


def widget(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "example.com/v1", "kind": "Widget",
            "metadata": {"name": "w", "namespace": "default", "creationTimestamp": NOW}, "spec": spec}


def test_info_from_names() -> None:
    info = S.info
    assert (info.group, info.version, info.resource, info.kind, info.singular) == (
        "example.com", "v1", "widgets", "Widget", "widget")
    assert info.namespaced
    assert info.short_names == ("wd",)
    assert info.categories == ("all",)
    assert info.subresources == ("scale", "status")
    assert info.list_kind_name == "WidgetList"
    assert S.has_status
    assert S.scale == {"specReplicasPath": ".spec.size", "statusReplicasPath": ".status.replicas"}
    assert not PLAIN.has_status
    assert not PLAIN.info.namespaced
    assert type(S).__name__ == "WidgetStrategy"
    assert type(S) is not type(PLAIN)


def test_create_prunes_defaults_and_drops_status() -> None:
    obj = widget(extra=1)
    obj["status"] = {"replicas": 3}
    obj["junk"] = True
    S.prepare_for_create(obj)
    assert obj["spec"] == {"size": 1, "color": "red"}
    assert "status" not in obj
    assert "junk" not in obj
    assert S.validate(obj) == []
    plain = widget()
    plain["metadata"].pop("namespace")
    plain["status"] = {"replicas": 3, "bogus": 1}
    PLAIN.prepare_for_create(plain)
    assert plain["status"] == {"replicas": 3}  # no status subresource: status is an ordinary field


def test_validation_causes() -> None:
    obj = widget(size=0, color="green")
    causes = [(c.type, c.field) for c in S.validate(obj)]
    # the unsupported color keeps the CEL rules from running, as upstream: the field-less note says so
    assert causes == [("FieldValueInvalid", "spec.size"), ("FieldValueNotSupported", "spec.color"),
                      ("FieldValueInvalid", "<nil>")]
    bad_meta = widget(size=1)
    bad_meta["metadata"]["name"] = "Not_Valid"
    bad_meta["kind"] = "Gadget"
    assert [c.field for c in S.validate(bad_meta)] == ["metadata.name", "kind"]


def test_update_keeps_status_and_runs_transition_rules() -> None:
    old = widget(size=2, mode="a")
    S.prepare_for_create(old)
    old["status"] = {"replicas": 2}
    new = widget(size=3, mode="b")
    new["status"] = {"replicas": 99}
    S.prepare_for_update(new, old)
    assert new["status"] == {"replicas": 2}
    assert [(c.field, c.message) for c in S.validate_update(new, old)] == [
        ("spec.mode", 'Invalid value: "string": mode is immutable')]
    assert S.validate(new) == []  # create-time validation has no oldSelf
    assert S.spec_changed(new, old)


def test_status_update_keeps_spec_and_prunes_status() -> None:
    old = widget(size=2)
    S.prepare_for_create(old)
    new = widget(size=5)
    new["status"] = {"replicas": 5, "nope": 1}
    S.prepare_for_status_update(new, old)
    assert new["spec"] == old["spec"]
    assert new["status"] == {"replicas": 5}
    assert not S.spec_changed(new, old)


def test_generation_rules_follow_the_status_subresource() -> None:
    old = widget(size=1)
    new = copy.deepcopy(old)
    new["status"] = {"replicas": 1}
    assert not S.spec_changed(new, old)
    assert PLAIN.spec_changed(new, old)
    new = copy.deepcopy(old)
    new["metadata"]["labels"] = {"a": "b"}
    assert not S.spec_changed(new, old)
    assert not PLAIN.spec_changed(new, old)


def test_field_selectors() -> None:
    assert S.selectable_field_names() == ["metadata.name", "metadata.namespace", "spec.color"]
    assert S.field_values(widget(size=1, color="blue")) == {
        "metadata.name": "w", "metadata.namespace": "default", "spec.color": "blue"}
    assert PLAIN.selectable_field_names() == ["metadata.name", "spec.color"]


def test_table_from_printer_columns() -> None:
    cols = S.table_columns()
    assert [(c.name, c.type, c.priority) for c in cols] == [
        ("Name", "string", 0), ("Size", "integer", 0), ("Color", "string", 1), ("Ready", "string", 0),
        ("Since", "date", 0)]
    obj = widget(size=4, color="blue")
    obj["status"] = {"conditions": [{"type": "Other", "status": "False"},
                                    {"type": "Ready", "status": "True", "lastTransitionTime": NOW}]}
    assert S.table_row(obj, NOW_EPOCH + 150) == ["w", 4, "blue", "True", "2m30s"]
    assert S.table_row(widget(), NOW_EPOCH) == ["w", None, None, None, None]


def test_default_columns_are_name_and_age() -> None:
    assert [(c.name, c.type) for c in PLAIN.table_columns()] == [("Name", "string"), ("Age", "date")]
    assert PLAIN.table_row(widget(), NOW_EPOCH + 90) == ["w", "90s"]


def test_cells() -> None:
    assert cell("string", {"a": 1}, 0) == '{"a":1}'
    assert cell("string", True, 0) == "true"
    assert cell("integer", 2.0, 0) == 2
    assert cell("integer", "x", 0) is None
    assert cell("number", 1.5, 0) == 1.5
    assert cell("boolean", "yes", 0) is None
    assert cell("date", "garbage", 0) is None


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=4),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(
        ["spec", "status", "metadata", "size", "color", "mode", "conditions", "type", "name", "x"]), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=JSON, old=JSON)
def test_no_method_raises_on_junk(body: Any, old: Any) -> None:
    for strategy in (S, PLAIN):
        obj = body if isinstance(body, dict) else {"spec": body}
        prev = {**widget(), "spec": old}  # an old object comes from storage: its metadata is sound
        obj = copy.deepcopy(obj)
        strategy.prepare_for_create(obj)
        strategy.validate(obj)
        strategy.prepare_for_update(obj, prev)
        strategy.validate_update(obj, prev)
        strategy.spec_changed(obj, prev)
        strategy.field_values(obj)
        assert len(strategy.table_row(obj, NOW_EPOCH)) == len(strategy.table_columns())
