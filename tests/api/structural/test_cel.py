"""CEL validation rules (x-kubernetes-validations) on custom objects, with celpy."""

from __future__ import annotations

from typing import Any

from sampan.api import structural
from sampan.api.errors import Cause
from sampan.api.structural import cel

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "spec": {
            "type": "object",
            "x-kubernetes-validations": [
                {"rule": "self.min <= self.max", "message": "min must not exceed max"},
                {"rule": "!has(self.secret) || self.secret.size() > 3", "messageExpression":
                 "'secret too short: ' + string(self.secret.size())", "fieldPath": ".secret"},
                {"rule": "self.mode == oldSelf.mode", "message": "mode is immutable", "reason": "FieldValueForbidden"},
            ],
            "properties": {
                "min": {"type": "integer"},
                "max": {"type": "integer"},
                "secret": {"type": "string"},
                "mode": {"type": "string"},
                "items": {
                    "type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
                    "items": {"type": "object", "required": ["name"],
                              "x-kubernetes-validations": [{"rule": "self.value >= oldSelf.value",
                                                            "message": "value may only grow"}],
                              "properties": {"name": {"type": "string"}, "value": {"type": "integer"}}},
                },
                "tags": {"type": "array", "items": {"type": "string"},
                         "x-kubernetes-validations": [{"rule": "self.all(t, t.startsWith('x-'))"}]},
            },
        },
    },
}


def run(spec: dict[str, Any], old: dict[str, Any] | None = None) -> list[tuple[str, str, str]]:
    obj = {"spec": spec}
    found = cel.evaluate(obj, SCHEMA) if old is None else cel.evaluate(obj, SCHEMA, {"spec": old})
    return [(c.type, c.field, c.message) for c in found]


def test_passing_rules() -> None:
    assert run({"min": 1, "max": 2, "mode": "a", "tags": ["x-a"]}) == []


def test_message_and_default_message() -> None:
    assert run({"min": 3, "max": 2}) == [
        ("FieldValueInvalid", "spec", 'Invalid value: "object": min must not exceed max')]
    assert run({"min": 1, "max": 2, "tags": ["y"]}) == [
        ("FieldValueInvalid", "spec.tags", "Invalid value: \"array\": failed rule: self.all(t, t.startsWith('x-'))")]


def test_message_expression_and_field_path() -> None:
    assert run({"min": 1, "max": 2, "secret": "ab"}) == [
        ("FieldValueInvalid", "spec.secret", 'Invalid value: "object": secret too short: 2')]


def test_transition_rules_only_on_update_with_correlated_old() -> None:
    assert run({"min": 1, "max": 2, "mode": "b"}) == []  # create: no oldSelf, rule skipped
    assert run({"min": 1, "max": 2, "mode": "b"}, {"min": 1, "max": 2, "mode": "a"}) == [
        ("FieldValueForbidden", "spec", "Forbidden: mode is immutable")]
    old = {"min": 1, "max": 2, "mode": "a", "items": [{"name": "a", "value": 5}, {"name": "b", "value": 1}]}
    new = {"min": 1, "max": 2, "mode": "a", "items": [{"name": "b", "value": 0}, {"name": "a", "value": 6},
                                                      {"name": "c", "value": 0}]}
    assert run(new, old) == [("FieldValueInvalid", "spec.items[0]", 'Invalid value: "object": value may only grow')]


def test_evaluation_errors_fail_the_rule() -> None:
    found = run({"max": 2})  # self.min is absent: a CEL "no such key" error
    assert len(found) == 1
    assert found[0][1] == "spec"
    assert found[0][2] == 'Invalid value: "object": no such key: min evaluating rule: self.min <= self.max'


def test_evaluation_errors_use_cel_go_wording() -> None:
    def error_of(rule: str, value: dict[str, Any]) -> str:
        schema = {"type": "object", "x-kubernetes-validations": [{"rule": rule}],
                  "properties": {k: {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
                                 for k in value}}
        [cause] = cel.evaluate(value, schema)
        return cause.message.removeprefix('Invalid value: "object": ')

    assert error_of("self.m['k'] == 1", {"m": {}}) == "no such key: k evaluating rule: self.m['k'] == 1"
    assert error_of("self.m.a / self.m.b > 0", {"m": {"a": 1, "b": 0}}).startswith("division by zero evaluating")
    assert error_of("self.m.a + 9223372036854775807 > 0", {"m": {"a": 1}}).startswith("integer overflow evaluating")


def test_validate_runs_schema_and_rules() -> None:
    found = structural.validate({"spec": {"min": 2, "max": 1, "secret": "ab"}}, SCHEMA)
    assert [c.field for c in found] == ["spec", "spec.secret"]


def test_blocking_causes_skip_the_rules_as_upstream() -> None:
    """A wrong type (or a missing, unsupported, too long or too many value) stops the CEL rules, which
    would otherwise fail on it with an evaluation error: upstream's field-less note stands for them."""
    note = ("<nil>", 'Invalid value: "null": some validation rules were not checked because the object was '
                     "invalid; correct the existing errors to complete validation")
    found = structural.validate({"spec": {"min": "x", "max": 1}}, SCHEMA)
    assert [(c.field, c.message) for c in found][1:] == [note]
    assert found[0].type == "FieldValueTypeInvalid"
    required = structural.validate({"spec": {"min": 2, "max": 1}}, SCHEMA,
                                   earlier=[Cause("FieldValueRequired", "metadata.name", "Required value")])
    assert [(c.field, c.message) for c in required] == [note]
    assert structural.validate({"spec": {"min": "x"}}, {"type": "object", "properties": {
        "spec": {"type": "object", "properties": {"min": {"type": "integer"}}}}})[-1].field == "spec.min"


def test_compile_cache_and_errors() -> None:
    assert cel.compile_error("self.a == 1") is None
    assert cel.compile_error("self.a ==") is not None
    assert cel.has_rules(SCHEMA)
    assert not cel.has_rules({"type": "object", "properties": {"a": {"type": "string"}}})


def test_root_self_sees_only_name_and_generate_name() -> None:
    schema = {"type": "object", "x-kubernetes-validations": [
        {"rule": "self.metadata.name.startsWith('w-')", "message": "name must start with w-"},
        {"rule": "!has(self.metadata.labels)", "message": "labels are not visible to CEL"}]}
    obj = {"metadata": {"name": "x", "labels": {"a": "b"}}}
    assert [c.message for c in structural.validate(obj, schema)] == [
        'Invalid value: "object": name must start with w-']
