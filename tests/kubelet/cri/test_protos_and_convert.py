"""Unit tests (no containerd): stub generation into a fresh cache, and the dataclass <-> CRI translations."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sampan.kubelet.containers import sandbox_config, security_context
from sampan.kubelet.runtime.cri import convert
from sampan.kubelet.runtime.cri.client import grpc_target
from sampan.kubelet.runtime.cri.protos import pb
from sampan.kubelet.runtime.interface import (
    ContainerConfig,
    ContainerState,
    LinuxResources,
    Mount,
    PodSandboxConfig,
    SecurityContext,
)
from sampan.testing import oci


def test_stubs_are_generated_into_an_empty_cache(tmp_path: Path) -> None:
    code = "from sampan.kubelet.runtime.cri.protos import pb, pb_grpc; print(pb.PodSandboxConfig.DESCRIPTOR.full_name)"
    for _ in range(2):  # generated, then reused
        out = subprocess.run([sys.executable, "-c", code], env={**os.environ, "SAMPAN_CACHE_DIR": str(tmp_path)},
                             capture_output=True, text=True, check=True).stdout
        assert out.strip() == "runtime.v1.PodSandboxConfig"
    [cache] = list(tmp_path.glob("cri-*"))
    assert (cache / "sampan_cri_api_pb2_grpc.py").exists()


def test_upstream_field_numbers() -> None:
    fields = {f.name: f.number for f in pb.ContainerConfig.DESCRIPTOR.fields}
    assert fields["command"] == 3
    assert fields["log_path"] == 11
    assert fields["linux"] == 15
    assert {f.name: f.number for f in pb.LinuxContainerSecurityContext.DESCRIPTOR.fields}["run_as_group"] == 12


def test_endpoints() -> None:
    assert grpc_target("unix:///run/c.sock") == "unix:/run/c.sock"
    assert grpc_target("/run/c.sock") == "unix:/run/c.sock"


def test_container_config_translation() -> None:
    cfg = ContainerConfig(name="c", image="busybox", command=("sh",), args=("-c", "true"), env={"A": "1"},
                          working_dir="/w", mounts=(Mount("/data", "/host/data", read_only=True),),
                          resources=LinuxResources(memory_limit_bytes=1 << 25, cpu_quota_us=50_000, cpu_shares=512),
                          attempt=2, labels={"io.kubernetes.container.name": "c"},
                          security=SecurityContext(run_as_user=1000, read_only_root_fs=True,
                                                   allow_privilege_escalation=False, capabilities_drop=("ALL",)))
    msg = convert.container_config(cfg, node="n1", log_path="c/2.log", extra_mounts=(("/dev/termination-log", "/t"),))
    assert (msg.metadata.name, msg.metadata.attempt, msg.log_path) == ("c", 2, "c/2.log")
    assert list(msg.command) == ["sh"]
    assert list(msg.args) == ["-c", "true"]
    assert [(m.container_path, m.host_path, m.readonly) for m in msg.mounts] == [
        ("/data", "/host/data", True), ("/dev/termination-log", "/t", False)]
    res = msg.linux.resources
    assert (res.memory_limit_in_bytes, res.cpu_quota, res.cpu_period, res.cpu_shares) == (1 << 25, 50_000, 100_000, 512)
    sc = msg.linux.security_context
    assert sc.HasField("run_as_user")
    assert sc.run_as_user.value == 1000
    assert not sc.HasField("run_as_group")
    assert sc.readonly_rootfs
    assert sc.no_new_privs
    assert list(sc.capabilities.drop_capabilities) == ["ALL"]
    assert msg.labels[convert.NODE_LABEL] == "n1"


def test_sandbox_round_trip_and_states() -> None:
    cfg = PodSandboxConfig(name="p", namespace="ns", uid="u", attempt=1, host_network=True, labels={"a": "b"})
    msg = convert.sandbox_config(cfg, node="n1", log_directory="/l", cgroup_parent="/sampan-pods/podu")
    assert msg.linux.security_context.namespace_options.network == pb.NODE
    item = pb.PodSandbox(id="s", metadata=msg.metadata, state=pb.SANDBOX_READY, created_at=2_500_000_000,
                         labels=msg.labels)
    back = convert.sandbox_status(item, ip="100.64.1.2")
    assert (back.config.name, back.config.uid, back.config.attempt, back.config.host_network) == ("p", "u", 1, True)
    assert back.created_at == 2.5
    st = pb.ContainerStatus(id="c", metadata=pb.ContainerMetadata(name="c", attempt=3), state=pb.CONTAINER_EXITED,
                            exit_code=137, reason="OOMKilled", finished_at=1_000_000_000)
    status = convert.container_status(st, sandbox_id="s")
    assert (status.state, status.exit_code) == (ContainerState.EXITED, 137)
    assert (status.reason, status.attempt) == ("OOMKilled", 3)


@pytest.mark.parametrize(("spec", "pid", "ipc", "network"), [
    ({}, pb.CONTAINER, pb.POD, pb.POD),  # upstream: a pid namespace per container by default
    ({"shareProcessNamespace": True}, pb.POD, pb.POD, pb.POD),
    ({"hostPID": True, "hostIPC": True, "hostNetwork": True}, pb.NODE, pb.NODE, pb.NODE),
    ({"hostPID": True, "shareProcessNamespace": True}, pb.NODE, pb.POD, pb.POD),
])
def test_namespace_modes_as_upstreams_kubelet(spec: dict[str, bool], pid: int, ipc: int, network: int) -> None:
    """The pod's namespace modes go to RunPodSandbox and, through the sandbox's labels (all CreateContainer
    gets back from the runtime), to every container of the pod."""
    pod = {"metadata": {"name": "p", "namespace": "ns", "uid": "u"}, "spec": {"containers": [], **spec}}
    cfg = sandbox_config(pod, 0)
    msg = convert.sandbox_config(cfg, node="n1", log_directory="/l", cgroup_parent="/sampan-pods/podu")
    opts = msg.linux.security_context.namespace_options
    assert (opts.pid, opts.ipc, opts.network) == (pid, ipc, network)
    back = convert.sandbox_status(pb.PodSandbox(id="s", metadata=msg.metadata, labels=msg.labels), ip="").config
    assert back == PodSandboxConfig(name="p", namespace="ns", uid="u", labels=dict(msg.labels),
                                    host_network=cfg.host_network, host_pid=cfg.host_pid, host_ipc=cfg.host_ipc,
                                    share_process_namespace=cfg.share_process_namespace)
    container = convert.container_config(ContainerConfig(name="c", image="busybox"), node="n1", log_path="c/0.log",
                                         namespaces=convert.namespace_options(back))
    copts = container.linux.security_context.namespace_options
    assert (copts.pid, copts.ipc, copts.network) == (pid, ipc, network)
    debug = convert.container_config(ContainerConfig(name="d", image="busybox", target_id="c1"), node="n1",
                                     log_path="d/0.log", namespaces=convert.namespace_options(back))
    dopts = debug.linux.security_context.namespace_options  # kubectl debug --target: the target's, if per container
    want = (pb.TARGET, "c1") if pid == pb.CONTAINER else (pid, "")
    assert (dopts.pid, dopts.target_id) == want


def test_security_context_merges_pod_level() -> None:
    pod = {"spec": {"securityContext": {"runAsUser": 1000, "runAsGroup": 3000, "supplementalGroups": [4]}}}
    container = {"securityContext": {"runAsUser": 2000, "privileged": True, "capabilities": {"add": ["NET_ADMIN"]}}}
    sc = security_context(pod, container)
    assert (sc.run_as_user, sc.run_as_group, sc.supplemental_groups) == (2000, 3000, (4,))
    assert sc.privileged
    assert sc.capabilities_add == ("NET_ADMIN",)
    assert sc.allow_privilege_escalation is None


def test_pause_image_is_deterministic(tmp_path: Path) -> None:
    if not oci.BUSYBOX.exists():
        pytest.skip("busybox-static not installed")
    a = oci.pause_image(tmp_path / "a.tar")
    b = oci.pause_image(tmp_path / "b.tar")
    assert a.image_id == b.image_id
    assert a.name == oci.PAUSE_IMAGE
