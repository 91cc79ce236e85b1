"""Schema validation of custom objects: upstream paths, reasons and wording."""

from __future__ import annotations

from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from sampan.api.structural import values

WIDGET: dict[str, Any] = {
    "type": "object",
    "properties": {
        "spec": {
            "type": "object",
            "required": ["size"],
            "properties": {
                "size": {"type": "integer", "minimum": 1, "maximum": 10},
                "ratio": {"type": "number", "exclusiveMinimum": True, "minimum": 0,
                          "exclusiveMaximum": True, "maximum": 1},
                "color": {"type": "string", "enum": ["red", "blue"]},
                "name": {"type": "string", "minLength": 2, "maxLength": 5, "pattern": "^[a-z]+$"},
                "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 2,
                         "x-kubernetes-list-type": "set"},
                "ports": {"type": "array", "x-kubernetes-list-type": "map",
                          "x-kubernetes-list-map-keys": ["port", "protocol"],
                          "items": {"type": "object", "required": ["port"],
                                    "properties": {"port": {"type": "integer"},
                                                   "protocol": {"type": "string", "default": "TCP"}}}},
                "port": {"x-kubernetes-int-or-string": True},
                "note": {"type": "string", "nullable": True},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "raw": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                "template": {"type": "object", "x-kubernetes-embedded-resource": True,
                             "x-kubernetes-preserve-unknown-fields": True},
                "when": {"type": "string", "format": "date-time"},
                "id": {"type": "string", "format": "uuid"},
                "even": {"type": "integer", "multipleOf": 2},
            },
        },
    },
}


def check(spec: dict[str, Any]) -> list[tuple[str, str, str]]:
    obj = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": spec}
    return [(c.type, c.field, c.message) for c in values.validate(obj, WIDGET)]


def test_valid_object_has_no_causes() -> None:
    assert check({"size": 3, "ratio": 0.5, "color": "red", "name": "abc", "tags": ["a"], "port": "http",
                  "note": None, "labels": {"a": "b"}, "raw": {"anything": [1, {"x": None}]},
                  "template": {"apiVersion": "v1", "kind": "Pod", "metadata": {"labels": {"a": "b"}}},
                  "when": "2024-01-02T03:04:05Z", "id": "9b2e3c4d-1a2b-4c3d-8e9f-0a1b2c3d4e5f", "even": 4,
                  "ports": [{"port": 80, "protocol": "TCP"}, {"port": 80, "protocol": "UDP"}]}) == []


def test_type_errors_use_kube_openapi_wording() -> None:
    assert check({"size": "three"}) == [(
        "FieldValueTypeInvalid", "spec.size",
        'Invalid value: "string": spec.size in body must be of type integer: "string"',
    )]
    assert check({"size": 1, "note": 5})[0][2].endswith('spec.note in body must be of type string: "integer"')
    assert check({"size": 1.0}) == []  # an integral number is an integer, as in Go's JSON decoding
    assert check({"size": True})[0][0] == "FieldValueTypeInvalid"


def test_required_and_null() -> None:
    assert check({}) == [("FieldValueRequired", "spec.size", "Required value")]
    causes = check({"size": 1, "color": None})
    assert causes == [("FieldValueTypeInvalid", "spec.color",
                       'Invalid value: "null": spec.color in body must be of type string: "null"')]


