"""A private containerd for one node: its files, its config, starting it and loading the pause image.

Layout under ``directory`` (``<data-dir>/containerd/<node>`` for ``sampan up``)::

    config.toml                 written by :func:`write_config` (see there)
    containerd.sock             the CRI endpoint (``unix://<directory>/containerd.sock``)
    root/ state/ opt/           containerd's own persistent / runtime / plugin dirs
    cni/net.d/                  CNI config, rendered by containerd from the template on UpdateRuntimeConfig
    cni/template.conflist       bridge + host-local over the node's pod CIDR (``{{.PodCIDR}}``)
    cni/ipam/                   host-local leases
    pause.tar                   the locally built sandbox image (:func:`sampan.testing.oci.pause_image`)

Config choices (PLATFORM.md): ``restrict_oom_score_adj = true`` (root here lacks CAP_SYS_RESOURCE),
``netns_mounts_under_state_dir = true`` (pod netns files under ``state/``), ``sandbox_image`` = the local
pause image, runc with cgroupfs (cgroup v1), the CRI streaming server on a free loopback port (several
containerds on one machine), CNI bins from Debian's ``/usr/lib/cni``. The CNI bridge (``sampanc<i>``,
so the pod-network forwarding guard covers it) is the pod CIDR's gateway with no masquerade: pods of
every node on this machine reach each other without NAT through the host's connected routes.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from sampan.testing.oci import PAUSE_IMAGE, pause_image

CNI_BIN_DIRS = ("/usr/lib/cni", "/opt/cni/bin", "/usr/libexec/cni")
NAMESPACE = "k8s.io"


class ContainerdError(Exception):
    """containerd is missing, did not start, or an image did not import."""


def cni_bin_dir() -> str:
    for d in CNI_BIN_DIRS:
        if os.path.exists(os.path.join(d, "bridge")):
            return d
    raise ContainerdError("the CNI plugins are not installed (apt-get install containernetworking-plugins)")


@dataclass(frozen=True, slots=True)
class ContainerdLayout:
    directory: Path

    @property
    def config(self) -> Path:
        return self.directory / "config.toml"

    @property
    def socket(self) -> Path:
        """``<directory>/containerd.sock``, or ``/run/sampan/containerd-<hash>.sock`` when that path would
        not fit a unix socket address (108 bytes, with room for the ``.ttrpc`` sibling)."""
        path = self.directory.absolute() / "containerd.sock"
        if len(str(path)) + len(".ttrpc") < 100:
            return path
        digest = hashlib.sha256(str(path).encode()).hexdigest()[:12]
        return Path("/run/sampan") / f"containerd-{digest}.sock"

    @property
    def endpoint(self) -> str:
        return f"unix://{self.socket}"

    @property
    def cni_conf_dir(self) -> Path:
        return self.directory / "cni" / "net.d"

    @property
    def cni_template(self) -> Path:
        return self.directory / "cni" / "template.conflist"

    @property
    def ipam_dir(self) -> Path:
        return self.directory / "cni" / "ipam"

    @property
    def pause_archive(self) -> Path:
        return self.directory / "pause.tar"


def cni_template(*, bridge: str, ipam_dir: Path) -> str:
    """containerd's Go template for the CNI conflist (``{{.PodCIDR}}`` filled from UpdateRuntimeConfig).
    No ``loopback`` plugin: containerd's CRI adds its own loopback network to every sandbox (go-cni's
    ``WithLoNetwork``), so one here would run the plugin twice per ADD and DEL."""
    conf = {
        "cniVersion": "0.4.0", "name": f"{bridge}-net",
        "plugins": [{
            "type": "bridge", "bridge": bridge, "isGateway": True, "ipMasq": False, "hairpinMode": True,
            "ipam": {"type": "host-local", "dataDir": str(ipam_dir), "ranges": [[{"subnet": "{{.PodCIDR}}"}]],
                     "routes": [{"dst": "0.0.0.0/0"}]},
        }],
    }
    return json.dumps(conf, indent=2)


def write_config(layout: ContainerdLayout, *, bridge: str, sandbox_image: str = PAUSE_IMAGE) -> None:
    """Write config.toml and the CNI template (directories created)."""
    d = layout.directory
    for sub in ("root", "state", "opt"):
        (d / sub).mkdir(parents=True, exist_ok=True)
    layout.cni_conf_dir.mkdir(parents=True, exist_ok=True)
    layout.ipam_dir.mkdir(parents=True, exist_ok=True)
    layout.cni_template.write_text(cni_template(bridge=bridge, ipam_dir=layout.ipam_dir))
    cri = 'plugins."io.containerd.grpc.v1.cri"'
    layout.config.write_text(f"""# written by sampan (sampan.cli.containerd_node); rewritten at each start
