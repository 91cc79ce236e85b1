"""``observe_request`` keeps its children per label set: each request still counts under its own
code/method/host and its latency lands in its own verb/host histogram."""

from __future__ import annotations

from sampan.client import metrics


def sample(name: str, labels: dict[str, str]) -> float:
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


def test_counts_and_latencies_per_label_set() -> None:
    host = "metrics-test.invalid:1"
    ok = {"code": "200", "method": "PUT", "host": host}
    conflict = {"code": "409", "method": "PUT", "host": host}
    put = {"verb": "PUT", "host": host}
    get = {"verb": "GET", "host": host}
    for _ in range(3):
        metrics.observe_request(method="PUT", host=host, code="200", seconds=0.01)
    metrics.observe_request(method="PUT", host=host, code="409", seconds=0.3)
    metrics.observe_request(method="GET", host=host, code="200", seconds=2.0)
    assert sample("rest_client_requests_total", ok) == 3
    assert sample("rest_client_requests_total", conflict) == 1
    assert sample("rest_client_requests_total", {"code": "200", "method": "GET", "host": host}) == 1
    assert sample("rest_client_request_duration_seconds_count", put) == 4
    assert abs(sample("rest_client_request_duration_seconds_sum", put) - 0.33) < 1e-9
    assert sample("rest_client_request_duration_seconds_bucket", {**put, "le": "0.025"}) == 3
    assert sample("rest_client_request_duration_seconds_count", get) == 1
    assert sample("rest_client_request_duration_seconds_bucket", {**get, "le": "1.0"}) == 0
