"""Wire-level behaviour: well-known types, Go's encoding rules, and the documented errors."""

from __future__ import annotations

import pytest

from sampan.api import protobuf as pb
from sampan.api.errors import APIError
from sampan.api.protobuf import wire
from sampan.api.protobuf.decode import decode_message
from sampan.api.protobuf.encode import encode_message
from sampan.api.protobuf.schema import SCHEMA
from sampan.api.protobuf.wellknown import format_duration, parse_duration


def _roundtrip(name: str, value: object) -> object:
    payload = encode_message(value, SCHEMA[name], "x")
    return decode_message(payload, 0, len(payload), SCHEMA[name])


def _envelope(api_version: str, kind: str, raw: bytes, encoding: bytes = b"") -> bytes:
    type_meta = bytearray()
    wire.write_bytes(type_meta, b"\x0a", api_version.encode())
    wire.write_bytes(type_meta, b"\x12", kind.encode())
    out = bytearray(pb.MAGIC)
    wire.write_bytes(out, b"\x0a", type_meta)
    wire.write_bytes(out, b"\x12", raw)
    wire.write_bytes(out, b"\x1a", encoding)
    return bytes(out)


@pytest.mark.parametrize(("text", "expected"), [
    ("2026-11-26T10:00:00Z", "2026-11-26T10:00:00Z"),
    ("2026-11-26T10:00:00.999Z", "2026-11-26T10:00:00Z"),  # Time keeps whole seconds, as upstream
    ("2026-11-26T12:00:00+02:00", "2026-11-26T10:00:00Z"),
    ("1969-12-31T23:59:59Z", "1969-12-31T23:59:59Z"),
    ("0001-01-01T00:00:01Z", "0001-01-01T00:00:01Z"),
    (None, None),
])
def test_time(text: str | None, expected: str | None) -> None:
    assert _roundtrip("meta/v1.Time", text) == expected


def test_time_wire_format_matches_go() -> None:
    assert encode_message("1970-01-01T00:02:08Z", SCHEMA["meta/v1.Time"], "t") == b"\x08\x80\x01\x10\x00"
    assert encode_message(None, SCHEMA["meta/v1.Time"], "t") == b""
    assert decode_message(b"", 0, 0, SCHEMA["meta/v1.Time"]) is None


def test_micro_time_keeps_microseconds() -> None:
    assert _roundtrip("meta/v1.MicroTime", "2026-11-26T10:00:00.123456789Z") == "2026-11-26T10:00:00.123456Z"
    assert _roundtrip("meta/v1.MicroTime", "2026-11-26T10:00:00Z") == "2026-11-26T10:00:00.000000Z"


@pytest.mark.parametrize(("nanos", "text"), [
    (0, "0s"), (1, "1ns"), (1500, "1.5µs"), (2_000_000, "2ms"), (1_500_000_000, "1.5s"),
    (3600 * 10**9, "1h0m0s"), (90 * 60 * 10**9 + 5 * 10**8, "1h30m0.5s"), (-61 * 10**9, "-1m1s"),
])
def test_duration_like_go(nanos: int, text: str) -> None:
    assert format_duration(nanos) == text
    assert parse_duration(text, "d") == nanos
    assert _roundtrip("meta/v1.Duration", text) == text


def test_int_or_string_and_quantity() -> None:
    assert _roundtrip("intstr.IntOrString", 8080) == 8080
    assert _roundtrip("intstr.IntOrString", "http") == "http"
    assert _roundtrip("intstr.IntOrString", -1) == -1
    assert _roundtrip("resource.Quantity", "1.5Gi") == "1.5Gi"
    assert _roundtrip("resource.Quantity", 2) == "2"
    assert _roundtrip("resource.Quantity", 0.5) == "0.5"
    assert decode_message(b"", 0, 0, SCHEMA["resource.Quantity"]) == "0"


def test_negative_int32_takes_ten_bytes_like_go() -> None:
    payload = encode_message({"value": -1}, SCHEMA["scheduling/v1.PriorityClass"], "pc")
    assert b"\x10" + b"\xff" * 9 + b"\x01" in payload
    assert decode_message(payload, 0, len(payload), SCHEMA["scheduling/v1.PriorityClass"])["value"] == -1


def test_packed_repeated_ints_are_accepted() -> None:
    # PodSecurityContext.supplementalGroups = 4 (repeated int64), sent packed
    payload = b"\x22\x03\x01\x02\x03"  # field 4, length 3: 1, 2, 3
    assert decode_message(payload, 0, len(payload), SCHEMA["core/v1.PodSecurityContext"])[
        "supplementalGroups"] == [1, 2, 3]


