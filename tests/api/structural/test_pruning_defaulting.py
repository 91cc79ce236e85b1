"""Pruning and defaulting from structural schemas, as upstream's handler applies them."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from sampan.api import structural
from sampan.api.structural import apply_defaults, prune

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "spec": {
            "type": "object",
            "default": {},
            "properties": {
                "replicas": {"type": "integer", "default": 1},
                "mode": {"type": "string", "default": "fast"},
                "opt": {"type": "string", "nullable": True, "default": "x"},
                "nested": {"type": "object", "default": {}, "properties": {"deep": {"type": "boolean",
                                                                                     "default": True}}},
                "items": {"type": "array", "items": {"type": "object", "properties": {
                    "name": {"type": "string"}, "weight": {"type": "integer", "default": 5}}}},
                "labels": {"type": "object", "additionalProperties": {
                    "type": "object", "properties": {"v": {"type": "string", "default": "d"}}}},
                "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True,
                         "properties": {"known": {"type": "object", "properties": {"a": {"type": "string"}}}}},
                "template": {"type": "object", "x-kubernetes-embedded-resource": True,
                             "properties": {"spec": {"type": "object"}}},
            },
        },
        "status": {"type": "object", "properties": {"ready": {"type": "boolean"}}},
    },
}


def test_prune_drops_unknown_fields_and_keeps_identity() -> None:
    obj = {"apiVersion": "example.com/v1", "kind": "W", "metadata": {"name": "a"}, "junk": 1,
           "spec": {"replicas": 2, "bogus": True, "items": [{"name": "a", "extra": 1}],
                    "free": {"anything": [1], "known": {"a": "x", "b": "y"}},
                    "template": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {},
                                 "extra": 1}},
           "status": {"ready": True, "gone": 1}}
    removed = prune(obj, SCHEMA)
    assert obj == {"apiVersion": "example.com/v1", "kind": "W", "metadata": {"name": "a"},
                   "spec": {"replicas": 2, "items": [{"name": "a"}],
                            "free": {"anything": [1], "known": {"a": "x"}},
                            "template": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {}}},
                   "status": {"ready": True}}
    assert sorted(removed) == ["junk", "spec.bogus", "spec.free.known.b", "spec.items[0].extra",
                               "spec.template.extra", "status.gone"]


def test_defaults_nest_and_fill_absent_or_null() -> None:
    obj: dict[str, Any] = {"metadata": {"name": "a"}}
    apply_defaults(obj, SCHEMA)
    assert obj["spec"] == {"replicas": 1, "mode": "fast", "opt": "x", "nested": {"deep": True}}
    obj = {"spec": {"replicas": None, "opt": None, "items": [{"name": "a"}], "labels": {"k": {}}}}
    apply_defaults(obj, SCHEMA)
    assert obj["spec"]["replicas"] == 1  # null in a non-nullable field takes the default
    assert obj["spec"]["opt"] is None  # nullable: null is a value
    assert obj["spec"]["items"] == [{"name": "a", "weight": 5}]
    assert obj["spec"]["labels"] == {"k": {"v": "d"}}


def test_defaults_are_copies() -> None:
    a: dict[str, Any] = {}
    b: dict[str, Any] = {}
    apply_defaults(a, SCHEMA)
    apply_defaults(b, SCHEMA)
    a["spec"]["nested"]["deep"] = False
    assert b["spec"]["nested"]["deep"] is True
    assert SCHEMA["properties"]["spec"]["properties"]["nested"]["default"] == {}


def test_prepare_prunes_then_defaults() -> None:
    obj: dict[str, Any] = {"spec": {"x": 1}}
    structural.prepare(obj, SCHEMA)
    assert "x" not in obj["spec"]
    assert obj["spec"]["replicas"] == 1


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=4),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(
        ["spec", "status", "replicas", "items", "name", "labels", "free", "x"]), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(value=JSON)
def test_prune_is_idempotent_and_only_removes(value: Any) -> None:
    original = copy.deepcopy(value)
    structural.prepare(value, SCHEMA)
    once = copy.deepcopy(value)
    structural.prepare(value, SCHEMA)
    assert value == once
    if isinstance(original, dict) and isinstance(value, dict):
        assert set(value) <= set(original) | {"spec"}


def test_metadata_schema_never_prunes_object_meta() -> None:
    schema = {"type": "object", "properties": {"metadata": {"type": "object", "properties": {
        "name": {"type": "string", "maxLength": 8}}}}}
    obj = {"metadata": {"name": "a", "labels": {"x": "y"}, "uid": "u"}, "other": 1}
    prune(obj, schema)
    assert obj == {"metadata": {"name": "a", "labels": {"x": "y"}, "uid": "u"}}