version = 2
root = "{d / 'root'}"
state = "{d / 'state'}"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
                    "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]

[grpc]
  address = "{layout.socket}"

[ttrpc]
  address = "{layout.socket}.ttrpc"

[plugins."io.containerd.internal.v1.opt"]
  path = "{d / 'opt'}"

[{cri}]
  sandbox_image = "{sandbox_image}"
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  disable_apparmor = true

[{cri}.containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "runc"

[{cri}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[{cri}.containerd.runtimes.runc.options]
  SystemdCgroup = false

[{cri}.cni]
  bin_dir = "{cni_bin_dir()}"
  conf_dir = "{layout.cni_conf_dir}"
  conf_template = "{layout.cni_template}"
""")


def start(layout: ContainerdLayout, *, log_file: Path | None = None) -> subprocess.Popen[bytes]:
    """Start containerd on ``layout``'s config (a stale socket is removed first)."""
    binary = shutil.which("containerd")
    if binary is None:
        raise ContainerdError("containerd is not installed (apt-get install containerd runc)")
    layout.socket.parent.mkdir(parents=True, exist_ok=True)
    layout.socket.unlink(missing_ok=True)
    out = open(log_file or layout.directory / "containerd.log", "ab")  # noqa: SIM115 - owned by the child
    try:
        return subprocess.Popen([binary, "--config", str(layout.config)], stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    finally:
        out.close()


def wait_ready(layout: ContainerdLayout, proc: subprocess.Popen[bytes], *, timeout: float = 30.0) -> None:
    """Until ``ctr version`` answers on the socket (ContainerdError when it exits or times out)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ContainerdError(f"containerd exited with {proc.returncode} (see {layout.directory}/containerd.log)")
        if layout.socket.exists() and ctr(layout, "version", check=False).returncode == 0:
            return
        time.sleep(0.05)
    raise ContainerdError(f"containerd did not answer on {layout.socket} within {timeout:.0f}s")


def ctr(layout: ContainerdLayout, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run ``ctr`` against this containerd in the CRI namespace (setup and inspection only; the kubelet
    itself talks CRI)."""
    proc = subprocess.run(["ctr", "--address", str(layout.socket), "-n", NAMESPACE, *args],
                          capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise ContainerdError(f"ctr {' '.join(args)}: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc


def import_archive(layout: ContainerdLayout, archive: Path) -> None:
    """``ctr images import`` an OCI/docker archive into the CRI namespace."""
    ctr(layout, "images", "import", str(archive))


def stop(proc: subprocess.Popen[bytes], *, timeout: float = 10.0) -> None:
    """SIGTERM containerd, SIGKILL after ``timeout``; its containers' shims keep running (re-adopted)."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def load_pause_image(layout: ContainerdLayout, ref: str = PAUSE_IMAGE) -> None:
    """Build (once) and import the sandbox image."""
    if not layout.pause_archive.exists():
        pause_image(layout.pause_archive, name=ref)
    import_archive(layout, layout.pause_archive)
