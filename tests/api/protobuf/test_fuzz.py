"""Hypothesis: arbitrary bytes give a dict or one of the documented errors, never anything else; what
decodes re-encodes, and decoding is stable under re-encoding."""

from __future__ import annotations

from pathlib import Path

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sampan.api import protobuf as pb
from sampan.api.protobuf import wire

FIXTURES = sorted((Path(__file__).parent / "fixtures").glob("kubectl-1.33/*.pb"))
SEEDS = [p.read_bytes() for p in FIXTURES] + [pb.encode(
    {"kind": "Pod", "apiVersion": "v1", "metadata": {"name": "p", "creationTimestamp": "2026-01-01T00:00:00Z"},
     "spec": {"containers": [{"name": "c", "livenessProbe": {"httpGet": {"port": "http"}}}]}})]
KINDS = [("v1", "Pod"), ("apps/v1", "Deployment"), ("v1", "Secret"), ("v1", "Node"),
         ("events.k8s.io/v1", "Event"), ("v1", "Status"), ("coordination.k8s.io/v1", "Lease"),
         ("authorization.k8s.io/v1", "SubjectAccessReview"), ("v1", "PodList"), ("meta.k8s.io/v1", "WatchEvent")]


def _envelope(api_version: str, kind: str, raw: bytes) -> bytes:
    type_meta = bytearray()
    wire.write_bytes(type_meta, b"\x0a", api_version.encode())
    wire.write_bytes(type_meta, b"\x12", kind.encode())
    out = bytearray(pb.MAGIC)
    wire.write_bytes(out, b"\x0a", type_meta)
    wire.write_bytes(out, b"\x12", raw)
    return bytes(out)


def _check(body: bytes) -> None:
    try:
        obj = pb.decode(body)
    except (pb.MalformedProtobuf, pb.UnsupportedKind):
        return
    orjson.dumps(obj)  # plain JSON values only
    again = pb.decode(pb.encode(obj))
    assert again == obj


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=200))
def test_random_bytes(data: bytes) -> None:
    _check(data)
    _check(pb.MAGIC + data)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(KINDS), st.binary(max_size=300))
def test_random_messages_of_real_kinds(kind: tuple[str, str], raw: bytes) -> None:
    _check(_envelope(*kind, raw))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(SEEDS), st.data())
def test_mutated_real_bodies(seed: bytes, data: st.DataObject) -> None:
    body = bytearray(seed)
    for _ in range(data.draw(st.integers(1, 4))):
        op = data.draw(st.sampled_from(["flip", "cut", "insert"]))
        pos = data.draw(st.integers(0, len(body) - 1)) if body else 0
        if op == "flip" and body:
            body[pos] ^= 1 << data.draw(st.integers(0, 7))
        elif op == "cut":
            del body[pos:pos + data.draw(st.integers(1, 8))]
        else:
            body[pos:pos] = data.draw(st.binary(min_size=1, max_size=4))
    _check(bytes(body))


def _field(number: int, value: int | bytes) -> bytes:
    if isinstance(value, int):
        return wire.tag_bytes(number, wire.VARINT) + wire.varint_bytes(value)
    return wire.tag_bytes(number, wire.BYTES) + wire.varint_bytes(len(value)) + value


WELL_FORMED = st.recursive(
    st.just(b""),
    lambda inner: st.lists(
        st.tuples(st.integers(1, 40), st.one_of(st.integers(-(2**63), 2**64 - 1), st.binary(max_size=12), inner)),
        max_size=6,
    ).map(lambda fields: b"".join(_field(n, v) for n, v in fields)),
    max_leaves=30,
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(KINDS), WELL_FORMED)
def test_well_formed_random_messages(kind: tuple[str, str], raw: bytes) -> None:
    _check(_envelope(*kind, raw))
