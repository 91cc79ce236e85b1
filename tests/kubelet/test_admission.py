from __future__ import annotations

from typing import Any

from sampan.kubelet.admission import Admission, admit, rejected_status


def pod(cpu: str | None = None, memory: str | None = None) -> dict[str, Any]:
    requests = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v}
    return {"spec": {"containers": [{"name": "c", "resources": {"requests": requests}}]}}


NODE = {"cpu": "2", "memory": "1Gi", "pods": "3"}


def test_fits_and_out_of_cpu_message() -> None:
    assert admit(pod("1"), allocatable=NODE, admitted=[pod("500m")]) == Admission(True)
    got = admit(pod("1500m"), allocatable=NODE, admitted=[pod("1")])
    assert got == Admission(False, "OutOfcpu", "Pod was rejected: Node didn't have enough resource: cpu, "
                                               "requested: 1500, used: 1000, capacity: 2000")
    assert rejected_status(got)["phase"] == "Failed"


def test_memory_pods_and_unknown_resources() -> None:
    assert admit(pod(memory="2Gi"), allocatable=NODE, admitted=[]).reason == "OutOfmemory"
    assert admit(pod(), allocatable=NODE, admitted=[pod(), pod(), pod()]).reason == "OutOfpods"
    gpu = {"spec": {"containers": [{"name": "c", "resources": {"requests": {"nvidia.com/gpu": "1"}}}]}}
    assert admit(gpu, allocatable=NODE, admitted=[]).message.endswith("nvidia.com/gpu, requested: 1, used: 0, "
                                                                      "capacity: 0")
    assert admit(pod(), allocatable=NODE, admitted=[pod("2")]).admitted  # best-effort pods always fit
