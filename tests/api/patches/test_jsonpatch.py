"""JSON patch (RFC 6902): every operation, pointer escaping, upstream's error codes, purity, round trips."""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sampan.api.errors import BadRequest, Invalid, RequestEntityTooLarge
from sampan.api.patches import apply_json_patch, create_json_patch
from sampan.api.patches.jsonpatch import GENERIC_422, PatchNotApplied, format_pointer, parse_pointer

DOC = {"metadata": {"name": "web", "labels": {"app": "web"}}, "spec": {"items": ["a", "b", "c"]}}

CASES: list[tuple[str, list[dict[str, Any]], Any]] = [
    ("add member", [{"op": "add", "path": "/metadata/labels/tier", "value": "fe"}],
     {"metadata": {"name": "web", "labels": {"app": "web", "tier": "fe"}}, "spec": {"items": ["a", "b", "c"]}}),
    ("add replaces existing member", [{"op": "add", "path": "/metadata/name", "value": "api"}],
     {"metadata": {"name": "api", "labels": {"app": "web"}}, "spec": {"items": ["a", "b", "c"]}}),
    ("add inserts into array", [{"op": "add", "path": "/spec/items/1", "value": "x"}],
     {"metadata": DOC["metadata"], "spec": {"items": ["a", "x", "b", "c"]}}),
    ("add at array end by index", [{"op": "add", "path": "/spec/items/3", "value": "x"}],
     {"metadata": DOC["metadata"], "spec": {"items": ["a", "b", "c", "x"]}}),
    ("add appends with dash", [{"op": "add", "path": "/spec/items/-", "value": {"k": 1}}],
     {"metadata": DOC["metadata"], "spec": {"items": ["a", "b", "c", {"k": 1}]}}),
    ("remove member", [{"op": "remove", "path": "/metadata/labels"}],
     {"metadata": {"name": "web"}, "spec": {"items": ["a", "b", "c"]}}),
    ("remove array element", [{"op": "remove", "path": "/spec/items/0"}],
     {"metadata": DOC["metadata"], "spec": {"items": ["b", "c"]}}),
    ("replace", [{"op": "replace", "path": "/spec/items/2", "value": None}],
     {"metadata": DOC["metadata"], "spec": {"items": ["a", "b", None]}}),
    ("move", [{"op": "move", "from": "/metadata/labels/app", "path": "/metadata/labels/name"}],
     {"metadata": {"name": "web", "labels": {"name": "web"}}, "spec": {"items": ["a", "b", "c"]}}),
    ("move within array", [{"op": "move", "from": "/spec/items/0", "path": "/spec/items/-"}],
     {"metadata": DOC["metadata"], "spec": {"items": ["b", "c", "a"]}}),
    ("copy", [{"op": "copy", "from": "/spec/items", "path": "/spec/more"}],
     {"metadata": DOC["metadata"], "spec": {"items": ["a", "b", "c"], "more": ["a", "b", "c"]}}),
    ("test then change", [{"op": "test", "path": "/metadata/name", "value": "web"},
                          {"op": "replace", "path": "/metadata/name", "value": "w2"}],
     {"metadata": {"name": "w2", "labels": {"app": "web"}}, "spec": {"items": ["a", "b", "c"]}}),
    ("test null on absent member passes (upstream)", [{"op": "test", "path": "/status", "value": None}], DOC),
    ("replace whole document", [{"op": "replace", "path": "", "value": {"x": 1}}], {"x": 1}),
]


@pytest.mark.parametrize(("name", "patch", "expected"), CASES, ids=[c[0] for c in CASES])
def test_operations(name: str, patch: list[dict[str, Any]], expected: Any) -> None:
    before = copy.deepcopy(DOC)
    assert apply_json_patch(DOC, orjson.dumps(patch)) == expected
    assert apply_json_patch(DOC, patch) == expected
    assert before == DOC, "the input was mutated"


def test_pointer_escapes() -> None:
    assert parse_pointer("/a~1b/c~0d/~01") == ("a/b", "c~d", "~1")
    assert format_pointer(("a/b", "c~d", "~1")) == "/a~1b/c~0d/~01"
    obj = {"metadata": {"annotations": {}}}
    patched = apply_json_patch(obj, [{"op": "add", "path": "/metadata/annotations/example.com~1x~0y", "value": "1"}])
    assert patched == {"metadata": {"annotations": {"example.com/x~y": "1"}}}


