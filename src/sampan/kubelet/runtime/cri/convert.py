"""Pure translations between the kubelet's runtime dataclasses and CRI ``runtime.v1`` messages.

No I/O. Times: CRI counts nanoseconds since the epoch, the kubelet's dataclasses seconds (float).
Capabilities: Kubernetes writes ``NET_ADMIN``, CRI runtimes take the same names (containerd adds the
``CAP_`` prefix itself); ``ALL`` passes through.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sampan.kubelet.runtime.cri.protos import pb
from sampan.kubelet.runtime.images import ImageInfo, RegistryAuth
from sampan.kubelet.runtime.interface import (
    ContainerConfig,
    ContainerState,
    ContainerStatus,
    LinuxResources,
    PodSandboxConfig,
    SandboxState,
    SandboxStatus,
    SecurityContext,
)

NODE_LABEL = "sampan.io/node"
"""Label on every sandbox and container this kubelet creates: several nodes may share one runtime, and a
kubelet lists (and re-adopts, and cleans up) only its own."""
POD_UID_LABEL = "io.kubernetes.pod.uid"
"""The kubelet's label naming a sandbox's (and container's) pod; ListPodSandbox filters on it."""
HOST_NETWORK_LABEL = "sampan.io/host-network"
HOST_PID_LABEL = "sampan.io/host-pid"
HOST_IPC_LABEL = "sampan.io/host-ipc"
SHARE_PID_LABEL = "sampan.io/share-process-namespace"
"""The sandbox's namespace choices, kept as labels (set only when true) so CreateContainer, which gets the
sandbox back from the runtime, gives its containers the same ones."""
_NAMESPACE_LABELS = (("host_network", HOST_NETWORK_LABEL), ("host_pid", HOST_PID_LABEL),
                     ("host_ipc", HOST_IPC_LABEL), ("share_process_namespace", SHARE_PID_LABEL))
TERMINATION_POLICY_ANNOTATION = "io.kubernetes.container.terminationMessagePolicy"

_CONTAINER_STATES = {
    0: ContainerState.CREATED, 1: ContainerState.RUNNING, 2: ContainerState.EXITED, 3: ContainerState.UNKNOWN,
}


def container_state(value: int) -> ContainerState:
    return _CONTAINER_STATES.get(value, ContainerState.UNKNOWN)


def seconds(ns: int) -> float:
    return ns / 1e9 if ns > 0 else 0.0


def namespace_options(config: PodSandboxConfig) -> Any:
    """The pod's CRI namespace modes, upstream's kubelet's choice: network and IPC per pod unless
    ``hostNetwork``/``hostIPC`` (NODE); pid per *container* unless ``shareProcessNamespace`` (POD) or
    ``hostPID`` (NODE). Given to RunPodSandbox and to every CreateContainer of the pod."""
    pid = pb.NODE if config.host_pid else pb.POD if config.share_process_namespace else pb.CONTAINER
    return pb.NamespaceOption(network=pb.NODE if config.host_network else pb.POD,
                              ipc=pb.NODE if config.host_ipc else pb.POD, pid=pid)


def with_namespace_labels(config: PodSandboxConfig) -> PodSandboxConfig:
    """``config`` with the namespace fields its (the runtime's sandbox's) labels record."""
    labels = config.labels
    return replace(config, host_network=labels.get(HOST_NETWORK_LABEL) == "true",
                   host_pid=labels.get(HOST_PID_LABEL) == "true", host_ipc=labels.get(HOST_IPC_LABEL) == "true",
                   share_process_namespace=labels.get(SHARE_PID_LABEL) == "true")


def sandbox_config(config: PodSandboxConfig, *, node: str, log_directory: str, cgroup_parent: str) -> Any:
    labels = {**config.labels, NODE_LABEL: node}
    namespaces = namespace_options(config)
    for attr, label in _NAMESPACE_LABELS:
        if getattr(config, attr):
            labels[label] = "true"
    return pb.PodSandboxConfig(
        metadata=pb.PodSandboxMetadata(name=config.name, uid=config.uid, namespace=config.namespace,
                                       attempt=config.attempt),
        hostname="" if config.host_network else (config.hostname or config.name),  # host network: the node's
        log_directory=log_directory, labels=labels,
        annotations=dict(config.annotations),
        linux=pb.LinuxPodSandboxConfig(cgroup_parent=cgroup_parent, security_context=pb.LinuxSandboxSecurityContext(
            namespace_options=namespaces)),
    )


def resources(res: LinuxResources) -> Any:
    out = pb.LinuxContainerResources()
    if res.cpu_quota_us is not None:
        out.cpu_quota, out.cpu_period = res.cpu_quota_us, res.cpu_period_us
    if res.cpu_shares is not None:
        out.cpu_shares = res.cpu_shares
    if res.memory_limit_bytes is not None:
        out.memory_limit_in_bytes = res.memory_limit_bytes
    return out


def security(sc: SecurityContext) -> Any:
    out = pb.LinuxContainerSecurityContext(
        privileged=sc.privileged, readonly_rootfs=sc.read_only_root_fs,
        supplemental_groups=list(sc.supplemental_groups),
        no_new_privs=sc.allow_privilege_escalation is False,
        capabilities=pb.Capability(add_capabilities=list(sc.capabilities_add),
                                   drop_capabilities=list(sc.capabilities_drop)),
    )
    if sc.run_as_user is not None:
        out.run_as_user.value = sc.run_as_user
    if sc.run_as_group is not None:
        out.run_as_group.value = sc.run_as_group
    return out


def container_config(config: ContainerConfig, *, node: str, log_path: str,
                     extra_mounts: tuple[tuple[str, str], ...] = (), namespaces: Any = None) -> Any:
    """``log_path`` is relative to the sandbox's log directory (CRI's rule); ``namespaces`` is the pod's
    :func:`namespace_options` (absent, CRI's zero value would put the container in the pod's pid
    namespace). An ephemeral container with a ``target_id`` joins its target's pid namespace (TARGET) unless
    the pod shares one (POD) or uses the node's (NODE)."""
    mounts = [pb.Mount(container_path=m.container_path, host_path=m.host_path, readonly=m.read_only)
              for m in config.mounts]
    mounts += [pb.Mount(container_path=c, host_path=h) for c, h in extra_mounts]
    sc = security(config.security)
    if namespaces is not None:
        sc.namespace_options.CopyFrom(namespaces)
        if config.target_id and namespaces.pid == pb.CONTAINER:  # ``kubectl debug --target``, as upstream's kubelet
            sc.namespace_options.pid, sc.namespace_options.target_id = pb.TARGET, config.target_id
    return pb.ContainerConfig(
        metadata=pb.ContainerMetadata(name=config.name, attempt=config.attempt),
        image=pb.ImageSpec(image=config.image, user_specified_image=config.image),
        command=list(config.command), args=list(config.args), working_dir=config.working_dir,
        envs=[pb.KeyValue(key=k, value=v) for k, v in config.env.items()], mounts=mounts,
        labels={**config.labels, NODE_LABEL: node}, log_path=log_path,
        annotations={**config.annotations, TERMINATION_POLICY_ANNOTATION: config.termination_message_policy},
        stdin=config.stdin, tty=config.tty,
        linux=pb.LinuxContainerConfig(resources=resources(config.resources),
                                      security_context=sc),
    )


def sandbox_status(item: Any, *, ip: str) -> SandboxStatus:
    """A ``PodSandbox`` (ListPodSandbox) or ``PodSandboxStatus`` as the kubelet's SandboxStatus."""
    md = item.metadata
    labels = dict(item.labels)
    cfg = with_namespace_labels(PodSandboxConfig(name=md.name, namespace=md.namespace, uid=md.uid,
                                                 attempt=md.attempt, labels=labels,
                                                 annotations=dict(item.annotations)))
    state = SandboxState.READY if item.state == pb.SANDBOX_READY else SandboxState.NOTREADY
    return SandboxStatus(id=item.id, config=cfg, state=state, created_at=seconds(item.created_at), ip=ip)


def container_status(st: Any, *, sandbox_id: str, message: str = "",
                     runtime_name: str = "containerd") -> ContainerStatus:
    """A CRI ``ContainerStatus``; ``message`` (the termination message) replaces CRI's when given;
    ``runtime_name`` (CRI Version's ``runtime_name``) is the scheme of its ``containerID``."""
    return ContainerStatus(
        id=st.id, sandbox_id=sandbox_id, name=st.metadata.name, attempt=st.metadata.attempt,
        image=st.image.image, state=container_state(st.state),
        created_at=seconds(st.created_at), started_at=seconds(st.started_at), finished_at=seconds(st.finished_at),
        exit_code=st.exit_code, reason=st.reason, message=message or st.message, log_path=st.log_path,
        labels=dict(st.labels), annotations=dict(st.annotations), image_ref=st.image_ref, runtime_name=runtime_name,
    )


def auth(a: RegistryAuth | None) -> Any:
    if a is None:
        return None
    return pb.AuthConfig(username=a.username, password=a.password, auth=a.auth, server_address=a.server_address,
                         identity_token=a.identity_token, registry_token=a.registry_token)


def image_info(img: Any) -> ImageInfo:
    return ImageInfo(id=img.id, repo_tags=tuple(img.repo_tags), repo_digests=tuple(img.repo_digests),
                     size=int(img.size), pinned=bool(img.pinned))
