"""``--pod-cidr`` / ``--pod-network`` flags: validated in one line, and ``sampan up`` gives every kubelet
its own /24."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from sampan.cli.kubelet import options_from_args
from sampan.cli.main import build_parser, main
from sampan.cli.up import UpOptions, component_specs, kubelet_specs
from sampan.kubelet.kubelet import KubeletOptions, make_runtime
from sampan.kubelet.network.pod_network import unavailable_reason
from sampan.kubelet.node_status import NodeIdentity, registration
from sampan.kubelet.runtime.interface import RuntimeInfo
from sampan.kubelet.runtime.process import ProcessRuntime


@pytest.mark.parametrize(("args", "message"), [
    (["--pod-cidr", "10.0.0.0/24"], "must lie inside 100.64.0.0/10"),
    (["--pod-cidr", "100.64.0.0/31"], "too small"),
    (["--pod-cidr", "100.64.0.1/24"], "not a network address"),
])
def test_bad_pod_cidr_is_one_line(args: list[str], message: str, tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["kubelet", "--root-dir", str(tmp_path), "--kubeconfig", str(tmp_path / "none"), *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("sampan kubelet: ")
    assert message in err
    assert "Traceback" not in err


def test_unknown_pod_network_mode_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["kubelet", "--root-dir", str(tmp_path), "--pod-network", "calico"])
    assert exc.value.code == 2
    assert "invalid choice: 'calico'" in capsys.readouterr().err


def test_flags_reach_the_options(tmp_path: Path) -> None:
    args = build_parser().parse_args(["kubelet", "--root-dir", str(tmp_path), "--pod-cidr", "100.64.9.0/24",
                                      "--pod-network", "host"])
    opts = options_from_args(args)
    assert (opts.pod_cidr, opts.pod_network) == ("100.64.9.0/24", "host")
    rt = make_runtime(opts, clock=None)  # type: ignore[arg-type]
    assert isinstance(rt, ProcessRuntime)
    assert rt.info().pod_cidr == ""


@pytest.mark.skipif(bool(unavailable_reason()), reason="needs root and iproute2")
def test_auto_gives_pods_their_own_network_as_root(tmp_path: Path) -> None:
    opts = KubeletOptions(node_name="n", root_dir=tmp_path, pod_network="auto", pod_cidr="100.127.252.0/24")
    assert make_runtime(opts, clock=None).info().pod_cidr == "100.127.252.0/24"  # type: ignore[arg-type]


def test_sampan_up_gives_each_node_its_own_pod_cidr_through_node_ipam(tmp_path: Path) -> None:
    specs = kubelet_specs(UpOptions(data_dir=tmp_path, nodes=3), ("sampan",), "kc")
    assert all("--pod-cidr" not in spec.argv for spec in specs)  # each waits for its Node's spec.podCIDR
    assert all(spec.argv[spec.argv.index("--cluster-dns") + 1] == "100.96.0.10" for spec in specs)
    all_specs, _ = component_specs(UpOptions(data_dir=tmp_path, nodes=1), {"apiserver", "controller-manager"})
    cm = next(s for s in all_specs if s.name == "controller-manager").argv
    assert "--allocate-node-cidrs" in cm
    assert cm[cm.index("--cluster-cidr") + 1] == "100.64.0.0/16"
    assert cm[cm.index("--node-cidr-mask-size") + 1] == "24"
    api = next(s for s in all_specs if s.name == "apiserver").argv
    assert api[api.index("--service-cluster-ip-range") + 1] == "100.96.0.0/16"


@pytest.mark.parametrize(("pod_cidr", "annotation", "spec"), [
    ("100.64.3.0/24", "bridge 100.64.3.0/24", {"podCIDR": "100.64.3.0/24", "podCIDRs": ["100.64.3.0/24"]}),
    ("", "host", {}),
])
def test_the_node_records_its_pod_network(pod_cidr: str, annotation: str, spec: dict[str, object]) -> None:
    info = RuntimeInfo(name="process", version="0", enforces_limits=False, private_mounts=False, pod_cidr=pod_cidr)
    node = registration(NodeIdentity(name="n", address="127.0.0.1", hostname="h", port=1, capacity={},
                                     runtime=info, labels={}), now=0.0)
    assert node["metadata"]["annotations"]["sampan.io/pod-network"] == annotation
    assert node["spec"] == spec


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None, reason="needs root and setpriv")
def test_without_root_pods_fall_back_to_the_host_network() -> None:
    with tempfile.TemporaryDirectory() as state:  # under /tmp: reachable by nobody, unlike pytest's tmp_path
        os.chmod(state, 0o777)
        done = _run_as_nobody(Path(state))
    assert done.stdout.splitlines() == ["None", "pod network 'bridge' unavailable: not running as root"], done.stderr
    assert "pods use the host network: not running as root" in done.stderr


def _run_as_nobody(tmp_path: Path) -> subprocess.CompletedProcess[str]:
    script = (
        "import sys; from pathlib import Path\n"
        "from sampan.kubelet.network.pod_network import PodNetworkError, make_pod_network\n"
        "print(make_pod_network('auto', '100.64.0.0/24'))\n"  # the default state dir: not writable, not made
        "try:\n"
        f"    make_pod_network('bridge', '100.64.0.0/24', state_dir=Path({str(tmp_path)!r}))\n"
        "except PodNetworkError as err:\n"
        "    print(err)\n"
    )
    return subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-c",
                           script], capture_output=True, text=True, timeout=60, check=False, cwd="/")
