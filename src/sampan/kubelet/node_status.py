"""The kubelet's Node object: what it registers and the status it posts every
``--node-status-update-frequency``.

Capacity comes from the host (``os.cpu_count()``, ``MemTotal`` in ``/proc/meminfo``, ``--max-pods``) unless
overridden; allocatable equals capacity (no reservations yet). Conditions are upstream's four, with
``lastHeartbeatTime`` refreshed on every post and ``lastTransitionTime`` changed only when a status flips.
The node controller reads ``Ready.lastHeartbeatTime`` (and the Lease) to decide whether the kubelet is alive.

Invariant: :func:`node_status` is pure; the previous status is passed in so transition times survive.
The host's facts in ``nodeInfo`` (machine id, boot id, kernel, OS image, architecture) are read once per
process (:func:`host_facts`): they change only with a reboot, which restarts the kubelet. Every hollow node
of a process reports its host's facts (5,000 of them re-read three files on every status computation:
~10% of the hollow-node process's samples, issue 21).
"""

from __future__ import annotations

import functools
import os
import platform
import shutil
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sampan.api.humanize import format_rfc3339
from sampan.kubelet.runtime.interface import RuntimeInfo

KUBELET_VERSION = "v1.32.0-sampan"
CRI_SOCKET_ANNOTATION = "kubeadm.alpha.kubernetes.io/cri-socket"
"""The node's CRI endpoint (kubeadm's annotation), set when the runtime has one: ``sampan image`` finds
the node's containerd through it."""

_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64", "armv7l": "arm",
         "ppc64le": "ppc64le", "s390x": "s390x"}

