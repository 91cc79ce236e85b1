"""Pod IPs through the pod workers: status.podIP/podIPs come from the pod's own namespace, a readiness
httpGet probe reaches each pod at its address on the same port, hostNetwork pods report the host's
address, and deleting the pods gives every address back and removes the bridge."""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from sampan.kubelet.pod_workers import PodWorkerOptions, PodWorkers
from sampan.kubelet.status_manager import MemoryStatusSink
from sampan.kubelet.volumes.manager import VolumeManager
from sampan.kubelet.volumes.objects import StaticObjects
from tests.kubelet.conftest import make_pod, until, with_deletion
from tests.kubelet.network.conftest import PY, TEST_CIDR, NetNode, http_get, leftovers, needs_netns

pytestmark = needs_netns


@pytest.fixture
async def workers(netnode: NetNode, tmp_path: Path) -> AsyncIterator[tuple[PodWorkers, MemoryStatusSink]]:
    sink = MemoryStatusSink()
    volumes = VolumeManager(tmp_path / "pods", objects=StaticObjects(), node_allocatable={})
    w = PodWorkers(netnode.runtime, sink=sink, volumes=volumes, options=PodWorkerOptions(sync_period=0.05))
    yield w, sink
    await w.aclose()


def web_pod(name: str, tmp: Path, **spec: Any) -> dict[str, Any]:
    d = tmp / name
    d.mkdir()
    (d / "who").write_text(name)
    return make_pod(name, containers=[{
        "name": "web", "image": "python", "command": [PY, "-m", "http.server", "8080", "--bind", "0.0.0.0"],
        "workingDir": str(d),
        "readinessProbe": {"httpGet": {"path": "/who", "port": 8080}, "periodSeconds": 1},
    }], **spec)


def ready(status: dict[str, Any]) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])


async def test_pods_get_their_own_ips_and_answer_on_the_same_port(
    netnode: NetNode, workers: tuple[PodWorkers, MemoryStatusSink], tmp_path: Path,
) -> None:
    w, sink = workers
    pods = [web_pod(name, tmp_path) for name in ("a", "b")]
    for pod in pods:
        w.update_pod(pod)
    await until(lambda: all(ready(sink.statuses.get(f"ns/{n}", {})) for n in ("a", "b")), timeout=20,
                what="both pods ready")
    ips = {}
    for name in ("a", "b"):
        st = sink.statuses[f"ns/{name}"]
        ips[name] = st["podIP"]
        assert st["podIPs"] == [{"ip": st["podIP"]}]
        assert st["hostIP"] == "127.0.0.1"
        assert ipaddress.IPv4Address(st["podIP"]) in ipaddress.IPv4Network(TEST_CIDR)
        assert await http_get(st["podIP"], 8080, "/who") == name
    assert ips["a"] != ips["b"]
    sandbox_ids = [sb.id for sb in await netnode.runtime.list_pod_sandboxes()]
    assert len(sandbox_ids) == 2
    for pod in pods:
        w.update_pod(with_deletion(pod, 0))
        await w.wait_terminated(pod["metadata"]["uid"])
    assert netnode.network.ipam.allocations() == {}
    assert leftovers(netnode.network, sandbox_ids) == []


async def test_host_network_pod_reports_the_host_ip(
    netnode: NetNode, workers: tuple[PodWorkers, MemoryStatusSink], tmp_path: Path,
) -> None:
    w, sink = workers
    w.update_pod(make_pod("h", containers=[{"name": "c", "image": "i", "command": ["sleep", "60"]}],
                          hostNetwork=True))
    await until(lambda: "podIP" in sink.statuses.get("ns/h", {}), timeout=10, what="podIP")
    assert sink.statuses["ns/h"]["podIP"] == "127.0.0.1"
    assert netnode.network.ipam.allocations() == {}
