"""Turn a pod's container spec into a runtime :class:`ContainerConfig`: env, command, mounts, limits, labels.

Labels carry the identity the kubelet needs to find its containers again after a restart (upstream's
``io.kubernetes.*`` labels) and a hash of the container spec (a changed spec restarts the container).
The pod's annotations are copied so the simulated runtime can read its behaviour from them. CPU limits
become a CFS quota per 100 ms period, CPU requests ``cpu.shares`` (1024 per core, minimum 2), memory
limits ``memory.limit_in_bytes``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from sampan.api.quantity import parse_or_none
from sampan.kubelet.runtime.interface import (
    ContainerConfig,
    ContainerStatus,
    LinuxResources,
    Mount,
    PodSandboxConfig,
    SecurityContext,
)
from sampan.kubelet.volumes.env import container_env, expand_command
from sampan.kubelet.volumes.manager import container_mounts
from sampan.kubelet.volumes.objects import ObjectGetter

POD_UID = "io.kubernetes.pod.uid"
POD_NAME = "io.kubernetes.pod.name"
POD_NAMESPACE = "io.kubernetes.pod.namespace"
CONTAINER_NAME = "io.kubernetes.container.name"
CONTAINER_HASH = "io.kubernetes.container.hash"
CPU_PERIOD_US = 100_000


def spec_hash(container: Mapping[str, Any]) -> str:
    """A digest of the container's spec: a running container whose spec changed is restarted."""
    return hashlib.sha256(json.dumps(container, sort_keys=True, default=str).encode()).hexdigest()[:16]


def pod_labels(pod: Mapping[str, Any]) -> dict[str, str]:
    md = pod.get("metadata") or {}
    return {POD_UID: md.get("uid", ""), POD_NAME: md.get("name", ""), POD_NAMESPACE: md.get("namespace", "")}


def sandbox_config(pod: Mapping[str, Any], attempt: int) -> PodSandboxConfig:
    md = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    return PodSandboxConfig(name=md.get("name", ""), namespace=md.get("namespace") or "default", uid=md.get("uid", ""),
                            attempt=attempt, hostname=(pod.get("spec") or {}).get("hostname") or md.get("name", ""),
                            labels=pod_labels(pod), annotations=dict(md.get("annotations") or {}),
                            host_network=bool(spec.get("hostNetwork")), host_pid=bool(spec.get("hostPID")),
                            host_ipc=bool(spec.get("hostIPC")),
                            share_process_namespace=bool(spec.get("shareProcessNamespace")))


def linux_resources(container: Mapping[str, Any], *, pids_limit: int | None = None) -> LinuxResources:
    res = container.get("resources") or {}
    limits, requests = res.get("limits") or {}, res.get("requests") or {}
    mem = parse_or_none(limits.get("memory")) if "memory" in limits else None
    cpu = parse_or_none(limits.get("cpu")) if "cpu" in limits else None
    req_cpu = parse_or_none(requests.get("cpu")) if "cpu" in requests else cpu
    req_mem = parse_or_none(requests.get("memory")) if "memory" in requests else mem
    return LinuxResources(
        memory_limit_bytes=mem.value() if mem is not None and not mem.is_zero() else None,
        cpu_quota_us=cpu.milli_value() * CPU_PERIOD_US // 1000 if cpu is not None and not cpu.is_zero() else None,
        cpu_period_us=CPU_PERIOD_US,
        cpu_shares=max(2, req_cpu.milli_value() * 1024 // 1000) if req_cpu is not None else None,
        pids_limit=pids_limit,
        cpu_request_milli=req_cpu.milli_value() if req_cpu is not None else None,
        memory_request_bytes=req_mem.value() if req_mem is not None else None,
    )


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def security_context(pod: Mapping[str, Any], container: Mapping[str, Any]) -> SecurityContext:
    """The container's securityContext with the pod's runAsUser/runAsGroup/supplementalGroups as
    fallbacks (upstream's merge order: the container's field wins)."""
    psc = (pod.get("spec") or {}).get("securityContext") or {}
    csc = container.get("securityContext") or {}
    caps = csc.get("capabilities") or {}
    user = _int_or_none(csc.get("runAsUser"))
    group = _int_or_none(csc.get("runAsGroup"))
    escalation = csc.get("allowPrivilegeEscalation")
    return SecurityContext(
        run_as_user=user if user is not None else _int_or_none(psc.get("runAsUser")),
        run_as_group=group if group is not None else _int_or_none(psc.get("runAsGroup")),
        supplemental_groups=tuple(g for g in (psc.get("supplementalGroups") or []) if _int_or_none(g) is not None),
        read_only_root_fs=bool(csc.get("readOnlyRootFilesystem")), privileged=bool(csc.get("privileged")),
        allow_privilege_escalation=escalation if isinstance(escalation, bool) else None,
        capabilities_add=tuple(str(c) for c in caps.get("add") or []),
        capabilities_drop=tuple(str(c) for c in caps.get("drop") or []),
    )


def container_config(
    pod: Mapping[str, Any], container: Mapping[str, Any], *, attempt: int, volumes: Mapping[str, str],
    objects: ObjectGetter, node_allocatable: Mapping[str, str], pids_limit: int | None = None,
    service_env: Mapping[str, str] | None = None, extra_mounts: tuple[Mount, ...] = (), target_id: str = "",
) -> ContainerConfig:
    """The runtime config for one attempt. Raises ContainerConfigError (missing env refs, bad mounts).
    ``service_env``: the service variables; ``extra_mounts``: the pod's /etc/hosts and /etc/resolv.conf;
    ``target_id``: the runtime id of an ephemeral container's target (whose process namespace it joins)."""
    env = container_env(pod, container, objects=objects, node_allocatable=node_allocatable, service_env=service_env)
    command, args = expand_command(container, env)
    md = pod.get("metadata") or {}
    return ContainerConfig(
        name=container.get("name", ""), image=container.get("image", ""), command=command, args=args, env=env,
        working_dir=container.get("workingDir") or "", mounts=container_mounts(container, volumes) + extra_mounts,
        resources=linux_resources(container, pids_limit=pids_limit), attempt=attempt,
        labels={**pod_labels(pod), CONTAINER_NAME: container.get("name", ""), CONTAINER_HASH: spec_hash(container)},
        annotations=dict(md.get("annotations") or {}),
        stdin=bool(container.get("stdin")), tty=bool(container.get("tty")),
        security=security_context(pod, container),
        termination_message_path=container.get("terminationMessagePath") or "",
        termination_message_policy=container.get("terminationMessagePolicy") or "File",
        target_id=target_id,
    )


def group_by_name(records: list[ContainerStatus]) -> dict[str, list[ContainerStatus]]:
    """Runtime records per container name, newest attempt first."""
    out: dict[str, list[ContainerStatus]] = {}
    for r in records:
        out.setdefault(r.labels.get(CONTAINER_NAME) or r.name, []).append(r)
    for rs in out.values():
        rs.sort(key=lambda r: (r.attempt, r.created_at), reverse=True)
    return out
