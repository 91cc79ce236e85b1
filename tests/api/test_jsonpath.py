"""The JSONPath subset of printer columns, scale paths and selectable fields."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sampan.api.jsonpath import JSONPathError, compile_path

DOC: dict[str, Any] = {
    "spec": {"replicas": 3, "a.b": "dotted", "list": [10, 20, 30], "flag": False},
    "status": {"conditions": [{"type": "Ready", "status": "True", "n": 2},
                              {"type": "Synced", "status": "False", "n": 5}]},
}


@pytest.mark.parametrize(("path", "expected"), [
    (".spec.replicas", [3]),
    ("{.spec.replicas}", [3]),
    ("$.spec.replicas", [3]),
    (".spec.missing", []),
    (".spec.list[1]", [20]),
    (".spec.list[-1]", [30]),
    (".spec.list[5]", []),
    (".spec.list[*]", [10, 20, 30]),
    (".spec.list[0:2]", [10, 20]),
    (".spec['a.b']", ["dotted"]),
    (".spec.flag", [False]),
    ('.status.conditions[?(@.type=="Ready")].status', ["True"]),
    (".status.conditions[?(@.type=='Synced')].status", ["False"]),
    (".status.conditions[?(@.n > 3)].type", ["Synced"]),
    (".status.conditions[?(@.n != 2)].type", ["Synced"]),
    (".status.conditions[?(@.missing)].type", []),
    (".status.conditions[*].type", ["Ready", "Synced"]),
    ("..type", ["Ready", "Synced"]),
])
def test_find(path: str, expected: list[Any]) -> None:
    assert compile_path(path).find(DOC) == expected


@pytest.mark.parametrize("bad", ["", "spec.x", ".spec[", ".spec[?(x)]", ".spec.[1]", ".spec[a b]",
                                 ".a[?(@.b == )]"])
def test_rejects_unsupported(bad: str) -> None:
    with pytest.raises(JSONPathError):
        compile_path(bad)


def test_first() -> None:
    assert compile_path(".spec.list[*]").first(DOC) == 10
    assert compile_path(".nope").first(DOC) is None


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=3),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(["spec", "type", "a", "n"]),
                                                                 inner, max_size=3),
    max_leaves=10,
)


@settings(max_examples=200, deadline=None)
@given(doc=JSON)
def test_never_raises_on_any_document(doc: Any) -> None:
    for path in (".spec.a", ".spec[0]", ".a[*].n", '.a[?(@.type=="x")].n', "..n", ".a[?(@.n < 3)]"):
        compile_path(path).find(doc)
