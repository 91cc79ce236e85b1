"""The HPA's replica calculation and behavior rules as pure functions (upstream's worked examples)."""

from __future__ import annotations

from typing import Any

import pytest

from sampan.controllers.podautoscaler import behavior
from sampan.controllers.podautoscaler.replicas import MetricsError, calculate


def pod(name: str, *, cpu_request: str | None = "100m", ready: bool = True) -> dict[str, Any]:
    resources = {"requests": {"cpu": cpu_request}} if cpu_request else {}
    return {"metadata": {"name": name}, "spec": {"containers": [{"name": "c", "resources": resources}]},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": str(ready)}]}}


def usage(name: str, cpu: str) -> dict[str, Any]:
    return {"metadata": {"name": name}, "containers": [{"name": "c", "usage": {"cpu": cpu, "memory": "1Mi"}}]}


def calc(pods: list[dict[str, Any]], metrics: list[dict[str, Any]], *, current: int, target: int = 50) -> int:
    return calculate(current=current, pods=pods, metrics={m["metadata"]["name"]: m for m in metrics},
                     resource="cpu", target_utilization=target, target_average=None, tolerance=0.1).replicas


def test_utilization_ratio_decides_and_tolerance_holds() -> None:
    pods = [pod("a"), pod("b")]
    assert calc(pods, [usage("a", "100m"), usage("b", "100m")], current=2) == 4  # 100% vs 50% -> double
    assert calc(pods, [usage("a", "54m"), usage("b", "54m")], current=2) == 2  # 54% is within 10% of 50%
    assert calc(pods, [usage("a", "10m"), usage("b", "10m")], current=2) == 1  # 10% -> ceil(0.2 * 2)


def test_average_value_target() -> None:
    rec = calculate(current=1, pods=[pod("a")], metrics={"a": usage("a", "300m")}, resource="cpu",
                    target_utilization=None, target_average=100.0, tolerance=0.1)
    assert rec.replicas == 3
    assert rec.average_value == pytest.approx(300.0)


def test_missing_metrics_damp_a_scale_down_and_unready_pods_a_scale_up() -> None:
    # scaling down: the pod without metrics counts as at target, so the drop is smaller
    assert calc([pod("a"), pod("b")], [usage("a", "10m")], current=2) == 2
    # scaling up: the unready pod counts as using nothing
    assert calc([pod("a"), pod("b", ready=False)], [usage("a", "200m"), usage("b", "200m")], current=2) == 4
    assert calc([pod("a")], [usage("a", "200m")], current=1) == 4


def test_no_requests_is_an_error_with_upstreams_reason() -> None:
    with pytest.raises(MetricsError) as err:
        calc([pod("a", cpu_request=None)], [usage("a", "100m")], current=1)
    assert err.value.reason == "FailedGetResourceMetric"
    assert "missing request for cpu" in err.value.message


def test_scale_down_waits_for_the_stabilization_window() -> None:
    history = behavior.History()
    up, down = behavior.rules(None, default_down_window=300)
    assert behavior.stabilize(history, now=0, current=5, desired=5, up=up, down=down) == 5
    assert behavior.stabilize(history, now=10, current=5, desired=2, up=up, down=down) == 5  # 5 seen in window
    assert behavior.stabilize(history, now=301, current=5, desired=2, up=up, down=down) == 2


def test_scale_up_policies_bound_the_step() -> None:
    history = behavior.History()
    up, down = behavior.rules(None, default_down_window=300)
    # defaults: max(4 pods, 100%) per 15 s; from 1 the 4-pod policy allows 5
    assert behavior.limit(history, now=0, current=1, desired=20, min_replicas=1, max_replicas=50,
                          up=up, down=down) == (5, "ScaleUpLimit")
    behavior.record_scale(history, now=0, change=4)
    # within the same period the replicas at its start (1) still bound it
    assert behavior.limit(history, now=5, current=5, desired=20, min_replicas=1, max_replicas=50,
                          up=up, down=down) == (5, "ScaleUpLimit")
    assert behavior.limit(history, now=16, current=5, desired=20, min_replicas=1, max_replicas=50,
                          up=up, down=down) == (10, "ScaleUpLimit")
    assert behavior.limit(history, now=16, current=5, desired=8, min_replicas=1, max_replicas=6,
                          up=up, down=down) == (6, "TooManyReplicas")


def test_disabled_scale_down() -> None:
    up, down = behavior.rules({"scaleDown": {"selectPolicy": "Disabled"}}, default_down_window=0)
    assert behavior.limit(behavior.History(), now=0, current=4, desired=1, min_replicas=1, max_replicas=10,
                          up=up, down=down) == (4, "ScaleDownDisabled")