def test_enum_min_max_lengths_pattern() -> None:
    causes = {c[1]: c[2] for c in check({"size": 11, "color": "green", "name": "ABCDEFG", "ratio": 1})}
    assert causes["spec.size"] == "Invalid value: 11: spec.size in body should be less than or equal to 10"
    assert causes["spec.color"] == 'Unsupported value: "green": supported values: "red", "blue"'
    assert causes["spec.ratio"] == "Invalid value: 1: spec.ratio in body should be less than 1"
    name = [c for c in check({"size": 1, "name": "ABCDEFG"}) if c[1] == "spec.name"]
    assert ("FieldValueTooLong", "spec.name", "Too long: may not be more than 5 bytes") in name
    assert ("FieldValueInvalid", "spec.name",
            "Invalid value: \"ABCDEFG\": spec.name in body should match '^[a-z]+$'") in name
    assert check({"size": 0})[0][2] == "Invalid value: 0: spec.size in body should be greater than or equal to 1"
    assert check({"size": 1, "ratio": 0})[0][2] == "Invalid value: 0: spec.ratio in body should be greater than 0"
    assert check({"size": 1, "name": "a"})[0][2] == (
        'Invalid value: "a": spec.name in body should be at least 2 chars long')
    assert check({"size": 1, "even": 3})[0][2] == "Invalid value: 3: spec.even in body should be a multiple of 2"


def test_arrays_sets_and_maps() -> None:
    assert check({"size": 1, "tags": []})[0][2] == "Invalid value: 0: spec.tags in body should have at least 1 items"
    assert check({"size": 1, "tags": ["a", "b", "c"]})[0] == (
        "FieldValueTooMany", "spec.tags", "Too many: 3: must have at most 2 items")
    assert check({"size": 1, "tags": ["a", "a"]}) == [("FieldValueDuplicate", "spec.tags[1]", 'Duplicate value: "a"')]
    assert check({"size": 1, "tags": ["a", 1]}) == [
        ("FieldValueTypeInvalid", "spec.tags[1]", 'Invalid value: "integer": spec.tags[1] in body must be of type '
         'string: "integer"')]
    dup = check({"size": 1, "ports": [{"port": 80, "protocol": "TCP"}, {"port": 80, "protocol": "TCP"}]})
    assert dup == [("FieldValueDuplicate", "spec.ports[1]", 'Duplicate value: {"port":80,"protocol":"TCP"}')]
    assert check({"size": 1, "ports": [{"protocol": "TCP"}]}) == [
        ("FieldValueRequired", "spec.ports[0].port", "Required value")]


def test_int_or_string_maps_and_embedded() -> None:
    assert check({"size": 1, "port": 8080}) == []
    assert check({"size": 1, "port": [1]})[0][2].endswith('must be of type integer or string: "array"')
    assert check({"size": 1, "labels": {"a": 1}})[0][1] == "spec.labels.a"
    causes = check({"size": 1, "template": {"metadata": {"labels": {"-bad": "x"}}}})
    fields = [c[1] for c in causes]
    assert "spec.template.apiVersion" in fields
    assert "spec.template.kind" in fields
    assert "spec.template.metadata.labels" in fields


def test_formats() -> None:
    assert check({"size": 1, "when": "yesterday"})[0][2] == (
        'Invalid value: "yesterday": spec.when in body must be of type date-time: "yesterday"')
    assert check({"size": 1, "id": "not-a-uuid"})[0][1] == "spec.id"


def test_combinators() -> None:
    schema = {"type": "object", "properties": {"v": {"anyOf": [{"type": "integer"}, {"type": "string"}],
                                                     "x-kubernetes-int-or-string": True,
                                                     "not": {"enum": ["bad"]}}}}
    assert values.validate({"v": 1}, schema) == []
    msgs = [c.message for c in values.validate({"v": "bad"}, schema)]
    assert msgs == ['Invalid value: "bad": v in body must not validate the schema (not)']


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=10,
)


@settings(max_examples=150, deadline=None)
@given(value=JSON, schema=JSON)
@example(value=0, schema={"allOf": True})
@example(value=0, schema={"anyOf": "x", "oneOf": 1})
def test_never_raises_on_junk(value: Any, schema: Any) -> None:
    values.validate(value, schema)
    values.validate({"spec": value}, WIDGET)


@settings(max_examples=100, deadline=None)
@given(size=st.integers(1, 10), tags=st.lists(st.text(min_size=1, max_size=3), min_size=1, max_size=2, unique=True))
def test_valid_values_pass(size: int, tags: list[str]) -> None:
    assert check({"size": size, "tags": tags}) == []
