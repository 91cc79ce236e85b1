"""Ages as upstream prints them, RFC 3339 helpers and the dict accessors."""

from __future__ import annotations

import pytest

from sampan.api import humanize, meta


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(-5, "<invalid>"), (-1, "0s"), (0, "0s"), (5, "5s"), (119, "119s"), (120, "2m"), (182, "3m2s"), (600, "10m"),
     (179 * 60, "179m"), (3 * 3600, "3h"), (5 * 3600 + 240, "5h4m"), (30 * 3600, "30h"), (3 * 86400, "3d"),
     (3 * 86400 + 4 * 3600, "3d4h"), (40 * 86400, "40d"), (800 * 86400, "2y70d"), (3000 * 86400, "8y")],
)
def test_age(seconds: float, text: str) -> None:
    assert humanize.age(seconds) == text


def test_timestamps() -> None:
    assert humanize.format_rfc3339(86400.7) == "1970-01-02T00:00:00Z"
    assert humanize.format_rfc3339_micro(1.5) == "1970-01-01T00:00:01.500000Z"
    assert humanize.parse_rfc3339("1970-01-01T00:01:00Z") == 60
    assert humanize.parse_rfc3339("1970-01-01T01:00:00+01:00") == 0
    assert humanize.parse_rfc3339("garbage") is None
    assert humanize.age_since(None, 10) == "<unknown>"
    assert humanize.age_since("1970-01-01T00:00:00Z", 65) == "65s"


def test_accessors_tolerate_junk() -> None:
    obj = {"metadata": {"name": "a", "namespace": "ns", "labels": {"x": "1", "bad": 2}, "generation": True,
                        "ownerReferences": [{"controller": True, "name": "o"}, "junk"]}}
    assert meta.key(obj) == "ns/a"
    assert meta.labels(obj) == {"x": "1"}
    assert meta.generation(obj) == 0
    assert meta.controller_ref(obj) == {"controller": True, "name": "o"}
    assert meta.name({"metadata": "x"}) == ""
    assert meta.split_key("a") == ("", "a")
    assert meta.split_key("ns/a") == ("ns", "a")
    with pytest.raises(ValueError):
        meta.split_key("a/b/c")
    assert meta.get_path(obj, "metadata.labels.x") == "1"
    assert meta.get_path(obj, "metadata.nope.x", 5) == 5


def test_writers() -> None:
    obj: dict[str, object] = {"spec": "junk"}
    meta.set_default(obj, "spec.replicas", 1)
    meta.set_default(obj, "spec.replicas", 2)
    assert obj == {"spec": {"replicas": 1}}
