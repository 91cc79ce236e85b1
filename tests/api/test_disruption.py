"""sampan.api.disruption: budget selection, readiness, percentages and the DisruptionAllowed condition."""

from __future__ import annotations

from typing import Any

import pytest

from sampan.api import disruption as pdbs


def budget(selector: Any) -> dict[str, Any]:
    return {"metadata": {"name": "b", "namespace": "ns"}, "spec": {"selector": selector}}


def pod(labels: dict[str, str], namespace: str = "ns") -> dict[str, Any]:
    return {"metadata": {"name": "p", "namespace": namespace, "labels": labels}}


def test_selects() -> None:
    assert pdbs.selects(budget({"matchLabels": {"app": "web"}}), pod({"app": "web"}))
    assert not pdbs.selects(budget({"matchLabels": {"app": "web"}}), pod({"app": "web"}, "other"))
    assert pdbs.selects(budget({}), pod({}))  # policy/v1: an empty selector selects every pod
    assert not pdbs.selects(budget(None), pod({}))
    assert not pdbs.selects(budget({"matchExpressions": [{"key": "a", "operator": "Bad"}]}), pod({"a": "b"}))


@pytest.mark.parametrize(("value", "total", "expected"), [(2, 10, 2), ("50%", 3, 2), ("34%", 3, 2), ("0%", 5, 0),
                                                          ("100%", 7, 7), ("3", 9, 3)])
def test_scaled_value(value: Any, total: int, expected: int) -> None:
    assert pdbs.scaled_value(value, total) == expected


def test_scaled_value_rejects_junk() -> None:
    with pytest.raises(ValueError, match="invalid value"):
        pdbs.scaled_value("x%", 3)


def test_condition_keeps_its_transition_time_while_unchanged() -> None:
    status: dict[str, Any] = {"disruptionsAllowed": 1, "observedGeneration": 2}
    pdbs.set_disruption_allowed_condition(status, now="t1")
    assert status["conditions"] == [{"type": "DisruptionAllowed", "status": "True", "reason": "SufficientPods",
                                     "message": "", "observedGeneration": 2, "lastTransitionTime": "t1"}]
    pdbs.set_disruption_allowed_condition(status, now="t2")
    assert status["conditions"][0]["lastTransitionTime"] == "t1"
    status["disruptionsAllowed"] = 0
    pdbs.set_disruption_allowed_condition(status, now="t3")
    assert (status["conditions"][0]["reason"], status["conditions"][0]["lastTransitionTime"]) == ("InsufficientPods",
                                                                                                   "t3")


def test_pod_ready() -> None:
    assert pdbs.pod_ready({"status": {"conditions": [{"type": "Ready", "status": "True"}]}})
    assert not pdbs.pod_ready({"status": {"conditions": [{"type": "Ready", "status": "False"}]}})
    assert not pdbs.pod_ready({})
