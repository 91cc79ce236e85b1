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


def test_pods_metric_plain_calculation() -> None:
    """Pods metrics: the mean over the per-pod target; readiness does not matter; missing pods are filled in
    against the direction of the change (upstream's calcPlainMetricReplicas)."""
    from sampan.controllers.podautoscaler.replicas import calculate_plain

    pods = [pod("a"), pod("b", ready=False), pod("c")]
    def plain(values: dict[str, float], current: int = 3) -> int:
        return calculate_plain(current=current, pods=pods, values=values, target_average=10_000,
                               tolerance=0.1).replicas
    assert plain({"a": 30_000, "b": 30_000, "c": 30_000}) == 9
    assert plain({"a": 10_500, "b": 9_800, "c": 10_000}) == 3  # within tolerance
    assert plain({"a": 1_000, "b": 1_000, "c": 1_000}) == 1
    assert plain({"a": 40_000, "b": 40_000}) == 8  # c missing counts as 0 when scaling up: ceil(80/3/10 * 3)
    assert plain({"a": 2_000}) == 3  # a alone says down, but two missing pods at target: 7.3/10 -> ceil(2.2)=3
    with pytest.raises(MetricsError) as err:
        plain({})
    assert err.value.reason == "FailedGetPodsMetric"


def test_object_and_external_targets() -> None:
    from sampan.controllers.podautoscaler.replicas import replicas_for_ratio, replicas_for_total

    assert replicas_for_ratio(current=2, ratio=2.5, ready_pods=2, tolerance=0.1) == 5
    assert replicas_for_ratio(current=2, ratio=1.05, ready_pods=2, tolerance=0.1) == 2
    assert replicas_for_ratio(current=4, ratio=0.5, ready_pods=3, tolerance=0.1) == 2  # ready pods, not spec
    assert replicas_for_ratio(current=0, ratio=2.2, ready_pods=0, tolerance=0.1) == 3
    assert replicas_for_total(current=2, total=250_000, target_average=100_000, tolerance=0.1) == 3
    assert replicas_for_total(current=3, total=310_000, target_average=100_000, tolerance=0.1) == 3


def test_container_resource_counts_one_container() -> None:
    two = {"metadata": {"name": "a"}, "spec": {"containers": [
        {"name": "app", "resources": {"requests": {"cpu": "100m"}}},
        {"name": "sidecar", "resources": {"requests": {"cpu": "900m"}}}]},
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}}
    metrics = {"a": {"metadata": {"name": "a"}, "containers": [
        {"name": "app", "usage": {"cpu": "100m"}}, {"name": "sidecar", "usage": {"cpu": "0"}}]}}
    whole = calculate(current=1, pods=[two], metrics=metrics, resource="cpu", target_utilization=50,
                      target_average=None, tolerance=0.1)
    app = calculate(current=1, pods=[two], metrics=metrics, resource="cpu", target_utilization=50,
                    target_average=None, tolerance=0.1, container="app", reason="FailedGetContainerResourceMetric")
    assert (whole.replicas, whole.utilization) == (1, 10)  # 100m of 1000m requested: scale down is capped at 1
    assert (app.replicas, app.utilization) == (2, 100)
    with pytest.raises(MetricsError) as err:
        calculate(current=1, pods=[two], metrics=metrics, resource="cpu", target_utilization=50,
                  target_average=None, tolerance=0.1, container="absent", reason="FailedGetContainerResourceMetric")
    assert err.value.reason == "FailedGetContainerResourceMetric"


def test_milli_quantity_prints_like_upstream() -> None:
    from sampan.controllers.podautoscaler.sources import milli_quantity

    assert [milli_quantity(v) for v in (1500, 3000, 0, 2_000_000, 250)] == ["1500m", "3", "0", "2k", "250m"]
