"""The memos of pod spec defaulting and validation (a ReplicaSet's pods share one spec): a remembered
result equals a fresh computation, whatever was remembered before, and the caller's dict is defaulted in
place."""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest

from sampan.apiserver.registry import pod_defaults, pod_validation

SPECS: list[dict[str, Any]] = [
    {"containers": [{"name": "c", "image": "nginx"}]},
    {"containers": [{"name": "c", "image": "nginx:1.25", "ports": [{"containerPort": 80}]}],
     "volumes": [{"name": "v"}], "serviceAccountName": "sa"},
    {"containers": [{"name": "c", "image": "x", "resources": {"limits": {"cpu": "1"}}}],
     "initContainers": [{"name": "i", "image": "y"}], "restartPolicy": "Never"},
    {"containers": [{"name": "Bad_Name", "image": ""}]},  # invalid: never remembered
    {"containers": []},
    {"containers": [{"name": "c", "image": "nginx"}], "terminationGracePeriodSeconds": 2**70},  # not orjson
]


@pytest.mark.parametrize("for_pod", [True, False])
def test_defaulting_memo_equals_fresh_defaulting(for_pod: bool) -> None:
    for spec in SPECS * 2:  # the second pass hits the memo
        fresh = copy.deepcopy(spec)
        pod_defaults._default_pod_spec(fresh, for_pod=for_pod)
        memoized = copy.deepcopy(spec)
        same_dict = memoized
        pod_defaults.default_pod_spec(memoized, for_pod=for_pod)
        assert memoized is same_dict  # in place
        assert memoized == fresh
        assert list(memoized) == list(fresh)  # key order too (it reaches the stored JSON)
    hit = copy.deepcopy(SPECS[0])
    pod_defaults.default_pod_spec(hit, for_pod=for_pod)
    hit["containers"][0]["image"] = "changed"  # a caller changing its result does not change the memo
    again = copy.deepcopy(SPECS[0])
    pod_defaults.default_pod_spec(again, for_pod=for_pod)
    assert again["containers"][0]["image"] == "nginx"
    assert (for_pod, orjson.dumps(SPECS[0])) in pod_defaults._defaulted


def test_validation_memo_equals_fresh_validation() -> None:
    for spec in SPECS * 2:
        defaulted = copy.deepcopy(spec)
        pod_defaults.default_pod_spec(defaulted, for_pod=True)
        for path in ("spec", "spec.template.spec"):
            fresh = pod_validation._validate_pod_spec(defaulted, path)
            assert pod_validation.validate_pod_spec(defaulted, path) == fresh
    bad = {"containers": [{"name": "Bad_Name", "image": ""}]}
    first = pod_validation.validate_pod_spec(bad, "spec")
    assert first
    assert pod_validation.validate_pod_spec(bad, "spec") == first  # causes are never memoized away
    assert ("spec", orjson.dumps(bad)) not in pod_validation._valid_specs
    assert pod_validation.validate_pod_spec("nope", "spec")  # not a dict


def test_memos_stay_bounded() -> None:
    for i in range(pod_defaults._MEMO_SIZE + 10):
        spec = {"containers": [{"name": "c", "image": f"img{i}"}]}
        pod_defaults.default_pod_spec(spec, for_pod=True)
        pod_validation.validate_pod_spec(spec, "spec")
    assert len(pod_defaults._defaulted) <= pod_defaults._MEMO_SIZE
    assert len(pod_validation._valid_specs) <= pod_validation._VALID_MEMO_SIZE
