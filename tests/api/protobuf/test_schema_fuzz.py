"""Hypothesis over the whole schema: a random JSON object of any kind, built from the kind's own
table, survives JSON -> protobuf -> JSON (up to Go's zero values) and the decoded form is a fixed
point. Covers every field of every message reachable from a kind, not only hand-picked objects."""

from __future__ import annotations

import base64
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sampan.api import protobuf as pb
from sampan.api.protobuf.schema import SCHEMA, Field, Message
from sampan.api.protobuf.schema_table import KINDS
from sampan.api.protobuf.wellknown import format_duration, format_time

from .jsoncompare import differences

MAX_DEPTH = 5
_SECONDS = st.integers(-62135596800 + 1, 253402300799)
_JSON = st.recursive(st.none() | st.booleans() | st.integers(-1000, 1000) | st.text(max_size=4),
                     lambda inner: st.dictionaries(st.text(max_size=4), inner, max_size=2), max_leaves=4)
_SPECIAL: dict[str, st.SearchStrategy[Any]] = {
    "meta/v1.Time": _SECONDS.map(format_time),
    "meta/v1.MicroTime": st.tuples(_SECONDS, st.integers(0, 999_999)).map(lambda t: format_time(t[0], t[1])),
    "meta/v1.Duration": st.integers(-(2**63), 2**63 - 1).map(format_duration),
    "meta/v1.FieldsV1": st.dictionaries(st.text(max_size=6), st.just({}), max_size=3),
    "resource.Quantity": st.sampled_from(["0", "1", "250m", "1.5Gi", "100M", "1e3"]),
    "resource.QuantityValue": st.sampled_from(["0", "2"]),
    "intstr.IntOrString": st.integers(-(2**31), 2**31 - 1) | st.text(max_size=5),
    "runtime.RawExtension": st.dictionaries(st.text(max_size=4), _JSON, max_size=2),
}
_SCALAR: dict[str, st.SearchStrategy[Any]] = {
    "string": st.text(max_size=6),
    "bool": st.booleans(),
    "int32": st.integers(-(2**31), 2**31 - 1),
    "int64": st.integers(-(2**63), 2**63 - 1),
    "bytes": st.binary(max_size=6).map(lambda b: base64.b64encode(b).decode()),
}
_CACHE: dict[tuple[str, int], st.SearchStrategy[Any]] = {}


def _value(f: Field, depth: int) -> st.SearchStrategy[Any]:
    one = _message(f.message, depth + 1) if f.message is not None else _SCALAR[f.type]
    if f.label == "rep":
        return st.lists(one, max_size=2)
    if f.label == "map":
        return st.dictionaries(st.text(max_size=5), one, max_size=2)
    return one


def _message(msg: Message, depth: int) -> st.SearchStrategy[Any]:
    key = (msg.name, depth)
    if key not in _CACHE:
        if msg.name in _SPECIAL:
            _CACHE[key] = _SPECIAL[msg.name]
        elif msg.wrapper:
            _CACHE[key] = st.lists(st.text(max_size=4), min_size=1, max_size=2)
        elif depth > MAX_DEPTH:
            _CACHE[key] = st.just({})
        else:
            plain = {f.json: _value(f, depth) for f in msg.fields if not f.inline}
            inline = [_message(f.message, depth) for f in msg.fields if f.inline and f.message is not None]
            _CACHE[key] = st.tuples(st.fixed_dictionaries({}, optional=plain), *inline).map(_merge)
    return _CACHE[key]


def _merge(parts: tuple[dict[str, Any], ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for part in parts:
        out.update(part)
    return out


KIND_KEYS = sorted(KINDS)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.sampled_from(KIND_KEYS), st.data())
def test_random_objects_of_every_kind_round_trip(kind_key: str, data: st.DataObject) -> None:
    api_version, kind = kind_key.split(" ")
    body = data.draw(_message(SCHEMA[KINDS[kind_key]], 0))
    obj = {"kind": kind, "apiVersion": api_version, **body}
    encoded = pb.encode(obj)
    decoded = pb.decode(encoded)
    assert differences(obj, decoded) == []
    assert pb.encode(decoded) == encoded
