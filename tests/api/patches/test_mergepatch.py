"""JSON merge patch (RFC 7386): the RFC's examples, errors, purity, and the create/apply round trip."""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sampan.api.errors import BadRequest
from sampan.api.patches import apply_merge_patch, create_merge_patch

# RFC 7386 appendix A, restated over objects (a Kubernetes patch target is always an object).
RFC_CASES: list[tuple[dict[str, Any], dict[str, Any], dict[str, Any]]] = [
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
    ({"a": {"b": 1}}, {"a": {}}, {"a": {"b": 1}}),
]


@pytest.mark.parametrize(("target", "patch", "expected"), RFC_CASES)
def test_rfc_examples(target: dict[str, Any], patch: dict[str, Any], expected: dict[str, Any]) -> None:
    before = copy.deepcopy(target)
    assert apply_merge_patch(target, patch) == expected
    assert apply_merge_patch(target, orjson.dumps(patch)) == expected
    assert target == before


def test_labels_patch_like_kubectl_label() -> None:
    pod = {"metadata": {"name": "p", "labels": {"a": "1", "b": "2"}}, "spec": {"containers": [{"name": "c"}]}}
    patched = apply_merge_patch(pod, b'{"metadata":{"labels":{"a":null,"c":"3"}}}')
    assert patched["metadata"]["labels"] == {"b": "2", "c": "3"}
    assert patched["spec"] == pod["spec"]
    assert patched["spec"] is not pod["spec"]


@pytest.mark.parametrize(("body", "fragment"), [(b"[1]", "expected a JSON object"), (b"{", "error decoding"),
                                                (b'"x"', "expected a JSON object"), (b"  ", "empty")])
def test_bad_merge_patch_is_400(body: bytes, fragment: str) -> None:
    with pytest.raises(BadRequest) as info:
        apply_merge_patch({"a": 1}, body)
    assert fragment in info.value.message


def test_result_shares_nothing_with_the_patch() -> None:
    patch = {"a": {"b": [1, 2]}}
    result = apply_merge_patch({}, patch)
    result["a"]["b"].append(3)
    assert patch == {"a": {"b": [1, 2]}}


# Values without null: a merge patch cannot express "set to null".
scalars = st.booleans() | st.integers(-1000, 1000) | st.text(max_size=4)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from("abcde"), inner, max_size=4),
    max_leaves=15,
)
objects = st.dictionaries(st.sampled_from("abcdefg"), values, max_size=6)


@given(objects, objects)
def test_applying_the_created_patch_yields_the_second_object(a: dict[str, Any], b: dict[str, Any]) -> None:
    patch = create_merge_patch(a, b)
    assert apply_merge_patch(a, patch) == b
    assert apply_merge_patch(a, orjson.dumps(patch)) == b


@given(objects)
def test_patch_between_equal_objects_is_empty(a: dict[str, Any]) -> None:
    assert create_merge_patch(a, copy.deepcopy(a)) == {}
