"""The host's facts in a node status are read once per process, not on every status computation."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sampan.kubelet import node_status as ns
from sampan.kubelet.runtime.interface import RuntimeInfo


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    calls: list[str] = []
    files = {"/etc/machine-id": "m-1", "/proc/sys/kernel/random/boot_id": "b-1",
             "/etc/os-release": 'NAME="X"\nPRETTY_NAME="Test OS 1"\n'}

    def fake_read(path: str) -> str:
        calls.append(path)
        return files[path]

    monkeypatch.setattr(ns, "_read_first", fake_read)
    ns.host_facts.cache_clear()
    yield calls
    ns.host_facts.cache_clear()


def _identity(name: str) -> ns.NodeIdentity:
    return ns.NodeIdentity(name=name, address="10.0.0.1", hostname=name, port=0, capacity={"pods": "110"},
                           runtime=RuntimeInfo(name="simulated", version="0.1.0", enforces_limits=False,
                                               private_mounts=False), labels={})


def test_files_are_read_once_for_many_statuses(reads: list[str]) -> None:
    statuses = [ns.node_status(_identity(f"n{i}"), None, now=1_700_000_000 + i) for i in range(20)]
    assert sorted(reads) == sorted(["/etc/machine-id", "/proc/sys/kernel/random/boot_id", "/etc/os-release"])
    info = statuses[-1]["nodeInfo"]
    assert (info["machineID"], info["bootID"], info["osImage"]) == ("m-1", "b-1", "Test OS 1")
    assert info["architecture"] == ns.host_arch()


def test_cached_facts_equal_a_fresh_read(reads: list[str]) -> None:
    assert ns.host_facts() == ns.read_host_facts()
    assert len(reads) == 6  # the fresh read reads again; the cached one did once