_CONDITIONS: tuple[tuple[str, str, str, str], ...] = (
    # type, healthy status, reason, message
    ("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
    ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
    ("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
    ("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
)


def host_memory_bytes(meminfo: str = "/proc/meminfo") -> int:
    """``MemTotal`` of the host in bytes (0 when unreadable)."""
    try:
        with open(meminfo, encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return 0
    return 0


def host_arch() -> str:
    machine = platform.machine().lower()
    return _ARCH.get(machine, machine or "unknown")


@dataclass(frozen=True, slots=True)
class NodeIdentity:
    """What does not change while the kubelet runs."""

    name: str
    address: str
    hostname: str
    port: int
    capacity: Mapping[str, str]
    runtime: RuntimeInfo
    labels: Mapping[str, str]
    cri_endpoint: str = ""
    """``unix:///…`` of a CRI runtime (published as :data:`CRI_SOCKET_ANNOTATION`); "" for the others."""


def default_capacity(*, cpu: str | None, memory: str | None, max_pods: int,
                     root_dir: str | None = None) -> dict[str, str]:
    """Capacity from the flags, else from the host (ephemeral storage: the size of ``root_dir``'s disk)."""
    mem = memory or f"{host_memory_bytes() // 1024}Ki"
    try:
        disk = shutil.disk_usage(root_dir or "/").total
    except OSError:
        disk = 0
    return {
        "cpu": cpu or str(os.cpu_count() or 1),
        "memory": mem,
        "pods": str(max_pods),
        "ephemeral-storage": f"{disk // 1024}Ki",
    }


def node_labels(name: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    return {
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": host_arch(),
        "beta.kubernetes.io/os": "linux",
        "beta.kubernetes.io/arch": host_arch(),
        **(extra or {}),
    }



def conditions(previous: list[Mapping[str, Any]] | None, *, now: float) -> list[dict[str, Any]]:
    """The four conditions, all healthy, heartbeats at ``now``; transition times kept while unchanged."""
    before = {c.get("type"): c for c in previous or []}
    out = []
    stamp = format_rfc3339(now)
    for ctype, status, reason, message in _CONDITIONS:
        old = before.get(ctype) or {}
        transition = old.get("lastTransitionTime") if old.get("status") == status else None
        out.append({"type": ctype, "status": status, "lastHeartbeatTime": stamp,
                    "lastTransitionTime": transition or stamp, "reason": reason, "message": message})
    return out


def condition_events(before: list[Mapping[str, Any]] | None, after: list[Mapping[str, Any]] | None) -> list[str]:
    """Upstream's node status event reasons (``NodeReady``, ``NodeHasSufficientMemory``, …) for each
    condition whose status is new or changed between two condition lists."""
    old = {c.get("type"): c.get("status") for c in before or []}
    reasons = []
    for cond in after or []:
        ctype, status = cond.get("type"), cond.get("status")
        if old.get(ctype) == status:
            continue
        reason = _EVENT_REASONS.get((str(ctype), str(status)))
        if reason:
            reasons.append(reason)
    return reasons


_EVENT_REASONS = {
    ("Ready", "True"): "NodeReady", ("Ready", "False"): "NodeNotReady",
    ("MemoryPressure", "False"): "NodeHasSufficientMemory", ("MemoryPressure", "True"): "NodeHasInsufficientMemory",
    ("DiskPressure", "False"): "NodeHasNoDiskPressure", ("DiskPressure", "True"): "NodeHasDiskPressure",
    ("PIDPressure", "False"): "NodeHasSufficientPID", ("PIDPressure", "True"): "NodeHasInsufficientPID",
}


@dataclass(frozen=True, slots=True)
class HostFacts:
    """What ``nodeInfo`` says about the machine; constant while the process runs."""

    machine_id: str
    boot_id: str
    kernel_version: str
    os_image: str
    architecture: str


def read_host_facts() -> HostFacts:
    """The facts, read now from ``/etc/machine-id``, ``/proc/sys/kernel/random/boot_id``, ``/etc/os-release``
    and ``uname``."""
    return HostFacts(machine_id=_machine_id(), boot_id=_boot_id(), kernel_version=platform.uname().release,
                     os_image=_os_image(), architecture=host_arch())


@functools.cache
def host_facts() -> HostFacts:
    """:func:`read_host_facts`, once per process."""
    return read_host_facts()


def node_status(identity: NodeIdentity, previous: Mapping[str, Any] | None, *, now: float,
                images: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The status the kubelet posts (``previous``: the node's current status, for transition times;
    ``images``: ``status.images`` when the runtime has images)."""
    info = identity.runtime
    host = host_facts()
    return ({"images": images} if images is not None else {}) | {
        "capacity": dict(identity.capacity),
        "allocatable": dict(identity.capacity),
        "conditions": conditions((previous or {}).get("conditions"), now=now),
        "addresses": [{"type": "InternalIP", "address": identity.address},
                      {"type": "Hostname", "address": identity.hostname}],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": identity.port}},
        "nodeInfo": {
            "machineID": host.machine_id, "systemUUID": "", "bootID": host.boot_id,
            "kernelVersion": host.kernel_version, "osImage": host.os_image, "operatingSystem": "linux",
            "architecture": host.architecture, "containerRuntimeVersion": f"{info.name}://{info.version}",
            "kubeletVersion": KUBELET_VERSION, "kubeProxyVersion": "",
        },
    }


def same_apart_from_heartbeats(a: Mapping[str, Any] | None, b: Mapping[str, Any] | None) -> bool:
    """Two node statuses equal but for the conditions' ``lastHeartbeatTime`` (upstream's kubelet only posts
    such a status once ``nodeStatusReportFrequency`` has passed; the Lease is the heartbeat meanwhile)."""
    def strip(status: Mapping[str, Any] | None) -> dict[str, Any]:
        out = dict(status or {})
        out["conditions"] = [{k: v for k, v in c.items() if k != "lastHeartbeatTime"}
                             for c in out.get("conditions") or []]
        return out
    return strip(a) == strip(b)


def registration(identity: NodeIdentity, *, now: float) -> dict[str, Any]:
    """The Node the kubelet creates when none exists."""
    annotations = {"sampan.io/limits-enforced": str(identity.runtime.enforces_limits).lower(),
                   "sampan.io/private-mounts": str(identity.runtime.private_mounts).lower(),
                   "sampan.io/pod-network": f"bridge {identity.runtime.pod_cidr}" if identity.runtime.pod_cidr
                   else "host"}
    if identity.cri_endpoint:
        annotations[CRI_SOCKET_ANNOTATION] = identity.cri_endpoint
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": identity.name, "labels": dict(identity.labels), "annotations": annotations},
        "spec": {"podCIDR": identity.runtime.pod_cidr, "podCIDRs": [identity.runtime.pod_cidr]}
        if identity.runtime.pod_cidr else {},
        "status": node_status(identity, None, now=now),
    }


def default_hostname() -> str:
    return socket.gethostname().lower()


def _read_first(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read().strip()
    except OSError:
        return ""


def _machine_id() -> str:
    return _read_first("/etc/machine-id")


def _boot_id() -> str:
    return _read_first("/proc/sys/kernel/random/boot_id")


def _os_image() -> str:
    for line in _read_first("/etc/os-release").splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.split("=", 1)[1].strip('"')
    return "Linux"
