"""``kubelet_runtime_operations_total{operation_type}`` (upstream's name): the CRI calls a kubelet made."""

from __future__ import annotations

from collections import Counter

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from sampan.kubelet.metrics import KubeletMetrics
from sampan.kubelet.runtime.cri.client import CRIClient, CRIError


async def test_cri_calls_are_counted_by_method_and_exposed() -> None:
    client = CRIClient("unix:///nonexistent/sampan-test.sock", timeout=0.5)  # nothing answers: every call fails
    try:
        for _ in range(2):
            with pytest.raises(CRIError):
                await client.version()
        with pytest.raises(CRIError):
            await client.list_pod_sandboxes({"sampan.io/node": "n1"})
    finally:
        await client.close()
    assert client.operations == Counter({"Version": 2, "ListPodSandbox": 1})
    registry = CollectorRegistry()
    KubeletMetrics(registry, node_name="n1", statuses=dict, operations=lambda: client.operations)
    text = generate_latest(registry).decode()
    assert 'kubelet_runtime_operations_total{operation_type="Version"} 2.0' in text
    assert 'kubelet_runtime_operations_total{operation_type="ListPodSandbox"} 1.0' in text
    bare = CollectorRegistry()
    KubeletMetrics(bare, node_name="n1", statuses=dict)  # a runtime that does not count (process, simulated)
    assert "kubelet_runtime_operations" not in generate_latest(bare).decode()
