"""Effective pod requests and limits."""

from __future__ import annotations

from typing import Any

from sampan.api.podresources import pod_limits, pod_requests
from sampan.api.quantity import Quantity


def q(text: str) -> Quantity:
    return Quantity.parse(text)


def c(name: str, requests: dict[str, str] | None = None, limits: dict[str, str] | None = None,
      **extra: Any) -> dict[str, Any]:
    res: dict[str, Any] = {}
    if requests:
        res["requests"] = requests
    if limits:
        res["limits"] = limits
    return {"name": name, "resources": res, **extra}


def test_sum_of_containers() -> None:
    pod = {"spec": {"containers": [c("a", {"cpu": "100m", "memory": "64Mi"}), c("b", {"cpu": "250m"})]}}
    assert pod_requests(pod) == {"cpu": q("350m"), "memory": q("64Mi")}


def test_init_containers_take_the_max() -> None:
    pod = {"spec": {"containers": [c("a", {"cpu": "100m"})],
                    "initContainers": [c("i0", {"cpu": "500m"}), c("i1", {"cpu": "200m", "memory": "1Gi"})]}}
    assert pod_requests(pod) == {"cpu": q("500m"), "memory": q("1Gi")}


def test_sidecars_add_and_overhead() -> None:
    pod = {"spec": {
        "initContainers": [c("side", {"cpu": "100m"}, restartPolicy="Always"), c("i", {"cpu": "1"})],
        "containers": [c("a", {"cpu": "200m"})],
        "overhead": {"cpu": "10m"},
    }}
    # main phase: 200m + 100m sidecar = 300m; init phase: 1 + 100m sidecar = 1100m; plus 10m overhead
    assert pod_requests(pod) == {"cpu": q("1110m")}


def test_limits_and_junk() -> None:
    pod = {"spec": {"containers": [c("a", limits={"memory": "1Gi", "cpu": "bad"}), "junk"]}}
    assert pod_limits(pod) == {"memory": q("1Gi")}
    assert pod_requests({"spec": "junk"}) == {}
