"""FailureLog: a run of failures logs its first failure and its recovery, whatever its length."""

from __future__ import annotations

import logging

import pytest

from sampan.kubelet.failure_log import FailureLog


@pytest.mark.parametrize("run", [1, 2, 50])
def test_a_run_of_failures_writes_two_lines(caplog: pytest.LogCaptureFixture, run: int) -> None:
    log = logging.getLogger("test.failure_log")
    now = [100.0]
    failures = FailureLog(log, "update node status", "n7", clock=lambda: now[0])
    caplog.set_level("INFO", logger="test.failure_log")
    for i in range(run):
        failures.failed(TimeoutError(f"attempt {i}"))
        now[0] += 1.5
    assert failures.failures == run
    failures.succeeded()
    failures.succeeded()  # a success while not failing writes nothing
    messages = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert [level for level, _ in messages] == ["WARNING", "INFO"]
    assert "failed to update node status node=n7 err=attempt 0" in messages[0][1]
    assert f"after failures={run} over {1.5 * run:.1f}s" in messages[1][1]
    assert failures.total == run
    assert failures.failures == 0


def test_later_failures_go_to_debug(caplog: pytest.LogCaptureFixture) -> None:
    log = logging.getLogger("test.failure_log")
    failures = FailureLog(log, "renew node lease", "n1")
    caplog.set_level("DEBUG", logger="test.failure_log")
    for _ in range(3):
        failures.failed(OSError("refused"))
    assert [r.levelname for r in caplog.records] == ["WARNING", "DEBUG", "DEBUG"]
    assert "failures=3" in caplog.records[-1].getMessage()


def test_failures_are_exposed_as_a_metric_read_at_scrape_time() -> None:
    from prometheus_client import CollectorRegistry, generate_latest

    from sampan.kubelet.metrics import KubeletMetrics

    lease = FailureLog(logging.getLogger("test.failure_log"), "renew node lease", "n1")
    registry = CollectorRegistry()
    KubeletMetrics(registry, node_name="n1", statuses=dict,
                   heartbeat_failures=lambda: {"lease": lease.total, "node_status": 0})
    for _ in range(3):
        lease.failed(TimeoutError())
    text = generate_latest(registry).decode()
    assert 'kubelet_heartbeat_failures_total{kind="lease"} 3.0' in text
    assert 'kubelet_heartbeat_failures_total{kind="node_status"} 0.0' in text


def test_a_long_run_is_reminded_every_remind_after_seconds(caplog: pytest.LogCaptureFixture) -> None:
    from sampan.kubelet.failure_log import REMIND_AFTER

    now = [0.0]
    failures = FailureLog(logging.getLogger("test.failure_log"), "renew node lease", "n1", clock=lambda: now[0])
    caplog.set_level("INFO", logger="test.failure_log")
    for _ in range(int(2.5 * REMIND_AFTER / 10)):  # a failure every 10 s for 2.5 reminder periods
        failures.failed(TimeoutError())
        now[0] += 10
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 3  # the first failure, then one reminder per period
    assert "still failing to renew node lease node=n1" in warnings[1]
    assert f"for {REMIND_AFTER:.0f}s" in warnings[1]
