"""Differential test of the duplicate-key check of write bodies: ``_json_without_duplicates`` (orjson round
trip first, then the full scan) against the full scan alone (``_scan_without_duplicates``), on JSON texts
with and without repeated keys, in compact orjson form and in other spellings (spaces, escapes, numbers)."""

from __future__ import annotations

import json
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from sampan.apiserver.handlers.writeopts import _json_without_duplicates, _scan_without_duplicates

KEYS = st.sampled_from(["a", "b", "kind", "metadata", "spec", "é", "a\"b", "<x>", "renewTime"])
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
                    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=8))


def members(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """An object as a list of (key, value) members, keys possibly repeated; or an array."""
    return st.one_of(st.lists(st.tuples(KEYS, children), max_size=5).map(lambda m: ("obj", m)),
                     st.lists(children, max_size=4).map(lambda a: ("arr", a)))


TREES = st.recursive(SCALARS, members, max_leaves=20)


def render(node: Any, *, compact: bool, ascii_only: bool) -> str:
    sep, colon = ("," , ":") if compact else (", ", ": ")
    if isinstance(node, tuple) and node and node[0] == "obj":
        inner = sep.join(json.dumps(k, ensure_ascii=ascii_only) + colon + render(v, compact=compact,
                                                                                 ascii_only=ascii_only)
                         for k, v in node[1])
        return "{" + inner + "}"
    if isinstance(node, tuple) and node and node[0] == "arr":
        return "[" + sep.join(render(v, compact=compact, ascii_only=ascii_only) for v in node[1]) + "]"
    return json.dumps(node, ensure_ascii=ascii_only)


def plain(node: Any) -> Any:
    """The tree as Python values (later members win, as a decoder would keep them)."""
    if isinstance(node, tuple) and node and node[0] == "obj":
        return {k: plain(v) for k, v in node[1]}
    if isinstance(node, tuple) and node and node[0] == "arr":
        return [plain(v) for v in node[1]]
    return node


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(KEYS, TREES), max_size=6), st.booleans(), st.booleans())
def test_fast_check_agrees_with_the_full_scan(top: list[tuple[str, Any]], compact: bool, ascii_only: bool) -> None:
    raw = render(("obj", top), compact=compact, ascii_only=ascii_only).encode()
    assert _json_without_duplicates(raw) == _scan_without_duplicates(raw)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(KEYS, TREES), max_size=6))
def test_orjson_bodies_take_the_round_trip(top: list[tuple[str, Any]]) -> None:
    """What an orjson client sends (a dict encoded: no duplicates) is accepted, as the scan accepts it."""
    try:
        raw = orjson.dumps(plain(("obj", top)))
    except TypeError:  # an integer orjson does not write
        return
    assert _json_without_duplicates(raw)
    assert _scan_without_duplicates(raw)


def test_examples() -> None:
    assert _json_without_duplicates(b'{"a":1,"b":{"c":2}}')
    assert not _json_without_duplicates(b'{"a":1,"a":1}')  # the round trip differs: the scan decides
    assert not _json_without_duplicates(b'{"a":{"b":1,"b":2}}')
    assert _json_without_duplicates(b'{"a": 1}')  # spaces: the scan decides, and finds none
    assert not _json_without_duplicates(b"a: 1")
    assert not _json_without_duplicates(b"[1]")
    assert _json_without_duplicates(b'{"n":123456789012345678901234567890}')  # beyond orjson: the scan
