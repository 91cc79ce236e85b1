"""Unit tests of typed decoding (:mod:`sampan.api.typed`) and Go's RFC 3339 parsing (:mod:`sampan.api.gotime`)."""

from __future__ import annotations

from typing import Any

import pytest

from sampan.api.gotime import go_time_error
from sampan.api.typed import DecodeError, checker_for


@pytest.mark.parametrize(("value", "micro", "error"), [
    ("2024-01-02T03:04:05Z", False, None),
    ("2024-01-02T03:04:05.5+02:00", False, None),
    ("2024-02-29T00:00:00Z", False, None),
    ("2023-02-29T00:00:00Z", False, 'parsing time "2023-02-29T00:00:00Z": day out of range'),
    ("2024-13-01T00:00:00Z", False, 'parsing time "2024-13-01T00:00:00Z": month out of range'),
    ("2024-01-01 00:00:00Z", False,
     'parsing time "2024-01-01 00:00:00Z" as "2006-01-02T15:04:05Z07:00": cannot parse " 00:00:00Z" as "T"'),
    ("2024-01-01T00:00:00", False,
     'parsing time "2024-01-01T00:00:00" as "2006-01-02T15:04:05Z07:00": cannot parse "" as "Z07:00"'),
    ("2024-01-01T00:00:00Zjunk", False, 'parsing time "2024-01-01T00:00:00Zjunk": extra text: "junk"'),
    ("2024-01-01T00:00:00.123456Z", True, None),
    ("2024-01-01T00:00:00.123Z", True, 'parsing time "2024-01-01T00:00:00.123Z" as '
                                       '"2006-01-02T15:04:05.000000Z07:00": cannot parse ".123Z" as ".000000"'),
    ("é", False, 'parsing time "\\xc3\\xa9" as "2006-01-02T15:04:05Z07:00": cannot parse "\\xc3\\xa9" as "2006"'),
])
def test_go_time_errors(value: str, micro: bool, error: str | None) -> None:
    assert go_time_error(value, micro=micro) == error


def _check(kind: tuple[str, str, str], obj: dict[str, Any], *, normalize: bool = True) -> str | None:
    checker = checker_for(*kind)
    assert checker is not None
    try:
        checker.check(obj, normalize=normalize)
    except DecodeError as err:
        return str(err)
    return None


POD = ("", "v1", "Pod")


@pytest.mark.parametrize(("obj", "error"), [
    ({"spec": {"containers": [{"name": 1}]}},
     "json: cannot unmarshal number into Go struct field Container.spec.containers.name of type string"),
    ({"spec": {"containers": [5]}},
     "json: cannot unmarshal number into Go struct field PodSpec.spec.containers of type v1.Container"),
    ({"spec": {"terminationGracePeriodSeconds": 2**63}},
     f"json: cannot unmarshal number {2**63} into Go struct field PodSpec.spec.terminationGracePeriodSeconds of "
     "type int64"),
    ({"spec": {"hostNetwork": "true"}},
     "json: cannot unmarshal string into Go struct field PodSpec.spec.hostNetwork of type bool"),
    ({"metadata": {"annotations": []}},
     "json: cannot unmarshal array into Go struct field ObjectMeta.metadata.annotations of type map[string]string"),
    ({"spec": 3}, "json: cannot unmarshal number into Go struct field Pod.spec of type v1.PodSpec"),
    ({"spec": {"containers": [{"name": "c", "ports": [{"containerPort": 80}], "livenessProbe": {
        "httpGet": {"port": "http"}}}], "overhead": {"cpu": 0.5}}}, None),
    ({"metadata": {"name": None, "labels": None}, "spec": None}, None),
])
def test_pod_types(obj: dict[str, Any], error: str | None) -> None:
    assert _check(POD, obj) == error


def test_normalize_drops_null_fields_but_keeps_null_times() -> None:
    obj: dict[str, Any] = {"metadata": {"name": "p", "labels": None, "creationTimestamp": None},
                           "spec": {"containers": [{"name": "c", "args": [None, "x"]}]}}
    assert _check(POD, obj) is None
    assert obj["metadata"] == {"name": "p", "creationTimestamp": None}
    assert obj["spec"]["containers"][0]["args"] == ["", "x"]  # a null string in a list is Go's ""


def test_unknown_fields_are_reported_not_refused() -> None:
    checker = checker_for(*POD)
    assert checker is not None
    assert checker.check({"spec": {"containers": [{"name": "c", "bogus": 1}]}}) is True
    assert checker.check({"spec": {"containers": [{"name": "c"}]}}) is False