@pytest.mark.parametrize(
    "patch",
    [
        [{"op": "test", "path": "/metadata/name", "value": "other"}],
        [{"op": "test", "path": "/spec/items/0", "value": 1}],
        [{"op": "test", "path": "/spec/nothing", "value": "x"}],
        [{"op": "remove", "path": "/metadata/missing"}],
        [{"op": "replace", "path": "/metadata/missing", "value": 1}],
        [{"op": "add", "path": "/nope/deeper", "value": 1}],
        [{"op": "add", "path": "/spec/items/9", "value": 1}],
        [{"op": "add", "path": "/spec/items/01", "value": 1}],
        [{"op": "remove", "path": "/spec/items/-"}],
        [{"op": "move", "from": "/metadata", "path": "/metadata/labels/x"}],
        [{"op": "copy", "from": "/nothing", "path": "/x"}],
        [{"op": "add", "path": "/metadata/name/x", "value": 1}],
    ],
)
def test_operation_that_does_not_apply_is_422_as_upstream(patch: list[dict[str, Any]]) -> None:
    with pytest.raises(PatchNotApplied) as info:
        apply_json_patch(DOC, patch)
    err = info.value
    assert isinstance(err, Invalid)
    assert err.code == 422
    assert err.message == GENERIC_422
    assert err.to_status()["reason"] == "Invalid"
    assert err.detail  # the precise reason is kept for logs


def test_test_distinguishes_booleans_from_numbers() -> None:
    with pytest.raises(PatchNotApplied):
        apply_json_patch({"a": True}, [{"op": "test", "path": "/a", "value": 1}])
    assert apply_json_patch({"a": 1}, [{"op": "test", "path": "/a", "value": 1.0}]) == {"a": 1}


def test_failed_patch_leaves_input_untouched() -> None:
    before = copy.deepcopy(DOC)
    with pytest.raises(PatchNotApplied):
        apply_json_patch(DOC, [{"op": "remove", "path": "/metadata/labels"}, {"op": "test", "path": "/x", "value": 1}])
    assert before == DOC


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"not json", "error decoding JSON patch"),
        (b"", "empty"),
        (b'{"op": "add"}', "expected an array"),
        (b"[1]", "expected an object"),
        (b'[{"op": "frob", "path": "/a"}]', "unsupported op"),
        (b'[{"op": "add", "value": 1}]', '"path"'),
        (b'[{"op": "add", "path": "/a"}]', '"value"'),
        (b'[{"op": "move", "path": "/a"}]', '"from"'),
        (b'[{"op": "remove", "path": "a"}]', "must be empty or start with '/'"),
        (b'[{"op": "remove", "path": "/a~2"}]', "invalid escape"),
    ],
)
def test_malformed_patch_is_400(body: bytes, fragment: str) -> None:
    with pytest.raises(BadRequest) as info:
        apply_json_patch(DOC, body)
    assert info.value.code == 400
    assert fragment in info.value.message


def test_too_many_operations_is_413() -> None:
    patch = [{"op": "test", "path": "/metadata/name", "value": "web"}] * 10001
    with pytest.raises(RequestEntityTooLarge) as info:
        apply_json_patch(DOC, patch)
    assert info.value.message == "The allowed maximum operations in a JSON patch is 10000, got 10001"


json_scalars = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=6)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=20,
)
json_objects = st.dictionaries(st.text(max_size=5), json_values, max_size=5)


@given(json_objects, json_objects)
def test_created_patch_round_trips(a: dict[str, Any], b: dict[str, Any]) -> None:
    patch = create_json_patch(a, b)
    assert apply_json_patch(a, orjson.dumps(patch)) == b
    assert apply_json_patch(a, patch) == b


@given(json_objects)
def test_add_then_remove_round_trips(a: dict[str, Any]) -> None:
    patch = [{"op": "add", "path": "/~1new~0key", "value": [1, 2]}, {"op": "remove", "path": "/~1new~0key"}]
    if "/new~key" not in a:
        assert apply_json_patch(a, patch) == a
