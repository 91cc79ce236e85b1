"""Per-pod lifecycle lines: INFO for a lone kubelet, DEBUG-only in a process of many hollow kubelets."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from sampan.kubelet.pod_log import POD_LOG, quiet_for_many_nodes


@pytest.fixture(autouse=True)
def restore_level() -> Iterator[None]:
    """Each test starts from a fresh process's logger (an in-process HollowNodes in an earlier test of the same
    worker leaves it at WARNING) and leaves it as it found it."""
    level = POD_LOG.level
    POD_LOG.setLevel(logging.NOTSET)
    yield
    POD_LOG.setLevel(level)


def lines(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str]]:
    POD_LOG.info("pod sandbox started pod=%s", "default/web-1")
    POD_LOG.warning("something wrong pod=%s", "default/web-1")
    return [(r.levelname, r.getMessage()) for r in caplog.records if r.name == POD_LOG.name]


def test_a_lone_kubelet_keeps_its_info_lines(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    quiet_for_many_nodes(1)
    assert lines(caplog) == [("INFO", "pod sandbox started pod=default/web-1"),
                             ("WARNING", "something wrong pod=default/web-1")]


def test_many_hollow_nodes_drop_the_info_lines(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    quiet_for_many_nodes(5000)
    assert lines(caplog) == [("WARNING", "something wrong pod=default/web-1")]


def test_many_hollow_nodes_at_debug_keep_them(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    quiet_for_many_nodes(5000)
    assert [level for level, _ in lines(caplog)] == ["INFO", "WARNING"]


def test_the_kubelet_logs_its_lifecycle_lines_there() -> None:
    """The lines this switch governs are written through POD_LOG (not the modules' own loggers)."""
    import inspect

    from sampan.kubelet import api_status, pod_worker
    source = inspect.getsource(pod_worker) + inspect.getsource(api_status)
    for line in ("pod sandbox started", "pod terminating", "pod terminated", "pod deleted"):
        assert f'POD_LOG.info("{line}' in source, line
