"""``sampan up``'s control plane as static pods: which components move into manifests, how the first
kubelet is told about them, manifests rewritten only when they change, and the stop at ``sampan down``
(a real process runtime: the static pods' processes end, a pod from the API is left to its kubelet)."""

from __future__ import annotations

import sys
from pathlib import Path

from sampan.cli.control_plane import (
    prepare_control_plane,
    split_control_plane,
    stop_static_pods,
    write_manifests,
)
from sampan.cli.supervisor import ComponentSpec
from sampan.kubelet.runtime.interface import ContainerConfig, ContainerState, PodSandboxConfig
from sampan.kubelet.runtime.process import ProcessRuntime, ProcessRuntimeOptions
from sampan.kubelet.static_pods.manifests import CONFIG_SOURCE, read_directory

PY = sys.executable
BASE = (PY, "-m", "sampan.cli.main")


def specs(scheduler_port: int = 10259) -> list[ComponentSpec]:
    return [ComponentSpec("apiserver", (*BASE, "apiserver", "--data-dir", "/d", "--port", "7443")),
            ComponentSpec("scheduler", (*BASE, "scheduler", "--kubeconfig", "/d/kubeconfig",
                                        "--secure-port", str(scheduler_port))),
            ComponentSpec("controller-manager", (*BASE, "controller-manager", "--kubeconfig", "/d/kubeconfig")),
            ComponentSpec("kubelet", (*BASE, "kubelet", "--node-name", "n1")),
            ComponentSpec("kubelet-2", (*BASE, "kubelet", "--node-name", "n1-2"))]


def test_the_control_plane_moves_into_manifests_for_the_first_kubelet(tmp_path: Path) -> None:
    kept, manifests = split_control_plane(specs(), manifest_dir=tmp_path / "m", runtime="process")
    assert [s.name for s in kept] == ["kubelet", "kubelet-2"]
    assert kept[0].argv[-2:] == ("--pod-manifest-path", str(tmp_path / "m"))
    assert kept[1].argv == specs()[4].argv
    assert sorted(manifests) == ["sampan-kube-apiserver.yaml", "sampan-kube-controller-manager.yaml",
                                 "sampan-kube-scheduler.yaml"]
    api = manifests["sampan-kube-apiserver.yaml"]
    assert api["metadata"] == {"name": "kube-apiserver", "namespace": "kube-system",
                               "labels": {"component": "kube-apiserver", "tier": "control-plane"}}
    assert api["spec"]["hostNetwork"] is True
    assert api["spec"]["priorityClassName"] == "system-node-critical"
    container = api["spec"]["containers"][0]
    assert container["command"] == [*BASE, "apiserver", "--data-dir", "/d", "--port", "7443"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/livez"
    assert container["readinessProbe"]["httpGet"]["port"] == 7443
    assert "livenessProbe" in manifests["sampan-kube-scheduler.yaml"]["spec"]["containers"][0]
    assert "livenessProbe" not in manifests["sampan-kube-controller-manager.yaml"]["spec"]["containers"][0]


def test_no_scheduler_probe_without_its_port_and_simulated_nodes_run_static_pods_for_real(tmp_path: Path) -> None:
    kept, manifests = split_control_plane(specs(scheduler_port=0), manifest_dir=tmp_path, runtime="simulated")
    assert "livenessProbe" not in manifests["sampan-kube-scheduler.yaml"]["spec"]["containers"][0]
    assert kept[0].argv[-2:] == ("--static-pod-runtime", "process")


def test_without_a_kubelet_the_supervisor_keeps_everything(tmp_path: Path) -> None:
    only = specs()[:3]
    kept, plane = prepare_control_plane(only, data_dir=tmp_path, first_node="n1", runtime="process")
    assert kept == only
    assert plane is None
    assert not (tmp_path / "manifests").exists()


def test_manifests_are_written_once_and_stale_ones_removed(tmp_path: Path) -> None:
    _kept, plane = prepare_control_plane(specs(), data_dir=tmp_path, first_node="n1", runtime="process")
    assert plane is not None
    assert plane.components == ("apiserver", "scheduler", "controller-manager")
    mdir = tmp_path / "manifests"
    (mdir / "sampan-etcd.yaml").write_text("{}")  # from an earlier run
    (mdir / "mine.yaml").write_text("{}")  # the user's own static pod
    before = {p.name: p.stat().st_mtime_ns for p in mdir.iterdir()}
    prepare_control_plane(specs(), data_dir=tmp_path, first_node="n1", runtime="process")
    after = {p.name: p.stat().st_mtime_ns for p in mdir.iterdir()}
    assert "sampan-etcd.yaml" not in after
    assert after["mine.yaml"] == before["mine.yaml"]
    assert all(after[name] == before[name] for name in after)  # unchanged files untouched
    read = read_directory(mdir, node_name="n1")
    assert sorted(p["metadata"]["name"] for p in read.pods.values()) == [
        "kube-apiserver-n1", "kube-controller-manager-n1", "kube-scheduler-n1"]
    write_manifests(mdir, {})
    assert sorted(p.name for p in mdir.iterdir()) == ["mine.yaml"]


async def test_stop_static_pods_ends_the_control_plane_and_leaves_api_pods(tmp_path: Path) -> None:
    root = tmp_path / "runtime"
    runtime = ProcessRuntime(ProcessRuntimeOptions(root_dir=root, use_cgroups=False, private_mounts=False))
    sleeper = ContainerConfig(name="c", image="i", command=(PY, "-c", "import time; time.sleep(600)"))
    ids = {}
    for name, static in (("kube-scheduler-n1", True), ("kube-apiserver-n1", True), ("web", False)):
        sb = await runtime.run_pod_sandbox(PodSandboxConfig(
            name=name, namespace="kube-system" if static else "default", uid=f"uid-{name}",
            annotations={CONFIG_SOURCE: "file"} if static else {}))
        ids[name] = await runtime.create_container(sb, sleeper)
        await runtime.start_container(ids[name])
    try:
        assert await stop_static_pods(root, grace=5) == 2
        fresh = ProcessRuntime(ProcessRuntimeOptions(root_dir=root, use_cgroups=False, private_mounts=False))
        try:
            assert [sb.config.name for sb in await fresh.list_pod_sandboxes()] == ["web"]
            assert (await fresh.container_status(ids["web"])).state is ContainerState.RUNNING
        finally:
            await fresh.aclose()
    finally:
        await runtime.stop_container(ids["web"], 0)
        await runtime.aclose()
    assert await stop_static_pods(tmp_path / "nothing-here") == 0
