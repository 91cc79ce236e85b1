"""Structural-schema checks made when a CRD is written."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from sampan.api.structural import check_schema

P = "spec.versions[0].schema.openAPIV3Schema"


def causes(schema: Any) -> list[tuple[str, str, str]]:
    return [(c.type, c.field, c.message) for c in check_schema(schema, P)]


def fields(schema: Any) -> list[str]:
    return [c[1] for c in causes(schema)]


def obj(**props: Any) -> dict[str, Any]:
    return {"type": "object", "properties": props}


def test_good_schema_passes() -> None:
    assert causes(obj(
        spec=obj(replicas={"type": "integer", "default": 1, "minimum": 0},
                 port={"x-kubernetes-int-or-string": True},
                 raw={"x-kubernetes-preserve-unknown-fields": True},
                 tags={"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "set"},
                 ports={"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["port"],
                        "items": obj(port={"type": "integer"}) | {"required": ["port"]}},
                 labels={"type": "object", "additionalProperties": {"type": "string"}}),
        metadata=obj(name={"type": "string", "maxLength": 10}),
    )) == []


def test_root_must_be_object() -> None:
    assert causes({"type": "string"}) == [("FieldValueInvalid", f"{P}.type",
                                          'Invalid value: "string": must be object at the root')]
    assert causes({}) == [("FieldValueRequired", f"{P}.type", "Required value: must not be empty at the root")]


def test_every_specified_field_has_a_type() -> None:
    assert causes(obj(spec=obj(x={"description": "no type"}))) == [
        ("FieldValueRequired", f"{P}.properties[spec].properties[x].type",
         "Required value: must not be empty for specified object fields")]
    assert fields(obj(a={"type": "array", "items": {}})) == [f"{P}.properties[a].items.type"]
    assert fields(obj(a={"type": "array"})) == [f"{P}.properties[a].items"]


def test_metadata_only_name_and_generate_name() -> None:
    assert causes(obj(metadata=obj(labels={"type": "object"}))) == [
        ("FieldValueForbidden", f"{P}.properties[metadata]", "Forbidden: must not specify anything other than name "
         "and generateName, but metadata is implicitly specified")]


def test_forbidden_constructs() -> None:
    assert f"{P}.properties[a].$ref" in fields(obj(a={"type": "object", "$ref": "#/x"}))
    assert f"{P}.properties[a].uniqueItems" in fields(
        obj(a={"type": "array", "items": {"type": "string"}, "uniqueItems": True}))
    assert f"{P}.properties[a].additionalProperties" in fields(
        obj(a={"type": "object", "properties": {}, "additionalProperties": {"type": "string"}}))
    assert fields(obj(a={"type": "object", "additionalProperties": False})) == [
        f"{P}.properties[a].additionalProperties"]
    assert fields(obj(a={"type": "bogus"})) == [f"{P}.properties[a].type"]


def test_extensions() -> None:
    assert causes(obj(a={"type": "string", "x-kubernetes-int-or-string": True})) == [
        ("FieldValueInvalid", f"{P}.properties[a].type",
         'Invalid value: "string": must be empty if x-kubernetes-int-or-string is true')]
    assert fields(obj(a={"type": "object", "x-kubernetes-preserve-unknown-fields": False})) == [
        f"{P}.properties[a].x-kubernetes-preserve-unknown-fields"]
    assert fields(obj(a={"type": "string", "x-kubernetes-embedded-resource": True})) == [f"{P}.properties[a].type"]


def test_list_types() -> None:
    base = {"type": "array", "items": obj(k={"type": "integer"})}
    assert fields(obj(a=base | {"x-kubernetes-list-type": "map"})) == [
        f"{P}.properties[a].x-kubernetes-list-map-keys"]
    assert fields(obj(a=base | {"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["k"]})) == [
        f"{P}.properties[a].items.properties[k]"]  # a key must be required or defaulted
    assert fields(obj(a=base | {"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["nope"]})) == [
        f"{P}.properties[a].x-kubernetes-list-map-keys"]
    assert fields(obj(a=base | {"x-kubernetes-list-map-keys": ["k"]})) == [f"{P}.properties[a].x-kubernetes-list-type"]
    assert fields(obj(a=base | {"x-kubernetes-list-type": "set"})) == [f"{P}.properties[a].items.type"]
    assert fields(obj(a=base | {"x-kubernetes-list-type": "bag"})) == [f"{P}.properties[a].x-kubernetes-list-type"]


def test_defaults_must_validate_and_patterns_compile() -> None:
    assert causes(obj(a={"type": "integer", "default": "x"})) == [
        ("FieldValueTypeInvalid", f"{P}.properties[a].default",
         'Invalid value: "string": body must be of type integer: "string"')]
    assert fields(obj(a={"type": "object", "properties": {"b": {"type": "integer"}}, "default": {"b": "x"}})) == [
        f"{P}.properties[a].default.b"]
    assert fields(obj(a={"type": "string", "pattern": "(["})) == [f"{P}.properties[a].pattern"]
    assert fields(obj(a={"type": "string", "default": None})) == [f"{P}.properties[a].default"]


def test_cel_rules_must_compile() -> None:
    good = obj(a={"type": "integer", "x-kubernetes-validations": [{"rule": "self > 0", "message": "positive"}]})
    assert causes(good) == []
    bad = obj(a={"type": "integer", "x-kubernetes-validations": [{"rule": "self >"}, {"message": "m"},
                                                                  {"rule": "true", "reason": "Nope"}]})
    assert fields(bad) == [f"{P}.properties[a].x-kubernetes-validations[0].rule",
                           f"{P}.properties[a].x-kubernetes-validations[1].rule",
                           f"{P}.properties[a].x-kubernetes-validations[2].reason"]
    assert "compilation failed" in causes(bad)[0][2]


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.sampled_from(["object", "array", "string", "integer", "x"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(
        ["type", "properties", "items", "additionalProperties", "default", "x-kubernetes-list-type",
         "x-kubernetes-list-map-keys", "required", "metadata", "pattern", "x-kubernetes-validations", "a"]),
        inner, max_size=4),
    max_leaves=15,
)


@settings(max_examples=200, deadline=None)
@given(schema=JSON)
def test_never_raises(schema: Any) -> None:
    check_schema(schema, P)


def test_patterns_are_re2() -> None:
    # Go's regexp (RE2) has no look-behind or back-references: upstream rejects these patterns.
    assert fields(obj(a={"type": "string", "pattern": "(?<=a)b"})) == [f"{P}.properties[a].pattern"]
    assert fields(obj(a={"type": "string", "pattern": r"(a)\1"})) == [f"{P}.properties[a].pattern"]
    assert causes(obj(a={"type": "string", "pattern": r"^\d{3}-[a-z]+$"})) == []


def test_transition_rules_need_a_correlatable_node() -> None:
    rule = {"x-kubernetes-validations": [{"rule": "self == oldSelf"}]}
    item = {"type": "object", "properties": {"k": {"type": "string"}}, "required": ["k"], **rule}
    listed = obj(a={"type": "array", "items": item})
    assert causes(listed) == [("FieldValueInvalid", f"{P}.properties[a].items.x-kubernetes-validations[0].rule",
                               'Invalid value: "self == oldSelf": oldSelf cannot be used on the uncorrelatable '
                               "portion of the schema")]
    keyed = obj(a={"type": "array", "items": item, "x-kubernetes-list-type": "map",
                   "x-kubernetes-list-map-keys": ["k"]})
    assert causes(keyed) == []
    assert causes(obj(m={"type": "object", "additionalProperties": {"type": "string", **rule}})) == []