def test_unknown_fields_are_skipped() -> None:
    raw = b"\xf8\x07\x01" + b"\xfa\x07\x02hi" + b"\xfd\x07abcd" + b"\xf9\x07abcdefgh"  # field 127, all wire types
    body = _envelope("v1", "ConfigMap", raw + b"\x12\x06\x0a\x01a\x12\x01b")
    assert pb.decode(body)["data"] == {"a": "b"}


def test_invalid_utf8_becomes_replacement_character() -> None:
    body = _envelope("v1", "ConfigMap", b"\x12\x06\x0a\x01a\x12\x01\xff")
    assert pb.decode(body)["data"] == {"a": "\ufffd"}


def test_map_entry_without_value_is_zero() -> None:
    body = _envelope("v1", "ConfigMap", b"\x12\x03\x0a\x01a")
    assert pb.decode(body)["data"] == {"a": ""}


def test_extra_value_wrapper_is_a_plain_list() -> None:
    spec = {"user": "alice", "extra": {"scopes": ["a", "b"]}}
    assert _roundtrip("authorization/v1.SubjectAccessReviewSpec", spec) == {
        "user": "alice", "extra": {"scopes": ["a", "b"]}}


def test_watch_frames_round_trip() -> None:
    obj = {"kind": "ConfigMap", "apiVersion": "v1", "metadata": {"name": "a", "creationTimestamp": None},
           "data": {"k": "v"}}
    frame = pb.encode_watch_frame("ADDED", obj)
    assert int.from_bytes(frame[:4], "big") == len(frame) - 4
    assert pb.decode_watch_frame(frame) == {"type": "ADDED", "object": obj}
    with pytest.raises(pb.MalformedProtobuf):
        pb.decode_watch_frame(frame[:-1])


@pytest.mark.parametrize("body", [
    b"", b"k8s", b"{\"kind\": \"Pod\"}", b"k8s\x00\x0a", b"k8s\x00\x0a\x05\x0a\x02v1",
    b"k8s\x00\x08\x01",  # typeMeta with the wrong wire type
    b"k8s\x00\x0f",  # wire type 7
    b"k8s\x00" + b"\xff" * 11,  # overlong varint
])
def test_malformed_bodies(body: bytes) -> None:
    with pytest.raises(pb.MalformedProtobuf) as err:
        pb.decode(body)
    assert err.value.code == 400
    assert err.value.to_status()["reason"] == "BadRequest"


def test_malformed_messages_inside_a_good_envelope() -> None:
    for raw in [b"\x0a\x05ab", b"\x08\x01", b"\x00\x01", b"\x12\x03\x0a\x01", b"\x0b", b"\x0a\x02\x42\x03"]:
        with pytest.raises(pb.MalformedProtobuf):
            pb.decode(_envelope("v1", "Pod", raw))


def test_content_encoding_is_refused() -> None:
    with pytest.raises(pb.MalformedProtobuf, match="gzip"):
        pb.decode(_envelope("v1", "ConfigMap", b"", b"gzip"))


def test_unknown_kind_is_415() -> None:
    with pytest.raises(pb.UnsupportedKind) as err:
        pb.decode(_envelope("example.com/v1", "Widget", b""))
    assert err.value.code == 415
    assert isinstance(err.value, APIError)
    with pytest.raises(pb.UnsupportedKind):
        pb.encode({"apiVersion": "example.com/v1", "kind": "Widget"})


@pytest.mark.parametrize(("obj", "where"), [
    ({"kind": "Pod", "apiVersion": "v1", "metadata": {"name": 5}}, "Pod.metadata.name"),
    ({"kind": "Pod", "apiVersion": "v1", "metadata": {"generation": "x"}}, "Pod.metadata.generation"),
    ({"kind": "Pod", "apiVersion": "v1", "metadata": {"creationTimestamp": "yesterday"}}, "creationTimestamp"),
    ({"kind": "Pod", "apiVersion": "v1", "metadata": {"labels": ["a"]}}, "labels"),
    ({"kind": "Pod", "apiVersion": "v1", "spec": {"containers": {"name": "c"}}}, "containers"),
    ({"kind": "Pod", "apiVersion": "v1", "spec": {"hostNetwork": 1}}, "hostNetwork"),
    ({"kind": "Pod", "apiVersion": "v1", "spec": {"priority": 2**31}}, "priority"),
    ({"kind": "Secret", "apiVersion": "v1", "data": {"a": "not base64!"}}, "data[a]"),
    ({"kind": "Service", "apiVersion": "v1", "spec": {"ports": [{"targetPort": 1.5}]}}, "targetPort"),
    ({"kind": "Pod", "apiVersion": "v1", "spec": "x"}, "Pod.spec"),
])
def test_unencodable_objects_name_the_field(obj: dict, where: str) -> None:
    with pytest.raises(pb.UnencodableObject, match=r"cannot encode .*" + where.replace("[", r"\[")):
        pb.encode(obj)
